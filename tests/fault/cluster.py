"""cluster.py - the fault suite's cluster: three servers (`cairn agent
-server -bootstrap-expect 3`), one per host of the netns fault lab
(/work/shared/lab), and the faults of ../shared/spec/reliability.md
section 8 done to it: kill -9 of a daemon or of a whole node, restarts,
SIGSTOP/SIGCONT, partitions (both ways or one way), packet loss and
delay; plus what the checks need: who leads, the Raft configuration and
applied index of every node, gossip's view of the members, and
convergence after a heal.

Only processes this cluster started are signalled, by PID."""
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
from harness import TmpDir, wait_for  # noqa: E402
from test_gossip import Lab, Node, lab_unavailable  # noqa: E402,F401

del harness._tests[:]  # test_gossip's tests run from their own file

SUBNET = "10.200.0."
DAEMONS = ("raftd", "gossipd", "httpd", "dnsd", "checkd")
# the status polls of leader(): a straggler may outlive the call
POOL = concurrent.futures.ThreadPoolExecutor(32)


class FaultCluster:
    def __init__(self, n=3, extra=None, prefix="cairn-fault.", setup=None, tmpfs_mb=None,
                 dns=False):
        """setup(i, node), when given, is called on each Node before its
        first start (its env and wrap: row 8's faketime and time ns);
        tmpfs_mb: every node's data dir is a tmpfs of that size (row 9
        fills them)"""
        # every server in retry-join (node 1 alone would make a wiped n1
        # wait for the others' gossip to reconnect to it: ~30 s)
        if extra is None:
            extra = ["-retry-interval", "1s"]
            for i in range(2, n + 1):
                extra += ["-retry-join", SUBNET + str(i)]
        if dns:
            extra = list(extra) + ["-dns-port", "8600"]
        self.n = n
        self.tmp = TmpDir(prefix=prefix)
        self.lab = Lab(n)
        self.nodes = {}
        self.down = set()
        self.mounts = []
        try:
            for i in range(1, n + 1):
                if tmpfs_mb:
                    d = os.path.join(self.tmp.path, "n%d" % i)
                    os.makedirs(d, exist_ok=True)
                    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % tmpfs_mb,
                                    "cairn-fault", d], check=True, capture_output=True)
                    self.mounts.append(d)
            for i in range(1, n + 1):
                nd = self.nodes[i] = Node(self.lab, self.tmp, i, True, extra)
                if setup is not None:
                    setup(i, nd)
                nd.start()
            for nd in self.nodes.values():
                nd.wait_ready()
            self.wait_healthy(60)
        except Exception:
            self.close()
            raise

    # ------------------------------------------------------------ access

    def ip(self, i):
        return SUBNET + str(i)

    def http(self, i, path, method="GET", data=None, timeout=5):
        """(status, body, headers) of a request to node i's agent, made
        from inside its host; status 0 when it could not be made"""
        args = ["ip", "netns", "exec", self.lab.ns(i), "curl", "-s", "-S",
                "--max-time", str(timeout), "-X", method, "-D", "-",
                "-w", "\n%{http_code}"]
        if data is not None:
            args += ["--data-binary", "@-"]
        try:
            r = subprocess.run(args + ["http://%s:8500%s" % (self.ip(i), path)],
                               input=data.encode() if isinstance(data, str) else data,
                               capture_output=True, timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            return 0, "", {}
        out = r.stdout.decode(errors="replace")
        out, _, code = out.rpartition("\n")
        head, _, body = out.partition("\r\n\r\n")
        hdrs = {}
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return int(code or 0), body, hdrs

    def live(self):
        return [i for i in self.nodes if i not in self.down]

    def leader(self, among=None):
        """the node a majority of the live nodes name leader, or None.
        The nodes are asked at once and the answer is known as soon as a
        majority agrees: a node whose raftd is restarting holds its
        /v1/status/leader until raftd is back (requests ride over a
        daemon restart), and asking one after the other made every
        measured election up to 2 s longer per such wait"""
        nodes = among or self.live()
        futs = [POOL.submit(self.http, i, "/v1/status/leader", "GET", None, 2)
                for i in nodes]
        votes = {}
        try:
            # a node not answering within 0.5 s has no vote this round
            # (its request finishes in the background)
            for f in concurrent.futures.as_completed(futs, timeout=0.5):
                st, body, _ = f.result()
                if st == 200 and body.strip('"'):
                    addr = json.loads(body)
                    votes[addr] = votes.get(addr, 0) + 1
                    if votes[addr] * 2 > self.n:
                        return int(addr.split(":")[0].rsplit(".", 1)[1])
        except concurrent.futures.TimeoutError:
            pass
        return None

    def wait_leader(self, timeout=30, other_than=None, among=None):
        def ok():
            ld = self.leader(among)
            return ld if ld is not None and ld != other_than else None
        return wait_for(ok, timeout, "a leader", interval=0.05)

    def wait_new_leader(self, old, old_pid, timeout=20):
        """after the leader old's raftd (pid old_pid) was killed: the node
        a majority names leader now, which may be old again once its agent
        has restarted raftd (a new process, with the whole log)"""
        def ok():
            ld = self.leader()
            if ld is None:
                return None
            if ld == old and self.daemon_pid(old, "raftd") in (None, old_pid):
                return None  # the dead one, still named
            return ld
        return wait_for(ok, timeout, "a new leader", interval=0.05)

    def raft_state(self, i):
        """(peers sorted, applied index) of node i, or None"""
        st, body, _ = self.http(i, "/v1/operator/raft/configuration?stale", timeout=2)
        if st != 200:
            return None
        peers = sorted(s["Address"] for s in json.loads(body)["Servers"])
        st, body, _ = self.http(i, "/v1/agent/self", timeout=2)
        if st != 200:
            return None
        applied = int(json.loads(body)["Stats"]["raft"]["applied_index"])
        return peers, applied

    def members(self, i):
        st, body, _ = self.http(i, "/v1/agent/members", timeout=2)
        if st != 200:
            return None
        return {m["Name"]: m["Status"] for m in json.loads(body)}

    def converged(self):
        """every live node: the same peers, applied index and members"""
        live = self.live()
        states = [self.raft_state(i) for i in live]
        mems = [self.members(i) for i in live]
        if None in states or None in mems:
            return False
        return (len({json.dumps(s[0]) for s in states}) == 1 and
                len({s[1] for s in states}) == 1 and
                len({json.dumps(m, sort_keys=True) for m in mems}) == 1)

    def wait_converged(self, timeout=30):
        """seconds until converged (AssertionError after timeout, saying
        what each node reported last)"""
        t0 = time.monotonic()
        try:
            wait_for(self.converged, timeout, "convergence", interval=0.1)
        except AssertionError as e:
            seen = {i: (self.raft_state(i), self.members(i)) for i in self.live()}
            raise AssertionError("%s; last seen (peers, applied), members: %s" % (e, seen))
        return time.monotonic() - t0

    def wait_caught_up(self, timeout=60):
        """with writes going on, applied indexes are never equal for long:
        wait until every live node has the same peers and members and has
        applied at least what the most advanced had at the start"""
        t0 = time.monotonic()

        def same():
            states = [self.raft_state(i) for i in self.live()]
            mems = [self.members(i) for i in self.live()]
            if None in states or None in mems:
                return None
            if (len(states[0][0]) != self.n or
                    len({json.dumps(s[0]) for s in states}) != 1 or
                    len({json.dumps(m, sort_keys=True) for m in mems}) != 1):
                return None
            return max(s[1] for s in states)
        mark = wait_for(same, timeout, "the same peers and members everywhere", interval=0.1)
        wait_for(lambda: all((self.raft_state(i) or ([], 0))[1] >= mark for i in self.live()),
                 max(1.0, timeout - (time.monotonic() - t0)),
                 "every node applying index %d" % mark, interval=0.1)
        return time.monotonic() - t0

    def wait_healthy(self, timeout=60):
        wait_for(lambda: self.leader() is not None, timeout, "a leader", interval=0.1)
        wait_for(lambda: all((self.raft_state(i) or ([], 0))[0].__len__() == self.n
                             for i in self.live()), timeout, "%d Raft peers" % self.n)
        return self.wait_converged(timeout)

    def workload_nodes(self):
        return [{"name": "n%d" % i, "ns": self.lab.ns(i), "http": "%s:8500" % self.ip(i)}
                for i in sorted(self.nodes)]

    # ------------------------------------------------------------ faults

    def daemon_pid(self, i, name):
        kids = harness.children(self.nodes[i].p.pid)
        if "cairn" in kids:  # the agent runs under a wrapper (unshare)
            kids = harness.children(kids["cairn"])
        return kids.get("cairn-" + name)

    def stat(self, i, section, key):
        """Stats[section][key] of node i's /v1/agent/self (a string), or
        None when it cannot be read"""
        st, body, _ = self.http(i, "/v1/agent/self", timeout=3)
        if st != 200:
            return None
        return json.loads(body)["Stats"].get(section, {}).get(key)

    def term(self, i):
        """node i's Raft term, or None"""
        t = self.stat(i, "raft", "term")
        return None if t is None else int(t)

    def kill_daemon(self, i, name, sig=signal.SIGKILL):
        """signal one daemon of node i; its agent restarts it (backoff)"""
        pid = self.daemon_pid(i, name)
        assert pid, "no cairn-%s on n%d" % (name, i)
        os.kill(pid, sig)
        return pid

    def crash(self, i):
        """kill -9 every process of node i (no graceful leave)"""
        self.nodes[i].crash()
        self.down.add(i)

    def start(self, i):
        """start node i's agent again (same data dir), not waiting"""
        nd = self.nodes[i]
        if nd.n is not None:
            nd.n.close()
            nd.n = None
        nd.start()

    def restart(self, i):
        self.start(i)
        self.nodes[i].wait_ready()
        self.down.discard(i)

    def pause(self, i):
        self.lab.sh("pause", str(i))

    def resume(self, i):
        self.lab.sh("resume", str(i))

    def partition(self, g1, g2):
        self.lab.sh("partition", ",".join(map(str, g1)), ",".join(map(str, g2)))

    def oneway(self, a, b):
        self.lab.sh("oneway", str(a), str(b))

    def heal(self):
        self.lab.sh("heal")

    def loss(self, i, pct):
        self.lab.sh("loss", str(i), str(pct))

    def delay(self, i, ms, jitter=0):
        self.lab.sh("delay", str(i), str(ms), str(jitter))

    def clear(self):
        self.lab.sh("clear")

    def data_dir(self, i):
        return os.path.join(self.tmp.path, "n%d" % i)

    def wipe(self, i):
        """delete node i's data (its dir may be a mount point: the contents)"""
        d = self.data_dir(i)
        for name in os.listdir(d):
            subprocess.run(["rm", "-rf", os.path.join(d, name)], check=True)

    def fill(self, i):
        """fill node i's data dir (a tmpfs) to the last byte; -> bytes"""
        assert self.data_dir(i) in self.mounts, "n%d's data dir is not a tmpfs" % i
        n = 0
        chunk = b"\0" * (1 << 20)
        fd = os.open(os.path.join(self.data_dir(i), "filler"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                while True:
                    try:
                        k = os.write(fd, chunk[:size])
                    except OSError:
                        break
                    if k <= 0:
                        break
                    n += k
        finally:
            os.close(fd)
        return n

    def unfill(self, i):
        try:
            os.unlink(os.path.join(self.data_dir(i), "filler"))
        except FileNotFoundError:
            pass

    def logs(self):
        return {"n%d" % i: nd.log() for i, nd in self.nodes.items()}

    def save_logs(self, folder):
        os.makedirs(folder, exist_ok=True)
        for name, text in self.logs().items():
            with open(os.path.join(folder, name + ".log"), "w") as f:
                f.write(text)

    def close(self):
        try:
            self.heal()
            self.clear()
        except Exception:  # noqa: BLE001 - the lab may be half up
            pass
        for i, nd in self.nodes.items():
            try:
                self.lab.sh("resume", str(i), check=False)
            except Exception:  # noqa: BLE001
                pass
            nd.stop()
        self.lab.down()
        for d in self.mounts:
            subprocess.run(["umount", "-l", d], capture_output=True)
        self.tmp.cleanup()
