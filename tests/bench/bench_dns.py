"""bench_dns.py - dnsd's answers to Consul DNS names under load, next to two
authoritative C servers serving the same records from a static zone: BIND 9
(named) and NSD.  The method is the one of /work/shared/bench (dns.sh,
dns_bench.sh, BASELINE.md "DNS peers"), reimplemented here:

  1. The servers, each on its own free loopback port:
     - Cairn: `cairn agent -dev` (HTTP P, server P+1, LAN gossip P+2, WAN
       gossip off, DNS D), ready on sd_notify READY=1 and a non-empty
       /v1/status/leader; then the service "web" on 3 nodes (bench-n1..3,
       127.1.0.1-3, port 8080, a passing service check each) through PUT
       /v1/catalog/register, until `dig web.service.consul SRV` lists 3.
     - named (`named -g -c conf`) and nsd (`nsd -d -c conf`, server-count 2,
       reuseport) configured as dns.sh does: authoritative for "consul."
       only, recursion off, no forwarding, no query logging, no control
       channel; zone "consul." with TTL 0: SOA/NS, web.service A x3, SRV x3
       (1 1 8080 bench-nN.node.dc1.consul.) and those targets' A records, so
       an SRV answer carries the targets' A records as additional data, as
       Cairn's does.  (dns.sh's zone has 50 nodes and 5 services with
       targets nodeNN.node.consul; here the names are Cairn's, so every
       server sends the same answer records.)  Before measuring, every
       server's SRV and A answers are checked (3 records, the same targets)
       and their sizes printed: nsd also puts the zone's NS in the authority
       section (and its address in the additional), so its answers are
       larger (dnsperf's "response" size: 201 B against 150 B).
  2. dnsperf over UDP, 1 client, 1 thread, the query file
     "web.service.consul SRV" / "web.service.consul A" (alternating):
     a. max throughput: 20 queries in flight for DNS_BENCH_SECONDS (10) s ->
        q/s, average latency, lost queries, response codes other than
        NOERROR, and the server's CPU time per query (/proc utime+stime of
        cairn-dnsd, of named, of nsd and its descendants) and dnsperf's
        CPU use (to see when the client is the limit);
     b. latency at a fixed DNS_BENCH_RATE (2000) q/s for DNS_BENCH_LAT_SECONDS
        (5) s with dnsperf -v: the per-query times of the NOERROR answers,
        sorted -> p50 and p99 (nearest rank, as dns_bench.sh does).
  3. Cairn, named and nsd interleaved, each started afresh (new data/zone
     dir) and stopped by PID after its turn, DNS_BENCH_RUNS (3) times.  Each
     turn starts with 1 s of /proc/stat to show how busy the host was, and
     the CPU the host spent on other processes during each phase
     (/proc/stat minus dnsperf and the server's whole process tree, e.g.
     all of Cairn's daemons) is printed with it.

Output: per-turn lines, then "dns.<server>.<metric> median unit (min-max)"
lines and "ratio.<metric>.cairn_over_<peer>" lines from the medians (q/s:
higher is better; p99: lower is better).  The target in the issue is q/s
>= 1.0x the faster peer with a p99 no worse; "dns.target_met" says whether
these medians meet it.  Server and dnsperf share the host's cores (2 on the
reference box), near 100k q/s dnsperf itself is the limit; other work on
the host shows up in every number.

DNS_BENCH_PROFILE=1 adds one more max-throughput turn of Cairn under
`perf record -g` on cairn-dnsd (not counted in the medians) and prints its
top functions.  DNS_BENCH_KEEP=1 keeps the temporary directory.  Every wait
is bounded; every process this starts is stopped by PID."""
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import (Notify, Proc, Timeout, TmpDir, binary, children,  # noqa: E402
                     wait_for)

RUNS = int(os.environ.get("DNS_BENCH_RUNS", "3"))
SECS = int(os.environ.get("DNS_BENCH_SECONDS", "10"))
LAT_SECS = int(os.environ.get("DNS_BENCH_LAT_SECONDS", "5"))
RATE = int(os.environ.get("DNS_BENCH_RATE", "2000"))
INFLIGHT = 20
PROFILE = os.environ.get("DNS_BENCH_PROFILE") == "1"
SERVERS = ("cairn", "named", "nsd")
PEERS = ("named", "nsd")
NODES = [("bench-n%d" % i, "127.1.0.%d" % i) for i in (1, 2, 3)]
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
TICK = os.sysconf("SC_CLK_TCK")


def out(name, value, unit, note=""):
    print("%s %s %s%s" % (name, value, unit, (" (" + note + ")") if note else ""))
    sys.stdout.flush()


class Fail(Exception):
    pass


def tool(name):
    p = shutil.which(name)
    if p:
        return p
    for d in SBIN:
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    raise Fail("%s not found (sh tests/deps.sh bench installs dnsperf, bind9 and nsd)" % name)


# ------------------------------------------------------------------- ports

def free(port, kinds=(socket.SOCK_STREAM, socket.SOCK_DGRAM)):
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_base(n=6):
    """P such that P..P+n-1 are free on 127.0.0.1 (TCP and UDP)."""
    start = 31000 + (os.getpid() % 300) * 3
    for base in list(range(start, 32000 - n, n)) + list(range(31000, start, n)):
        if all(free(base + i) for i in range(n)):
            return base
    raise Fail("no free ports in 31000-31999")


# ------------------------------------------------------------------- /proc

def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def descendants(pid):
    """pid and every live process below it."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z":
            kids.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def stat_snap():
    """(all ticks, idle+iowait, irq+softirq+steal) of /proc/stat, summed
    over CPUs (guest time is already in user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), v[3] + v[4], sum(v[5:8])


def host_busy(secs=1.0):
    """% of all CPUs busy over secs."""
    t0, i0, _ = stat_snap()
    time.sleep(secs)
    t1, i1, _ = stat_snap()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


# ------------------------------------------------------------------- dig

def dig(port, name, rtype):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), name, rtype,
                        "+tries=1", "+time=2"], capture_output=True, text=True, timeout=15)
    status, size, sec = None, None, None
    recs = {"ANSWER": [], "ADDITIONAL": [], "AUTHORITY": []}
    for line in r.stdout.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        m = re.search(r"MSG SIZE\s+rcvd: (\d+)", line)
        if m:
            size = int(m.group(1))
        if line.startswith(";; ") and line.endswith(" SECTION:"):
            sec = line[3:-9]
            continue
        if not line.strip():
            sec = None
            continue
        if line.startswith(";"):
            continue
        if sec in recs:
            recs[sec].append(line.split())
    return status, size, recs


def answers(port, rtype):
    try:
        st, _, recs = dig(port, "web.service.consul", rtype)
    except (subprocess.TimeoutExpired, OSError):
        return 0
    return len([r for r in recs["ANSWER"] if r[3] == rtype]) if st == "NOERROR" else 0


def check_answers(name, port):
    """The SRV and A answers are what every server must give; returns the
    response sizes."""
    st, srv_size, recs = dig(port, "web.service.consul", "SRV")
    srv = sorted(" ".join(r[4:]) for r in recs["ANSWER"] if r[3] == "SRV")
    want = sorted("1 1 8080 %s.node.dc1.consul." % n for n, _ in NODES)
    if st != "NOERROR" or srv != want:
        raise Fail("%s: web.service.consul SRV: %s %s, want %s" % (name, st, srv, want))
    add = sorted((r[0], r[4]) for r in recs["ADDITIONAL"] if r[3] == "A")
    want_add = sorted(("%s.node.dc1.consul." % n, a) for n, a in NODES)
    if not set(want_add) <= set(add):
        raise Fail("%s: SRV additional %s, want %s" % (name, add, want_add))
    # nsd adds the zone's NS (authority) and its address (additional)
    extra_srv = len(recs["AUTHORITY"]) + len(recs["ADDITIONAL"]) - len(want_add)
    st, a_size, recs = dig(port, "web.service.consul", "A")
    a = sorted(r[4] for r in recs["ANSWER"] if r[3] == "A")
    if st != "NOERROR" or a != sorted(x for _, x in NODES):
        raise Fail("%s: web.service.consul A: %s %s" % (name, st, a))
    extra_a = len(recs["AUTHORITY"]) + len(recs["ADDITIONAL"])
    return srv_size, a_size, extra_srv, extra_a


# ---------------------------------------------------------------- servers

class Cairn:
    name = "cairn"

    def __init__(self, tmp, base, dns_port):
        self.tmp = tmp
        self.port = base
        self.dns_port = dns_port
        d = os.path.join(tmp, "cairn")
        os.makedirs(d)
        args = [binary("cairn"), "agent", "-dev", "-data-dir", os.path.join(d, "data"),
                "-http-port", str(base), "-server-port", str(base + 1),
                "-serf-lan-port", str(base + 2), "-serf-wan-port", "-1",
                "-dns-port", str(dns_port)]
        self.n = Notify(d)
        self.p = Proc(args, d, "agent", env={"NOTIFY_SOCKET": self.n.path})

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def ready(self):
        self.n.wait("READY=1", 30)

        def leader():
            try:
                st, data = self.call("GET", "/v1/status/leader")
            except OSError:
                return False
            return st == 200 and data.strip() not in (b'""', b"")
        wait_for(leader, 30, "a Cairn leader", interval=0.1)
        for node, addr in NODES:
            body = {"Node": node, "Address": addr,
                    "Service": {"ID": "web", "Service": "web", "Port": 8080},
                    "Checks": [{"CheckID": "service:web", "Name": "web", "Status": "passing",
                                "ServiceID": "web"}]}
            st, data = self.call("PUT", "/v1/catalog/register", json.dumps(body).encode())
            if st != 200:
                raise Fail("PUT /v1/catalog/register %s: %d %s" % (node, st, data[:300]))
        wait_for(lambda: answers(self.dns_port, "SRV") == 3, 30,
                 "dig web.service.consul SRV to list 3 instances", interval=0.1)

    def pids(self):
        kids = children(self.p.pid)
        if "cairn-dnsd" not in kids:
            raise Fail("agent %d has no cairn-dnsd child (%s)" % (self.p.pid, kids))
        return [kids["cairn-dnsd"]]

    def all_pids(self):
        return descendants(self.p.pid)

    all_pids = pids

    def alive(self):
        return self.p.alive()

    def log_tail(self):
        return self.p.output()[-3000:]

    def stop(self):
        self.p.stop(timeout=20)
        self.n.close()


def zone_text():
    lines = ["$TTL 0",
             "@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0",
             "@ IN NS ns.consul.",
             "ns IN A 127.0.0.1"]
    for node, addr in NODES:
        lines.append("%s.node.dc1 IN A %s" % (node, addr))
    for node, addr in NODES:
        lines.append("web.service IN A %s" % addr)
        lines.append("web.service IN SRV 1 1 8080 %s.node.dc1.consul." % node)
    return "\n".join(lines) + "\n"


class Peer:
    """named or nsd in the foreground as our child, on a static zone."""

    def __init__(self, name, tmp, port):
        self.name = name
        self.dns_port = port
        d = os.path.join(tmp, name)
        os.makedirs(d)
        with open(os.path.join(d, "consul.zone"), "w") as f:
            f.write(zone_text())
        conf = os.path.join(d, name + ".conf")
        if name == "named":
            text = """options {
  directory "%(d)s"; pid-file "%(d)s/named.pid"; session-keyfile "%(d)s/session.key";
  managed-keys-directory "%(d)s";
  listen-on port %(p)d { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; allow-query { any; }; dnssec-validation no; notify no;
};
controls { };
zone "consul" { type primary; file "%(d)s/consul.zone"; };
""" % {"d": d, "p": port}
            args = [tool("named"), "-g", "-c", conf]
        else:
            text = """server:
  ip-address: 127.0.0.1@%(p)d
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "%(d)s"
  database: ""
  pidfile: "%(d)s/nsd.pid"
  xfrdfile: "%(d)s/xfrd.state"
  zonelistfile: "%(d)s/zone.list"
  logfile: "%(d)s/nsd.log"
  server-count: 2
  reuseport: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: consul
  zonefile: consul.zone
""" % {"d": d, "p": port}
            args = [tool("nsd"), "-d", "-c", conf]
        with open(conf, "w") as f:
            f.write(text)
        self.p = Proc(args, d, name)

    def ready(self):
        def up():
            if not self.p.alive():
                raise Fail("%s exited: %s" % (self.name, self.p.output()[-2000:]))
            return answers(self.dns_port, "SRV") == 3
        wait_for(up, 20, "%s to answer web.service.consul SRV" % self.name, interval=0.1)

    def pids(self):
        """The server and its descendants (nsd forks xfrd and its serving
        processes)."""
        return descendants(self.p.pid)

    all_pids = pids

    def alive(self):
        return self.p.alive()

    def log_tail(self):
        return self.p.output()[-3000:]

    def stop(self):
        self.p.stop(timeout=20)


# ----------------------------------------------------------------- dnsperf

def dnsperf_args(port, qfile, secs):
    return [tool("dnsperf"), "-s", "127.0.0.1", "-p", str(port), "-d", qfile,
            "-l", str(secs), "-n", "10000000", "-c", "1", "-T", "1", "-q", str(INFLIGHT)]


def parse_summary(text):
    def num(pat, cast=float):
        m = re.search(pat, text)
        if not m:
            raise Fail("dnsperf output without %r:\n%s" % (pat, text[-2000:]))
        return cast(m.group(1))
    r = {"sent": num(r"Queries sent:\s+(\d+)", int),
         "completed": num(r"Queries completed:\s+(\d+)", int),
         "lost": num(r"Queries lost:\s+(\d+)", int),
         "qps": num(r"Queries per second:\s+([\d.]+)"),
         "avg_ms": num(r"Average Latency \(s\):\s+([\d.]+)") * 1e3}
    m = re.search(r"Response codes:\s+(.*)", text)
    codes = {}
    if m:
        for code, n in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            codes[code] = int(n)
    r["codes"] = codes
    r["bad"] = sum(n for c, n in codes.items() if c != "NOERROR")
    m = re.search(r"Average packet size:\s+request (\d+), response (\d+)", text)
    r["resp_size"] = int(m.group(2)) if m else 0
    return r


def max_throughput(srv, qfile):
    pids, every = srv.pids(), srv.all_pids()
    c0 = sum(cpu_ticks(p) for p in pids)
    a0 = sum(cpu_ticks(p) for p in every)
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = stat_snap()
    t0 = time.monotonic()
    r = subprocess.run(dnsperf_args(srv.dns_port, qfile, SECS), capture_output=True,
                       text=True, timeout=SECS + 30)
    dt = time.monotonic() - t0
    s1 = stat_snap()
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c1 = sum(cpu_ticks(p) for p in pids)
    a1 = sum(cpu_ticks(p) for p in every)
    if r.returncode != 0:
        raise Fail("dnsperf (%s) exited %d: %s" % (srv.name, r.returncode, r.stderr[-2000:]))
    res = parse_summary(r.stdout)
    res["cpu_us"] = (c1 - c0) / TICK / max(1, res["completed"]) * 1e6
    res["cpu_pct"] = 100.0 * (c1 - c0) / TICK / SECS
    client = u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime
    res["client_pct"] = 100.0 * client / SECS
    res["other_pct"] = others(s0, s1, client + (a1 - a0) / TICK, dt)
    return res


def others(s0, s1, ours, dt):
    """What the host ran besides ours (CPU seconds) between two
    stat_snap()s dt seconds apart, in % of one core; irq, softirq (loopback
    delivery: the kernel may account it to no process) and steal time are
    left out."""
    busy = ((s1[0] - s0[0]) - (s1[1] - s0[1]) - (s1[2] - s0[2])) / TICK
    return max(0.0, 100.0 * (busy - ours) / dt)


def nearest_rank(xs, p):
    """dns_bench.sh's percentile: xs sorted, index round(p*(n-1))."""
    return xs[int(p * (len(xs) - 1) + 0.5)]


def fixed_rate(srv, qfile):
    args = dnsperf_args(srv.dns_port, qfile, LAT_SECS) + ["-Q", str(RATE), "-v"]
    every = srv.all_pids()
    c0 = sum(cpu_ticks(p) for p in every)
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = stat_snap()
    t0 = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, timeout=LAT_SECS + 30)
    dt = time.monotonic() - t0
    s1 = stat_snap()
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c1 = sum(cpu_ticks(p) for p in every)
    if r.returncode != 0:
        raise Fail("dnsperf -Q (%s) exited %d: %s" % (srv.name, r.returncode, r.stderr[-2000:]))
    lat = sorted(float(l.split()[-1]) * 1e3 for l in r.stdout.splitlines()
                 if l.startswith("> NOERROR"))
    if not lat:
        raise Fail("dnsperf -Q -v (%s): no NOERROR answers:\n%s" % (srv.name, r.stdout[-2000:]))
    res = parse_summary(r.stdout)
    res["p50"] = nearest_rank(lat, 0.50)
    res["p99"] = nearest_rank(lat, 0.99)
    res["n"] = len(lat)
    res["other_pct"] = others(s0, s1, (c1 - c0) / TICK + u1.ru_utime + u1.ru_stime -
                              u0.ru_utime - u0.ru_stime, dt)
    return res


# ------------------------------------------------------------------ profile

def profile_cairn(tmp, base, dns_port, qfile):
    """One more max-throughput turn of Cairn with perf record -g on
    cairn-dnsd; prints the top functions (self time)."""
    try:
        perf = tool("perf")
    except Fail as e:
        out("dns.profile", "skipped", "", str(e))
        return
    srv = Cairn(tmp, base, dns_port)
    rec = None
    data = os.path.join(tmp, "perf.data")
    try:
        srv.ready()
        pid = srv.pids()[0]
        rec = subprocess.Popen([perf, "record", "-g", "-F", "999", "-o", data, "-p", str(pid),
                                "--", "sleep", str(SECS + 2)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        res = max_throughput(srv, qfile)
        try:
            _, err = rec.communicate(timeout=SECS + 30)
        except subprocess.TimeoutExpired:
            rec.send_signal(signal.SIGINT)
            _, err = rec.communicate(timeout=30)
        if rec.returncode != 0 or not os.path.exists(data):
            out("dns.profile", "failed", "", (err or "")[-300:].replace("\n", " "))
            return
        out("dns.profile.qps", "%.0f" % res["qps"], "q/s", "under perf record -g -F 999")
        def show(title, limit, *opts):
            rep = subprocess.run([perf, "report", "-i", data, "--stdio", "-g", "none",
                                  "--percent-limit", limit] + list(opts),
                                 capture_output=True, text=True, timeout=120)
            rows = [re.sub(r"(\s+-)+\s*$", "", l.strip()) for l in rep.stdout.splitlines()
                    if l.strip() and not l.startswith("#")]
            print("dns.profile %s:" % title)
            for l in rows[:30]:
                print("  " + l)
        show("self time by object (perf report --no-children --sort dso)", "0.5",
               "--no-children", "--sort", "dso")
        show("top functions, self time (--no-children --sort dso,symbol)", "0.7",
               "--no-children", "--sort", "dso,symbol")
        show("inclusive time (--children --sort symbol; children %, self %)", "3",
               "--children", "--sort", "symbol")
        sys.stdout.flush()
    finally:
        if rec is not None and rec.poll() is None:
            rec.send_signal(signal.SIGINT)
            try:
                rec.wait(30)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.wait()
        srv.stop()


# --------------------------------------------------------------------- main

def turn(run, name, tmp, ports, qfile, res):
    busy = host_busy()
    rdir = os.path.join(tmp, "run%d" % run)
    os.makedirs(rdir, exist_ok=True)
    if name == "cairn":
        srv = Cairn(rdir, ports["http"], ports["cairn"])
    else:
        srv = Peer(name, rdir, ports[name])
    try:
        srv.ready()
        sizes = check_answers(name, srv.dns_port)
        if run == 1:
            out("dns.%s.msg_size" % name, "%d/%d" % sizes[:2], "B",
                "SRV/A answer sizes (dig, EDNS); other authority+additional records: "
                "SRV %d, A %d" % sizes[2:])
        m = max_throughput(srv, qfile)
        f = fixed_rate(srv, qfile)
        if not srv.alive():
            raise Fail("%s exited during its turn" % name)
    except Exception:
        sys.stderr.write("bench_dns: %s log tail:\n%s\n" % (name, srv.log_tail()))
        raise
    finally:
        srv.stop()
    res.setdefault(name, []).append((m, f))
    out("dns.run%d.%s.qps" % (run, name), "%.0f" % m["qps"], "q/s",
        "avg %.3f ms, lost %d, non-NOERROR %d, %.1f us server CPU/query (server %.0f%%, "
        "dnsperf %.0f%% of a core), response %d B; at %d q/s: p50 %.3f ms, p99 %.3f ms, "
        "lost %d, non-NOERROR %d; host: %.0f%% busy in the 1 s before, other processes "
        "%.0f%% / %.0f%% of a core during the max / fixed-rate phase" % (
            m["avg_ms"], m["lost"], m["bad"], m["cpu_us"], m["cpu_pct"], m["client_pct"],
            m["resp_size"], RATE, f["p50"], f["p99"], f["lost"], f["bad"], busy,
            m["other_pct"], f["other_pct"]))


def med(xs):
    return statistics.median(xs)


def report(res):
    med_of = {}
    for name in SERVERS:
        rs = res[name]
        cols = (("qps", "q/s", [m["qps"] for m, _ in rs], "%.0f"),
                ("lat_avg", "ms", [m["avg_ms"] for m, _ in rs], "%.3f"),
                ("fixed_rate.p50", "ms", [f["p50"] for _, f in rs], "%.3f"),
                ("fixed_rate.p99", "ms", [f["p99"] for _, f in rs], "%.3f"),
                ("cpu_per_query", "us", [m["cpu_us"] for m, _ in rs], "%.2f"))
        for key, unit, xs, fmt in cols:
            med_of[(name, key)] = med(xs)
            out("dns.%s.%s" % (name, key), fmt % med(xs), unit,
                "median of %d, %s-%s" % (len(xs), fmt % min(xs), fmt % max(xs)))
        lost = sum(m["lost"] + f["lost"] for m, f in rs)
        bad = sum(m["bad"] + f["bad"] for m, f in rs)
        codes = {}
        for m, f in rs:
            for c, n in list(m["codes"].items()) + list(f["codes"].items()):
                codes[c] = codes.get(c, 0) + n
        out("dns.%s.lost" % name, lost, "queries", "all %d runs, both phases" % len(rs))
        out("dns.%s.non_noerror" % name, bad, "responses",
            "response codes: %s" % ", ".join("%s %d" % kv for kv in sorted(codes.items())))
    print("| server | q/s (max, %d in flight) | avg latency at max, ms | p50 at %d q/s, ms | "
          "p99 at %d q/s, ms | server CPU us/query |" % (INFLIGHT, RATE, RATE))
    print("|---|---:|---:|---:|---:|---:|")
    for name in SERVERS:
        print("| %s | %.0f | %.3f | %.3f | %.3f | %.2f |" % (
            name, med_of[(name, "qps")], med_of[(name, "lat_avg")],
            med_of[(name, "fixed_rate.p50")], med_of[(name, "fixed_rate.p99")],
            med_of[(name, "cpu_per_query")]))
    for peer in PEERS:
        out("ratio.qps.cairn_over_%s" % peer,
            "%.2f" % (med_of[("cairn", "qps")] / med_of[(peer, "qps")]), "x", "higher is better")
        out("ratio.p99.cairn_over_%s" % peer, "%.2f" % (
            med_of[("cairn", "fixed_rate.p99")] / med_of[(peer, "fixed_rate.p99")]), "x",
            "at %d q/s; lower is better" % RATE)
    fast = max(PEERS, key=lambda p: med_of[(p, "qps")])
    met = (med_of[("cairn", "qps")] >= med_of[(fast, "qps")] and
           med_of[("cairn", "fixed_rate.p99")] <= med_of[(fast, "fixed_rate.p99")])
    out("dns.target_met", 1 if met else 0, "bool",
        "q/s >= 1.0x the faster peer (%s, medians) and p99 no worse" % fast)


def main():
    tmp = TmpDir(prefix="cairn-bench-dns.")
    ok = False
    try:
        for t in ("dnsperf", "named", "nsd"):
            tool(t)
        base = free_base()
        ports = {"http": base, "cairn": base + 3, "named": base + 4, "nsd": base + 5}
        qfile = os.path.join(tmp.path, "queries.txt")
        with open(qfile, "w") as f:
            f.write("web.service.consul SRV\nweb.service.consul A\n")
        out("dns.setup", RUNS, "runs", "UDP, 1 client, %d in flight for %d s, then %d q/s for "
            "%d s; ports: cairn %d (http %d), named %d, nsd %d; %d CPUs" % (
                INFLIGHT, SECS, RATE, LAT_SECS, ports["cairn"], base, ports["named"],
                ports["nsd"], os.cpu_count()))
        res = {}
        for run in range(1, RUNS + 1):
            for name in SERVERS:
                turn(run, name, tmp.path, ports, qfile, res)
        report(res)
        if PROFILE:
            profile_cairn(os.path.join(tmp.path, "profile"), base, ports["cairn"], qfile)
        ok = True
    except (Fail, Timeout, OSError, ValueError, subprocess.TimeoutExpired,
            http.client.HTTPException) as e:
        sys.stderr.write("bench_dns: %s\n" % e)
    finally:
        if not os.environ.get("DNS_BENCH_KEEP"):
            tmp.cleanup()
        else:
            sys.stderr.write("bench_dns: kept %s\n" % tmp.path)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
