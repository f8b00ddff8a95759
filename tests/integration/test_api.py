"""test_api.py - Consul's HTTP API (KV, sessions, locks, transactions) as
clients see it from a REAL 3-server cluster: three `cairn agent -server` on
127.0.0.1-3, started once for the module (lazily, by the first test) and
stopped by the last test (or at exit).  Requests go through curl (and, for
the lock contention loop, http.client keep-alive connections, as real
clients do) to the leader AND to followers, so forwarding is exercised.
Expected behaviour: spec/consul-compat.md sections 0, 1.1, 1.5, 1.7, 2, 7.
"""
import atexit
import base64
import functools
import http.client
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

import harness
from harness import Notify, Proc, TmpDir, binary, main, test, wait_for

# ports: 10000-19999 is used by no other integration test (test_raft
# 20000+, test_agent 25000+, test_http 26000+) nor by the KV benchmark
# (28300/28500/8600/8301); every server has its own address, so all three
# share the port numbers.
BASE = 10000 + (os.getpid() % 1990) * 5
HTTP, SERVER, DNS, SERF_LAN, SERF_WAN = BASE, BASE + 1, BASE + 2, BASE + 3, BASE + 4
NODES = (1, 2, 3)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SAN = os.path.basename(os.path.normpath(harness.BUILD)).startswith("build-san")
START_TIMEOUT = 90 if SAN else 30


def fail(what, want, got):
    raise AssertionError("%s: expected %s, got %r" % (what, want, got))


def eq(got, want, what):
    if got != want:
        fail(what, repr(want), got)


def ok(cond, what, want, got):
    if not cond:
        fail(what, want, got)


# ------------------------------------------------------------------ HTTP


def curl(node, path, method="GET", data=None, headers=(), raw=False, timeout=30):
    """One request to server `node` (1-3) with curl: (status, body, headers).
    body is text, or bytes when raw; header names are lowercased."""
    args = ["curl", "-s", "-S", "-i", "-X", method, "--max-time", str(timeout)]
    for h in headers:
        args += ["-H", h]
    if data is not None:
        args += ["--data-binary", "@-"]
    args.append("http://127.0.0.%d:%d%s" % (node, HTTP, path))
    if isinstance(data, str):
        data = data.encode()
    r = subprocess.run(args, input=data, capture_output=True, timeout=timeout + 10)
    out = r.stdout
    # skip interim 1xx answers
    while out.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in out:
        out = out.split(b"\r\n\r\n", 1)[1]
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    hs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hs[k.strip().lower()] = v.strip()
    if status == 0:
        raise AssertionError("no HTTP answer from node %d for %s %s: %s" %
                             (node, method, path, r.stderr.decode(errors="replace")))
    return status, (body if raw else body.decode(errors="replace")), hs


def jcurl(node, path, method="GET", data=None, want=200, **kw):
    """curl expecting status `want` and a JSON body; returns (json, headers)."""
    if data is not None and not isinstance(data, (bytes, str)):
        data = json.dumps(data)
    st, body, h = curl(node, path, method, data, **kw)
    if st != want:
        fail("%s %s on node %d" % (method, path, node), "status %d" % want, (st, body))
    try:
        return json.loads(body), h
    except ValueError:
        fail("%s %s on node %d" % (method, path, node), "a JSON body", body)


def put(node, path, data=b"", want="true", **kw):
    st, body, h = curl(node, path, "PUT", data, **kw)
    if (st, body) != (200, want):
        fail("PUT %s on node %d" % (path, node), "200 %s" % want, (st, body))
    return h


def kv_get(node, key, q=""):
    """The DirEntry list for key, or None on 404."""
    st, body, h = curl(node, "/v1/kv/" + key + q)
    if st == 404:
        eq(body, "", "404 body of GET /v1/kv/%s" % key)
        return None
    if st != 200:
        fail("GET /v1/kv/%s%s on node %d" % (key, q, node), "200 or 404", (st, body))
    return json.loads(body)


def kv_value(node, key):
    rows = kv_get(node, key)
    return None if rows is None else base64.b64decode(rows[0]["Value"] or "")


def assert_meta(h, what):
    """The query-meta headers of a blocking endpoint (spec section 0)."""
    for k in ("x-consul-index", "x-consul-knownleader", "x-consul-lastcontact"):
        ok(k in h, what, "a %s header" % k, h)
    ok(h["x-consul-index"].isdigit() and int(h["x-consul-index"]) >= 1, what,
       "X-Consul-Index >= 1", h["x-consul-index"])
    eq(h["x-consul-knownleader"], "true", what + ": X-Consul-KnownLeader")
    ok(h["x-consul-lastcontact"].isdigit(), what, "X-Consul-LastContact in ms", h)
    return int(h["x-consul-index"])


def session_create(node, body=None):
    js, _ = jcurl(node, "/v1/session/create", "PUT", body if body is not None else None)
    eq(sorted(js), ["ID"], "session create response keys")
    ok(UUID_RE.match(js["ID"]), "session ID", "a UUID", js["ID"])
    return js["ID"]


def session_info(node, sid):
    js, _ = jcurl(node, "/v1/session/info/" + sid)
    return js[0] if js else None


def session_destroy(node, sid):
    put(node, "/v1/session/destroy/" + sid)


class Conn:
    """A keep-alive HTTP/1.1 connection to one server (http.client)."""

    def __init__(self, node):
        self.node = node
        self.c = http.client.HTTPConnection("127.0.0.%d" % node, HTTP, timeout=30)

    def req(self, method, path, body=None):
        try:
            self.c.request(method, path, body=body)
            r = self.c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            # the server closed an idle connection: reconnect once
            self.c.close()
            self.c.request(method, path, body=body)
            r = self.c.getresponse()
            return r.status, r.read()

    def close(self):
        self.c.close()


# --------------------------------------------------------------- cluster


class Cluster:
    """Three `cairn agent -server -bootstrap-expect 3` on 127.0.0.1-3."""

    def __init__(self):
        self.tmp = TmpDir("cairn-it-api.")
        self.procs = {}
        self.notify = {}
        self.scanned = {}
        try:
            for i in NODES:
                d = os.path.join(self.tmp.path, "s%d" % i)
                os.makedirs(d)
                peers = []
                for j in NODES:
                    if j != i:
                        peers += ["-raft-peer", "s%d=127.0.0.%d:%d" % (j, j, SERVER),
                                  "-retry-join", "127.0.0.%d:%d" % (j, SERF_LAN)]
                self.notify[i] = Notify(d)
                self.procs[i] = Proc(
                    [binary("cairn"), "agent", "-server", "-bootstrap-expect", "3",
                     "-node", "s%d" % i, "-bind", "127.0.0.%d" % i,
                     "-client", "127.0.0.%d" % i, "-data-dir", os.path.join(d, "data"),
                     "-http-port", str(HTTP), "-server-port", str(SERVER),
                     "-dns-port", str(DNS), "-serf-lan-port", str(SERF_LAN),
                     "-serf-wan-port", str(SERF_WAN), "-retry-interval", "1s"] + peers,
                    d, "s%d" % i, env={"NOTIFY_SOCKET": self.notify[i].path})
            for i in NODES:
                self.notify[i].wait("READY=1", START_TIMEOUT)
            # every server knows the same leader and all three peers
            wait_for(self._settled, START_TIMEOUT, "all three servers to agree on a leader",
                     interval=0.1)
            # the leader registers every server in the catalog from gossip
            # (serfHealth passing): sessions need it
            for i in NODES:
                wait_for(lambda: self._registered(i), START_TIMEOUT,
                         "s%d registered with serfHealth passing" % i, interval=0.2)
            # and a write through each of them goes through
            for i in NODES:
                wait_for(lambda: curl(i, "/v1/kv/_cluster/up%d" % i, "PUT", b"1")[1] == "true",
                         START_TIMEOUT, "a write through s%d" % i, interval=0.2)
        except BaseException:
            self.stop()
            raise

    def _settled(self):
        leaders = set()
        try:
            for i in NODES:
                st, body, _ = curl(i, "/v1/status/leader", timeout=5)
                if st != 200 or body in ('""', ""):
                    return False
                leaders.add(json.loads(body))
                st, body, _ = curl(i, "/v1/status/peers", timeout=5)
                if st != 200 or len(json.loads(body)) != 3:
                    return False
        except AssertionError:  # no answer yet
            return False
        return len(leaders) == 1

    def _registered(self, i):
        try:
            st, body, _ = curl(1, "/v1/health/node/s%d" % i, timeout=5)
        except AssertionError:
            return False
        if st != 200:
            return False
        return any(ch.get("CheckID") == "serfHealth" and ch.get("Status") == "passing"
                   for ch in json.loads(body))

    def leader(self):
        """The leader's node number (1-3)."""
        def find():
            st, body, _ = curl(1, "/v1/status/leader", timeout=5)
            addr = json.loads(body) if st == 200 and body else ""
            return addr.split(":")[0] if addr else None
        ip = wait_for(find, 15, "a leader", interval=0.1)
        return int(ip.rsplit(".", 1)[1])

    def followers(self):
        lead = self.leader()
        return [i for i in NODES if i != lead]

    def check(self, what):
        """No server died and none printed a sanitizer report."""
        for i, p in self.procs.items():
            out = p.output()
            start = self.scanned.get(i, 0)
            for mark in harness.SANITIZER_MARKS:
                k = out.find(mark, start)
                if k >= 0:
                    self.scanned[i] = len(out)
                    raise AssertionError("sanitizer report from s%d during %s:\n%s" %
                                         (i, what, out[max(0, k - 300):k + 1500]))
            self.scanned[i] = len(out)
            if not p.alive():
                raise AssertionError("server s%d (pid %d) exited during %s:\n%s" %
                                     (i, p.pid, what, out[-3000:]))

    def stop(self):
        """SIGTERM every server (Proc.stop records sanitizer reports);
        returns {node: (exit status, output)}."""
        out = {}
        for p in self.procs.values():
            p.signal(signal.SIGTERM)  # all at once: none waits for the others
        for i, p in self.procs.items():
            p.stop()
            out[i] = (p.p.returncode, p.output())
        for n in self.notify.values():
            n.close()
        self.procs = {}
        self.notify = {}
        self.tmp.cleanup()
        return out


_cluster = None
_cluster_error = None


def cluster():
    global _cluster, _cluster_error
    if _cluster is None:
        if _cluster_error is not None:
            raise AssertionError("the cluster did not start: %s" % _cluster_error)
        t0 = time.monotonic()
        try:
            _cluster = Cluster()
        except Exception as e:
            _cluster_error = e
            raise
        print("  3-server cluster up in %.1fs (HTTP port %d)" % (time.monotonic() - t0, HTTP))
    return _cluster


def ctest(fn):
    """A test against the shared cluster; after it, the servers must all
    still run and none may have printed a sanitizer report."""
    @functools.wraps(fn)
    def run():
        c = cluster()
        try:
            fn(c)
        finally:
            c.check(fn.__name__)
    return test(run)


@atexit.register
def _stop_at_exit():
    global _cluster
    if _cluster is None:
        return
    del harness.sanitizer_reports[:]
    _cluster.stop()
    _cluster = None
    if harness.sanitizer_reports:
        print("FAIL cluster_stops_cleanly (at exit)")
        for r in harness.sanitizer_reports:
            for line in r.splitlines():
                print("  " + line)
        os._exit(1)


# -------------------------------------------------------------------- KV


@ctest
def kv_put_get_delete_flags_raw_and_query_meta(c):
    lead, (f1, f2) = c.leader(), c.followers()
    # a write through a follower is forwarded to the leader
    put(f1, "/v1/kv/kv1/app/config?flags=42", b"hello world")
    for n in (lead, f1, f2):
        rows, h = jcurl(n, "/v1/kv/kv1/app/config")
        eq(h.get("content-type"), "application/json", "Content-Type of a KV GET on s%d" % n)
        eq(len(rows), 1, "rows of a single-key GET on s%d" % n)
        r = rows[0]
        eq(sorted(r), sorted(["LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"]),
           "DirEntry keys of an unlocked key (no Session)")
        eq((r["Key"], r["Flags"], r["LockIndex"]), ("kv1/app/config", 42, 0),
           "Key/Flags/LockIndex read on s%d" % n)
        eq(base64.b64decode(r["Value"]), b"hello world", "Value read on s%d" % n)
        eq(r["CreateIndex"], r["ModifyIndex"], "CreateIndex == ModifyIndex of a new key")
        idx = assert_meta(h, "200 KV GET on s%d" % n)
        eq(idx, r["ModifyIndex"], "X-Consul-Index of a single key = its ModifyIndex")
    # a missing key: 404, empty body, the query-meta headers all set
    for n in (lead, f1):
        st, body, h = curl(n, "/v1/kv/kv1/app/missing")
        eq((st, body), (404, ""), "GET of a missing key on s%d" % n)
        assert_meta(h, "404 KV GET on s%d" % n)
        st, body, h = curl(n, "/v1/kv/kv1-never-written/x")
        eq(st, 404, "GET of a key under a never-written prefix")
        ok(int(h.get("x-consul-index", "0")) >= 1, "404 on s%d" % n, "X-Consul-Index >= 1 (never 0)", h)
    # flags update; an empty body reads back as a null Value
    put(lead, "/v1/kv/kv1/app/config?flags=7", b"v2")
    eq(kv_get(f2, "kv1/app/config")[0]["Flags"], 7, "Flags after an update")
    put(f2, "/v1/kv/kv1/empty", b"")
    eq(kv_get(f1, "kv1/empty")[0]["Value"], None, "Value of an empty key")
    # ?raw: exactly the stored bytes, whatever they are
    blob = bytes(range(256)) + b"\r\n\r\n\x00end"
    put(f1, "/v1/kv/kv1/bin", blob)
    for n in NODES:
        st, body, h = curl(n, "/v1/kv/kv1/bin?raw", raw=True)
        eq((st, body), (200, blob), "GET ?raw on s%d" % n)
        assert_meta(h, "GET ?raw on s%d" % n)
    st, body, h = curl(lead, "/v1/kv/kv1/empty?raw", raw=True)
    eq((st, body), (200, b""), "GET ?raw of an empty value")
    # DELETE one key (through a follower), then a tree
    put(f2, "/v1/kv/kv1/app/other", b"o")
    st, body, _ = curl(f2, "/v1/kv/kv1/app/other", "DELETE")
    eq((st, body), (200, "true"), "DELETE of a key")
    eq(kv_get(lead, "kv1/app/other"), None, "GET after DELETE")
    st, body, _ = curl(lead, "/v1/kv/kv1/absent", "DELETE")
    eq((st, body), (200, "true"), "DELETE of an absent key")
    st, body, _ = curl(f1, "/v1/kv/kv1/app?recurse", "DELETE")
    eq((st, body), (200, "true"), "DELETE ?recurse")
    eq(kv_get(lead, "kv1/app", "?recurse"), None, "GET ?recurse of a deleted tree")
    eq(kv_value(f2, "kv1/bin"), blob, "a key outside the deleted tree")
    # the query-meta index of a prefix counts deletions (tombstones)
    _, h = jcurl(lead, "/v1/kv/kv1/?recurse")
    before = int(h["x-consul-index"])
    put(lead, "/v1/kv/kv1/tmp", b"t")
    curl(lead, "/v1/kv/kv1/tmp", "DELETE")
    _, h = jcurl(f1, "/v1/kv/kv1/?recurse")
    ok(int(h["x-consul-index"]) > before, "X-Consul-Index of kv1/?recurse after a delete under it",
       "> %d" % before, h["x-consul-index"])
    # ?dc=dc1 is this datacenter; tokens are accepted (no ACLs yet)
    put(f1, "/v1/kv/kv1/dc?dc=dc1", b"d")
    eq(kv_value(lead, "kv1/dc?dc=dc1"), b"d", "GET ?dc=dc1")
    put(f2, "/v1/kv/kv1/tok?token=secret", b"t1")
    put(f2, "/v1/kv/kv1/tok", b"t2", headers=["X-Consul-Token: secret"])
    st, body, _ = curl(lead, "/v1/kv/kv1/tok?raw&token=secret", headers=["X-Consul-Token: other"])
    eq((st, body), (200, "t2"), "GET with ?token= and X-Consul-Token")
    st, body, _ = curl(f1, "/v1/kv/kv1/tok", "DELETE", headers=["Authorization: Bearer x"])
    eq((st, body), (200, "true"), "DELETE with a bearer token")
    # ?pretty
    st, body, _ = curl(f1, "/v1/kv/kv1/dc?pretty")
    ok(body.endswith("\n") and "\n  " in body, "GET ?pretty", "indented JSON with a trailing newline", body)
    curl(lead, "/v1/kv/kv1?recurse", "DELETE")


@ctest
def kv_cas_create_only_and_stale(c):
    lead, (f1, f2) = c.leader(), c.followers()
    # cas=0: only if absent
    put(f1, "/v1/kv/cas/k?cas=0", b"first")
    put(f2, "/v1/kv/cas/k?cas=0", b"second", want="false")
    eq(kv_value(lead, "cas/k"), b"first", "value after a refused cas=0")
    mi = kv_get(lead, "cas/k")[0]["ModifyIndex"]
    put(f2, "/v1/kv/cas/k?cas=%d" % mi, b"v2")
    # the index just used is stale now
    put(f1, "/v1/kv/cas/k?cas=%d" % mi, b"v3", want="false")
    put(lead, "/v1/kv/cas/k?cas=%d" % (mi + 1000000), b"v4", want="false")
    eq(kv_value(f1, "cas/k"), b"v2", "value after stale cas writes")
    # cas on an absent key with an index never creates it
    put(lead, "/v1/kv/cas/absent?cas=5", b"x", want="false")
    eq(kv_get(f2, "cas/absent"), None, "absent key after cas=5")
    # flags ride along with cas
    mi = kv_get(lead, "cas/k")[0]["ModifyIndex"]
    put(f1, "/v1/kv/cas/k?cas=%d&flags=9" % mi, b"v5")
    r = kv_get(lead, "cas/k")[0]
    eq((base64.b64decode(r["Value"]), r["Flags"]), (b"v5", 9), "value/flags after cas with flags")
    # DELETE ?cas: stale refused, 0 never deletes an existing key, current deletes
    put(f2, "/v1/kv/cas/k?cas=%d" % mi, b"", want="false")
    st, body, _ = curl(f1, "/v1/kv/cas/k?cas=%d" % mi, "DELETE")
    eq((st, body), (200, "false"), "DELETE with a stale cas")
    st, body, _ = curl(f1, "/v1/kv/cas/k?cas=0", "DELETE")
    eq((st, body), (200, "false"), "DELETE ?cas=0 of an existing key")
    eq(kv_value(lead, "cas/k"), b"v5", "value after refused cas deletes")
    st, body, _ = curl(f2, "/v1/kv/cas/k?cas=%d" % r["ModifyIndex"], "DELETE")
    eq((st, body), (200, "true"), "DELETE with the current cas")
    eq(kv_get(lead, "cas/k"), None, "GET after a cas delete")
    # bad numbers
    for q in ("cas=abc", "cas=-1", "flags=x", "flags=-2"):
        st, body, _ = curl(f1, "/v1/kv/cas/bad?" + q, "PUT", b"x")
        eq(st, 400, "PUT ?%s status" % q)
        eq(kv_get(lead, "cas/bad"), None, "key after a refused PUT ?%s" % q)


@ctest
def kv_recurse_keys_and_separator(c):
    lead, (f1, f2) = c.leader(), c.followers()
    for k in ("web/a", "web/b", "web/sub/c", "web/sub/deep/d", "web2/x"):
        put(f1, "/v1/kv/rk/" + k, k.encode())
    rows, h = jcurl(f2, "/v1/kv/rk/web?recurse")
    eq([r["Key"] for r in rows], ["rk/web/a", "rk/web/b", "rk/web/sub/c", "rk/web/sub/deep/d", "rk/web2/x"],
       "GET rk/web?recurse (a plain prefix match, sorted)")
    eq(base64.b64decode(rows[2]["Value"]), b"web/sub/c", "a value in a recurse listing")
    idx = assert_meta(h, "GET ?recurse")
    eq(idx, max(r["ModifyIndex"] for r in rows), "X-Consul-Index of a recurse listing")
    rows, _ = jcurl(lead, "/v1/kv/rk/web/?recurse=true")
    eq([r["Key"] for r in rows], ["rk/web/a", "rk/web/b", "rk/web/sub/c", "rk/web/sub/deep/d"],
       "GET rk/web/?recurse=true")
    keys, _ = jcurl(f1, "/v1/kv/rk/web/?keys")
    eq(keys, ["rk/web/a", "rk/web/b", "rk/web/sub/c", "rk/web/sub/deep/d"], "GET ?keys")
    keys, _ = jcurl(f2, "/v1/kv/rk/web/?keys&separator=/")
    eq(keys, ["rk/web/a", "rk/web/b", "rk/web/sub/"], "GET ?keys&separator=/")
    keys, _ = jcurl(lead, "/v1/kv/rk/web/?keys&seperator=/")
    eq(keys, ["rk/web/a", "rk/web/b", "rk/web/sub/"], "GET ?keys&seperator=/ (Consul's old spelling)")
    keys, _ = jcurl(lead, "/v1/kv/rk/?keys&separator=/")
    eq(keys, ["rk/web/", "rk/web2/"], "GET rk/?keys&separator=/")
    keys, _ = jcurl(f1, "/v1/kv/rk/web?keys=True&separator=/")
    eq(keys, ["rk/web/", "rk/web2/"], "GET rk/web?keys&separator=/ (prefix, not directory)")
    keys, _ = jcurl(f1, "/v1/kv/rk/web/sub/?keys&separator=e")
    eq(keys, ["rk/web/sub/c", "rk/web/sub/de"], "GET ?keys&separator=e")
    st, body, h = curl(f2, "/v1/kv/rk/none/?keys")
    eq((st, body), (404, ""), "GET ?keys of an empty non-root prefix")
    assert_meta(h, "404 GET ?keys")
    st, body, h = curl(f2, "/v1/kv/rk/none?recurse")
    eq((st, body), (404, ""), "GET ?recurse of an empty prefix")
    # the root: every key (ours at least)
    keys, _ = jcurl(f1, "/v1/kv/?keys")
    ok(set(keys) >= {"rk/web/a", "rk/web2/x"}, "GET /v1/kv/?keys", "all keys", keys)
    st, body, _ = curl(lead, "/v1/kv/rk?recurse", "DELETE")
    eq((st, body), (200, "true"), "DELETE rk?recurse")
    eq(kv_get(f1, "rk", "?recurse"), None, "GET rk?recurse after deleting the tree")


@ctest
def kv_consistency_modes_and_blocking_queries(c):
    lead, (f1, f2) = c.leader(), c.followers()
    put(lead, "/v1/kv/blk/k", b"1")
    # ?stale reads the follower's own state: let it apply the write first
    wait_for(lambda: curl(f1, "/v1/kv/blk/k?stale&raw")[1] == "1", 5, "f1 applying blk/k")
    for n in (lead, f1):
        for q in ("?stale", "?stale=", "?consistent", "?consistent=1", ""):
            rows, h = jcurl(n, "/v1/kv/blk/k" + q)
            eq(base64.b64decode(rows[0]["Value"]), b"1", "GET %s on s%d" % (q, n))
            assert_meta(h, "GET %s on s%d" % (q, n))
        st, body, _ = curl(n, "/v1/kv/blk/k?stale&consistent")
        eq((st, body), (400, "Cannot specify ?stale with ?consistent, conflicting semantics."),
           "GET ?stale&consistent on s%d" % n)
    # stale reads on a follower catch up
    put(f2, "/v1/kv/blk/s", b"x")
    wait_for(lambda: curl(f1, "/v1/kv/blk/s?stale&raw")[1] == "x", 5, "a stale read of a new write")
    # a blocking GET on a follower returns when the key changes (written on
    # the leader), not on an unrelated write
    _, h = jcurl(f1, "/v1/kv/blk/k")
    idx = int(h["x-consul-index"])
    res = {}

    def block(name, node, path):
        t0 = time.monotonic()
        res[name] = curl(node, path) + (time.monotonic() - t0,)
    ths = [threading.Thread(target=block, args=("key", f1, "/v1/kv/blk/k?index=%d&wait=20s" % idx)),
           threading.Thread(target=block, args=("tree", f2, "/v1/kv/blk/?recurse&index=%d&wait=20s" % idx))]
    for t in ths:
        t.start()
    time.sleep(0.5)
    put(lead, "/v1/kv/unrelated/blk", b"u")
    time.sleep(0.5)
    ok(all(t.is_alive() for t in ths), "blocking GETs after an unrelated write", "still blocked", res)
    h2 = put(f2, "/v1/kv/blk/k", b"2")
    for t in ths:
        t.join(15)
    st, body, h, took = res["key"]
    eq(st, 200, "status of the woken blocking GET")
    ok(int(h["x-consul-index"]) > idx, "X-Consul-Index of the woken GET", "> %d" % idx, h)
    eq(base64.b64decode(json.loads(body)[0]["Value"]), b"2", "value seen by the woken GET")
    ok(took < 5, "blocking GET wake-up", "< 5 s after the write", took)
    st, body, h, took = res["tree"]
    ok(st == 200 and int(h["x-consul-index"]) > idx, "woken recurse blocking GET",
       "200 with index > %d" % idx, (st, h))
    # nothing changes: the wait ends with the same index (wait=1s, jitter < 1/16)
    _, h = jcurl(lead, "/v1/kv/blk/k")
    idx = int(h["x-consul-index"])
    for n, w in ((f1, "1s"), (lead, "1000ms")):
        t0 = time.monotonic()
        st, body, h = curl(n, "/v1/kv/blk/k?index=%d&wait=%s" % (idx, w))
        took = time.monotonic() - t0
        eq((st, int(h["x-consul-index"])), (200, idx), "timed-out blocking GET on s%d" % n)
        ok(0.9 < took < 4, "timed-out blocking GET wait=%s" % w, "about 1 s", took)
    # an older index answers at once, index=0 never blocks
    t0 = time.monotonic()
    eq(curl(f2, "/v1/kv/blk/k?index=1&wait=30s")[0], 200, "GET ?index=1")
    eq(curl(f2, "/v1/kv/blk/k?index=0&wait=30s")[0], 200, "GET ?index=0")
    ok(time.monotonic() - t0 < 5, "GET ?index=1 / ?index=0", "no blocking", time.monotonic() - t0)
    # a blocking 404 wakes when the key appears
    st, _, h = curl(f1, "/v1/kv/blk/later")
    eq(st, 404, "GET of blk/later before it exists")
    th = threading.Thread(target=block, args=("later", f1, "/v1/kv/blk/later?index=%s&wait=20s" % h["x-consul-index"]))
    th.start()
    time.sleep(0.3)
    put(lead, "/v1/kv/blk/later", b"now")
    th.join(15)
    eq(res["later"][0], 200, "status of a blocking 404 woken by the key's creation")
    ok(res["later"][3] < 5, "blocking 404 wake-up", "< 5 s", res["later"][3])
    # a blocking GET of a key wakes when a tree delete covering it removes it
    put(lead, "/v1/kv/blk/tree/leaf", b"l")
    _, h = jcurl(f2, "/v1/kv/blk/tree/leaf")
    th = threading.Thread(target=block, args=("leaf", f2, "/v1/kv/blk/tree/leaf?index=%s&wait=20s" % h["x-consul-index"]))
    th.start()
    time.sleep(0.3)
    ok(th.is_alive(), "a blocking GET of blk/tree/leaf", "still blocked", res.get("leaf"))
    st, body, _ = curl(f1, "/v1/kv/blk/tree?recurse", "DELETE")
    eq((st, body), (200, "true"), "DELETE blk/tree?recurse")
    th.join(15)
    eq((res["leaf"][0], res["leaf"][1]), (404, ""), "blocking GET woken by the delete of its tree")
    ok(res["leaf"][3] < 5, "wake-up on a tree delete", "< 5 s", res["leaf"][3])
    # bad blocking parameters
    for q, text in (("index=5&wait=abc", "Invalid wait time"), ("index=-1", "Invalid index"),
                    ("index=x", "Invalid index"), ("index=", "Invalid index"),
                    ("index=5&wait=-3s", "Invalid wait time")):
        st, body, _ = curl(f2, "/v1/kv/blk/k?" + q)
        eq((st, body), (400, text), "GET ?%s" % q)
    curl(lead, "/v1/kv/blk?recurse", "DELETE")
    curl(lead, "/v1/kv/unrelated?recurse", "DELETE")


@ctest
def kv_bad_requests_write_nothing(c):
    lead, (f1, f2) = c.leader(), c.followers()
    put(f1, "/v1/kv/bad/k", b"old")
    root_keys, _ = jcurl(lead, "/v1/kv/?keys")

    def unchanged(what):
        eq(kv_value(lead, "bad/k"), b"old", "bad/k after " + what)
        eq(jcurl(f2, "/v1/kv/?keys")[0], root_keys, "all keys after " + what)
    # no key
    for n in (lead, f1):
        st, body, _ = curl(n, "/v1/kv/")
        eq((st, body), (400, "Missing key name"), "GET /v1/kv/ without recurse on s%d" % n)
        st, body, _ = curl(n, "/v1/kv/", "PUT", b"x")
        eq((st, body), (400, "Missing key name"), "PUT /v1/kv/ on s%d" % n)
        unchanged("PUT /v1/kv/")
        st, body, _ = curl(n, "/v1/kv/", "DELETE")
        eq(st, 400, "DELETE /v1/kv/ without recurse on s%d" % n)
        unchanged("DELETE /v1/kv/")
    # a value over 512 KiB: 413, nothing written; exactly 512 KiB is fine
    for n, key in ((f1, "bad/k"), (lead, "bad/big")):
        st, body, _ = curl(n, "/v1/kv/" + key, "PUT", b"x" * 524289)
        eq(st, 413, "PUT of 524289 bytes to %s on s%d" % (key, n))
        ok("too large" in body and "524288" in body, "413 text", "'too large' and the limit 524288", body)
        unchanged("an oversized PUT")
        eq(kv_get(f2, "bad/big"), None, "bad/big after an oversized PUT")
    put(f2, "/v1/kv/bad/max", b"m" * 524288)
    eq(len(kv_value(lead, "bad/max")), 524288, "length of a 524288-byte value")
    curl(lead, "/v1/kv/bad/max", "DELETE")
    # conflicting flags
    sid = session_create(f1, {"LockDelay": "0s"})
    try:
        for method, q in (("PUT", "cas=0&acquire=" + sid), ("PUT", "cas=1&release=" + sid),
                          ("PUT", "acquire=%s&release=%s" % (sid, sid)),
                          ("DELETE", "recurse&cas=0"), ("DELETE", "recurse=1&cas=5")):
            for n in (lead, f2):
                st, body, _ = curl(n, "/v1/kv/bad/k?" + q, method, b"new" if method == "PUT" else None)
                ok(st == 400 and body.startswith("Conflicting flags"), "%s ?%s on s%d" % (method, q, n),
                   "400 'Conflicting flags...'", (st, body))
                unchanged("%s ?%s" % (method, q))
        ok("Session" not in kv_get(lead, "bad/k")[0], "bad/k after conflicting acquires", "not locked",
           kv_get(lead, "bad/k"))
    finally:
        session_destroy(lead, sid)
    # wrong method
    for n in (lead, f1):
        st, body, h = curl(n, "/v1/kv/bad/k", "PATCH", b"new")
        eq(st, 405, "PATCH /v1/kv/bad/k on s%d" % n)
        allow = h.get("allow", "")
        ok(all(m in allow for m in ("GET", "PUT", "DELETE")) and "PATCH" not in allow,
           "Allow header of the 405", "GET, PUT and DELETE listed", h)
        unchanged("PATCH")
    # other datacenters are not reachable
    for n, method in ((lead, "GET"), (f1, "PUT"), (f2, "DELETE")):
        st, body, _ = curl(n, "/v1/kv/bad/k?dc=other", method, b"new" if method == "PUT" else None)
        eq((st, body), (500, "No path to datacenter"), "%s ?dc=other on s%d" % (method, n))
        unchanged("%s ?dc=other" % method)
    st, body, _ = curl(f2, "/v1/kv/bad/k?dc=dc1&raw")
    eq((st, body), (200, "old"), "GET ?dc=dc1")
    curl(lead, "/v1/kv/bad?recurse", "DELETE")


@test
def kv_raw_answer_is_text_plain_nosniff():
    # spec 1.1: `?raw` -> raw bytes with Content-Type text/plain (+
    # X-Content-Type-Options: nosniff in modern Consul).
    c = cluster()
    put(c.leader(), "/v1/kv/rawct/k", b"<html>hi</html>")
    try:
        st, body, h = curl(c.followers()[0], "/v1/kv/rawct/k?raw")
        eq((st, body), (200, "<html>hi</html>"), "GET ?raw")
        ct = h.get("content-type", "")
        ok(ct.startswith("text/plain"), "Content-Type of GET ?raw", "text/plain", ct)
        eq(h.get("x-content-type-options"), "nosniff", "X-Content-Type-Options of GET ?raw")
    finally:
        curl(c.leader(), "/v1/kv/rawct/k", "DELETE")
        c.check("kv_raw_answer_is_text_plain_nosniff")


@test
def kv_413_text_names_the_body_size():
    # spec 0 (Body limits): 413 `Request body(N bytes) too large, max
    # size: 524288 bytes...`.
    c = cluster()
    try:
        st, body, _ = curl(c.leader(), "/v1/kv/big413", "PUT", b"y" * 600000)
        eq(st, 413, "PUT of 600000 bytes")
        ok(body.startswith("Request body(600000 bytes) too large, max size: 524288 bytes"),
           "413 text", "'Request body(600000 bytes) too large, max size: 524288 bytes...'", body)
    finally:
        c.check("kv_413_text_names_the_body_size")


@test
def kv_delete_cas_of_absent_key_is_true():
    # Consul's kvsDeleteCASTxn returns `entry == nil` when the index
    # does not match, so DELETE ?cas=N of an ABSENT key answers true (there
    # is nothing to delete; every Consul version since 0.5).  (Spec 1.1's
    # "DELETE cas=0 never deletes" holds for existing keys and is checked in
    # kv_cas_create_only_and_stale.)
    c = cluster()
    try:
        eq(kv_get(c.leader(), "delcas/absent"), None, "delcas/absent before")
        st, body, _ = curl(c.followers()[0], "/v1/kv/delcas/absent?cas=5", "DELETE")
        eq((st, body), (200, "true"), "DELETE ?cas=5 of an absent key")
    finally:
        c.check("kv_delete_cas_of_absent_key_is_true")


# -------------------------------------------------------------- sessions


@ctest
def session_create_info_list_renew_destroy(c):
    lead, (f1, f2) = c.leader(), c.followers()
    # defaults, created through a follower: Node is that agent's node
    sid = session_create(f1)
    s = session_info(lead, sid)
    for k in ("ID", "Name", "Node", "NodeChecks", "LockDelay", "Behavior", "TTL",
              "CreateIndex", "ModifyIndex"):
        ok(k in s, "session info", "a %s field" % k, s)
    eq((s["ID"], s["Name"], s["Node"]), (sid, "", "s%d" % f1), "ID/Name/Node of a default session")
    eq(s["NodeChecks"], ["serfHealth"], "default NodeChecks")
    eq(s["LockDelay"], 15000000000, "default LockDelay (ns)")
    eq(s["Behavior"], "release", "default Behavior")
    eq(s["TTL"], "", "default TTL")
    ok(s["CreateIndex"] >= 1 and s["CreateIndex"] == s["ModifyIndex"], "session indexes",
       "CreateIndex == ModifyIndex >= 1", s)
    # an empty JSON object is the same as no body
    sid_e = session_create(lead, {})
    eq(session_info(f2, sid_e)["LockDelay"], 15000000000, "LockDelay of a session created with {}")
    # lowercase keys, as python-consul sends them
    sid2 = session_create(f2, {"name": "x", "lockdelay": "5s", "ttl": "30s", "behavior": "delete"})
    s2 = session_info(f1, sid2)
    eq((s2["Name"], s2["LockDelay"], s2["TTL"], s2["Behavior"], s2["Node"]),
       ("x", 5000000000, "30s", "delete", "s%d" % f2), "a session created with lowercase keys")
    # snake_case lock_delay; LockDelay as a number (< 1000: seconds, else ns)
    for body, want in (({"lock_delay": "2s"}, 2000000000), ({"LockDelay": 7}, 7000000000),
                       ({"LockDelay": 2500000000}, 2500000000), ({"LockDelay": "1m"}, 60000000000),
                       ({"LockDelay": 0}, 0), ({"LOCKDELAY": "250ms"}, 250000000)):
        x = session_create(lead, body)
        eq(session_info(f1, x)["LockDelay"], want, "LockDelay of a session created with %s" % json.dumps(body))
        session_destroy(f1, x)
    # unknown keys are ignored; an explicit NodeChecks, even [], replaces the default
    sid3 = session_create(lead, {"Name": "u", "Bogus": {"a": [1]}, "WriteRequest": {"Token": ""},
                                 "NodeChecks": []})
    s3 = session_info(f2, sid3)
    ok(s3["Name"] == "u" and s3["NodeChecks"] in (None, []), "a session with unknown keys and NodeChecks []",
       "Name u, no NodeChecks", s3)
    # another server's node, named explicitly
    sid4 = session_create(f1, {"Node": "s%d" % lead, "Checks": ["serfHealth"]})
    s4 = session_info(lead, sid4)
    eq((s4["Node"], s4["NodeChecks"]), ("s%d" % lead, ["serfHealth"]), "Node/NodeChecks of an explicit Node")
    session_destroy(f2, sid4)
    # list (from every server), node/<node>
    for n in NODES:
        ss, h = jcurl(n, "/v1/session/list")
        assert_meta(h, "GET /v1/session/list on s%d" % n)
        ids = [x["ID"] for x in ss]
        ok({sid, sid_e, sid2, sid3} <= set(ids), "session list on s%d" % n, "all four sessions", ids)
    ss, h = jcurl(lead, "/v1/session/node/s%d" % f1)
    assert_meta(h, "GET /v1/session/node")
    ids = [x["ID"] for x in ss]
    ok(sid in ids and sid2 not in ids, "sessions of node s%d" % f1, "%s and not %s" % (sid, sid2), ids)
    ok(all(x["Node"] == "s%d" % f1 for x in ss), "sessions of node s%d" % f1, "only that node's", ss)
    ss, _ = jcurl(f1, "/v1/session/node/no-such-node")
    eq(ss, [], "sessions of an unknown node")
    # info of an unknown id: 200 []
    for n in (lead, f1):
        js, h = jcurl(n, "/v1/session/info/00000000-0000-4000-8000-000000000000")
        eq(js, [], "info of an unknown session on s%d" % n)
        assert_meta(h, "info of an unknown session")
    # renew: [Session]; unknown: 404
    js, _ = jcurl(f2, "/v1/session/renew/" + sid2, "PUT")
    ok(isinstance(js, list) and len(js) == 1 and js[0]["ID"] == sid2, "renew", "[Session %s]" % sid2, js)
    ok(js[0]["TTL"] in ("30s",) or js[0]["TTL"].endswith("s"), "TTL in a renew answer", "a duration", js)
    bogus = "11111111-2222-4333-8444-555555555555"
    for n in (lead, f1):
        st, body, _ = curl(n, "/v1/session/renew/" + bogus, "PUT")
        eq((st, body), (404, "Session id '%s' not found" % bogus), "renew of an unknown session on s%d" % n)
    # destroy: true, also of an unknown one
    for x, n in ((sid, f2), (sid_e, lead), (sid2, f1), (sid3, f1)):
        session_destroy(n, x)
        eq(session_info(lead, x), None, "info after destroying %s" % x)
    session_destroy(lead, bogus)
    session_destroy(f1, bogus)
    ids = [x["ID"] for x in jcurl(f2, "/v1/session/list")[0]]
    ok(not ({sid, sid_e, sid2, sid3} & set(ids)), "session list after destroys", "none of ours", ids)


@ctest
def session_bad_requests_create_nothing(c):
    lead, (f1, f2) = c.leader(), c.followers()

    def count():
        return len(jcurl(lead, "/v1/session/list")[0])
    before = count()
    for n in (lead, f1):
        for body in ({"TTL": "1s"}, {"ttl": "9s"}, {"TTL": "100000h"}, {"TTL": "86401s"}):
            st, text, _ = curl(n, "/v1/session/create", "PUT", json.dumps(body))
            ok(st == 500 and "Invalid Session TTL" in text, "create with %s on s%d" % (json.dumps(body), n),
               "500 'Invalid Session TTL...'", (st, text))
        st, text, _ = curl(n, "/v1/session/create", "PUT", '{"Node":"no-such-node"}')
        ok(st == 500 and "Missing node registration" in text, "create on an unknown node",
           "500 'Missing node registration'", (st, text))
        st, text, _ = curl(n, "/v1/session/create", "PUT", '{"NodeChecks":["serfHealth","nope"]}')
        ok(st == 500 and "Missing check" in text, "create bound to an unknown check",
           "500 \"Missing check 'nope' registration\"", (st, text))
        st, text, _ = curl(n, "/v1/session/create", "PUT", '{"Behavior":"explode"}')
        ok(st == 500 and text.startswith("Invalid Behavior setting"), "create with Behavior explode",
           "500 'Invalid Behavior setting...'", (st, text))
        for body in ('{"Name":', "not json", '["a"]', '{"Name":"x"} trailing'):
            st, text, _ = curl(n, "/v1/session/create", "PUT", body)
            ok(st == 400 and text.startswith("Request decode failed"), "create with body %r" % body,
               "400 'Request decode failed...'", (st, text))
        for body in ('{"Name": 5}', '{"TTL": 30}', '{"LockDelay": true}', '{"LockDelay": "soon"}',
                     '{"NodeChecks": "serfHealth"}', '{"TTL": "abc"}'):
            st, text, _ = curl(n, "/v1/session/create", "PUT", body)
            eq(st, 400, "status of create with %s on s%d (%s)" % (body, n, text))
        st, text, h = curl(n, "/v1/session/create")
        eq(st, 405, "GET /v1/session/create on s%d" % n)
        ok("PUT" in h.get("allow", ""), "Allow of the 405", "PUT", h)
        st, _, _ = curl(n, "/v1/session/destroy/" + "0" * 36)
        eq(st, 405, "GET /v1/session/destroy")
        st, _, _ = curl(n, "/v1/session/list", "PUT", "")
        eq(st, 405, "PUT /v1/session/list")
        st, text, _ = curl(n, "/v1/session/list?dc=other")
        eq((st, text), (500, "No path to datacenter"), "session list ?dc=other")
        st, text, _ = curl(n, "/v1/session/create?dc=other", "PUT", "")
        eq((st, text), (500, "No path to datacenter"), "session create ?dc=other")
        st, text, _ = curl(n, "/v1/session/list?stale&consistent")
        eq(st, 400, "session list ?stale&consistent")
    eq(count(), before, "number of sessions after refused creates")


@ctest
def session_list_blocking_query_wakes_on_create(c):
    lead, (f1, f2) = c.leader(), c.followers()
    ss, h = jcurl(f1, "/v1/session/list")
    idx = int(h["x-consul-index"])
    res = {}

    def block():
        t0 = time.monotonic()
        res["r"] = curl(f1, "/v1/session/list?index=%d&wait=20s" % idx) + (time.monotonic() - t0,)
    th = threading.Thread(target=block)
    th.start()
    time.sleep(0.5)
    put(lead, "/v1/kv/sessblk/unrelated", b"x")
    time.sleep(0.3)
    ok(th.is_alive(), "a blocking session list after a KV write", "still blocked", res)
    sid = session_create(f2, {"Name": "wake"})
    th.join(15)
    try:
        st, body, h, took = res["r"]
        eq(st, 200, "status of the woken session list")
        ok(int(h["x-consul-index"]) > idx, "index of the woken session list", "> %d" % idx, h)
        ok(sid in [x["ID"] for x in json.loads(body)], "woken session list", "the new session", body)
        ok(took < 5, "session list wake-up", "< 5 s", took)
        # info blocks too, and wakes on the destroy
        _, h = jcurl(lead, "/v1/session/info/" + sid)
        idx2 = int(h["x-consul-index"])
        th = threading.Thread(target=lambda: res.__setitem__(
            "i", curl(f2, "/v1/session/info/%s?index=%d&wait=20s" % (sid, idx2))))
        th.start()
        time.sleep(0.3)
        ok(th.is_alive(), "a blocking session info", "still blocked", res)
        session_destroy(f1, sid)
        th.join(15)
        eq((res["i"][0], res["i"][1]), (200, "[]"), "blocking session info woken by the destroy")
        # no change: the wait ends, same index
        _, h = jcurl(f2, "/v1/session/list")
        idx3 = int(h["x-consul-index"])
        t0 = time.monotonic()
        st, _, h = curl(f2, "/v1/session/list?index=%d&wait=1s" % idx3)
        eq((st, int(h["x-consul-index"])), (200, idx3), "timed-out session list")
        ok(0.9 < time.monotonic() - t0 < 4, "timed-out session list", "about 1 s", time.monotonic() - t0)
        st, body, _ = curl(f2, "/v1/session/list?index=1&wait=abc")
        eq((st, body), (400, "Invalid wait time"), "session list ?wait=abc")
    finally:
        session_destroy(lead, sid)
        curl(lead, "/v1/kv/sessblk?recurse", "DELETE")


@ctest
def session_ttl_expiry_release_delete_and_renewal(c):
    # three 10 s TTL sessions at once: one left to expire with behavior
    # release, one with delete, one renewed every 3 s for 25 s
    lead, (f1, f2) = c.leader(), c.followers()
    t_create = time.monotonic()
    s_rel = session_create(f1, {"TTL": "10s", "LockDelay": "0s"})
    s_del = session_create(f2, {"TTL": "10s", "Behavior": "delete"})
    s_keep = session_create(lead, {"TTL": "10s", "Name": "kept"})
    try:
        eq(session_info(lead, s_rel)["TTL"], "10s", "TTL of a 10 s session")
        put(lead, "/v1/kv/ttl/rel?acquire=" + s_rel, b"r")
        put(f1, "/v1/kv/ttl/del?acquire=" + s_del, b"d")
        put(f2, "/v1/kv/ttl/keep?acquire=" + s_keep, b"k")
        renew_errors, renews = [], []
        stop = threading.Event()

        def renewer():
            k = 0
            while not stop.wait(3):
                n = NODES[k % 3]
                k += 1
                try:
                    st, body, _ = curl(n, "/v1/session/renew/" + s_keep, "PUT")
                    js = json.loads(body) if st == 200 else None
                    if not (js and js[0]["ID"] == s_keep):
                        renew_errors.append("renew on s%d: expected 200 [Session %s], got %r" %
                                            (n, s_keep, (st, body)))
                    renews.append(time.monotonic() - t_create)
                except Exception as e:  # reported below
                    renew_errors.append("renew on s%d: %r" % (n, e))
        th = threading.Thread(target=renewer)
        th.start()
        gone = {}
        try:
            while time.monotonic() - t_create < 30 and len(gone) < 2:
                for name, sid in (("release", s_rel), ("delete", s_del)):
                    if name not in gone and session_info(f1, sid) is None:
                        gone[name] = time.monotonic() - t_create
                time.sleep(0.25)
            for name in ("release", "delete"):
                ok(name in gone, "the unrenewed %s session" % name, "invalidated within 30 s (2xTTL + slack)",
                   gone)
                ok(gone[name] >= 9.5, "the unrenewed %s session" % name, "not invalidated before its TTL (10 s)",
                   gone[name])
            print("  TTL 10s sessions invalidated after %.1fs (release), %.1fs (delete)" %
                  (gone["release"], gone["delete"]))
            # release: the key stays, unlocked, LockIndex kept
            rows = kv_get(lead, "ttl/rel")
            ok(rows is not None and "Session" not in rows[0] and rows[0]["LockIndex"] == 1,
               "ttl/rel after its session expired (behavior release)", "present, no Session, LockIndex 1", rows)
            eq(base64.b64decode(rows[0]["Value"]), b"r", "value of ttl/rel after release")
            # delete: the key is gone
            eq(kv_get(f2, "ttl/del"), None, "ttl/del after its session expired (behavior delete)")
            # the renewed one lives past 25 s, and its lock with it
            while time.monotonic() - t_create < 25.5:
                time.sleep(0.25)
        finally:
            stop.set()
            th.join(20)
        eq(renew_errors, [], "errors of the renewals")
        ok(len(renews) >= 7, "renewals", ">= 7 in 25 s", renews)
        s = session_info(f2, s_keep)
        ok(s is not None and s["ID"] == s_keep, "the session renewed every 3 s, at %.1fs" %
           (time.monotonic() - t_create), "still alive", s)
        rows = kv_get(f1, "ttl/keep")
        eq(rows[0].get("Session"), s_keep, "holder of ttl/keep while its session is renewed")
    finally:
        for sid in (s_rel, s_del, s_keep):
            session_destroy(lead, sid)
        curl(lead, "/v1/kv/ttl?recurse", "DELETE")


# ----------------------------------------------------------------- locks


@ctest
def lock_acquire_release_semantics(c):
    lead, (f1, f2) = c.leader(), c.followers()
    a = session_create(f1, {"Name": "a", "LockDelay": "0s"})
    b = session_create(f2, {"Name": "b", "LockDelay": "0s"})
    try:
        put(f1, "/v1/kv/lock/k?acquire=" + a, b"a1")
        r = kv_get(lead, "lock/k")[0]
        eq((r.get("Session"), r["LockIndex"], base64.b64decode(r["Value"])), (a, 1, b"a1"),
           "Session/LockIndex/Value after the first acquire")
        eq(sorted(r), sorted(["LockIndex", "Key", "Flags", "Value", "Session", "CreateIndex", "ModifyIndex"]),
           "DirEntry keys of a locked key")
        # the holder again: true, value written, LockIndex unchanged
        put(lead, "/v1/kv/lock/k?acquire=%s&flags=3" % a, b"a2")
        r = kv_get(f2, "lock/k")[0]
        eq((r.get("Session"), r["LockIndex"], r["Flags"], base64.b64decode(r["Value"])), (a, 1, 3, b"a2"),
           "after a re-acquire by the holder")
        # another session: false, nothing written
        put(f2, "/v1/kv/lock/k?acquire=" + b, b"b1", want="false")
        put(lead, "/v1/kv/lock/k?release=" + b, b"b2", want="false")
        r2 = kv_get(f1, "lock/k")[0]
        eq((r2.get("Session"), r2["LockIndex"], base64.b64decode(r2["Value"]), r2["ModifyIndex"]),
           (a, 1, b"a2", r["ModifyIndex"]), "after a refused acquire and a release by a non-holder")
        # a plain PUT overwrites and keeps the lock
        put(f2, "/v1/kv/lock/k", b"plain")
        r = kv_get(lead, "lock/k")[0]
        eq((r.get("Session"), r["LockIndex"], base64.b64decode(r["Value"])), (a, 1, b"plain"),
           "after a plain PUT of a locked key")
        # release by the holder: true, Session gone, LockIndex kept
        put(f1, "/v1/kv/lock/k?release=" + a, b"released")
        r = kv_get(f2, "lock/k")[0]
        ok("Session" not in r and r["LockIndex"] == 1 and base64.b64decode(r["Value"]) == b"released",
           "after release by the holder", "no Session, LockIndex 1, Value 'released'", r)
        put(f1, "/v1/kv/lock/k?release=" + a, b"again", want="false")
        # a new holder: LockIndex rises
        put(lead, "/v1/kv/lock/k?acquire=" + b, b"b")
        r = kv_get(f1, "lock/k")[0]
        eq((r.get("Session"), r["LockIndex"]), (b, 2, ), "Session/LockIndex after a new holder")
        put(lead, "/v1/kv/lock/k?release=" + b, b"b")
        put(f2, "/v1/kv/lock/k?acquire=" + b, b"b")
        eq(kv_get(lead, "lock/k")[0]["LockIndex"], 3, "LockIndex after the same session re-takes a free lock")
        # acquire of a new key creates it locked
        put(f2, "/v1/kv/lock/new?acquire=" + a, b"n")
        r = kv_get(lead, "lock/new")[0]
        eq((r.get("Session"), r["LockIndex"]), (a, 1), "a key created by acquire")
        # an unknown session: 500 "invalid session", nothing written
        bogus = "00000000-1111-4222-8333-444444444444"
        for n in (lead, f1):
            for q in ("acquire", "release"):
                st, body, _ = curl(n, "/v1/kv/lock/nope?%s=%s" % (q, bogus), "PUT", b"x")
                ok(st == 500 and "invalid session" in body, "?%s with an unknown session on s%d" % (q, n),
                   "500 containing 'invalid session'", (st, body))
        eq(kv_get(lead, "lock/nope"), None, "lock/nope after acquires with an unknown session")
        st, body, _ = curl(f1, "/v1/kv/lock/k?acquire=" + bogus, "PUT", b"x")
        ok(st == 500 and "invalid session" in body, "acquire of a held key with an unknown session",
           "500 'invalid session'", (st, body))
        eq(kv_get(lead, "lock/k")[0].get("Session"), b, "holder after an acquire with an unknown session")
        st, body, _ = curl(f1, "/v1/kv/lock/k?acquire=", "PUT", b"x")
        ok(st in (400, 500), "?acquire= (empty session)", "400 or 500", (st, body))
        # destroy of the holder (behavior release): Session gone, LockIndex kept
        session_destroy(f1, b)
        r = kv_get(f2, "lock/k")[0]
        ok("Session" not in r and r["LockIndex"] == 3, "lock/k after its holder is destroyed",
           "no Session, LockIndex 3", r)
    finally:
        session_destroy(lead, a)
        session_destroy(lead, b)
        curl(lead, "/v1/kv/lock?recurse", "DELETE")


@ctest
def lock_delay_after_invalidation_not_after_release(c):
    lead, (f1, f2) = c.leader(), c.followers()
    a = session_create(f1, {"LockDelay": "3s"})
    b = session_create(f2, {"LockDelay": "0s"})
    r_sess = session_create(lead, {"LockDelay": "15s"})
    try:
        # a ?release imposes no lock-delay
        put(lead, "/v1/kv/ld/r?acquire=" + r_sess, b"x")
        put(lead, "/v1/kv/ld/r?release=" + r_sess, b"x")
        put(f1, "/v1/kv/ld/r?acquire=" + b, b"y")
        # invalidation (destroy) does: acquire is false for LockDelay
        put(f1, "/v1/kv/ld/k?acquire=" + a, b"a")
        # a watcher blocked on the key (leader-election recipe) wakes when
        # the holder's session goes
        _, h = jcurl(lead, "/v1/kv/ld/k")
        res = {}
        th = threading.Thread(target=lambda: res.__setitem__(
            "w", curl(f1, "/v1/kv/ld/k?index=%s&wait=20s" % h["x-consul-index"])))
        th.start()
        time.sleep(0.3)
        ok(th.is_alive(), "a blocking GET of a locked key", "still blocked", res)
        t_sent = time.monotonic()
        session_destroy(f2, a)
        th.join(15)
        ok("w" in res and res["w"][0] == 200 and "Session" not in json.loads(res["w"][1])[0],
           "blocking GET of ld/k when its holder's session is destroyed", "woken, without Session",
           res.get("w"))
        r = kv_get(lead, "ld/k")[0]
        ok("Session" not in r and r["LockIndex"] == 1, "ld/k after its holder was destroyed",
           "unlocked, LockIndex 1", r)
        put(f2, "/v1/kv/ld/k?acquire=" + b, b"b", want="false")
        falses = 1
        while True:
            st, body, _ = curl(NODES[falses % 3], "/v1/kv/ld/k?acquire=" + b, "PUT", b"b")
            t = time.monotonic() - t_sent
            eq(st, 200, "status of an acquire during lock-delay")
            if body == "true":
                break
            eq(body, "false", "body of an acquire during lock-delay")
            falses += 1
            ok(t < 8, "acquire after a 3 s lock-delay", "true within 8 s", t)
            time.sleep(0.1)
        ok(t >= 2.95, "acquire after a 3 s lock-delay", "false until 3 s after the destroy", t)
        print("  lock-delay 3s: %d refused acquires, then true after %.2fs" % (falses, t))
        r = kv_get(f1, "ld/k")[0]
        eq((r.get("Session"), r["LockIndex"]), (b, 2), "Session/LockIndex after the lock-delay")
    finally:
        for s in (a, b, r_sess):
            session_destroy(lead, s)
        curl(lead, "/v1/kv/ld?recurse", "DELETE")


@ctest
def lock_contention_five_clients_mutual_exclusion(c):
    # five clients, each with its own session and keep-alive connection to
    # a different server, fight over locks/one for 10 s; each records
    # (LockIndex, holder, t_acquired, t_released) from reads made while it
    # believes it holds the lock
    n_clients, duration = 5, 10.0
    lead = c.leader()
    order = [lead] + c.followers()
    history, errors, refused = [], [], [0] * n_clients
    lock = threading.Lock()
    sessions = [session_create(order[i % 3], {"Name": "contender-%d" % i, "LockDelay": "0s"})
                for i in range(n_clients)]
    start = threading.Barrier(n_clients)
    deadline = [0.0]

    def client(i):
        me = "client-%d" % i
        sid = sessions[i]
        conn = Conn(order[i % 3])
        rnd = random.Random(i)
        try:
            start.wait(30)
            while time.monotonic() < deadline[0]:
                st, body = conn.req("PUT", "/v1/kv/locks/one?acquire=" + sid, me.encode())
                if st != 200 or body not in (b"true", b"false"):
                    raise AssertionError("%s acquire: expected 200 true/false, got %r" % (me, (st, body)))
                if body == b"false":
                    refused[i] += 1
                    time.sleep(rnd.uniform(0, 0.003))
                    continue
                t_acq = time.monotonic()
                seen = []
                for _ in range(2):
                    st, body = conn.req("GET", "/v1/kv/locks/one")
                    if st != 200:
                        raise AssertionError("%s read while holding: expected 200, got %r" % (me, (st, body)))
                    r = json.loads(body)[0]
                    if r.get("Session") != sid or base64.b64decode(r["Value"]) != me.encode():
                        raise AssertionError("%s read while holding: expected Session %s and Value %s, got %r"
                                             % (me, sid, me, r))
                    seen.append(r["LockIndex"])
                    time.sleep(rnd.uniform(0.002, 0.006))
                if seen[0] != seen[1]:
                    raise AssertionError("%s: LockIndex changed while holding: %r" % (me, seen))
                t_rel = time.monotonic()
                st, body = conn.req("PUT", "/v1/kv/locks/one?release=" + sid, me.encode())
                if (st, body) != (200, b"true"):
                    raise AssertionError("%s release: expected 200 true, got %r" % (me, (st, body)))
                with lock:
                    history.append((seen[0], me, t_acq, t_rel))
        except Exception as e:
            with lock:
                errors.append("%s: %s" % (me, e))
        finally:
            conn.close()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    deadline[0] = time.monotonic() + duration + 1
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + duration
    for t in threads:
        t.join(duration + 60)
    try:
        ok(not any(t.is_alive() for t in threads), "contender threads", "all finished", threads)
        eq(errors, [], "errors seen by the contenders")
        holders = {h[1] for h in history}
        print("  %d acquisitions by %d holders, %d refused acquires; per client: %s" %
              (len(history), len(holders), sum(refused),
               {h: sum(1 for x in history if x[1] == h) for h in sorted(holders)}))
        ok(len(history) >= 20, "acquisitions in %.0f s" % duration, ">= 20", len(history))
        ok(len(holders) >= 3, "distinct lock holders", ">= 3", holders)
        ok(sum(refused) > 0, "refused acquires", "some (there was contention)", refused)
        by_time = sorted(history, key=lambda h: h[2])
        for p, q in zip(by_time, by_time[1:]):
            # p's hold [acquired, released] must end before q's begins
            ok(p[3] <= q[2], "lock holds", "no overlap", (p, q))
            ok(q[0] > p[0], "LockIndex of successive holders", "strictly increasing", (p, q))
        idx = [h[0] for h in by_time]
        eq(idx, list(range(idx[0], idx[0] + len(idx))), "LockIndex sequence (one step per new holder)")
        r = kv_get(lead, "locks/one")[0]
        ok("Session" not in r and r["LockIndex"] == idx[-1], "locks/one at the end",
           "free, LockIndex %d" % idx[-1], r)
    finally:
        for s in sessions:
            session_destroy(lead, s)
        curl(lead, "/v1/kv/locks?recurse", "DELETE")


# ---------------------------------------------------------- transactions


def b64(s):
    return base64.b64encode(s).decode()


@ctest
def txn_mixed_operations_succeed_atomically(c):
    lead, (f1, f2) = c.leader(), c.followers()
    sid = session_create(f1, {"LockDelay": "0s"})
    try:
        for k in ("ci", "del", "dc", "tree/x", "tree/y"):
            put(lead, "/v1/kv/txn/" + k, k.encode())
        ci = kv_get(lead, "txn/ci")[0]["ModifyIndex"]
        dc = kv_get(lead, "txn/dc")[0]["ModifyIndex"]
        ops = [
            {"KV": {"Verb": "set", "Key": "txn/a", "Value": b64(b"hi"), "Flags": 3}},     # 0
            {"KV": {"Verb": "cas", "Key": "txn/b", "Value": b64(b"b"), "Index": 0}},      # 1
            {"KV": {"Verb": "get", "Key": "txn/a"}},                                      # 2
            {"KV": {"Verb": "get-tree", "Key": "txn/tree/"}},                             # 3
            {"KV": {"Verb": "check-index", "Key": "txn/ci", "Index": ci}},                # 4
            {"KV": {"Verb": "check-not-exists", "Key": "txn/none"}},                      # 5
            {"KV": {"Verb": "lock", "Key": "txn/l", "Value": b64(b"L"), "Session": sid}},  # 6
            {"KV": {"Verb": "check-session", "Key": "txn/l", "Session": sid}},            # 7
            {"KV": {"Verb": "unlock", "Key": "txn/l", "Value": b64(b"U"), "Session": sid}},  # 8
            {"KV": {"Verb": "delete", "Key": "txn/del"}},                                 # 9
            {"KV": {"Verb": "delete-tree", "Key": "txn/tree/"}},                          # 10
            {"KV": {"Verb": "delete-cas", "Key": "txn/dc", "Index": dc}},                 # 11
        ]
        js, h = jcurl(f2, "/v1/txn", "PUT", ops)
        eq(sorted(js), ["Errors", "Results"], "keys of a txn answer")
        eq(js["Errors"], None, "Errors of a successful txn")
        idx = int(h["x-consul-index"])
        res = js["Results"]
        ok(all(sorted(r) == ["KV"] for r in res), "txn results", "each {\"KV\": ...}", res)
        kvs = [r["KV"] for r in res]
        eq([k["Key"] for k in kvs],
           ["txn/a", "txn/b", "txn/a", "txn/tree/x", "txn/tree/y", "txn/ci", "txn/l", "txn/l", "txn/l"],
           "keys of the txn results (delete verbs and check-not-exists add none)")
        write_keys = sorted(["LockIndex", "Key", "Flags", "CreateIndex", "ModifyIndex"])
        eq(sorted(kvs[0]), write_keys, "fields of a set result (no Value)")
        eq(sorted(kvs[1]), write_keys, "fields of a cas result (no Value)")
        eq(sorted(kvs[6]), sorted(write_keys + ["Session"]), "fields of a lock result (no Value, Session)")
        eq(sorted(kvs[8]), write_keys, "fields of an unlock result (no Value, no Session)")
        eq((kvs[0]["Flags"], kvs[0]["ModifyIndex"], kvs[0]["CreateIndex"]), (3, idx, idx),
           "set result Flags/indexes (= the txn's index)")
        eq(kvs[2].get("Value"), b64(b"hi"), "value of a get in the same txn")
        eq((kvs[3]["Value"], kvs[4]["Value"]), (b64(b"tree/x"), b64(b"tree/y")), "get-tree values")
        eq((kvs[5]["ModifyIndex"]), ci, "check-index result")
        eq((kvs[6]["Session"], kvs[6]["LockIndex"]), (sid, 1), "lock result")
        eq((kvs[7]["Session"], kvs[7]["LockIndex"]), (sid, 1), "check-session result")
        eq(kvs[8]["LockIndex"], 1, "unlock result LockIndex")
        # the state afterwards, read through another server
        r = kv_get(f1, "txn/a")[0]
        eq((base64.b64decode(r["Value"]), r["Flags"]), (b"hi", 3), "txn/a after the txn")
        eq(kv_value(lead, "txn/b"), b"b", "txn/b after the txn")
        r = kv_get(f1, "txn/l")[0]
        ok("Session" not in r and r["LockIndex"] == 1 and base64.b64decode(r["Value"]) == b"U",
           "txn/l after lock+unlock", "unlocked, LockIndex 1, Value U", r)
        for k in ("txn/del", "txn/dc", "txn/tree/x", "txn/tree/y"):
            eq(kv_get(f2, k), None, "%s after the txn deleted it" % k)
        eq(kv_value(lead, "txn/ci"), b"ci", "txn/ci after the txn")
        # an all-read txn works through a follower too, with ?stale (its
        # own state: it may lag the leader for a moment, so wait for it)
        def stale_txn():
            st, body, _ = curl(f1, "/v1/txn?stale", "PUT",
                            json.dumps([{"KV": {"Verb": "get", "Key": "txn/a"}}]).encode())
            return json.loads(body) if st == 200 else None
        js = wait_for(stale_txn, 10, "txn/a on the follower's own state")
        eq(js["Results"][0]["KV"]["Value"], b64(b"hi"), "a read-only txn ?stale on a follower")
        # 128 operations are allowed
        js, _ = jcurl(lead, "/v1/txn", "PUT",
                      [{"KV": {"Verb": "set", "Key": "txn/m/%03d" % i, "Value": b64(b"m")}} for i in range(128)])
        eq(len(js["Results"]), 128, "results of a 128-operation txn")
        eq(len(jcurl(f2, "/v1/kv/txn/m/?keys")[0]), 128, "keys written by a 128-operation txn")
    finally:
        session_destroy(lead, sid)
        curl(lead, "/v1/kv/txn?recurse", "DELETE")


@ctest
def txn_failures_roll_back_everything(c):
    lead, (f1, f2) = c.leader(), c.followers()
    put(lead, "/v1/kv/txf/a", b"a")
    a = kv_get(lead, "txf/a")[0]
    sid = session_create(f2, {"LockDelay": "0s"})

    def nothing_written(what):
        for k in ("txf/f1", "txf/f2", "txf/f3"):
            eq(kv_get(f1, k), None, "%s after %s" % (k, what))
        r = kv_get(lead, "txf/a")[0]
        eq((base64.b64decode(r["Value"]), r["ModifyIndex"], r.get("Session")), (b"a", a["ModifyIndex"], None),
           "txf/a after " + what)
    try:
        failing = [
            ("stale cas", {"KV": {"Verb": "cas", "Key": "txf/a", "Value": b64(b"x"), "Index": a["ModifyIndex"] + 999}},
             "stale"),
            ("cas 0 of an existing key", {"KV": {"Verb": "cas", "Key": "txf/a", "Value": b64(b"x"), "Index": 0}},
             None),
            ("check-index mismatch", {"KV": {"Verb": "check-index", "Key": "txf/a", "Index": 1}}, None),
            ("check-not-exists of an existing key", {"KV": {"Verb": "check-not-exists", "Key": "txf/a"}}, None),
            ("get of a missing key", {"KV": {"Verb": "get", "Key": "txf/missing"}}, None),
            ("check-session of an unlocked key", {"KV": {"Verb": "check-session", "Key": "txf/a", "Session": sid}},
             None),
            ("unlock by a non-holder", {"KV": {"Verb": "unlock", "Key": "txf/a", "Session": sid}}, None),
            ("lock with an unknown session", {"KV": {"Verb": "lock", "Key": "txf/f3",
                                                     "Session": "00000000-0000-4000-8000-000000000001"}}, None),
            ("an unknown verb", {"KV": {"Verb": "frobnicate", "Key": "txf/a"}}, None),
        ]
        for i, (what, op, word) in enumerate(failing):
            ops = [{"KV": {"Verb": "set", "Key": "txf/f1", "Value": b64(b"1")}},
                   {"KV": {"Verb": "lock", "Key": "txf/f2", "Value": b64(b"2"), "Session": sid}},
                   op,
                   {"KV": {"Verb": "set", "Key": "txf/f3", "Value": b64(b"3")}}]
            js, h = jcurl((lead, f1, f2)[i % 3], "/v1/txn", "PUT", ops, want=409)
            eq(sorted(js), ["Errors", "Results"], "keys of a 409 txn answer (%s)" % what)
            eq(js["Results"], None, "Results of a failed txn (%s)" % what)
            errs = js["Errors"]
            ok(isinstance(errs, list) and len(errs) >= 1 and errs[0].get("OpIndex") == 2 and
               isinstance(errs[0].get("What"), str) and errs[0]["What"],
               "Errors of a failed txn (%s)" % what, "[{OpIndex: 2, What: <text>}]", errs)
            if word:
                ok(word in errs[0]["What"], "What of a failed txn (%s)" % what, "mentioning %r" % word, errs)
            nothing_written("a txn failing on %s" % what)
        # bad requests: 400 / 413 / 405, nothing written
        set_f1 = {"KV": {"Verb": "set", "Key": "txf/f1", "Value": b64(b"1")}}
        for body, what in (('[{"KV":{"Verb":"set","Key":"txf/f1"}', "truncated JSON"),
                           ("not json", "not JSON"),
                           (json.dumps([set_f1, {"KV": {"Verb": "set", "Key": "txf/f2", "Flags": "x"}}]),
                            "Flags as a string"),
                           (json.dumps([set_f1, {"KV": {"Verb": 5, "Key": "txf/f2"}}]), "Verb as a number"),
                           (json.dumps([set_f1, {"KV": {"Verb": "set", "Key": "txf/f2", "Value": "***"}}]),
                            "Value not base64"),
                           (json.dumps({"KV": set_f1["KV"]}), "an object instead of a list"),
                           (json.dumps([set_f1, {"KV": "set"}]), "KV as a string")):
            st, text, _ = curl(f1, "/v1/txn", "PUT", body)
            eq(st, 400, "status of a txn with %s (%s)" % (what, text))
            nothing_written("a txn with " + what)
        too_many = [{"KV": {"Verb": "set", "Key": "txf/f1" if i == 0 else "txf/m%d" % i, "Value": b64(b"m")}}
                    for i in range(129)]
        st, text, _ = curl(f2, "/v1/txn", "PUT", json.dumps(too_many))
        eq(st, 413, "status of a 129-operation txn (%s)" % text)
        nothing_written("a 129-operation txn")
        eq(kv_get(lead, "txf/m1"), None, "txf/m1 after a 129-operation txn")
        for n in (lead, f2):
            st, text, h = curl(n, "/v1/txn")
            eq(st, 405, "GET /v1/txn on s%d" % n)
            ok("PUT" in h.get("allow", ""), "Allow of GET /v1/txn", "PUT", h)
            st, _, _ = curl(n, "/v1/txn", "POST", json.dumps([set_f1]))
            eq(st, 405, "POST /v1/txn on s%d" % n)
        st, text, _ = curl(f1, "/v1/txn?dc=other", "PUT", json.dumps([set_f1]))
        eq((st, text), (500, "No path to datacenter"), "txn ?dc=other")
        nothing_written("refused txn requests")
    finally:
        session_destroy(lead, sid)
        curl(lead, "/v1/kv/txf?recurse", "DELETE")


@test
def txn_check_verbs_return_no_value():
    # Consul's txnKVS keeps the value only for get (and get-tree,
    # get-or-empty); every other verb's result is a clone with Value
    # blanked.
    c = cluster()
    lead = c.leader()
    sid = session_create(lead, {"LockDelay": "0s"})
    try:
        put(lead, "/v1/kv/txv/k?acquire=" + sid, b"secret")
        mi = kv_get(lead, "txv/k")[0]["ModifyIndex"]
        js, _ = jcurl(c.followers()[0], "/v1/txn", "PUT",
                      [{"KV": {"Verb": "check-index", "Key": "txv/k", "Index": mi}},
                       {"KV": {"Verb": "check-session", "Key": "txv/k", "Session": sid}}])
        for i, verb in enumerate(("check-index", "check-session")):
            kv = js["Results"][i]["KV"]
            ok(kv.get("Value") is None, "%s result" % verb, "no Value (or null)", kv)
    finally:
        session_destroy(lead, sid)
        curl(lead, "/v1/kv/txv?recurse", "DELETE")
        c.check("txn_check_verbs_return_no_value")


# ---------------------------------------------------------- python-consul


@ctest
def python_consul_sessions_and_locks(c):
    # Debian's python3-consul, run by the system interpreter, against a follower
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import consul"], capture_output=True).returncode != 0:
        raise AssertionError("python3-consul is missing: run make deps")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients",
                          "python_consul_session.py")
    n = c.followers()[0]
    r = subprocess.run([py, script, "127.0.0.%d" % n, str(HTTP)], capture_output=True, text=True,
                       timeout=90)
    ok(r.returncode == 0 and r.stdout.strip().endswith("OK"), "python_consul_session.py against s%d" % n,
       "exit 0 and OK", r.stdout[-2000:] + r.stderr[-2000:])


# ------------------------------------------------------------------ last


@test
def cluster_stops_cleanly():
    global _cluster
    c = cluster()
    c.check("the run")
    _cluster = None
    for i, (rc, out) in c.stop().items():
        ok(rc == 0, "exit status of s%d after SIGTERM" % i, "0", (rc, out[-2000:]))


if __name__ == "__main__":
    main()
