"""test_checks.py - checkd: the agent's services and checks through Consul's
/v1/agent API, against real local targets (an HTTP server, a TCP listener,
a UDP responder, scripts that pass, warn, fail, hang and print 100 KB);
TTL, alias, thresholds, maintenance, DeregisterCriticalServiceAfter;
anti-entropy into the catalog; restarts of checkd (kill -9) and of the
whole agent; config services and `cairn reload`; bad input; a blocking
?passing watch; python3-consul."""
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import (Notify, Proc, TmpDir, binary, cairn, children, main,
                     pid_alive, test, wait_for)
from test_http import BASE, Agent

del harness._tests[:]  # test_http's own tests run from their file

HERE = os.path.dirname(os.path.abspath(__file__))


class DataAgent(Agent):
    """A dev agent on a data dir that outlives it (restart tests)."""

    def __init__(self, tmp, cfg=None):
        self.tmp = tmp
        self.http = BASE
        args = [binary("cairn"), "agent", "-dev", "-data-dir",
                os.path.join(tmp.path, "data"), "-http-port", str(BASE),
                "-server-port", str(BASE + 1)]
        if cfg is not None:
            path = os.path.join(tmp.path, "extra.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            args += ["-config-file", path]
        self.n = Notify(tmp.path)
        self.p = Proc(args, tmp.path, "agent.%d" % time.monotonic_ns(),
                      env={"NOTIFY_SOCKET": self.n.path})
        try:
            self.n.wait("READY=1", 30)
            wait_for(lambda: (lambda r: r[0] == 200 and r[1] not in ('""', ""))(
                self.curl("/v1/status/leader")), 15, "a leader")
        except Exception:
            self.p.stop()
            raise

    def stop_keep(self):
        self.p.stop()
        self.n.close()


def put(a, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    return a.curl(path, "PUT", data)[:2]


def getj(a, path):
    st, text, h = a.curl(path)
    assert st == 200, (path, st, text)
    return json.loads(text)


def agent_checks(a):
    return getj(a, "/v1/agent/checks")


def status_of(a, cid):
    c = agent_checks(a).get(cid)
    return c and c["Status"]


def catalog_checks(a, node=None):
    node = node or a.node()
    return {c["CheckID"]: c for c in getj(a, "/v1/health/node/" + node)}


def wait_status(a, cid, status, timeout, catalog=False):
    def ok():
        cs = catalog_checks(a) if catalog else agent_checks(a)
        return cid in cs and cs[cid]["Status"] == status
    wait_for(ok, timeout, "%s %s%s" % (cid, status, " in the catalog" if catalog else ""),
             interval=0.05)


class Target(http.server.BaseHTTPRequestHandler):
    code = 200
    seen = []

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.answer()

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Target.seen.append((self.command, self.path, dict(self.headers), body))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        code = 200 if self.path == "/ok" else Target.code
        out = ("status %d" % code).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def http_target():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def https_target(tmpdir):
    """The same handler over TLS, with a self-signed certificate."""
    import ssl
    key, crt = os.path.join(tmpdir, "k.pem"), os.path.join(tmpdir, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=cairn-test"],
                   check=True, capture_output=True, timeout=60)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def udp_responder():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def run():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(2048)
                s.sendto(b"pong", peer)
            except socket.timeout:
                pass
            except OSError:
                return
    threading.Thread(target=run, daemon=True).start()
    return s, stop


class DcsaAgent:
    """A second dev agent on ports of its own, started by the first test of
    this file with a service whose TTL check never passes and
    DeregisterCriticalServiceAfter 1m (Consul's minimum); the last test
    checks it was deregistered after that minute.  The wait overlaps the
    other tests instead of adding a minute to the suite."""
    agent = None
    t0 = None

    def __init__(self):
        self.tmp = TmpDir()
        self.http = BASE + 50
        cfg = os.path.join(self.tmp.path, "ports.json")
        with open(cfg, "w") as f:
            json.dump({"ports": {"dns": BASE + 52, "serf_lan": BASE + 53,
                                 "serf_wan": BASE + 54}}, f)
        self.n = Notify(self.tmp.path)
        self.p = Proc([binary("cairn"), "agent", "-dev", "-node", "dcsa",
                       "-data-dir", os.path.join(self.tmp.path, "data"),
                       "-http-port", str(self.http), "-server-port", str(BASE + 51),
                       "-config-file", cfg], self.tmp.path, "dcsa-agent",
                      env={"NOTIFY_SOCKET": self.n.path})
        self.n.wait("READY=1", 30)

    curl = Agent.curl

    def stop(self):
        self.p.stop()
        self.n.close()
        self.tmp.cleanup()


@test
def dcsa_start_a_service_that_will_be_deregistered():
    d = DcsaAgent.agent = DcsaAgent()
    try:
        wait_for(lambda: d.curl("/v1/agent/services")[0] == 200, 15, "checkd answering")
        assert put(d, "/v1/agent/service/register",
                   {"Name": "doomed", "Check": {"TTL": "30s",
                    "DeregisterCriticalServiceAfter": "1m"}}) == (200, "")
        assert put(d, "/v1/agent/service/register",
                   {"Name": "kept", "Check": {"TTL": "10m",
                    "DeregisterCriticalServiceAfter": "1m", "Status": "passing"}}) == (200, "")
        DcsaAgent.t0 = time.monotonic()
    except Exception:
        d.stop()
        DcsaAgent.agent = None
        raise


@test
def every_check_kind_against_real_targets():
    tmp = TmpDir()
    a = Agent({"enable_script_checks": True})
    srv = http_target()
    hport = srv.server_address[1]
    tls = https_target(tmp.path)
    sport = tls.server_address[1]
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    tport = tcp.getsockname()[1]
    udp, ustop = udp_responder()
    uport = udp.getsockname()[1]
    pidfile = os.path.join(tmp.path, "hang.pid")
    try:
        assert put(a, "/v1/agent/service/register", {
            "Name": "web", "Port": hport, "Tags": ["v1"],
            "Checks": [
                {"HTTP": "http://127.0.0.1:%d/health" % hport, "Interval": "1s"},
                {"TCP": "127.0.0.1:%d" % tport, "Interval": "1s"},
                # a short timeout: with no answer and no ICMP error the
                # probe passes only after it
                {"UDP": "127.0.0.1:%d" % uport, "Interval": "1s", "Timeout": "1s"},
                {"Name": "post", "HTTP": "http://127.0.0.1:%d/post" % hport,
                 "Method": "POST", "Header": {"X-Probe": ["yes"]}, "Body": "ping",
                 "Interval": "1s"},
                {"Name": "redir", "HTTP": "http://127.0.0.1:%d/redirect" % hport,
                 "Interval": "1s"},
                {"Name": "noredir", "HTTP": "http://127.0.0.1:%d/redirect" % hport,
                 "DisableRedirects": True, "Interval": "1s"},
                {"Name": "tls-skip", "HTTP": "https://127.0.0.1:%d/ok" % sport,
                 "TLSSkipVerify": True, "Interval": "1s"},
                {"Name": "tls-verify", "HTTP": "https://127.0.0.1:%d/ok" % sport,
                 "Interval": "1s"},
            ]}) == (200, "")
        scripts = {
            "pass": {"Args": ["sh", "-c", "echo fine; exit 0"]},
            "warn": {"Script": "echo meh; exit 1"},
            "fail": {"Script": "echo broken >&2; exit 2"},
            "hang": {"Script": "echo $$ > %s; exec sleep 30" % pidfile, "Timeout": "1s"},
            "big": {"Script": "head -c 102400 /dev/zero | tr '\\0' x"},
        }
        for name, spec in scripts.items():
            body = {"Name": name, "Interval": "2s"}
            body.update(spec)
            assert put(a, "/v1/agent/check/register", body) == (200, ""), name
        cs = agent_checks(a)
        assert cs["service:web:1"]["ServiceName"] == "web" and \
            cs["service:web:1"]["Type"] == "http" and \
            cs["service:web:1"]["Interval"] == "1s", cs["service:web:1"]
        # initial status: critical until the first run (Consul)
        assert cs["big"]["Status"] == "critical", cs["big"]
        for cid in ("service:web:1", "service:web:2", "service:web:3",
                    "service:web:4", "service:web:5"):
            wait_status(a, cid, "passing", 5)
        wait_for(lambda: "302" in agent_checks(a)["service:web:6"]["Output"], 5,
                 "noredir seeing the 302")
        # HTTPS: a self-signed certificate passes only with TLSSkipVerify
        wait_status(a, "service:web:7", "passing", 5)
        wait_for(lambda: agent_checks(a)["service:web:8"]["Output"] != "", 5,
                 "tls-verify run")
        assert agent_checks(a)["service:web:8"]["Status"] == "critical"
        cs = agent_checks(a)
        assert cs["service:web:1"]["Output"] == \
            "HTTP GET http://127.0.0.1:%d/health: 200 OK Output: status 200" % hport, \
            cs["service:web:1"]["Output"]
        assert cs["service:web:2"]["Output"].startswith("TCP connect"), cs["service:web:2"]
        assert cs["service:web:6"]["Status"] == "critical", cs["service:web:6"]
        posts = [s for s in Target.seen if s[0] == "POST"]
        assert posts and posts[-1][3] == b"ping" and posts[-1][2].get("X-Probe") == "yes", posts[-1:]
        gets = [s for s in Target.seen if s[0] == "GET"]
        assert gets[-1][2].get("User-Agent") == "Consul Health Check", gets[-1]
        wait_status(a, "pass", "passing", 5)
        wait_status(a, "warn", "warning", 5)
        wait_status(a, "fail", "critical", 5)
        wait_for(lambda: agent_checks(a)["fail"]["Output"].strip() == "broken", 5,
                 "stderr captured")
        assert agent_checks(a)["pass"]["Output"].strip() == "fine"
        # the hung script is killed at its 1 s timeout, process group and all
        wait_for(lambda: "Timed out" in agent_checks(a)["hang"]["Output"], 6,
                 "the hang check timing out")
        with open(pidfile) as f:
            hpid = int(f.read())
        wait_for(lambda: not pid_alive(hpid), 2, "the hung script killed")
        # 100 KB of output: the last 4 KB kept, with Consul's note
        wait_for(lambda: agent_checks(a)["big"]["Output"].startswith(
            "Captured 4096 of 102400 bytes"), 5, "truncated output")
        out = agent_checks(a)["big"]["Output"]
        assert len(out) < 4200 and out.endswith("x" * 100), len(out)
        # everything reaches the catalog
        wait_status(a, "service:web:1", "passing", 5, catalog=True)
        wait_status(a, "warn", "warning", 5, catalog=True)
        inst = getj(a, "/v1/catalog/service/web")
        assert [(i["ServiceID"], i["ServicePort"], i["ServiceTags"]) for i in inst] == \
            [("web", hport, ["v1"])], inst
        # targets change: each check follows within about one interval
        Target.code = 429
        wait_status(a, "service:web:1", "warning", 3)
        Target.code = 503
        wait_status(a, "service:web:1", "critical", 3)
        Target.code = 200
        wait_status(a, "service:web:1", "passing", 3)
        tcp.close()
        wait_status(a, "service:web:2", "critical", 3)
        assert "refused" in agent_checks(a)["service:web:2"]["Output"]
        ustop.set()
        udp.close()
        # critical on the ICMP port-unreachable; the kernel rate-limits
        # those per destination (other tests' traffic to closed ports on
        # 127.0.0.1 takes its share), so give it a few probes
        wait_status(a, "service:web:3", "critical", 10)
        wait_status(a, "service:web:3", "critical", 10, catalog=True)
    finally:
        srv.shutdown()
        tls.shutdown()
        a.stop()
        tmp.cleanup()


@test
def ttl_thresholds_alias_and_maintenance():
    tmp = TmpDir()
    a = Agent({"enable_script_checks": True})
    code = os.path.join(tmp.path, "code")
    try:
        with open(code, "w") as f:
            f.write("0")
        assert put(a, "/v1/agent/service/register", {
            "name": "api", "id": "api-1", "port": 9000,
            "check": {"ttl": "2s", "notes": "heartbeat"}}) == (200, "")
        assert status_of(a, "service:api-1") == "critical"
        assert put(a, "/v1/agent/check/pass/service:api-1?note=alive") == (200, "")
        c = agent_checks(a)["service:api-1"]
        assert (c["Status"], c["Output"], c["Notes"]) == ("passing", "alive", "heartbeat"), c
        assert a.curl("/v1/agent/check/warn/service:api-1")[0] == 200  # legacy GET
        assert status_of(a, "service:api-1") == "warning"
        assert put(a, "/v1/agent/check/update/service:api-1",
                   {"Status": "passing", "Output": "via update"}) == (200, "")
        assert agent_checks(a)["service:api-1"]["Output"] == "via update"
        # no update within the TTL: critical, "TTL expired"
        wait_status(a, "service:api-1", "critical", 5)
        assert agent_checks(a)["service:api-1"]["Output"] == "TTL expired"
        # thresholds: 2 passes before passing, 3 failures before critical,
        # 1 before warning
        assert put(a, "/v1/agent/check/register", {
            "Name": "flappy", "Script": "exit $(cat %s)" % code, "Interval": "1s",
            "SuccessBeforePassing": 2, "FailuresBeforeCritical": 3,
            "FailuresBeforeWarning": 1}) == (200, "")
        t0 = time.monotonic()
        wait_status(a, "flappy", "passing", 6)
        assert time.monotonic() - t0 >= 1.0  # needed a second pass
        with open(code, "w") as f:
            f.write("2")
        wait_status(a, "flappy", "warning", 4)
        wait_status(a, "flappy", "critical", 6)
        assert put(a, "/v1/agent/check/deregister/flappy") == (200, "")
        # alias of a local service: mirrors the worst of api-1's checks
        # and the node's (Consul counts node checks too)
        assert put(a, "/v1/agent/check/register", {
            "Name": "mirror", "AliasService": "api-1"}) == (200, "")
        wait_status(a, "mirror", "critical", 3)
        put(a, "/v1/agent/check/pass/service:api-1")
        wait_status(a, "mirror", "passing", 3)
        # alias of a node known only to the catalog
        assert put(a, "/v1/catalog/register", {
            "Node": "far", "Address": "10.9.9.9",
            "Check": {"CheckID": "far-up", "Name": "far", "Status": "warning"}})[0] == 200
        assert put(a, "/v1/agent/check/register", {
            "Name": "far-mirror", "AliasNode": "far"}) == (200, "")
        wait_status(a, "far-mirror", "warning", 3)
        put(a, "/v1/catalog/register", {"Node": "far", "Address": "10.9.9.9",
            "Check": {"CheckID": "far-up", "Name": "far", "Status": "passing"}})
        wait_status(a, "far-mirror", "passing", 3)
        # maintenance: the service, then the node
        assert put(a, "/v1/agent/service/maintenance/api-1?enable=true&reason=upgrade") \
            == (200, "")
        c = agent_checks(a)["_service_maintenance:api-1"]
        assert (c["Status"], c["Notes"], c["Name"], c["ServiceID"]) == \
            ("critical", "upgrade", "Service Maintenance Mode", "api-1"), c
        wait_for(lambda: getj(a, "/v1/health/service/api?passing") == [], 3,
                 "api hidden from ?passing")
        st, body, _ = a.curl("/v1/agent/health/service/id/api-1")
        assert st == 503 and json.loads(body)["AggregatedStatus"] == "maintenance", (st, body)
        assert put(a, "/v1/agent/service/maintenance/api-1?enable=false") == (200, "")
        assert "_service_maintenance:api-1" not in agent_checks(a)
        st, body, _ = a.curl("/v1/agent/health/service/name/api?format=text")
        assert (st, body) == (200, "passing"), (st, body)
        assert put(a, "/v1/agent/maintenance?enable=True") == (200, "")
        c = agent_checks(a)["_node_maintenance"]
        assert c["Status"] == "critical" and "default message" in c["Notes"], c
        wait_status(a, "_node_maintenance", "critical", 3, catalog=True)
        assert put(a, "/v1/agent/maintenance?enable=false") == (200, "")
        wait_for(lambda: "_node_maintenance" not in catalog_checks(a), 3,
                 "node maintenance gone from the catalog")
    finally:
        a.stop()
        tmp.cleanup()


def checkd_pid(a):
    return children(a.p.pid).get("cairn-checkd")


@test
def restarts_keep_services_and_leave_no_stale_entries():
    tmp = TmpDir()
    a = DataAgent(tmp)
    try:
        node = a.node()
        assert put(a, "/v1/agent/service/register", {
            "Name": "db", "ID": "db-1", "Port": 5432, "Tags": ["primary"],
            "Check": {"TTL": "300s"}}) == (200, "")
        assert put(a, "/v1/agent/check/register", {"Name": "disk", "TTL": "300s"}) == (200, "")
        assert put(a, "/v1/agent/check/pass/service:db-1?note=ok") == (200, "")
        assert put(a, "/v1/agent/maintenance?enable=true&reason=patching") == (200, "")
        wait_status(a, "service:db-1", "passing", 5, catalog=True)
        # an entry for this node that checkd does not know: anti-entropy
        # removes it once checkd has restarted and synced in full
        assert put(a, "/v1/catalog/register", {
            "Node": node, "Address": "127.0.0.1", "SkipNodeUpdate": True,
            "Service": {"ID": "ghost", "Service": "ghost"}})[0] == 200
        # (it may be gone already: the registration touches this node,
        # which makes checkd sync in full a second later)
        # kill -9 checkd: the agent starts a new one; state comes back
        old = checkd_pid(a)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: checkd_pid(a) not in (None, old), 15, "a new checkd")
        wait_for(lambda: a.curl("/v1/agent/services")[0] == 200, 15, "checkd answering")
        svcs = getj(a, "/v1/agent/services")
        assert svcs["db-1"]["Port"] == 5432 and svcs["db-1"]["Tags"] == ["primary"], svcs
        cs = agent_checks(a)
        assert cs["service:db-1"]["Status"] == "passing", cs  # TTL state persisted
        assert cs["service:db-1"]["Output"] == "ok", cs
        assert cs["_node_maintenance"]["Notes"] == "patching", cs
        assert "disk" in cs, cs
        wait_for(lambda: getj(a, "/v1/catalog/service/ghost") == [], 10,
                 "the stale ghost service removed from the catalog")
        # but not the server's consul service: raftd's, not checkd's
        assert "consul" in getj(a, "/v1/catalog/services")
        # the node deregistered from the catalog by hand: checkd puts
        # its services back within seconds (not at the next full sync)
        assert put(a, "/v1/catalog/deregister", {"Node": node}) == (200, "true")
        wait_for(lambda: [s["ServiceID"] for s in getj(a, "/v1/catalog/service/db")] ==
                 ["db-1"], 8, "db-1 registered again")
        # now the whole agent, killed: its daemons die with it (PDEATHSIG)
        kids = list(children(a.p.pid).values())
        a.p.signal(signal.SIGKILL)
        a.p.wait(10)
        a.stop_keep()
        wait_for(lambda: not any(pid_alive(p) for p in kids), 10, "the daemons gone")
        a = DataAgent(tmp)
        wait_for(lambda: "db-1" in getj(a, "/v1/agent/services"), 10, "db-1 back")
        cs = agent_checks(a)
        assert cs["service:db-1"]["Status"] == "passing" and "disk" in cs and \
            "_node_maintenance" in cs, cs
        wait_status(a, "service:db-1", "passing", 10, catalog=True)
        assert [s["ServiceID"] for s in getj(a, "/v1/catalog/service/db")] == ["db-1"]
        # deregistered while running, then restarted: stays gone
        assert put(a, "/v1/agent/service/deregister/db-1") == (200, "")
        assert put(a, "/v1/agent/maintenance?enable=false") == (200, "")
        wait_for(lambda: getj(a, "/v1/catalog/service/db") == [], 5, "db gone")
        a.stop_keep()
        a = DataAgent(tmp)
        time.sleep(1)
        assert "db-1" not in getj(a, "/v1/agent/services")
        assert "_node_maintenance" not in agent_checks(a)
        assert getj(a, "/v1/catalog/service/db") == []
    finally:
        a.stop_keep()
        tmp.cleanup()


@test
def config_services_and_reload():
    tmp = TmpDir()
    cfg = os.path.join(tmp.path, "svc.json")
    with open(cfg, "w") as f:
        json.dump({"services": [{"name": "cfgsvc", "port": 7000,
                                 "check": {"ttl": "60s", "status": "passing"}}],
                   "check": {"id": "cfgcheck", "name": "cfg check", "ttl": "60s"}}, f)
    a = Agent()
    a.p.stop()
    a.n.close()
    a.n = Notify(a.tmp.path)
    a.p = Proc([binary("cairn"), "agent", "-dev", "-data-dir",
                os.path.join(a.tmp.path, "data"), "-http-port", str(a.http),
                "-server-port", str(a.http + 1), "-config-file", cfg],
               a.tmp.path, "agent2", env={"NOTIFY_SOCKET": a.n.path})
    try:
        a.n.wait("READY=1", 30)
        wait_for(lambda: (lambda r: r[0] == 200 and r[1] not in ('""', ""))(
            a.curl("/v1/status/leader")), 15, "a leader")
        wait_for(lambda: "cfgsvc" in (lambda r: r[1] if r[0] == 200 else "")(
            a.curl("/v1/agent/services")), 15, "the config service")
        assert status_of(a, "service:cfgsvc") == "passing"
        assert "cfgcheck" in agent_checks(a)
        wait_for(lambda: len(getj(a, "/v1/catalog/service/cfgsvc")) == 1, 10,
                 "cfgsvc in the catalog")
        with open(cfg, "w") as f:
            json.dump({"services": [{"name": "newsvc", "port": 7001}]}, f)
        r = cairn("reload", "-http-addr", "127.0.0.1:%d" % a.http)
        assert r.returncode == 0 and "reload" in r.stdout, (r.returncode, r.stdout, r.stderr)
        wait_for(lambda: set(getj(a, "/v1/agent/services")) == {"newsvc"}, 5,
                 "services after reload")
        assert "cfgcheck" not in agent_checks(a)
        wait_for(lambda: getj(a, "/v1/catalog/service/cfgsvc") == [] and
                 len(getj(a, "/v1/catalog/service/newsvc")) == 1, 5, "the catalog after reload")
        # a config that does not parse: reload fails, services stay
        with open(cfg, "w") as f:
            f.write("{not json")
        assert a.curl("/v1/agent/reload", "PUT", b"")[0] == 500
        assert set(getj(a, "/v1/agent/services")) == {"newsvc"}
    finally:
        a.stop()


@test
def blocking_passing_watch_wakes_within_a_second():
    a = Agent()
    try:
        assert put(a, "/v1/agent/service/register",
                   {"Name": "watched", "Check": {"TTL": "60s"}}) == (200, "")
        wait_for(lambda: len(getj(a, "/v1/catalog/service/watched")) == 1, 5, "registered")
        st, body, h = a.curl("/v1/health/service/watched?passing")
        assert st == 200 and json.loads(body) == [], body
        idx = int(h["x-consul-index"])
        res = {}

        def watch():
            st, body, h = a.curl("/v1/health/service/watched?passing&index=%d&wait=30s" % idx)
            res["t"] = time.monotonic()
            res["body"] = json.loads(body)
        th = threading.Thread(target=watch)
        th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        assert put(a, "/v1/agent/check/pass/service:watched") == (200, "")
        th.join(10)
        assert "t" in res, "the watch did not return"
        assert [x["Service"]["ID"] for x in res["body"]] == ["watched"], res["body"]
        assert res["t"] - t0 < 1.0, res["t"] - t0
    finally:
        a.stop()


@test
def bad_input_gets_consuls_errors():
    a = Agent()
    try:
        def pr(path, body):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            st, text, _ = a.curl(path, "PUT", data)
            return st, text
        assert pr("/v1/agent/service/register", {"Port": 1}) == (400, "Missing service name")
        assert pr("/v1/agent/service/register", b"{bad")[0] == 400
        assert pr("/v1/agent/service/register", {"Name": "x", "Port": "80"})[0] == 400
        assert pr("/v1/agent/service/register", {"Name": "x", "Port": 70000})[0] == 400
        assert pr("/v1/agent/service/register", {"Name": "x", "Check": {"HTTP": "http://a"}})[0] == 400
        st, text = pr("/v1/agent/check/register", {"Name": "s", "Script": "true", "Interval": "1s"})
        assert st == 500 and "Scripts are disabled" in text, (st, text)
        assert pr("/v1/agent/check/register", {"Name": "g", "GRPC": "x:1", "Interval": "1s"})[0] == 400
        assert pr("/v1/agent/check/register", {"TTL": "1s"}) == (400, "Missing check name")
        assert pr("/v1/agent/check/register", {"Name": "n"})[0] == 400
        assert pr("/v1/agent/check/register", {"Name": "c", "TTL": "1s", "ServiceID": "nope"})[0] == 400
        assert pr("/v1/agent/check/register", {"Name": "c", "TTL": "bogus"})[0] == 400
        assert pr("/v1/agent/check/register", {"Name": "c", "TTL": "1s", "Status": "happy"})[0] == 400
        assert a.curl("/v1/agent/check/pass/nope", "PUT")[0] == 404
        assert a.curl("/v1/agent/service/deregister/nope", "PUT")[0] == 404
        assert a.curl("/v1/agent/check/deregister/nope", "PUT")[0] == 404
        assert a.curl("/v1/agent/service/nope")[0] == 404
        assert a.curl("/v1/agent/maintenance", "PUT")[0] == 400
        assert a.curl("/v1/agent/maintenance?enable=maybe", "PUT")[0] == 400
        assert a.curl("/v1/agent/service/maintenance/nope?enable=true", "PUT")[0] == 404
        assert a.curl("/v1/agent/services", "DELETE")[0] == 405
        assert a.curl("/v1/agent/service/register", "GET")[0] == 405
        st, _, _ = a.curl("/v1/agent/service/register", "PUT",
                          b'{"Name":"' + b"a" * 600000 + b'"}')
        assert st == 413, st
        # a registered TTL check is not a script: pass on an HTTP check is 400
        assert pr("/v1/agent/check/register", {"Name": "h", "HTTP": "http://127.0.0.1:1/",
                                               "Interval": "10s"})[0] == 200
        assert a.curl("/v1/agent/check/pass/h", "PUT")[0] == 400
        # nothing above left a trace
        assert set(getj(a, "/v1/agent/services")) == set()
        assert set(agent_checks(a)) == {"h"}
        # agent/self: what clients read
        s = getj(a, "/v1/agent/self")
        assert s["Config"]["Datacenter"] == "dc1" and s["Config"]["Server"] is True, s["Config"]
        assert s["Config"]["NodeName"] == a.node() and s["Member"]["Name"] == a.node(), s
        assert s["Member"]["Addr"] and s["Coord"] is None or "Vec" in s["Coord"], s
    finally:
        a.stop()


@test
def monitor_streams_every_daemons_log_lines():
    a = Agent()
    try:
        url = "http://127.0.0.1:%d/v1/agent/monitor?loglevel=info" % a.http
        p = subprocess.Popen(["curl", "-sN", "--max-time", "6", url], stdout=subprocess.PIPE,
                             text=True)
        time.sleep(1)
        assert put(a, "/v1/agent/service/register", {"Name": "seen", "Check": {"TTL": "9s"}}) \
            == (200, "")
        put(a, "/v1/agent/maintenance?enable=true")
        out = p.communicate(timeout=15)[0]
        assert "checkd[" in out and "service seen registered" in out, out
        assert all(" [" in l and "]: " in l for l in out.splitlines()), out
        # warn and above: the info lines are filtered out
        p = subprocess.Popen(["curl", "-sN", "--max-time", "3", url.replace("info", "warn")],
                             stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        put(a, "/v1/agent/service/register", {"Name": "unseen"})
        assert "unseen" not in p.communicate(timeout=15)[0]
        st, body, _ = a.curl("/v1/agent/monitor?loglevel=loud")
        assert (st, body) == (400, "Unknown log level: loud"), (st, body)
        # the CLI: streams until interrupted, then exits 0
        p = subprocess.Popen([binary("cairn"), "monitor", "-http-addr=127.0.0.1:%d" % a.http],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        put(a, "/v1/agent/service/register", {"Name": "via-cli"})
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0 and "service via-cli registered" in out, (p.returncode, out, err)
        r = cairn("monitor", "-log-level=loud", "-http-addr=127.0.0.1:%d" % a.http)
        assert r.returncode == 1 and "400" in r.stderr, (r.returncode, r.stderr)
    finally:
        a.stop()


@test
def python_consul_services_and_checks():
    a = Agent()
    try:
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "clients", "python_consul_checks.py"),
                            "127.0.0.1", str(a.http)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and r.stdout.strip().endswith("OK"), \
            (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    finally:
        a.stop()


@test
def dcsa_critical_for_a_minute_deregisters_the_service():
    d = DcsaAgent.agent
    assert d is not None, "the first test did not start the agent"
    try:
        # kept's check stays passing (a 10m TTL): only doomed goes
        def pass_kept():
            return "doomed" not in getj(d, "/v1/agent/services")
        left = 60 - (time.monotonic() - DcsaAgent.t0)
        assert left < 0 or "doomed" in getj(d, "/v1/agent/services")
        wait_for(pass_kept, max(left, 0) + 15, "doomed deregistered after 1m critical",
                 interval=0.5)
        assert time.monotonic() - DcsaAgent.t0 >= 59, time.monotonic() - DcsaAgent.t0
        assert "kept" in getj(d, "/v1/agent/services")
        wait_for(lambda: getj(d, "/v1/catalog/service/doomed") == [], 5,
                 "doomed gone from the catalog")
    finally:
        d.stop()
        DcsaAgent.agent = None


if __name__ == "__main__":
    main()
