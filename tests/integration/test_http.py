"""test_http.py - httpd's HTTP server and the KV/status API against a real
`cairn agent -dev`, as curl and raw sockets see it: Consul's paths, JSON,
headers and status codes; keep-alive and pipelining; chunked bodies;
percent-encoded keys; limits (413, 429, 431), bad requests, slowloris."""
import base64
import json
import os
import socket
import subprocess
import time

from harness import Notify, Proc, TmpDir, Timeout, binary, main, test, wait_for

BASE = 26000 + os.getpid() % 4000


class Agent:
    def __init__(self, extra_cfg=None):
        self.tmp = TmpDir()
        self.http = BASE
        args = [binary("cairn"), "agent", "-dev", "-data-dir",
                os.path.join(self.tmp.path, "data"), "-http-port", str(self.http),
                "-server-port", str(BASE + 1)]
        if extra_cfg:
            cfg = os.path.join(self.tmp.path, "extra.json")
            with open(cfg, "w") as f:
                json.dump(extra_cfg, f)
            args += ["-config-file", cfg]
        self.n = Notify(self.tmp.path)
        self.p = Proc(args, self.tmp.path, "agent", env={"NOTIFY_SOCKET": self.n.path})
        try:
            self.n.wait("READY=1", 30)
            # a 200 with an address: an error body (httpd not connected
            # to raftd yet, just after READY) is no leader
            wait_for(lambda: (lambda r: r[0] == 200 and r[1] not in ('""', ""))(
                self.curl("/v1/status/leader")), 15, "a leader")
            # the leader registers the node (serfHealth) from gossip;
            # sessions need it
            wait_for(lambda: '"serfHealth"' in self.curl("/v1/health/node/" +
                                                         self.node())[1],
                     15, "the node's registration")
        except Exception:
            self.stop()
            raise

    def node(self):
        st, body, _ = self.curl("/v1/agent/members")
        return json.loads(body)[0]["Name"]

    def curl(self, path, method="GET", data=None, extra=()):
        args = ["curl", "-s", "-S", "-i", "-X", method, "--max-time", "20"]
        if data is not None:
            args += ["--data-binary", "@-"]
        args += list(extra) + ["http://127.0.0.1:%d%s" % (self.http, path)]
        r = subprocess.run(args, input=data, capture_output=True, timeout=30)
        raw = r.stdout.decode(errors="replace")
        head, _, body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, body, headers

    def stop(self):
        self.p.stop()
        self.n.close()
        self.tmp.cleanup()


def raw_exchange(port, payload, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(payload)
    out = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out.decode(errors="replace")


@test
def kv_put_get_delete_as_consul_clients_see_it():
    a = Agent()
    try:
        st, body, h = a.curl("/v1/kv/web/config?flags=42", "PUT", b"hello world")
        assert st == 200 and body == "true", (st, body)
        st, body, h = a.curl("/v1/kv/web/config")
        assert st == 200 and h["content-type"] == "application/json", (st, h)
        rows = json.loads(body)
        assert rows[0]["Key"] == "web/config" and rows[0]["Flags"] == 42
        assert base64.b64decode(rows[0]["Value"]) == b"hello world"
        assert rows[0]["CreateIndex"] == rows[0]["ModifyIndex"] >= 1
        assert set(rows[0]) >= {"LockIndex", "Key", "Flags", "Value",
                                "CreateIndex", "ModifyIndex"}
        idx = int(h["x-consul-index"])
        assert idx >= 1 and h["x-consul-knownleader"] == "true"
        assert h["x-consul-lastcontact"] == "0"
        st, body, h = a.curl("/v1/kv/web/config?raw")
        assert st == 200 and body == "hello world"
        # 404 carries the query-meta headers too
        st, body, h = a.curl("/v1/kv/nope")
        assert st == 404 and body == "" and int(h["x-consul-index"]) >= 1, (st, h)
        assert "x-consul-knownleader" in h and "x-consul-lastcontact" in h
        # cas: 0 means "only if absent"; a stale index fails
        st, body, _ = a.curl("/v1/kv/web/config?cas=0", "PUT", b"x")
        assert body == "false"
        mi = rows[0]["ModifyIndex"]
        st, body, _ = a.curl("/v1/kv/web/config?cas=%d" % mi, "PUT", b"v2")
        assert body == "true"
        st, body, _ = a.curl("/v1/kv/web/config?cas=%d" % mi, "PUT", b"v3")
        assert body == "false"
        # recurse, keys with separator, pretty
        a.curl("/v1/kv/web/other", "PUT", b"o")
        a.curl("/v1/kv/web/sub/deep", "PUT", b"d")
        st, body, _ = a.curl("/v1/kv/web?recurse")
        assert [r["Key"] for r in json.loads(body)] == \
            ["web/config", "web/other", "web/sub/deep"]
        st, body, _ = a.curl("/v1/kv/web/?keys&separator=/")
        assert json.loads(body) == ["web/config", "web/other", "web/sub/"], body
        st, body, _ = a.curl("/v1/kv/web/other?pretty")
        assert body.endswith("\n") and "\n  " in body
        # consistency modes answer the same data
        for m in ("stale", "consistent"):
            st, body, _ = a.curl("/v1/kv/web/other?" + m)
            assert st == 200 and json.loads(body)[0]["Key"] == "web/other"
        # delete one, then the tree
        st, body, _ = a.curl("/v1/kv/web/other", "DELETE")
        assert st == 200 and body == "true"
        assert a.curl("/v1/kv/web/other")[0] == 404
        st, body, _ = a.curl("/v1/kv/web?recurse", "DELETE")
        assert body == "true"
        assert a.curl("/v1/kv/web?recurse")[0] == 404
        # empty value reads back as null
        a.curl("/v1/kv/empty", "PUT", b"")
        assert json.loads(a.curl("/v1/kv/empty")[1])[0]["Value"] is None
    finally:
        a.stop()


@test
def blocking_queries_wake_on_change_and_time_out():
    import threading
    a = Agent()
    try:
        a.curl("/v1/kv/watch/me", "PUT", b"1")
        st, body, h = a.curl("/v1/kv/watch/me")
        idx = int(h["x-consul-index"])
        # a change elsewhere does not wake a query on this key; ours does
        result = {}

        def block(name, path):
            t0 = time.monotonic()
            result[name] = a.curl(path) + (time.monotonic() - t0,)
        th = threading.Thread(target=block, args=("key", "/v1/kv/watch/me?index=%d&wait=20s" % idx))
        tp = threading.Thread(target=block, args=("prefix", "/v1/kv/watch?recurse&index=%d&wait=20s" % idx))
        th.start()
        tp.start()
        time.sleep(0.5)
        a.curl("/v1/kv/unrelated", "PUT", b"x")
        time.sleep(0.5)
        assert th.is_alive() and tp.is_alive(), result
        st, body, h2 = a.curl("/v1/kv/watch/me", "PUT", b"2")
        th.join(10)
        tp.join(10)
        st, body, h, took = result["key"]
        assert st == 200 and int(h["x-consul-index"]) > idx, (st, h)
        assert base64.b64decode(json.loads(body)[0]["Value"]) == b"2"
        assert took < 5, took
        assert result["prefix"][0] == 200 and int(result["prefix"][2]["x-consul-index"]) > idx
        # nothing changes: the wait ends and the same index comes back
        st, body, h = a.curl("/v1/kv/watch/me")
        idx = int(h["x-consul-index"])
        t0 = time.monotonic()
        st, body, h = a.curl("/v1/kv/watch/me?index=%d&wait=1s" % idx)
        took = time.monotonic() - t0
        assert st == 200 and int(h["x-consul-index"]) == idx and 0.9 < took < 5, (st, took)
        # index older than the current one answers at once; 0 never blocks
        t0 = time.monotonic()
        assert a.curl("/v1/kv/watch/me?index=1&wait=30s")[0] == 200
        assert a.curl("/v1/kv/watch/me?index=0&wait=30s")[0] == 200
        assert time.monotonic() - t0 < 5
        # a blocking 404 wakes when the key appears
        st, _, h = a.curl("/v1/kv/later")
        assert st == 404
        th = threading.Thread(target=block, args=("later", "/v1/kv/later?index=%s&wait=20s" % h["x-consul-index"]))
        th.start()
        time.sleep(0.3)
        a.curl("/v1/kv/later", "PUT", b"now")
        th.join(10)
        assert result["later"][0] == 200, result["later"]
        # bad parameters
        assert a.curl("/v1/kv/watch/me?index=abc")[1] == "Invalid index"
        assert a.curl("/v1/kv/watch/me?index=5&wait=forever")[1] == "Invalid wait time"
    finally:
        a.stop()


@test
def status_and_operator_raft_endpoints():
    a = Agent()
    try:
        st, body, _ = a.curl("/v1/status/leader")
        leader = json.loads(body)
        assert leader == "127.0.0.1:%d" % (BASE + 1), leader
        st, body, _ = a.curl("/v1/status/peers")
        assert json.loads(body) == [leader]
        st, body, _ = a.curl("/v1/operator/raft/configuration")
        cfg = json.loads(body)
        assert st == 200 and cfg["Index"] >= 1, cfg
        srv = cfg["Servers"]
        assert len(srv) == 1 and srv[0]["Leader"] is True and srv[0]["Voter"] is True, srv
        assert srv[0]["Address"] == leader and srv[0]["Node"] == a.node()
        assert set(srv[0]) == {"ID", "Node", "Address", "Leader", "ProtocolVersion", "Voter"}
        st, body, _ = a.curl("/v1/operator/raft/peer", "DELETE")
        assert st == 400 and "Must specify" in body, (st, body)
        st, body, _ = a.curl("/v1/operator/raft/peer?id=ffffffffffffffff", "DELETE")
        assert st == 500 and "no such Raft peer" in body, (st, body)
        st, body, _ = a.curl("/v1/operator/raft/peer?address=" + leader)
        assert st == 405, st
        # the last voter cannot be removed
        st, body, _ = a.curl("/v1/operator/raft/peer?id=" + srv[0]["ID"], "DELETE")
        assert st == 500, (st, body)
        assert len(json.loads(a.curl("/v1/operator/raft/configuration")[1])["Servers"]) == 1
    finally:
        a.stop()


@test
def python_consul_client_works_unchanged():
    # Debian's python3-consul, run by the system interpreter
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import consul"], capture_output=True).returncode != 0:
        raise AssertionError("python3-consul is missing: run make deps")
    a = Agent()
    try:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "clients", "python_consul_kv.py")
        r = subprocess.run([py, script, str(a.http)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr
    finally:
        a.stop()


@test
def bad_requests_get_consul_errors():
    a = Agent()
    try:
        st, body, _ = a.curl("/v1/kv/k?stale&consistent")
        assert st == 400 and "conflicting semantics" in body, (st, body)
        st, body, _ = a.curl("/v1/kv/", "PUT", b"x")
        assert st == 400 and body == "Missing key name", (st, body)
        st, body, _ = a.curl("/v1/kv/k?cas=abc", "PUT", b"x")
        assert st == 400, (st, body)
        assert a.curl("/v1/no/such/endpoint")[0] == 404
        # -dev turns the web UI on: / leads to it (test_ui.py: without
        # the UI, / is "Consul Agent")
        st, body, h = a.curl("/")
        assert st == 301 and h["location"] == "/ui/", (st, h)
        # a value over 512 KiB: 413, and the agent keeps serving
        st, body, _ = a.curl("/v1/kv/big", "PUT", b"x" * (512 * 1024 + 1))
        assert st == 413 and "too large" in body, (st, body)
        st, body, _ = a.curl("/v1/kv/ok", "PUT", b"x" * (512 * 1024))
        assert st == 200 and body == "true", (st, body[:100])
        # garbage instead of HTTP: 400 and the connection is closed
        out = raw_exchange(a.http, b"\x16\x03\x01 not http at all\r\n\r\n")
        assert out.startswith("HTTP/1.1 400"), out[:80]
        # a huge header block: 431
        out = raw_exchange(a.http, b"GET /v1/kv/k HTTP/1.1\r\nX-Big: " +
                           b"a" * (70 * 1024) + b"\r\n\r\n")
        assert out.startswith("HTTP/1.1 431"), out[:80]
        # a bad percent escape
        out = raw_exchange(a.http, b"GET /v1/kv/%zz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith("HTTP/1.1 400"), out[:80]
        assert a.curl("/v1/kv/ok?raw")[0] == 200
    finally:
        a.stop()


@test
def keep_alive_pipelining_chunked_and_encoded_paths():
    a = Agent()
    try:
        # two requests in one write: two answers, in order
        req = (b"PUT /v1/kv/a%2Fb HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
               b"GET /v1/kv/a/b?raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = raw_exchange(a.http, req)
        parts = out.split("HTTP/1.1 ")
        assert len(parts) == 3 and parts[1].startswith("200") and parts[2].startswith("200"), out
        assert out.endswith("one"), out
        # a chunked body
        req = (b"PUT /v1/kv/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        out = raw_exchange(a.http, req)
        assert out.startswith("HTTP/1.1 200") and out.endswith("true"), out
        assert a.curl("/v1/kv/chunked?raw")[1] == "hello world"
        # an oversized chunked body is refused too
        big = b"%x\r\n" % (600 * 1024) + b"y" * (600 * 1024) + b"\r\n0\r\n\r\n"
        out = raw_exchange(a.http, b"PUT /v1/kv/c2 HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n" + big)
        assert out.startswith("HTTP/1.1 413"), out[:80]
        # curl reuses one connection for several requests
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-o", "/dev/null",
                            "-w", "%{num_connects}\\n",
                            "http://127.0.0.1:%d/v1/kv/chunked" % a.http,
                            "http://127.0.0.1:%d/v1/kv/chunked" % a.http],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.split() == ["1", "0"], r.stdout
    finally:
        a.stop()


@test
def slowloris_is_cut_off_and_others_are_served():
    a = Agent()
    try:
        s = socket.create_connection(("127.0.0.1", a.http), timeout=20)
        s.sendall(b"GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        # meanwhile others are served at once
        st, _, _ = a.curl("/v1/status/leader")
        assert st == 200
        closed = False
        while time.monotonic() - t0 < 15:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.5)
            except OSError:
                closed = True
                break
            try:
                s.setblocking(False)
                if s.recv(1) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
        took = time.monotonic() - t0
        print("  slow client cut off after %.1fs" % took)
        assert closed and took <= 12, took
    finally:
        a.stop()


@test
def connections_per_client_address_are_capped():
    a = Agent({"limits": {"http_max_conns_per_client": 5}})
    try:
        socks = [socket.create_connection(("127.0.0.1", a.http), timeout=5) for _ in range(5)]
        time.sleep(0.2)
        out = raw_exchange(a.http, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
        assert out.startswith("HTTP/1.1 429"), out[:80]
        for s in socks:
            s.close()
        wait_for(lambda: a.curl("/v1/status/leader")[0] == 200, 5, "served again")
    finally:
        a.stop()


if __name__ == "__main__":
    main()
