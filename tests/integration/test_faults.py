"""test_faults.py - the fault matrix (../shared/spec/reliability.md
section 8) in its short form: a 3-server cluster in the netns lab, the
workload driver (tests/fault/workload.py: register get/put/cas on a few
keys, a set of unique writes, a lock with fencing tokens) running on every
node, one fault per row injected a few seconds into the traffic and healed
a few seconds later; then the cluster must converge (same Raft peers,
applied index and members everywhere), and the recorded history must pass
tests/fault/checker.py: linearizable per key, no acknowledged write
missing from any node's final read, nothing read that was never written,
lock holders never overlapping with rising fencing tokens.

Rows here: kill -9 of a follower's raftd and httpd (1), of a whole
follower (2), of the leader's raftd (3, with the election time), a
partition with the leader in the minority (4), a one-way cut from the
leader (5), SIGSTOP of the leader past the election timeout (6), loss and
delay (7), a corrupted data file while a node is down (10), kill -9 of
every node at once (14), removing and re-adding a server under load (15);
and the failpoint build (make FP=1) serving default reads from a lagging
follower, which the checker must catch.  Rows 11-13 (malformed floods,
slowloris, oversize) are test_http's and the fuzzers'; 8 (clock jump) and
9 (disk full) are left for later.

Every run logs its seed and keeps each row's history, report and daemon
logs under FAULT_RESULTS (default /tmp/cairn-faults/<time>-<seed>).
FAULT_SECONDS scales the traffic per row (default 1 = ~16 s); SOAK=1
(make soak) repeats the rows with longer traffic.  On sanitizer builds a
subset runs.  Needs root; SKIPs where the lab cannot run."""
import json
import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fault"))

import harness  # noqa: E402
from harness import main, test, wait_for  # noqa: E402

from cluster import FaultCluster, lab_unavailable  # noqa: E402
from checker import check_history  # noqa: E402
from workload import Workload  # noqa: E402

del harness._tests[:]  # tests of the modules imported above run elsewhere

SCALE = float(os.environ.get("FAULT_SECONDS", "1"))
SOAK = os.environ.get("SOAK") == "1"
SAN = "san" in harness.BUILD
SEED = int(os.environ.get("FAULT_SEED", str(random.randrange(1 << 30))))
RESULTS = os.environ.get("FAULT_RESULTS", "/tmp/cairn-faults/%s-%d" % (
    time.strftime("%Y%m%dT%H%M%S"), SEED))
PRE, DURING, POST = 4 * SCALE, 6 * SCALE, 4 * SCALE
MIN_OPS_PER_S = 20  # the load floor before the fault (etcd's MinimalQPS)

print("fault suite: seed %d, results in %s" % (SEED, RESULTS))
sys.stdout.flush()
rng = random.Random(SEED)
state = {"cluster": None}


def cluster():
    c = state["cluster"]
    if c is None:
        c = state["cluster"] = FaultCluster()
    return c


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_row(name, inject, heal, c=None, expect_valid=True, converge_s=30):
    """traffic, inject(c) after PRE s, heal(c) DURING s later, POST s more;
    then convergence, final reads and the checks.  Returns the report."""
    c = c or cluster()
    folder = os.path.join(RESULTS, name)
    os.makedirs(folder, exist_ok=True)
    w = Workload(nodes=c.workload_nodes(), results_dir=folder, seed=rng.randrange(1 << 30),
                 clients_per_node=2, keys=4, modes=("default", "consistent"),
                 lock_clients=2, set_workload=True)
    t_start = time.monotonic_ns()
    w.start()
    info = {}
    try:
        return run_phases(c, w, folder, name, inject, heal, info, t_start,
                          expect_valid, converge_s)
    finally:
        # the daemons' logs, whatever happened (a failed row needs them most)
        c.save_logs(os.path.join(folder, "logs"))


def run_phases(c, w, folder, name, inject, heal, info, t_start, expect_valid,
               converge_s):
    try:
        time.sleep(PRE)
        t_fault = time.monotonic_ns()
        w.mark("fault")
        info.update(inject(c) or {})
        time.sleep(DURING)
        heal(c, info)
        w.mark("heal")
        time.sleep(POST)
    finally:
        w.stop()
    conv = c.wait_converged(converge_s)
    w.final_reads()
    ops = load(w.history_path)
    report = check_history(ops, timeout_per_key=60.0)
    before = [o for o in ops if o["result"] == "ok" and o["end"] < t_fault and
              o["op"] not in ("final_read",)]
    rate = len(before) / max((t_fault - t_start) / 1e9, 0.001)
    with open(os.path.join(folder, "report.txt"), "w") as f:
        f.write(report.summary() + "\n")
        f.write("ops/s before the fault: %.1f\nconverged %.2f s after the heal\n" % (rate, conv))
        f.write(json.dumps(info) + "\n")
    print("  %s: %d ops, %.0f ops/s before the fault, converged in %.2f s; %s" % (
        name, len(ops), rate, conv, "valid" if report.valid else "INVALID"))
    if info:
        print("  %s: %s" % (name, json.dumps(info)))
    sys.stdout.flush()
    if expect_valid:
        assert report.valid, report.summary()
        assert rate >= MIN_OPS_PER_S, "load floor: %.1f ops/s before the fault" % rate
    return report


def follower(c):
    ld = c.wait_leader(30)
    return rng.choice([i for i in c.live() if i != ld]), ld


def lab_row(fn=None, san=False):
    """a row: SKIP without the lab; on sanitizer builds only rows marked
    san run (the suite's time budget)"""
    if fn is None:
        return lambda f: lab_row(f, san)

    def run():
        why = lab_unavailable()
        if why:
            print("SKIP: %s: %s" % (fn.__name__, why))
            return
        if SAN and not san and not SOAK:
            print("SKIP: %s: sanitizer builds run a subset" % fn.__name__)
            return
        for _ in range(3 if SOAK else 1):
            fn()
    run.__name__ = fn.__name__
    return test(run)


# ---------------------------------------------------------------- rows

@lab_row(san=True)
def row01_kill9_follower_daemons():
    def inject(c):
        f, _ = follower(c)
        c.kill_daemon(f, "raftd")
        time.sleep(1)
        c.kill_daemon(f, "httpd")
        return {"node": f}
    run_row("row01-kill9-follower-daemons", inject, lambda c, i: None)


@lab_row
def row02_kill9_follower_node():
    def inject(c):
        f, _ = follower(c)
        c.crash(f)
        return {"node": f}

    def heal(c, info):
        c.restart(info["node"])
    run_row("row02-kill9-follower-node", inject, heal)


@lab_row(san=True)
def row03_kill9_leader_raftd():
    def inject(c):
        ld = c.wait_leader(30)
        t0 = time.monotonic()
        pid = c.kill_daemon(ld, "raftd")
        nl = c.wait_new_leader(ld, pid, 20)
        wait_for(lambda: c.http(nl, "/v1/kv/fault/probe", "PUT", "x")[0] == 200, 20,
                 "a write on the new leader", interval=0.05)
        return {"old": ld, "new": nl, "election_s": round(time.monotonic() - t0, 3)}
    run_row("row03-kill9-leader-raftd", inject, lambda c, i: None)


@lab_row(san=True)
def row04_partition_leader_minority():
    def inject(c):
        ld = c.wait_leader(30)
        others = [i for i in c.live() if i != ld]
        t0 = time.monotonic()
        c.partition([ld], others)
        nl = c.wait_leader(20, other_than=ld, among=others)
        # the minority refuses writes and default reads within the
        # election timeout
        wait_for(lambda: c.http(ld, "/v1/kv/fault/minority", "PUT", "x", timeout=3)[0] != 200,
                 10, "the old leader refusing writes")
        st, _, hdrs = c.http(ld, "/v1/kv/fault/probe?stale", timeout=3)
        assert st in (200, 404) and "x-consul-lastcontact" in hdrs, (st, hdrs)
        return {"old": ld, "new": nl, "election_s": round(time.monotonic() - t0, 3)}
    run_row("row04-partition-leader-minority", inject, lambda c, i: c.heal())


@lab_row
def row05_oneway_from_leader():
    def inject(c):
        ld = c.wait_leader(30)
        f = [i for i in c.live() if i != ld][0]
        c.oneway(ld, f)
        return {"leader": ld, "cut_to": f}
    run_row("row05-oneway-from-leader", inject, lambda c, i: c.heal())


@lab_row
def row06_sigstop_leader():
    def inject(c):
        ld = c.wait_leader(30)
        c.pause(ld)
        time.sleep(3)  # 1.5 x the 1-2 s election timeout
        c.resume(ld)
        return {"paused": ld}
    run_row("row06-sigstop-leader", inject, lambda c, i: None)


@lab_row
def row07_loss_and_delay():
    def inject(c):
        a, b = rng.sample(c.live(), 2)
        c.loss(a, 20)
        c.delay(b, 50, 20)
        return {"loss": a, "delay": b}
    run_row("row07-loss-and-delay", inject, lambda c, i: c.clear())


@lab_row
def row10_corrupt_data_file_while_down():
    def inject(c):
        f, _ = follower(c)
        c.crash(f)
        path = os.path.join(c.tmp.path, "n%d" % f, "raft", "data.mdb")
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
        # raftd refuses it at start with a clear message and never serves
        c.start(f)
        nd = c.nodes[f]
        wait_for(lambda: any(w in nd.log().lower()
                             for w in ("corrupt", "damaged", "truncated")),
                 30, "raftd refusing the damaged store")
        st, body, _ = c.http(f, "/v1/kv/?keys&stale", timeout=3)
        assert st != 200, (st, body)
        return {"node": f}

    def heal(c, info):
        # wipe and rejoin restores the node
        f = info["node"]
        c.nodes[f].stop()
        subprocess.run(["rm", "-rf", os.path.join(c.tmp.path, "n%d" % f)], check=True)
        c.restart(f)
        c.wait_healthy(60)
    run_row("row10-corrupt-data-file", inject, heal, converge_s=60)


@lab_row
def row14_kill9_every_node():
    def inject(c):
        for i in list(c.live()):
            c.crash(i)
        return {}

    def heal(c, info):
        for i in sorted(c.nodes):
            c.start(i)
        for i in sorted(c.nodes):
            c.nodes[i].wait_ready()
            c.down.discard(i)
        c.wait_leader(30)
    run_row("row14-kill9-every-node", inject, heal, converge_s=60)


@lab_row
def row15_remove_and_readd_server():
    def inject(c):
        f, ld = follower(c)
        addr = "%s:8300" % c.ip(f)
        st, body, _ = c.http(ld, "/v1/operator/raft/peer?address=" + addr, "DELETE")
        assert st == 200, (st, body)
        return {"removed": f}
    # the leader adds a live known server back (reconcile)
    run_row("row15-remove-readd-server", inject, lambda c, i: None, converge_s=60)


@lab_row
def zz_failpoint_follower_reads_are_caught():
    """the checker is not blind: a build that serves default reads from a
    follower's own state, with that follower lagging (delay), must give a
    history the checker rejects"""
    old = harness.BUILD
    fp = os.path.join(os.path.dirname(old), "build-fp")
    if not os.path.exists(os.path.join(fp, "cairn-raftd")):
        subprocess.run(["make", "-s", "-C", os.path.dirname(old), "FP=1", "-j2", "progs"],
                       check=True, capture_output=True, timeout=600)
    if state["cluster"] is not None:
        state["cluster"].close()
        state["cluster"] = None
    harness.BUILD = fp
    os.environ["CAIRN_FP_FOLLOWER_READS"] = "1"
    c = None
    try:
        c = FaultCluster(prefix="cairn-fault-fp.")

        def inject(c):
            f, _ = follower(c)
            c.delay(f, 150, 50)
            return {"lagging": f}
        report = run_row("failpoint-follower-reads", inject, lambda c, i: c.clear(), c=c,
                         expect_valid=False)
        assert not report.valid, "the checker missed stale follower reads"
        print("  failpoint: the checker reported: %s" % report.problems[0][:200])
    finally:
        del os.environ["CAIRN_FP_FOLLOWER_READS"]
        harness.BUILD = old
        if c is not None:
            c.close()


@test
def zzz_teardown():
    if state["cluster"] is not None:
        state["cluster"].close()
        state["cluster"] = None


if __name__ == "__main__":
    main()
