"""bench_gossip.py - gossip membership of standalone cairn-gossipd processes
(SWIM + Lifeguard, memberlist's LAN defaults), compared with the memberlist /
Serf figures of /work/shared/spec/reliability.md section 6:

  1. 50 nodes on loopback (127.66.0.1-50, one port, distinct data dirs, AES
     keyring), all joining g1: time until every node knows every other;
  2. idle traffic: serf_lan.bytes_sent per node per second over 30 s
     (`cairn daemon-status ... gossipd`);
  3. user-event propagation: an event fired on g1 (IPC_GOSSIP_EVENT_FIRE via
     the hidden `cairn debug-gossip event-spread`) until all 49 others list it;
  4. join convergence: a new node joins g1; time until all 50 others log
     "serf: lan: member X joined" (from the joiner's first log line);
  5. failure detection: kill -9 of one node; time until all others log it
     failed;
  6. false positives: GOSSIP_FP_SECONDS (default 600) of 10 % egress loss on
     every node of a 10-node netns lab (/work/shared/lab/netns-lab.sh; root
     needed, else skipped with the reason); failed and suspect lines counted.
     GOSSIP_FP_DELAY_MS (default 0) adds that egress delay too.

Times come from the daemons' log timestamps (wall clock, ms).  Every wait
is bounded; every process is stopped by PID; the lab is torn down."""
import calendar
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import Proc, TmpDir, binary  # noqa: E402

N = int(os.environ.get("GOSSIP_NODES", "50"))
JOINS = 5
KILLS = 3
EVENTS = 5
IDLE_SECONDS = 30
FP_SECONDS = int(os.environ.get("GOSSIP_FP_SECONDS", "600"))
FP_NODES = 10
FP_DELAY_MS = int(os.environ.get("GOSSIP_FP_DELAY_MS", "0"))
LAB = os.environ.get("NETNS_LAB", "/work/shared/lab/netns-lab.sh")
IPBASE = "127.66.0."

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z \[\w+\]\s+gossipd\[\d+\]: "
                  r"serf: lan: member (\S+) (joined|failed|left)", re.M)
SUSPECT = re.compile(r"memberlist: lan: suspect (\S+)")


def ts(date, ms):
    return calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


def first_ts(text, pattern):
    m = re.search(r"^(\S+)\.(\d{3})Z .*" + pattern, text, re.M)
    return ts(m.group(1), m.group(2)) if m else None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def out(name, value, unit, note=""):
    print("%s %s %s%s" % (name, value, unit, (" (" + note + ")") if note else ""))
    sys.stdout.flush()


def bounded_wait(pred, secs, what, interval=0.1):
    end = time.monotonic() + secs
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise SystemExit("bench_gossip: timed out after %ds waiting for %s" % (secs, what))
        time.sleep(interval)


def free_port(ips):
    """A port free for TCP and UDP on every one of ips."""
    import socket
    for port in range(21000 + os.getpid() % 4000, 29000, 7):
        ok = True
        for ip in ips:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
                if not ok:
                    break
            if not ok:
                break
        if ok:
            return port
    raise SystemExit("bench_gossip: no free port")


def keygen():
    return subprocess.run([binary("cairn"), "keygen"], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


class G:
    """One standalone cairn-gossipd."""

    def __init__(self, tmp, i, ip, port, key, join, prefix=None, ns=None):
        self.i, self.name, self.ip = i, "%s%d" % (prefix or "g", i), ip
        self.data = os.path.join(tmp.path, self.name)
        args = [binary("cairn-gossipd"), "-data-dir", self.data, "-bind", ip,
                "-serf-lan-port", str(port), "-serf-wan-port", "-1",
                "-node", self.name, "-encrypt", key]
        if join:
            args += ["-join", join]
        if ns:
            args = ["ip", "netns", "exec", ns] + args
        self.ns = ns
        self.p = Proc(args, tmp.path, self.name)

    def log(self):
        return self.p.output()

    def events(self):
        """[(ts, member, what)] from the log."""
        return [(ts(m.group(1), m.group(2)), m.group(3), m.group(4))
                for m in LINE.finditer(self.log())]

    def when(self, member, what):
        for t, m, w in self.events():
            if m == member and w == what:
                return t
        return None

    def knows(self):
        return {m for _, m, w in self.events() if w == "joined"}

    def running(self):
        return "running (pid" in self.log()

    def bytes_sent(self):
        r = subprocess.run([binary("cairn"), "daemon-status", "-data-dir=" + self.data,
                            "-timeout=2000", "gossipd"], capture_output=True, text=True,
                           timeout=15)
        m = re.search(r"serf_lan\.bytes_sent = (\d+)", r.stdout)
        return (time.monotonic(), int(m.group(1))) if m else None


def stop_all(gs):
    live = [g for g in gs if g.p.alive()]
    for g in live:
        g.p.signal(signal.SIGTERM)
    for g in gs:
        g.p.stop(timeout=10)


def wait_all_know(gs, names, secs, what):
    def done():
        return all(names - {g.name} <= g.knows() for g in gs)
    bounded_wait(done, secs, what, interval=0.2)


def loopback_bench(tmp):
    ips = [IPBASE + str(i) for i in range(1, N + JOINS + 1)]
    port = free_port(ips)
    key = keygen()
    seed = "%s:%d" % (ips[0], port)
    gs = []
    try:
        # 1. bootstrap: g1, then all the others at once, joining g1
        gs.append(G(tmp, 1, ips[0], port, key, None))
        bounded_wait(gs[0].running, 30, "g1 running")
        t_launch = time.time()
        for i in range(2, N + 1):
            gs.append(G(tmp, i, ips[i - 1], port, key, seed))
        bounded_wait(lambda: all(g.running() for g in gs), 60, "%d gossipd running" % N)
        names = {g.name for g in gs}
        wait_all_know(gs, names, 120, "every node to know all %d" % N)
        last = max(t for g in gs for t, _, w in g.events() if w == "joined")
        out("gossip.bootstrap_%d.converged" % N, "%.3f" % (last - t_launch), "s",
            "%d processes started at once, joining g1; until every node logged "
            "every other joined" % (N - 1))
        time.sleep(5)  # let the join gossip die down

        # 2. idle traffic
        b0 = [g.bytes_sent() for g in gs]
        time.sleep(IDLE_SECONDS)
        b1 = [g.bytes_sent() for g in gs]
        rates = [(y[1] - x[1]) / (y[0] - x[0]) for x, y in zip(b0, b1) if x and y]
        assert len(rates) == N, "daemon-status answered for %d of %d" % (len(rates), N)
        mean = statistics.mean(rates)
        out("gossip.idle_bytes_sent_per_node.mean", "%.0f" % mean, "B/s",
            "%.2f kbit/s over %d s, %d nodes, encrypted; reliability.md 6: memberlist "
            "worst case ~330 kbit/s per node -> %.4f x" % (mean * 8 / 1000, IDLE_SECONDS, N,
                                                          mean * 8 / 1000 / 330))
        out("gossip.idle_bytes_sent_per_node.max", "%.0f" % max(rates), "B/s")

        # 3. user events fired on g1 until all the others list them
        # (Serf simulator: 99.99 % after ln((n+1)/1e-4)/(fanout*0.5) rounds
        # of 200 ms at fanout 3, no loss)
        import math
        sim = math.log((N + 1) / 1e-4) / (3 * 0.5) * 0.2
        spreads = []
        for k in range(EVENTS):
            r = subprocess.run([binary("cairn"), "debug-gossip", "-data-dir=" + gs[0].data,
                                "-timeout=15000", "event-spread", "bench-ev%d" % k] +
                               [g.data for g in gs[1:]], capture_output=True, text=True,
                               timeout=60)
            m = re.search(r"^all ([\d.]+)$", r.stdout, re.M)
            if not m:
                raise SystemExit("bench_gossip: event %d did not reach every node: %s %s" %
                                 (k, r.stdout[-500:], r.stderr[-500:]))
            spreads.append(float(m.group(1)) / 1000)
            time.sleep(1)
        out("gossip.event_to_all_%d.p50" % (N - 1), "%.3f" % pct(spreads, 50), "s",
            "%d events fired on g1 over IPC, polled on every node; Serf simulator "
            "99.99 %% at n=%d: %.2f s -> %.2f x" % (EVENTS, N, sim, pct(spreads, 50) / sim))
        out("gossip.event_to_all_%d.max" % (N - 1), "%.3f" % max(spreads), "s")

        # 4. joins: a new node joins g1; until all the others logged it
        joins = []
        for i in range(N + 1, N + JOINS + 1):
            g = G(tmp, i, ips[i - 1], port, key, seed)
            others = list(gs)
            gs.append(g)
            bounded_wait(lambda: first_ts(g.log(), "serf: lan pool:") is not None, 30,
                         "%s started" % g.name)
            t0 = first_ts(g.log(), "serf: lan pool:")
            bounded_wait(lambda: all(o.when(g.name, "joined") for o in others), 30,
                         "all nodes to log %s joined" % g.name)
            joins.append(max(o.when(g.name, "joined") for o in others) - t0)
            time.sleep(1)
        out("gossip.join_seen_by_all.p50", "%.3f" % pct(joins, 50), "s",
            "%d joins into %d+ nodes, from the joiner's start; reliability.md goal "
            "5: <= 3 s; Serf simulator at n=30: 1.8 s" % (JOINS, N))
        out("gossip.join_seen_by_all.max", "%.3f" % max(joins), "s")

        # 5. kill -9 of one node: until all the others logged it failed
        # (memberlist: suspicion timeout 4 x log10(n) x 1 s once 2
        # confirmations arrive, plus ~1.6 probe periods to first detection)
        ref = 4 * max(1.0, math.log10(len(gs))) + 1.58
        detect, first = [], []
        for k in range(KILLS):
            victim = gs[10 + 10 * k]
            others = [g for g in gs if g.p.alive() and g is not victim]
            t0 = time.time()
            victim.p.signal(signal.SIGKILL)
            victim.p.wait(10)
            bounded_wait(lambda: all(o.when(victim.name, "failed") for o in others), 60,
                         "all nodes to log %s failed" % victim.name)
            ts_ = [o.when(victim.name, "failed") - t0 for o in others]
            detect.append(max(ts_))
            first.append(min(ts_))
            time.sleep(1)
        out("gossip.failure_detected_by_all.p50", "%.3f" % pct(detect, 50), "s",
            "%d kills (-9) in %d nodes; first node after %.2f s (p50); memberlist expected "
            "~%.1f s -> %.2f x; goal <= 10 s" % (KILLS, len(gs), pct(first, 50), ref,
                                               pct(detect, 50) / ref))
        out("gossip.failure_detected_by_all.max", "%.3f" % max(detect), "s")
        fails = sum(1 for g in gs if g.p.alive() for _, m, w in g.events()
                    if w == "failed" and m not in {gs[10 + 10 * k].name for k in range(KILLS)})
        out("gossip.loopback_false_failures", fails, "count", "healthy nodes declared failed "
            "during the whole loopback run")
    finally:
        stop_all(gs)
    crashed = [g.name for g in gs if g.p.p.returncode not in (0, -signal.SIGKILL, None)]
    if crashed:
        print("bench_gossip: gossipd exited abnormally: %s" % crashed)


def lab_unavailable():
    if os.geteuid() != 0:
        return "not root"
    if not os.path.isfile(LAB):
        return "no " + LAB
    if shutil.which("nft") is None and not os.path.exists("/usr/sbin/nft"):
        return "nftables missing (sh tests/deps.sh install)"
    return None


def false_positive_bench(tmp):
    why = lab_unavailable()
    if why:
        out("gossip.false_positive", "SKIP", "", why)
        return
    import random
    prefix = "bg%05x" % random.randrange(1 << 20)
    env = dict(os.environ, LAB_PREFIX=prefix,
               NETNS_LAB_STATE="/run/netns-lab-gossip-bench.%d" % os.getpid())

    def lab(*args):
        r = subprocess.run(["bash", LAB] + list(args), capture_output=True, text=True,
                           env=env, timeout=60)
        if r.returncode != 0:
            raise SystemExit("bench_gossip: netns-lab.sh %s: %s" % (" ".join(args), r.stderr))
        return r
    gs = []
    lab("up", str(FP_NODES))
    try:
        key = keygen()
        for i in range(1, FP_NODES + 1):
            gs.append(G(tmp, i, "10.200.0.%d" % i, 8301, key,
                        None if i == 1 else "10.200.0.1:8301", prefix="f",
                        ns="%s-n%d" % (prefix, i)))
            if i == 1:
                bounded_wait(gs[0].running, 30, "f1 running")
        wait_all_know(gs, {g.name for g in gs}, 60, "the lab nodes to converge")
        for i in range(1, FP_NODES + 1):
            lab("loss", str(i), "10")
            if FP_DELAY_MS:
                lab("delay", str(i), str(FP_DELAY_MS))
        t0 = time.monotonic()
        while time.monotonic() - t0 < FP_SECONDS:
            time.sleep(min(5, max(0.1, FP_SECONDS - (time.monotonic() - t0))))
            dead = [g.name for g in gs if not g.p.alive()]
            if dead:
                raise SystemExit("bench_gossip: gossipd died under loss: %s" % dead)
        dropped = 0
        for i in range(1, FP_NODES + 1):
            r = subprocess.run(["ip", "netns", "exec", "%s-n%d" % (prefix, i), "nft", "list",
                                "table", "inet", "lab"], capture_output=True, text=True,
                               timeout=10)
            m = re.search(r"counter packets (\d+)", r.stdout)
            dropped += int(m.group(1)) if m else 0
        lab("clear")
        failed = sum(1 for g in gs for _, _, w in g.events() if w == "failed")
        suspects = sum(len(SUSPECT.findall(g.log())) for g in gs)
        cond = "10 %% loss%s" % (" + %d ms delay" % FP_DELAY_MS if FP_DELAY_MS else "")
        out("gossip.false_positive.failed", failed, "count",
            "%d s, %d nodes, %s on every node, %d packets dropped; goal 0 "
            "(reliability.md goal 6; Lifeguard: 50x fewer than SWIM)" % (
                FP_SECONDS, FP_NODES, cond, dropped))
        out("gossip.false_positive.suspicions", suspects, "count",
            "%.2f per node-minute" % (suspects / FP_NODES / (FP_SECONDS / 60.0)))
    finally:
        stop_all(gs)
        subprocess.run(["bash", LAB, "down"], capture_output=True, env=env, timeout=60)
        shutil.rmtree(env["NETNS_LAB_STATE"], ignore_errors=True)


def main():
    tmp = TmpDir(prefix="cairn-bench-gossip.")
    try:
        loopback_bench(tmp)
        false_positive_bench(tmp)
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
