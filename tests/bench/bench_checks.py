"""bench_checks.py - checkd under load: 1,000 services with 2,000 checks on
one dev agent; checkd's CPU and memory, and the catalog sync traffic it
sends to raftd (anti-entropy).

Method:
  1. `cairn agent -dev` on its own ports (HTTP P, server P+1, LAN gossip
     P+2; WAN gossip and DNS off, so it can run next to other agents),
     readiness by sd_notify, then a leader and checkd's first full sync.
     The local targets live in this process: a threaded HTTP server that
     answers 200 and a TCP listener (backlog 1024) that accepts and closes.
  2. 1,000 services registered one after another over one persistent HTTP
     connection (PUT /v1/agent/service/register), each with a TTL check
     ("10m") and an active check every 10 s: HTTP to the local server for
     even i, TCP to the listener for odd i.  Reported: services/s through
     the API, and the time from the first registration until the catalog
     lists all 1,000 services and their 2,000 checks (/v1/catalog/services
     and /v1/health/state/any, polled every 50 ms).
  3. Steady state, once every active check has passed (<= 60 s) and the
     sync is idle: a window of CHECKS_BENCH_SECONDS (default 60).  checkd's
     CPU (utime+stime of /proc/<pid>/stat, in % of one core), its RSS
     (VmRSS, the maximum of samples every 5 s, and VmHWM), check runs/s
     (counter checks.runs of `cairn daemon-status checkd`) and the catalog
     sync traffic: deltas of sync.ops and sync.bytes (the encoded Raft
     commands checkd sent) per second.  Only status changes are sent
     between full syncs, so with nothing changing these should be ~0; a
     full sync (every 60-64 s) falls into the window at most once and is
     counted (sync.full), it only reads the catalog unless the catalog
     differs.  raftd's CPU over the same window shows the server side of
     the sync; httpd's RSS is printed for reference.
  4. Flips: the 1,000 TTL checks marked passing (PUT
     /v1/agent/check/pass/<id>, IDs taken from /v1/agent/checks), then
     critical (.../fail/<id>), one round each: updates/s through the API,
     the time until /v1/health/state/<status> lists all 1,000, and sync.ops
     / sync.bytes per status change (checkd sends a changed check with its
     service and the service's other check in one registration).

Output: "name value unit" lines, then a short summary.  CHECKS_BENCH_SERVICES
(default 1000) scales the load for quick runs; CHECKS_BENCH_KEEP=1 keeps the
temporary directory (the agent's log, agent.log, and its data dir).  There
is no peer here:
Consul is not installed, so the point of comparison is Consul's own
documentation (agent anti-entropy, check intervals), which is not measured.
The numbers are absolute and depend on the machine; other work on the same
host shows up in them.  Every wait is bounded; every process this starts is
stopped by PID."""
import http.client
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import (Notify, Proc, Timeout, TmpDir, binary, children,  # noqa: E402
                     daemon_status, wait_for)

N = int(os.environ.get("CHECKS_BENCH_SERVICES", "1000"))
SECS = float(os.environ.get("CHECKS_BENCH_SECONDS", "60"))
INTERVAL = "10s"
TICK = os.sysconf("SC_CLK_TCK")


def out(name, value, unit, note=""):
    print("%s %s %s%s" % (name, value, unit, (" (" + note + ")") if note else ""))
    sys.stdout.flush()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Fail(Exception):
    pass


# ------------------------------------------------------------------ targets

class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


class Targets:
    """The HTTP server and the TCP listener the active checks probe."""

    def __init__(self):
        self.http = Server(("127.0.0.1", 0), Ok)
        self.http_port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(1024)
        self.tcp.settimeout(0.2)
        self.tcp_port = self.tcp.getsockname()[1]
        self.accepted = 0
        self.stopping = threading.Event()
        self.t = threading.Thread(target=self.accept_loop, daemon=True)
        self.t.start()

    def accept_loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            c.close()

    def stop(self):
        self.stopping.set()
        self.http.shutdown()
        self.http.server_close()
        self.t.join(5)
        self.tcp.close()


# -------------------------------------------------------------------- agent

def free_base():
    """P such that P, P+1 (TCP) and P+2 (TCP and UDP) are free on 127.0.0.1."""
    start = 27000 + os.getpid() % 1000
    for base in list(range(start, 28000, 3)) + list(range(27000, start, 3)):
        ok = True
        for port, kinds in ((base, (socket.SOCK_STREAM,)), (base + 1, (socket.SOCK_STREAM,)),
                            (base + 2, (socket.SOCK_STREAM, socket.SOCK_DGRAM))):
            for kind in kinds:
                s = socket.socket(socket.AF_INET, kind)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return base
    raise Fail("no free ports in 27000-27999")


class Api:
    """One persistent HTTP/1.1 connection to the agent."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def call(self, method, path, body=None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.c.request(method, path, body=body)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data
            except (http.client.HTTPException, ConnectionError, socket.timeout, OSError):
                self.close()
                if attempt or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def getj(self, path):
        st, data = self.call("GET", path)
        if st != 200:
            raise Fail("GET %s: %d %s" % (path, st, data[:300]))
        return json.loads(data)

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


class Agent:
    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_base()
        self.data = os.path.join(tmp.path, "data")
        self.run_dir = os.path.join(self.data, "run")
        args = [binary("cairn"), "agent", "-dev", "-data-dir", self.data,
                "-http-port", str(self.port), "-server-port", str(self.port + 1),
                "-serf-lan-port", str(self.port + 2), "-serf-wan-port", "-1",
                "-dns-port", "-1"]
        self.n = Notify(tmp.path)
        self.p = Proc(args, tmp.path, "agent", env={"NOTIFY_SOCKET": self.n.path})
        self.api = Api(self.port)

    def ready(self):
        self.n.wait("READY=1", 30)

        def leader():
            try:
                st, data = self.api.call("GET", "/v1/status/leader")
            except OSError:
                return False
            return st == 200 and data.strip() not in (b'""', b"")
        wait_for(leader, 30, "a leader", interval=0.1)
        # checkd's first full sync: the node is known, the sync path is up
        wait_for(lambda: self.counter("checkd", "sync.full") >= 1, 60,
                 "checkd's first full sync", interval=0.2)

    def pids(self):
        kids = children(self.p.pid)
        want = ("cairn-checkd", "cairn-raftd", "cairn-httpd")
        missing = [k for k in want if k not in kids]
        if missing:
            raise Fail("agent %d has no child %s (children: %s)" % (self.p.pid, missing, kids))
        return {k[len("cairn-"):]: kids[k] for k in want}

    def status(self, daemon):
        st = daemon_status(self.run_dir, daemon, timeout_ms=3000)
        if st is None:
            raise Fail("cairn daemon-status %s did not answer" % daemon)
        return st

    def counter(self, daemon, name, st=None):
        st = st or self.status(daemon)
        return int(st.get("counter." + name, "0"))

    def log_lines(self, needle=None):
        return [l for l in self.p.output().splitlines() if needle is None or needle in l]

    def stop(self):
        self.api.close()
        self.p.stop(timeout=20)
        self.n.close()


# ------------------------------------------------------------------- /proc

def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def mem_kb(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Cpu:
    """CPU seconds used by some PIDs between start() and stop()."""

    def __init__(self, pids):
        self.pids = pids
        self.t0 = time.monotonic()
        self.c0 = {k: cpu_ticks(p) for k, p in pids.items()}

    def stop(self):
        self.dt = time.monotonic() - self.t0
        self.secs = {k: (cpu_ticks(p) - self.c0[k]) / TICK for k, p in self.pids.items()}
        return self

    def pct(self, k):
        return 100.0 * self.secs[k] / self.dt


# ---------------------------------------------------------------- the bench

def service_def(i, targets):
    if i % 2 == 0:
        probe = {"Name": "http", "HTTP": "http://127.0.0.1:%d/health/%d" % (targets.http_port, i),
                 "Interval": INTERVAL}
    else:
        probe = {"Name": "tcp", "TCP": "127.0.0.1:%d" % targets.tcp_port, "Interval": INTERVAL}
    return json.dumps({"ID": "svc-%d" % i, "Name": "svc-%d" % i, "Port": 20000 + i,
                       "Tags": ["bench"], "Meta": {"i": str(i)},
                       "Checks": [{"Name": "ttl", "TTL": "10m"}, probe]}).encode()


def svc_checks(checks):
    """{CheckID: check} of the bench's services' checks, from a list (catalog)
    or a map (/v1/agent/checks)."""
    if isinstance(checks, dict):
        checks = checks.values()
    return {c["CheckID"]: c for c in checks if (c.get("ServiceID") or "").startswith("svc-")}


def sync_idle(a, secs=30):
    """Wait until checkd has nothing in flight and sync.ops stopped moving."""
    last = [None]

    def idle():
        st = a.status("checkd")
        ops = a.counter("checkd", "sync.ops", st)
        quiet = st.get("agent.sync_in_flight") == "0" and ops == last[0]
        last[0] = ops
        return quiet
    wait_for(idle, secs, "checkd's sync to go idle", interval=0.5)


def counters(a):
    st = a.status("checkd")
    return {k: a.counter("checkd", k, st) for k in
            ("sync.ops", "sync.bytes", "sync.full", "sync.errors", "checks.runs")}, time.monotonic()


def delta(c0, c1):
    return {k: c1[0][k] - c0[0][k] for k in c0[0]}, c1[1] - c0[1]


def register(a, targets, res):
    api = a.api
    lat = []
    c0, _ = counters(a)
    pids = a.pids()
    cpu = Cpu(pids)
    t0 = time.monotonic()
    for i in range(N):
        t = time.monotonic()
        st, data = api.call("PUT", "/v1/agent/service/register", service_def(i, targets))
        lat.append(time.monotonic() - t)
        if st != 200:
            raise Fail("registering svc-%d: %d %s" % (i, st, data[:300]))
    t_reg = time.monotonic()
    rate = N / (t_reg - t0)
    out("checks_register_rate", "%.0f" % rate, "services/s",
        "%d services x 2 checks, one connection, sequential; p50 %.1f ms, p99 %.1f ms" % (
            N, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))
    res["register_rate"] = rate

    names = {"svc-%d" % i for i in range(N)}

    def converged():
        svcs = api.getj("/v1/catalog/services")
        if not names <= set(svcs):
            return False
        return len(svc_checks(api.getj("/v1/health/state/any"))) == 2 * N
    wait_for(converged, 120, "the catalog to list %d services and %d checks" % (N, 2 * N),
             interval=0.05)
    t_conv = time.monotonic()
    out("checks_catalog_converge", "%.2f" % (t_conv - t0), "s",
        "from the first registration until the catalog lists all %d services and "
        "%d checks; %.2f s after the last registration was acknowledged" % (
            N, 2 * N, t_conv - t_reg))
    res["converge"] = t_conv - t0
    sync_idle(a)
    cpu.stop()
    d, _ = delta((c0, 0), counters(a))
    out("checkd_cpu_register", "%.2f" % cpu.secs["checkd"], "s",
        "CPU time of checkd for the registrations and their sync (raftd %.2f s, httpd %.2f s)"
        % (cpu.secs["raftd"], cpu.secs["httpd"]))
    out("sync_register_ops", d["sync.ops"], "ops",
        "%d B, %.0f B per op; also includes status changes of checks that ran meanwhile" % (
            d["sync.bytes"], d["sync.bytes"] / max(1, d["sync.ops"])))
    return pids


def wait_active_passing(a):
    api = a.api
    t0 = time.monotonic()
    left = [None]

    def all_pass():
        cs = svc_checks(api.getj("/v1/agent/checks"))
        active = [c for c in cs.values() if c["Type"] in ("http", "tcp")]
        if len(active) != N:
            raise Fail("/v1/agent/checks lists %d active checks, not %d" % (len(active), N))
        left[0] = [c["CheckID"] for c in active if c["Status"] != "passing"]
        return not left[0]
    try:
        wait_for(all_pass, 60, "every active check passing", interval=0.5)
    except Timeout:
        bad = svc_checks(api.getj("/v1/agent/checks"))
        ex = [(cid, bad[cid]["Status"], bad[cid]["Output"][:120]) for cid in left[0][:5]]
        raise Fail("%d active checks not passing after 60 s, e.g. %s" % (len(left[0]), ex))
    out("checks_all_active_passing", "%.1f" % (time.monotonic() - t0), "s",
        "after converge, until all %d active checks passed once (%s interval, first run "
        "at a random point of it)" % (N, INTERVAL))

    # and the catalog agrees
    def cat_pass():
        cs = svc_checks(api.getj("/v1/health/state/passing"))
        return sum(1 for c in cs.values() if c["Type"] in ("http", "tcp")) == N
    wait_for(cat_pass, 30, "the catalog to show every active check passing", interval=0.2)
    sync_idle(a)


def steady(a, pids, targets, res):
    c0 = counters(a)
    cpu = Cpu(pids)
    acc0 = targets.accepted
    rss = {k: [mem_kb(p)] for k, p in pids.items()}
    end = time.monotonic() + SECS
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(5.0, left))
        if not a.p.alive():
            raise Fail("the agent exited during the steady window")
        for k, p in pids.items():
            rss[k].append(mem_kb(p))
    cpu.stop()
    c1 = counters(a)
    d, dt = delta(c0, c1)
    if children(a.p.pid).get("cairn-checkd") != pids["checkd"]:
        raise Fail("checkd was restarted during the steady window")
    runs = d["checks.runs"] / dt
    rss_mb = max(rss["checkd"]) / 1024.0
    res.update(cpu=cpu.pct("checkd"), rss=rss_mb, runs=runs, raft_cpu=cpu.pct("raftd"),
               ops=d["sync.ops"] / dt, bytes=d["sync.bytes"] / dt, full=d["sync.full"])
    out("checkd_cpu_steady", "%.2f" % cpu.pct("checkd"), "%",
        "of one core over %.0f s, %d active checks every %s, %d TTL checks" % (
            cpu.dt, N, INTERVAL, N))
    out("checkd_rss", "%.1f" % rss_mb, "MB", "VmRSS, max of samples every 5 s; %.1f MB at "
        "the start of the window, %.1f MB at its end; VmHWM %.1f MB" % (
            rss["checkd"][0] / 1024.0, rss["checkd"][-1] / 1024.0,
            mem_kb(pids["checkd"], "VmHWM") / 1024.0))
    out("checks_runs", "%.1f" % runs, "/s", "counter checks.runs; expected %.1f/s; "
        "the TCP listener accepted %.1f/s" % (N / 10.0, (targets.accepted - acc0) / cpu.dt))
    out("sync_steady", "%.2f" % (d["sync.ops"] / dt), "ops/s",
        "%d ops in %.0f s; %d full sync(s) in the window, %d sync errors" % (
            d["sync.ops"], dt, d["sync.full"], d["sync.errors"]))
    out("sync_steady_bytes", "%.1f" % (d["sync.bytes"] / dt), "B/s", "%d B in %.0f s" % (
        d["sync.bytes"], dt))
    out("raftd_cpu_steady", "%.2f" % cpu.pct("raftd"), "%", "of one core, same window")
    out("httpd_cpu_steady", "%.2f" % cpu.pct("httpd"), "%", "of one core, same window")
    out("raftd_rss", "%.1f" % (max(rss["raftd"]) / 1024.0), "MB")
    out("httpd_rss", "%.1f" % (max(rss["httpd"]) / 1024.0), "MB", "for reference")


def flips(a, pids, res):
    api = a.api
    cs = svc_checks(api.getj("/v1/agent/checks"))
    ttl = sorted((c["CheckID"] for c in cs.values() if c["Type"] == "ttl"),
                 key=lambda cid: int(cs[cid]["ServiceID"][4:]))
    if len(ttl) != N:
        raise Fail("/v1/agent/checks lists %d TTL checks, not %d" % (len(ttl), N))
    expect = ["service:svc-%d:1" % i for i in range(N)]
    if ttl != expect:
        out("note", "TTL check IDs are not service:svc-<i>:1", "", "e.g. %s" % ttl[:2])
    ids = set(ttl)
    for verb, status in (("pass", "passing"), ("fail", "critical")):
        c0 = counters(a)
        cpu = Cpu(pids)
        lat = []
        t0 = time.monotonic()
        for cid in ttl:
            t = time.monotonic()
            st, data = api.call("PUT", "/v1/agent/check/%s/%s" % (verb, cid))
            lat.append(time.monotonic() - t)
            if st != 200:
                raise Fail("PUT /v1/agent/check/%s/%s: %d %s" % (verb, cid, st, data[:300]))
        t_api = time.monotonic()

        def shown():
            got = api.getj("/v1/health/state/" + status)
            return sum(1 for c in got if c["CheckID"] in ids) == N
        wait_for(shown, 60, "the catalog to show %d TTL checks %s" % (N, status),
                 interval=0.05)
        t_cat = time.monotonic()
        sync_idle(a)
        cpu.stop()
        d, _ = delta(c0, counters(a))
        rate = N / (t_api - t0)
        per = d["sync.bytes"] / N
        res.setdefault("flip", []).append((status, rate, t_cat - t0, per, d["sync.ops"]))
        out("ttl_update_rate_%s" % status, "%.0f" % rate, "/s",
            "%d TTL checks -> %s, one connection, sequential; p50 %.1f ms, p99 %.1f ms" % (
                N, status, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))
        out("ttl_catalog_%s" % status, "%.2f" % (t_cat - t0), "s",
            "from the first update until /v1/health/state/%s lists all %d; %.2f s after "
            "the last update" % (status, N, t_cat - t_api))
        out("sync_per_status_change_%s" % status, "%.0f" % per, "B",
            "%d ops, %d B for %d status changes (%.2f ops per change)" % (
                d["sync.ops"], d["sync.bytes"], N, d["sync.ops"] / N))
        out("checkd_cpu_per_status_change_%s" % status, "%.3f" % (cpu.secs["checkd"] / N * 1e3),
            "ms", "checkd CPU for the round and its sync / %d; raftd %.3f ms" % (
                N, cpu.secs["raftd"] / N * 1e3))


def odd_log_lines(a, since):
    """WARN/ERROR lines the agent logged after the first since lines."""
    return [l for l in a.log_lines()[since:] if "[ERROR]" in l or "[WARN]" in l]


def main():
    if N < 2:
        raise SystemExit("bench_checks: CHECKS_BENCH_SERVICES must be >= 2")
    tmp = TmpDir(prefix="cairn-bench-checks.")
    targets = Targets()
    a = None
    res = {}
    ok = False
    try:
        a = Agent(tmp)
        a.ready()
        pids = a.pids()
        out("checkd_rss_idle", "%.1f" % (mem_kb(pids["checkd"]) / 1024.0), "MB",
            "before any registration")
        since = len(a.log_lines())
        pids = register(a, targets, res)
        wait_active_passing(a)
        steady(a, pids, targets, res)
        flips(a, pids, res)
        rss = mem_kb(pids["checkd"]) / 1024.0
        out("checkd_rss_end", "%.1f" % rss, "MB", "after the flips; VmHWM %.1f MB" % (
            mem_kb(pids["checkd"], "VmHWM") / 1024.0))
        if a.pids()["checkd"] != pids["checkd"]:
            raise Fail("checkd was restarted during the run")
        odd = odd_log_lines(a, since)
        out("log_warnings", len(odd), "lines", "WARN/ERROR lines in the agent's log after "
            "start-up%s" % ("; first: " + odd[0][:200] if odd else ""))
        fl = {s: (r, t, b) for s, r, t, b, _ in res["flip"]}
        print("summary: %d services / %d checks registered at %.0f/s, in the catalog after "
              "%.1f s; steady: checkd %.1f %% of a core and %.1f MB RSS for %.0f runs/s, "
              "sync %.2f ops/s (%.1f B/s, %d full sync(s) in the window), raftd %.1f %%; "
              "TTL flips %.0f/s and %.0f/s through the API, in the catalog after %.1f s and "
              "%.1f s, %.0f B of sync per status change" % (
                  N, 2 * N, res["register_rate"], res["converge"], res["cpu"], res["rss"],
                  res["runs"], res["ops"], res["bytes"], res["full"], res["raft_cpu"],
                  fl["passing"][0], fl["critical"][0], fl["passing"][1], fl["critical"][1],
                  (fl["passing"][2] + fl["critical"][2]) / 2))
        sys.stdout.flush()
        ok = True
    except (Fail, Timeout, OSError, ValueError, http.client.HTTPException) as e:
        sys.stderr.write("bench_checks: %s\n" % e)
        if a is not None:
            tail = [l for l in a.log_lines() if "checkd[" in l or "agent[" in l][-30:]
            sys.stderr.write("agent log (%s), last checkd/agent lines:\n  %s\n" % (
                a.p.log_path, "\n  ".join(tail)))
    finally:
        if a is not None:
            a.stop()
        targets.stop()
        if not os.environ.get("CHECKS_BENCH_KEEP"):
            tmp.cleanup()
        else:
            sys.stderr.write("bench_checks: kept %s\n" % tmp.path)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
