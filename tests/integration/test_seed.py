"""test_seed.py - the user's seed walkthrough (../shared/seed/), step by step
as the document does it, with `cairn` in place of `consul`, on four hosts
of the netns fault lab (10.200.0.1-4, default ports, commands run inside
each host's namespace with the default -http-addr 127.0.0.1:8500):

  1. server1: `cairn agent -server -bootstrap -data-dir ...` becomes leader;
  2. server2 and server3: `cairn agent -server -data-dir ...` have no leader;
  3. `cairn join 10.200.0.2 10.200.0.3` on server1 and `cairn join
     10.200.0.1` on agent1 (a client) make one cluster;
  4. `cairn members` shows 4 alive members with the right types everywhere;
  5. a KV value is written;
  6. server1 is stopped and started again without -bootstrap, joins the
     others, and the three servers elect a leader among themselves;
  7. the value is still there on every server;
  8. stopping any one server (each in turn) leaves a working cluster.

The only addition to the document's commands is -node (all four hosts share
one hostname here).  Needs root; SKIPs where the lab cannot run."""
import json
import os
import subprocess

import harness
from harness import Notify, Proc, TmpDir, binary, main, wait_for
from test_gossip import LAB_STATE, Lab, lab_test  # noqa: F401

del harness._tests[:]  # test_gossip's tests run from their own file

IP = {1: "10.200.0.1", 2: "10.200.0.2", 3: "10.200.0.3", 4: "10.200.0.4"}
NAMES = {1: "server1", 2: "server2", 3: "server3", 4: "agent1"}


class Host:
    def __init__(self, lab, tmp, i):
        self.lab, self.i, self.name = lab, i, NAMES[i]
        self.data = os.path.join(tmp.path, self.name)
        self.tmp = tmp
        self.p = self.n = None
        self.runs = 0

    def agent(self, *args):
        """cairn agent <args> -node NAME, as the document runs it"""
        self.runs += 1
        d = os.path.join(self.tmp.path, "notify-%s-%d" % (self.name, self.runs))
        os.makedirs(d)
        self.n = Notify(d)
        self.p = Proc(["ip", "netns", "exec", self.lab.ns(self.i), binary("cairn"),
                       "agent"] + list(args) + ["-node", self.name],
                      self.tmp.path, "%s.%d" % (self.name, self.runs),
                      env={"NOTIFY_SOCKET": self.n.path})
        self.n.wait("READY=1", 60)

    def cli(self, *args, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.lab.ns(self.i),
                               binary("cairn")] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def http(self, path, method="GET", data=None):
        args = ["ip", "netns", "exec", self.lab.ns(self.i), "curl", "-s", "-S",
                "--max-time", "10", "-X", method, "-w", "\n%{http_code}"]
        if data is not None:
            args += ["--data-binary", data]
        r = subprocess.run(args + ["http://127.0.0.1:8500" + path],
                           capture_output=True, text=True, timeout=20)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def leader(self):
        st, body = self.http("/v1/status/leader")
        return json.loads(body) if st == 200 and body else ""

    def peers(self):
        r = self.cli("operator", "raft", "list-peers")
        if r.returncode != 0:
            return {}
        return {l.split()[0]: l.split()[3] for l in r.stdout.splitlines()[1:] if l.split()}

    def members(self):
        r = self.cli("members")
        if r.returncode != 0:
            return {}
        return {f[0]: (f[2], f[3]) for f in (l.split() for l in r.stdout.splitlines()[1:])
                if len(f) >= 4}

    def stop(self):
        if self.p is not None:
            self.p.stop(timeout=20)
            self.p = None
        if self.n is not None:
            self.n.close()
            self.n = None


ALL4 = {"server1": ("alive", "server"), "server2": ("alive", "server"),
        "server3": ("alive", "server"), "agent1": ("alive", "client")}


@lab_test
def seed_walkthrough_in_the_lab():
    tmp = TmpDir(prefix="cairn-seed.")
    lab = Lab(4)
    h = {i: Host(lab, tmp, i) for i in IP}
    try:
        # 1. the bootstrap server elects itself
        h[1].agent("-server", "-bootstrap", "-data-dir", h[1].data)
        wait_for(lambda: h[1].leader() == IP[1] + ":8300", 20, "server1 leader")
        assert "Bootstrap mode enabled" in h[1].p.output(), h[1].p.output()[-2000:]
        # 2. the other servers: no leader, no election of their own
        h[2].agent("-server", "-data-dir", h[2].data)
        h[3].agent("-server", "-data-dir", h[3].data)
        h[4].agent("-data-dir", h[4].data)
        for i in (2, 3):
            st, body = h[i].http("/v1/kv/x")
            assert st == 500 and "No cluster leader" in body, (i, st, body)
            assert h[i].leader() == "", h[i].leader()
        # 3. join, as the document does it
        r = h[1].cli("join", IP[2], IP[3])
        assert r.returncode == 0 and "contacting 2 nodes" in r.stdout, (r.stdout, r.stderr)
        r = h[4].cli("join", IP[1])
        assert r.returncode == 0, (r.stdout, r.stderr)
        # 4. members: 4 alive, types right, on every host
        for i in IP:
            wait_for(lambda: h[i].members() == ALL4, 30, "4 members on %s" % NAMES[i])
        wait_for(lambda: len(h[1].peers()) == 3, 30, "3 Raft peers")
        # 5. a value
        assert h[4].http("/v1/kv/seed/greeting", "PUT", "hello") == (200, "true")
        # 6. server1 again, without -bootstrap
        h[1].stop()
        wait_for(lambda: h[2].leader() not in ("", IP[1] + ":8300"), 30,
                 "a leader among server2 and server3")
        h[1].agent("-server", "-data-dir", h[1].data)
        assert "Bootstrap mode enabled" not in h[1].p.output()
        r = h[1].cli("join", IP[2], IP[3])
        assert r.returncode == 0, (r.stdout, r.stderr)
        wait_for(lambda: all(len(h[i].peers()) == 3 and h[i].leader() for i in (1, 2, 3)),
                 40, "three servers with one leader")
        wait_for(lambda: all(h[i].members() == ALL4 for i in IP), 30, "4 members again")
        leaders = {h[i].leader() for i in (1, 2, 3)}
        assert len(leaders) == 1, leaders
        # 7. the value survived, on every server (stale: local state)
        for i in (1, 2, 3):
            wait_for(lambda: h[i].http("/v1/kv/seed/greeting?raw&stale") == (200, "hello"),
                     10, "the value on %s" % NAMES[i])
        # 8. any one server down: the others still serve writes and reads
        for down in (1, 2, 3):
            h[down].stop()
            up = [i for i in (1, 2, 3) if i != down]
            wait_for(lambda: h[up[0]].leader() not in ("", IP[down] + ":8300"), 30,
                     "a leader without %s" % NAMES[down])
            key = "/v1/kv/seed/without-%s" % NAMES[down]
            wait_for(lambda: h[4].http(key, "PUT", "ok") == (200, "true"), 20,
                     "a write through agent1 without %s" % NAMES[down])
            assert h[up[1]].http(key + "?raw") == (200, "ok")
            h[down].agent("-server", "-data-dir", h[down].data)
            r = h[down].cli("join", IP[up[0]])
            assert r.returncode == 0, (r.stdout, r.stderr)
            wait_for(lambda: len(h[down].peers()) == 3 and h[down].leader(), 40,
                     "%s back" % NAMES[down])
            wait_for(lambda: h[down].http(key + "?raw&stale") == (200, "ok"), 20,
                     "%s caught up" % NAMES[down])
    finally:
        for x in h.values():
            x.stop()
        lab.down()
        tmp.cleanup()


if __name__ == "__main__":
    main()
