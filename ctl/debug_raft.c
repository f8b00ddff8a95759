/* debug_raft.c - `cairn debug-raft`: talk to this node's raftd over IPC
 * directly (state, put, cas, get, delete), for tests and operators until
 * the HTTP API serves the same through httpd. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ipc.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: cairn debug-raft -run-dir=<dir> <command> [args]\n\n"
	    "  state                    role, term, indexes, leader, peers\n"
	    "  put <key> <value>        write through Raft\n"
	    "  cas <key> <index> <val>  write if ModifyIndex == index (0: new)\n"
	    "  get <key> [default|consistent|stale]\n"
	    "  delete <key>\n"
	    "  remove-peer <id-hex|host:port>\n"
	    "  watch [count]            print change events (count, default 1)\n\n"
	    "Options: -run-dir (or -data-dir), -timeout=<ms> (default 5000),\n"
	    "         -client-id=<n> -seq=<n> (idempotent retries)\n");
}

static int
opt_val(const char *a, const char *name, const char **v)
{
	size_t n = strlen(name);

	if (a[0] != '-')
		return 0;
	a += a[1] == '-' ? 2 : 1;
	if (strncmp(a, name, n) != 0 || a[n] != '=')
		return 0;
	*v = a + n + 1;
	return 1;
}

struct watch_ctx {
	int left;
};

static void
on_event(uint16_t type, void *body, void *arg)
{
	struct watch_ctx *w = arg;
	struct ipc_change *c = body;

	if (type != IPC_EV_CHANGE)
		return;
	printf("change table=%s key=%s prefix=%s index=%" PRIu64 "\n",
	    c->table ? c->table : "", c->key ? c->key : "",
	    c->prefix ? "true" : "false", c->index);
	fflush(stdout);
	if (--w->left <= 0)
		ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void
watch_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* watch - print `count` change events, or stop after timeout ms */
static int
watch(const char *run_dir, int count, unsigned timeout)
{
	struct watch_ctx w = {count > 0 ? count : 1};
	struct ipc_sub *sub;
	struct errbuf eb;
	char path[4200];
	ev_timer t;

	snprintf(path, sizeof(path), "%s/raftd.events", run_dir);
	if (ipc_sub_open(EV_DEFAULT, path, on_event, &w, &sub, &eb) < 0) {
		fprintf(stderr, "cairn debug-raft: %s\n", eb.msg);
		return 1;
	}
	printf("watching %s\n", path);
	fflush(stdout);
	ev_timer_init(&t, watch_timeout, timeout / 1000.0, 0);
	ev_timer_start(EV_DEFAULT, &t);
	ev_run(EV_DEFAULT, 0);
	ipc_sub_close(sub);
	return w.left > 0 ? 1 : 0;
}

int
cmd_debug_raft(int argc, char **argv)
{
	const char *run_dir = NULL, *data_dir = NULL, *v, *cmd;
	char rd[4096], path[4200];
	unsigned timeout = 5000;
	uint64_t client_id = 0, seq = 0;
	struct errbuf eb;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (opt_val(argv[i], "run-dir", &v))
			run_dir = v;
		else if (opt_val(argv[i], "data-dir", &v))
			data_dir = v;
		else if (opt_val(argv[i], "timeout", &v))
			timeout = (unsigned)strtoul(v, NULL, 10);
		else if (opt_val(argv[i], "client-id", &v))
			client_id = strtoull(v, NULL, 10);
		else if (opt_val(argv[i], "seq", &v))
			seq = strtoull(v, NULL, 10);
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "cairn debug-raft: unknown flag %s\n",
			    argv[i]);
			return 1;
		}
	}
	if (i >= argc || (run_dir == NULL && data_dir == NULL)) {
		usage(stderr);
		return 1;
	}
	if (run_dir == NULL) {
		snprintf(rd, sizeof(rd), "%s/run", data_dir);
		run_dir = rd;
	}
	snprintf(path, sizeof(path), "%s/raftd.rpc", run_dir);
	cmd = argv[i++];
	if (client_id == 0) {
		client_id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
		seq = 1;
	}

	if (strcmp(cmd, "state") == 0) {
		struct ipc_raft_state st;
		size_t k;

		memset(&st, 0, sizeof(st));
		if ((r = ipc_call_sync(path, IPC_RAFT_STATE, NULL, &st, timeout,
			 &eb)) < 0)
			goto fail;
		printf("id = %016" PRIx64 "\nrole = %s\nterm = %" PRIu64
		       "\ncommit_index = %" PRIu64 "\napplied_index = %" PRIu64
		       "\nlast_index = %" PRIu64 "\nleader = %016" PRIx64
		       "\nleader_addr = %s\nlast_contact_ms = %" PRIu64 "\n",
		    st.id, st.role, st.term, st.commit_index, st.applied_index,
		    st.last_index, st.leader_id,
		    st.leader_addr ? st.leader_addr : "", st.last_contact_ms);
		for (k = 0; k < st.peers.n; k++) {
			struct ipc_raft_peer *p =
			    (struct ipc_raft_peer *)st.peers.v + k;

			printf("peer = %016" PRIx64 " %s %s%s\n", p->id,
			    p->address ? p->address : "",
			    p->voter ? "voter" : "nonvoter",
			    p->leader ? " leader" : "");
		}
		cdc_free(&ipc_raft_state_desc, &st);
		return 0;
	}
	if (strcmp(cmd, "put") == 0 || strcmp(cmd, "cas") == 0 ||
	    strcmp(cmd, "delete") == 0) {
		struct ipc_raft_cmd c;
		struct ipc_raft_result res;
		int is_cas = cmd[0] == 'c', is_del = cmd[0] == 'd';
		int need = is_del ? 1 : is_cas ? 3 : 2;

		if (argc - i != need) {
			usage(stderr);
			return 1;
		}
		memset(&c, 0, sizeof(c));
		c.op = is_del ? RAFT_OP_KV_DELETE
			      : is_cas ? RAFT_OP_KV_CAS : RAFT_OP_KV_SET;
		c.client_id = client_id;
		c.seq = seq;
		c.key = argv[i];
		if (is_cas)
			c.cas = strtoull(argv[i + 1], NULL, 10);
		if (!is_del) {
			const char *val = argv[i + need - 1];

			c.value.p = (uint8_t *)val;
			c.value.n = strlen(val);
		}
		memset(&res, 0, sizeof(res));
		if ((r = ipc_call_sync(path, IPC_RAFT_APPLY, &c, &res, timeout,
			 &eb)) < 0)
			goto fail;
		printf("index = %" PRIu64 "\nok = %s\n", res.index,
		    res.ok ? "true" : "false");
		return res.ok ? 0 : 2;
	}
	if (strcmp(cmd, "get") == 0) {
		struct ipc_kv_read q;
		struct ipc_kv_read_reply rep;
		size_t k;

		if (argc - i < 1 || argc - i > 2) {
			usage(stderr);
			return 1;
		}
		memset(&q, 0, sizeof(q));
		q.key = argv[i];
		if (argc - i == 2) {
			if (!strcmp(argv[i + 1], "consistent"))
				q.mode = RAFT_READ_CONSISTENT;
			else if (!strcmp(argv[i + 1], "stale"))
				q.mode = RAFT_READ_STALE;
			else if (strcmp(argv[i + 1], "default")) {
				usage(stderr);
				return 1;
			}
		}
		memset(&rep, 0, sizeof(rep));
		if ((r = ipc_call_sync(path, IPC_KV_READ, &q, &rep, timeout,
			 &eb)) < 0)
			goto fail;
		printf("index = %" PRIu64 "\nknown_leader = %s\n", rep.index,
		    rep.known_leader ? "true" : "false");
		for (k = 0; k < rep.rows.n; k++) {
			struct ipc_kv_row *row =
			    (struct ipc_kv_row *)rep.rows.v + k;

			printf("row = %s %" PRIu64 " %" PRIu64 " %.*s\n",
			    row->key, row->create_index, row->modify_index,
			    (int)row->value.n, (const char *)row->value.p);
		}
		r = rep.rows.n > 0 ? 0 : 2;
		cdc_free(&ipc_kv_read_reply_desc, &rep);
		return r;
	}
	if (strcmp(cmd, "remove-peer") == 0 && argc - i == 1) {
		struct ipc_raft_remove q;
		struct ipc_raft_result res;

		memset(&q, 0, sizeof(q));
		if (strchr(argv[i], ':') != NULL)
			q.address = argv[i];
		else
			q.id = strtoull(argv[i], NULL, 16);
		memset(&res, 0, sizeof(res));
		if ((r = ipc_call_sync(path, IPC_RAFT_REMOVE_PEER, &q, &res,
			 timeout, &eb)) < 0)
			goto fail;
		printf("Removed peer %s (index %" PRIu64 ")\n", argv[i],
		    res.index);
		return 0;
	}
	if (strcmp(cmd, "watch") == 0 && argc - i <= 1)
		return watch(run_dir, argc - i == 1 ? atoi(argv[i]) : 1,
		    timeout);
	usage(stderr);
	return 1;
fail:
	fprintf(stderr, "cairn debug-raft: %s\n", eb.msg);
	return 1;
}
