"""bench_election.py - election time after the leader of a 3-server
cairn-raftd cluster (127.0.0.1-3) is killed with SIGKILL: the time from the
kill until a surviving server reports itself leader, over >= 20 trials;
prints p50/p99 and the ratio to the goal (reliability.md goal 2: p50 <=
1.5 s, p99 <= 3 s with a 1-2 s election timeout).  Bounded: at most
`trials` kills, each waiting at most 20 s."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import TmpDir  # noqa: E402
import test_raft as tr  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tmp = TmpDir()
    ss = tr.cluster(tmp)
    times = []
    try:
        tr.leader_of(ss, timeout=20)
        for t in range(trials):
            lead = tr.leader_of(ss, timeout=20)
            rest = [s for s in ss if s is not lead]
            # the kill lands at a random point of the heartbeat period
            time.sleep((t % 10) / 100.0)
            t0 = time.monotonic()
            lead.kill()
            new = tr.leader_of(rest, timeout=20)
            times.append(time.monotonic() - t0)
            assert new is not lead
            lead.start()
            # let it rejoin before the next trial
            tr.wait_for(lambda: (lead.state() or {}).get("role") == "follower",
                        20, "rejoin")
    finally:
        tr.stop_all(ss)
        tmp.cleanup()
    p50, p99 = pct(times, 50), pct(times, 99)
    print("raft.election_after_leader_kill.p50 %.3f s (%.2f x goal 1.5 s)" % (p50, p50 / 1.5))
    print("raft.election_after_leader_kill.p99 %.3f s (%.2f x goal 3.0 s)" % (p99, p99 / 3.0))
    print("raft.election_after_leader_kill.trials %d" % len(times))


if __name__ == "__main__":
    main()
