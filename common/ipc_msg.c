/* ipc_msg.c - IPC header codec and the descriptors of every message body. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "buf.h"
#include "ipc_msg.h"

const struct cdc_msg_desc ipc_empty_desc = {"ipc_empty",
					    sizeof(struct ipc_empty), NULL, 0};
CDC_DESC(ipc_error, IPC_ERROR)
CDC_DESC(ipc_kv, IPC_KV)
CDC_DESC(ipc_counter, IPC_COUNTER)
CDC_DESC(ipc_status, IPC_STATUS)
CDC_DESC(ipc_reload_reply, IPC_RELOAD_REPLY)
CDC_DESC(ipc_kv_row, IPC_KV_ROW)
CDC_DESC(ipc_session, IPC_SESSION)
CDC_DESC(ipc_txn_op, IPC_TXN_OP)
CDC_DESC(ipc_txn_error, IPC_TXN_ERROR)
CDC_DESC(ipc_node, IPC_NODE)
CDC_DESC(ipc_check, IPC_CHECK)
CDC_DESC(ipc_service, IPC_SERVICE)
CDC_DESC(ipc_pquery, IPC_PQUERY)
CDC_DESC(ipc_raft_cmd, IPC_RAFT_CMD)
CDC_DESC(ipc_raft_result, IPC_RAFT_RESULT)
CDC_DESC(ipc_kv_read, IPC_KV_READ)
CDC_DESC(ipc_kv_read_reply, IPC_KV_READ_REPLY)
CDC_DESC(ipc_raft_peer, IPC_RAFT_PEER)
CDC_DESC(ipc_raft_state, IPC_RAFT_STATE)
CDC_DESC(ipc_change, IPC_CHANGE)
CDC_DESC(ipc_raft_remove, IPC_RAFT_REMOVE)
CDC_DESC(ipc_snapshot_req, IPC_SNAPSHOT_REQ)
CDC_DESC(ipc_snapshot_reply, IPC_SNAPSHOT_REPLY)
CDC_DESC(ipc_dc_req, IPC_DC_REQ)
CDC_DESC(ipc_dc_reply, IPC_DC_REPLY)
CDC_DESC(ipc_dc_list, IPC_DC_LIST)
CDC_DESC(ipc_query_read, IPC_QUERY_READ)
CDC_DESC(ipc_query_list, IPC_QUERY_LIST)
CDC_DESC(ipc_query_exec, IPC_QUERY_EXEC)
CDC_DESC(ipc_query_result, IPC_QUERY_RESULT)
CDC_DESC(ipc_session_read, IPC_SESSION_READ)
CDC_DESC(ipc_session_read_reply, IPC_SESSION_READ_REPLY)
CDC_DESC(ipc_catalog_read, IPC_CATALOG_READ)
CDC_DESC(ipc_txn_read, IPC_TXN_READ)
CDC_DESC(ipc_catalog_reply, IPC_CATALOG_REPLY)
CDC_DESC(ipc_member, IPC_MEMBER)
CDC_DESC(ipc_pool_req, IPC_POOL_REQ)
CDC_DESC(ipc_members, IPC_MEMBERS)
CDC_DESC(ipc_join, IPC_JOIN)
CDC_DESC(ipc_join_reply, IPC_JOIN_REPLY)
CDC_DESC(ipc_force_leave, IPC_FORCE_LEAVE)
CDC_DESC(ipc_user_event, IPC_USER_EVENT)
CDC_DESC(ipc_event_list, IPC_EVENT_LIST)
CDC_DESC(ipc_keyring, IPC_KEYRING)
CDC_DESC(ipc_keyring_reply, IPC_KEYRING_REPLY)
CDC_DESC(ipc_agent_req, IPC_AGENT_REQ)
CDC_DESC(ipc_agent_local, IPC_AGENT_LOCAL)
CDC_DESC(ipc_log_line, IPC_LOG_LINE)
CDC_DESC(ipc_probe, IPC_PROBE)

static const struct ipc_type_info ipc_types[] = {
#define IPC_X_INFO(name, num, req, rep, doc)                                   \
	{num, #name, &req##_desc, &rep##_desc, doc},
    IPC_TYPES(IPC_X_INFO)
#undef IPC_X_INFO
};

const struct ipc_type_info *
ipc_type_lookup(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(ipc_types) / sizeof(ipc_types[0]); i++)
		if (ipc_types[i].type == type)
			return &ipc_types[i];
	return NULL;
}

bool
ipc_type_repeatable(uint16_t type)
{
	switch (type) {
	case IPC_PING:
	case IPC_STATUS:
	case IPC_RELOAD:
	case IPC_KV_READ:
	case IPC_RAFT_STATE:
	case IPC_RAFT_REMOVE_PEER:
	case IPC_RAFT_CLUSTER_STATE:
	case IPC_CATALOG_READ:
	case IPC_TXN_READ:
	case IPC_SNAPSHOT_READ:
	case IPC_DC_LIST:
	case IPC_QUERY_READ:
	case IPC_QUERY_EXECUTE:
	case IPC_SESSION_READ:
	case IPC_SESSION_RENEW:
	case IPC_GOSSIP_MEMBERS:
	case IPC_GOSSIP_JOIN:
	case IPC_GOSSIP_LEAVE:
	case IPC_GOSSIP_FORCE_LEAVE:
	case IPC_GOSSIP_EVENT_LIST:
	case IPC_GOSSIP_KEYRING:
	case IPC_AGENT_SERVICE_REGISTER:
	case IPC_AGENT_SERVICE_DEREGISTER:
	case IPC_AGENT_CHECK_REGISTER:
	case IPC_AGENT_CHECK_DEREGISTER:
	case IPC_AGENT_CHECK_UPDATE:
	case IPC_AGENT_MAINTENANCE:
	case IPC_AGENT_LOCAL_READ:
		return true;
	default:
		return false;
	}
}

int
ipc_id_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
ipc_probe_select(const struct cdc_bytes *asked, uint32_t *open,
    size_t nopen, struct buf *out)
{
	size_t i, n = asked->n / 4;

	if (n > IPC_PROBE_MAX)
		n = IPC_PROBE_MAX;
	if (nopen == 0 || n == 0)
		return;
	qsort(open, nopen, sizeof(*open), ipc_id_cmp);
	for (i = 0; i < n; i++) {
		uint32_t id = be32_get(asked->p + 4 * i);

		if (bsearch(&id, open, nopen, sizeof(*open), ipc_id_cmp) != NULL)
			buf_put(out, asked->p + 4 * i, 4);
	}
}

void
ipc_hdr_encode(uint8_t *out, const struct ipc_hdr *h)
{
	be16_set(out, h->magic);
	out[2] = h->version;
	out[3] = h->flags;
	be16_set(out + 4, h->type);
	be16_set(out + 6, (uint16_t)h->status);
	be32_set(out + 8, h->reqid);
	be32_set(out + 12, h->len);
}

int
ipc_hdr_decode(const uint8_t *p, size_t n, struct ipc_hdr *h,
    struct errbuf *eb)
{
	if (n < IPC_HDR_LEN)
		return errbuf_set(eb, -EBADMSG,
		    "ipc: message of %zu bytes is shorter than the header", n);
	h->magic = be16_get(p);
	h->version = p[2];
	h->flags = p[3];
	h->type = be16_get(p + 4);
	h->status = (int16_t)be16_get(p + 6);
	h->reqid = be32_get(p + 8);
	h->len = be32_get(p + 12);
	if (h->magic != IPC_MAGIC)
		return errbuf_set(eb, -EBADMSG, "ipc: bad magic 0x%04x",
		    h->magic);
	if (h->version == 0)
		return errbuf_set(eb, -EBADMSG, "ipc: bad version 0");
	if (h->len > IPC_MAX_BODY)
		return errbuf_set(eb, -EMSGSIZE,
		    "ipc: body of %u bytes exceeds the %u byte limit", h->len,
		    IPC_MAX_BODY);
	if ((size_t)h->len != n - IPC_HDR_LEN)
		return errbuf_set(eb, -EBADMSG,
		    "ipc: header says %u body bytes, message has %zu", h->len,
		    n - IPC_HDR_LEN);
	return 0;
}
