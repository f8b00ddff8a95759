"""bench_faults.py [TRIALS] - the fault suite's timings on a 3-server
cluster of whole agents in the netns lab (tests/fault/cluster.py), over
TRIALS (default 20) trials each, reported as p50/p99 and against the goals
of ../shared/spec/reliability.md section 10:

  election_leader_kill   kill -9 of the leader's raftd -> a majority of
                         the others name one new leader and it acks a
                         write (goal 2: p50 <= 1.5 s, p99 <= 3 s)
  election_partition     the leader cut off (partition 1 | 2,3) -> the
                         same on the majority side (goal 2)
  election_sigstop       SIGSTOP of every process of the leader's node ->
                         the same on the other two (goal 2); it resumes
                         after that (and must step down)
  convergence_heal       heal of that partition -> every node has the
                         same Raft peers, applied index and members
  failure_detection      kill -9 of a whole follower -> the others' gossip
                         marks it failed (goal 5: <= 10 s)

Bounded: TRIALS of each, every wait capped.  Prints "name value unit".
Needs root (the lab); prints a SKIP line otherwise."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fault"))

from cluster import FaultCluster, lab_unavailable  # noqa: E402
from harness import wait_for  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def report(name, xs, goal50=None, goal99=None):
    p50, p99 = pct(xs, 50), pct(xs, 99)
    line = "%s_p50 %.3f s\n%s_p99 %.3f s" % (name, p50, name, p99)
    if goal50:
        line += "\n%s_p50_vs_goal %.2f x (goal %.1f s)" % (name, p50 / goal50, goal50)
    if goal99:
        line += "\n%s_p99_vs_goal %.2f x (goal %.1f s)" % (name, p99 / goal99, goal99)
    print(line + "\n%s_trials %d" % (name, len(xs)))
    sys.stdout.flush()


def write_ok(c, i):
    return c.http(i, "/v1/kv/bench/probe", "PUT", "x", timeout=2)[0] == 200


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    why = lab_unavailable()
    if why:
        print("SKIP bench_faults: %s" % why)
        return
    c = FaultCluster(prefix="cairn-bench-fault.")
    kill, part, heal, detect, stop = [], [], [], [], []
    try:
        for t in range(trials):
            ld = c.wait_leader(30)
            time.sleep((t % 10) / 100.0)  # a random point of the heartbeat
            t0 = time.monotonic()
            pid = c.kill_daemon(ld, "raftd")
            nl = c.wait_new_leader(ld, pid, 20)
            wait_for(lambda: write_ok(c, nl), 20, "an acked write", interval=0.02)
            kill.append(time.monotonic() - t0)
            print("  leader kill %d: %.3f s (n%d -> n%d)" % (t, kill[-1], ld, nl),
                  file=sys.stderr)
            # the agent restarts a daemon that keeps dying young with a
            # growing backoff (up to 30 s): a node led and was killed
            # again soon after its raftd came back waits that long
            c.wait_converged(90)
        report("election_leader_kill", kill, 1.5, 3.0)
        for t in range(trials):
            ld = c.wait_leader(30)
            rest = [i for i in c.live() if i != ld]
            time.sleep((t % 10) / 100.0)
            t0 = time.monotonic()
            c.partition([ld], rest)
            nl = c.wait_leader(20, other_than=ld, among=rest)
            wait_for(lambda: write_ok(c, nl), 20, "an acked write", interval=0.02)
            part.append(time.monotonic() - t0)
            print("  partition %d: %.3f s (n%d -> n%d)" % (t, part[-1], ld, nl),
                  file=sys.stderr)
            c.heal()
            heal.append(c.wait_converged(60))
            print("  heal %d: converged in %.3f s" % (t, heal[-1]), file=sys.stderr)
        report("election_partition", part, 1.5, 3.0)
        report("convergence_heal", heal)
        # the leader SIGSTOPped (every process of its node): the others
        # elect a new one and take a write; then it resumes and must step
        # down (counted: back to one leader everywhere)
        for t in range(trials):
            ld = c.wait_leader(30)
            rest = [i for i in c.live() if i != ld]
            time.sleep((t % 10) / 100.0)
            t0 = time.monotonic()
            c.pause(ld)
            try:
                nl = c.wait_leader(20, other_than=ld, among=rest)
                wait_for(lambda: write_ok(c, nl), 20, "an acked write", interval=0.02)
                stop.append(time.monotonic() - t0)
            finally:
                c.resume(ld)
            print("  sigstop %d: %.3f s (n%d -> n%d)" % (t, stop[-1], ld, nl),
                  file=sys.stderr)
            c.wait_converged(60)
        report("election_sigstop", stop, 1.5, 3.0)
        for t in range(max(trials // 4, 3)):
            ld = c.wait_leader(30)
            f = [i for i in c.live() if i != ld][t % 2]
            name = "n%d" % f
            t0 = time.monotonic()
            c.crash(f)
            wait_for(lambda: c.members(ld) and c.members(ld).get(name) == 4, 30,
                     "%s failed" % name, interval=0.05)
            detect.append(time.monotonic() - t0)
            c.restart(f)
            c.wait_converged(60)
        report("failure_detection", detect, None, 10.0)
    finally:
        c.close()


if __name__ == "__main__":
    main()
