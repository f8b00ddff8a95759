#!/usr/bin/env python3
"""run_integration.py LOGDIR BUILD... - run tests/integration/test_*.py
against each build dir, one lane per build running side by side (the
plain and the sanitizer pass overlap: most of a test's time is waiting,
not computing), and print one line per file as it ends:

    ok   build/test_x.py: 5 passed (12s)
    FAIL build-san/test_y.py: 3 passed, 1 failed (40s)

then "RESULT <passed> <failed>" for tests/run.sh.

Two files run at the same time only if they cannot disturb each other:
never the same file twice (fixed addresses), never two of LOOPBACK (their
agents use 127.0.0.1 with fixed ports), and EXCLUSIVE files (timing under
packet loss) run alone.  Environment: TEST_FILTER (substring of the file
name), GOSSIP_LOSS_SECONDS (default 20, 10 on sanitizer builds; the fault
suite's row 7b holds 10 % loss too)."""
import glob
import os
import re
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# agents on 127.0.0.1 with Consul's default ports (test_http.Agent and
# friends): one at a time
LOOPBACK = {"test_agent.py", "test_api.py", "test_catalog.py", "test_checks.py",
            "test_cli.py", "test_dns.py", "test_golden.py", "test_http.py",
            "test_lock_watch.py", "test_raft.py"}
# failure-detection timing under induced packet loss: nothing beside it
EXCLUSIVE = {"test_gossip.py"}


def groups(name):
    g = {name}
    if name in LOOPBACK:
        g.add("loopback")
    return g


class Job:
    def __init__(self, build, path, logdir):
        self.build, self.path = build, path
        self.name = "%s/%s" % (build, os.path.basename(path))
        self.file = os.path.basename(path)
        self.out = os.path.join(logdir, self.name.replace("/", "_") + ".log")
        soak = "10" if "san" in build else "20"
        env = dict(os.environ, CAIRN_BUILD=os.path.join(TOP, build))
        env.setdefault("GOSSIP_LOSS_SECONDS", soak)
        self.t0 = time.monotonic()
        self.f = open(self.out, "wb")
        self.p = subprocess.Popen(["timeout", os.environ.get("TEST_TIMEOUT", "900"),
                                   sys.executable, path],
                                  stdout=self.f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, cwd=TOP)

    def done(self):
        return self.p.poll() is not None

    def report(self):
        self.f.close()
        secs = int(time.monotonic() - self.t0)
        with open(self.out, errors="replace") as f:
            text = f.read()
        passed = len(re.findall(r"^PASS ", text, re.M))
        failed = len(re.findall(r"^FAIL ", text, re.M))
        if self.p.returncode != 0 and failed == 0:
            failed = 1
        if failed:
            print("FAIL %s: %d passed, %d failed (%ds)" % (self.name, passed, failed, secs))
            for line in [l for l in text.splitlines() if l.startswith(("FAIL", "  "))][:30]:
                print(line)
            print("FAILURE %s (see %s)" % (self.name, self.out))
        else:
            print("ok   %s: %d passed (%ds)" % (self.name, passed, secs))
        sys.stdout.flush()
        return passed, failed


def main():
    logdir, builds = sys.argv[1], sys.argv[2:]
    flt = os.environ.get("TEST_FILTER", "")
    files = sorted(f for f in glob.glob(os.path.join(TOP, "tests/integration/test_*.py"))
                   if flt in os.path.basename(f))
    # the lanes start at different places of the list, so that what they
    # run first does not collide
    queues = []
    for i, b in enumerate(builds):
        k = (len(files) * i) // max(len(builds), 1)
        queues.append([(b, f) for f in files[k:] + files[:k]])
    running = [None] * len(builds)
    passed = failed = 0
    while any(queues) or any(running):
        for i, job in enumerate(running):
            if job is not None and job.done():
                p, f = job.report()
                passed += p
                failed += f
                running[i] = None
        for i, q in enumerate(queues):
            if running[i] is not None or not q:
                continue
            others = [j for j in running if j is not None]
            busy = set().union(*(groups(j.file) for j in others)) if others else set()
            excl = any(j.file in EXCLUSIVE for j in others)
            for k, (b, f) in enumerate(q):
                name = os.path.basename(f)
                if excl or (name in EXCLUSIVE and others) or groups(name) & busy:
                    continue
                running[i] = Job(b, f, logdir)
                del q[k]
                break
        time.sleep(0.1)
    print("RESULT %d %d" % (passed, failed))


if __name__ == "__main__":
    main()
