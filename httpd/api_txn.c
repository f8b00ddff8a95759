/* api_txn.c - PUT /v1/txn: KV operations applied all or nothing through
 * raftd (spec/consul-compat.md section 1.7). */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "jdec.h"
#include "xmalloc.h"

#define TXN_MAX_OPS 128

struct txn_kv {
	char *verb, *key, *session;
	struct jd_bytes value;
	uint64_t flags, index;
};

struct txn_elem {
	struct txn_kv kv;
	bool has_kv;
	yajl_val node, service, check;
};

static const struct jd_field kv_fields[] = {
    {"Verb", NULL, JD_STR, offsetof(struct txn_kv, verb), NULL, 0, 0},
    {"Key", NULL, JD_STR, offsetof(struct txn_kv, key), NULL, 0, 0},
    {"Value", NULL, JD_BYTES, offsetof(struct txn_kv, value), NULL, 0, 0},
    {"Flags", NULL, JD_U64, offsetof(struct txn_kv, flags), NULL, 0, 0},
    {"Index", NULL, JD_U64, offsetof(struct txn_kv, index), NULL, 0, 0},
    {"Session", NULL, JD_STR, offsetof(struct txn_kv, session), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static const struct jd_field elem_fields[] = {
    {"KV", NULL, JD_OBJ, offsetof(struct txn_elem, kv), kv_fields, 0,
	offsetof(struct txn_elem, has_kv)},
    {"Node", NULL, JD_RAW, offsetof(struct txn_elem, node), NULL, 0, 0},
    {"Service", NULL, JD_RAW, offsetof(struct txn_elem, service), NULL, 0,
	0},
    {"Check", NULL, JD_RAW, offsetof(struct txn_elem, check), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static void
respond_errors(struct http_req *req, bool pretty,
    const struct ipc_txn_error *e, size_t n, uint64_t index, bool known,
    uint64_t contact)
{
	struct jw w;
	size_t i;

	jw_init(&w, pretty);
	jw_obj_open(&w);
	jw_key(&w, "Results");
	jw_null(&w);
	jw_key(&w, "Errors");
	jw_arr_open(&w);
	for (i = 0; i < n; i++) {
		jw_obj_open(&w);
		jw_key(&w, "OpIndex");
		jw_uint(&w, e[i].op_index);
		jw_key(&w, "What");
		jw_str(&w, e[i].what);
		jw_obj_close(&w);
	}
	jw_arr_close(&w);
	jw_obj_close(&w);
	respond_json_status(req, 409, &w, index, known, contact, NULL);
}

static void
txn_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_raft_result *res = body;
	struct jw w;
	size_t i;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
	} else if (!res->ok) {
		respond_errors(c->req, c->pretty, res->errors.v, res->errors.n,
		    res->index, res->known_leader || res->last_contact_ms == 0,
		    res->last_contact_ms);
	} else {
		jw_init(&w, c->pretty);
		jw_obj_open(&w);
		jw_key(&w, "Results");
		jw_arr_open(&w);
		for (i = 0; i < res->rows.n; i++) {
			const struct ipc_kv_row *row =
			    (const struct ipc_kv_row *)res->rows.v + i;

			jw_obj_open(&w);
			jw_key(&w, "KV");
			jw_kv_row(&w, row, !row->no_value);
			jw_obj_close(&w);
		}
		jw_arr_close(&w);
		jw_key(&w, "Errors");
		jw_null(&w);
		jw_obj_close(&w);
		respond_json(c->req, &w, res->index,
		    res->known_leader || res->last_contact_ms == 0,
		    res->last_contact_ms);
	}
	call_free(c);
}

static bool
read_only(const struct ipc_txn_op *ops, size_t n)
{
	static const char *const reads[] = {"get", "get-or-empty", "get-tree",
	    "check-index", "check-session", "check-not-exists", NULL};
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; reads[k]; k++)
			if (ops[i].verb && strcmp(ops[i].verb, reads[k]) == 0)
				break;
		if (reads[k] == NULL)
			return false;
	}
	return n > 0;
}

void
api_txn(struct api *a, struct http_req *req)
{
	struct jd_list list = {NULL, 0, false};
	struct ipc_txn_error *errs = NULL;
	struct ipc_txn_op *ops = NULL;
	struct ipc_raft_cmd cmd;
	struct errbuf eb;
	yajl_val tree;
	struct call *c;
	size_t i, nerr = 0;
	char text[600];

	if (!method_ok(req, "PUT"))
		return;
	if (req->body.len > a->txn_max_req_len) {
		snprintf(text, sizeof(text),
		    "Request body(%zu bytes) too large, max size: %zu bytes",
		    req->body.len, a->txn_max_req_len);
		http_respond_text(req, 413, text);
		return;
	}
	tree = json_parse((const char *)req->body.data, req->body.len, &eb);
	if (tree == NULL) {
		snprintf(text, sizeof(text), "Failed to parse body: %s",
		    eb.msg);
		http_respond_text(req, 400, text);
		return;
	}
	if (YAJL_IS_ARRAY(tree) && tree->u.array.len > TXN_MAX_OPS) {
		snprintf(text, sizeof(text),
		    "Transaction contains too many operations (%zu > %d)",
		    tree->u.array.len, TXN_MAX_OPS);
		http_respond_text(req, 413, text);
		yajl_tree_free(tree);
		return;
	}
	if (jd_decode_list(tree, elem_fields, sizeof(struct txn_elem), &list,
		&eb) < 0) {
		http_respond_text(req, 400, eb.msg);
		goto out;
	}
	ops = xcalloc(list.n ? list.n : 1, sizeof(*ops));
	errs = xcalloc(list.n ? list.n : 1, sizeof(*errs));
	for (i = 0; i < list.n; i++) {
		struct txn_elem *e = (struct txn_elem *)list.v + i;

		if (e->node || e->service || e->check) {
			/* the catalog comes with checkd (issue 6) */
			errs[nerr].op_index = (uint32_t)i;
			errs[nerr++].what =
			    (char *)"catalog operations (Node, Service, "
				    "Check) in a transaction are not "
				    "supported yet";
			continue;
		}
		if (!e->has_kv) {
			snprintf(text, sizeof(text),
			    "Request decode failed: [%zu]: no operation", i);
			http_respond_text(req, 400, text);
			goto out;
		}
		ops[i].verb = e->kv.verb;
		ops[i].key = e->kv.key;
		ops[i].session = e->kv.session;
		ops[i].value.p = e->kv.value.p;
		ops[i].value.n = e->kv.value.n;
		ops[i].flags = e->kv.flags;
		ops[i].index = e->kv.index;
	}
	if (nerr > 0) {
		respond_errors(req, http_query_has(req, "pretty"), errs, nerr, 1,
		    true, 0);
		goto out;
	}
	if (read_only(ops, list.n)) {
		/* reads only: served as a read, ?stale/?consistent honoured,
		 * no log entry (Consul does the same) */
		struct ipc_txn_read q;
		int mode = read_mode(req);

		if (mode < 0)
			goto out;
		q.mode = (uint32_t)mode;
		q.ops.v = ops;
		q.ops.n = list.n;
		c = call_new(a, req);
		api_raftd(a, req, IPC_TXN_READ, &q, API_IPC_TIMEOUT_MS,
		    txn_done, c);
		goto out;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = RAFT_OP_TXN;
	cmd.ops.v = ops;
	cmd.ops.n = list.n;
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	c = call_new(a, req);
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS, txn_done,
	    c);
out:
	free(ops);
	free(errs);
	jd_free_list(elem_fields, sizeof(struct txn_elem), &list);
	yajl_tree_free(tree);
}
