"""workload.py - the workload driver of the fault-test suite (Python 3
standard library only).

The fault harness starts a cluster, then:

    from workload import Workload
    w = Workload(nodes=[{"name": "n1", "ns": "lab-n1", "http": "127.0.0.1:8500"}, ...],
                 results_dir=..., seed=1234, clients_per_node=2, keys=5,
                 modes=("default", "consistent"), lock_clients=2, set_workload=True)
    w.start()          # returns once every client process runs
    w.mark("fault")    # ... inject faults, marking the moments ...
    w.mark("heal")
    w.stop()           # clients stopped (a few seconds at most), histories merged
    w.final_reads()    # after healing: consistent reads of everything, everywhere
    w.history_path     # the merged JSONL history, sorted by start
    w.stats()          # rates before/during/after the marks, result counts
    w.prefix, w.register_keys, w.set_prefix, w.lock_key   # the run's keys
    w.client_pids()    # the client processes running now

One client process per node (tests/fault/wclient.py) runs clients_per_node
register clients and its share of the lock clients against that node's
agent at nodes[i]["http"] (default 127.0.0.1:8500), talking from inside
the node's network namespace nodes[i]["ns"] (None: no namespace, for
loopback clusters).  How it gets there (netns_mode):

  "setns" (default)  the process stays in the root namespace and each of
         its client threads enters the node's namespace with setns(2)
         (/run/netns/NS), so only its sockets live there.  The process is
         not among `ip netns pids NS`: a fault that kills or SIGSTOPs every
         process of a node (netns-lab.sh pause, a whole-node crash) leaves
         the clients running, as Jepsen's clients outlive their node, and
         their requests fail or time out instead;
  "exec" `ip netns exec NS python3 wclient.py ...`: the process lives in
         the namespace and shares the node's fate in such faults (its
         in-flight operations become "unknown"; client_pids() lists the
         PIDs to spare).  Each process writes JSON lines to its own file; stop()
merges them into results_dir/history.jsonl, one completed operation a line:

  {"client": int, "node": int (index into nodes), "op": "read"|"write"|"cas"|
   "add"|"acquire"|"release"|"final_read", "key": str, "value": str|null,
   "expect": str|null, "start": ns, "end": ns, "result": "ok"|"fail"|"unknown",
   "index": int|null (X-Consul-Index), "mode": "default"|"consistent"|"stale",
   "token": int|null (LockIndex of an acquire/release), "elements": list|null
   (final_read), "applied": bool|null (cas only)}

plus, for diagnosis, "status" (HTTP status or null), "error" (reason or
null), "modify_index" (the key's ModifyIndex a read saw, or a CAS used) and
"session" (acquire/release).  Times are time.monotonic_ns() values
(CLOCK_MONOTONIC, shared by every namespace of the host).  An operation
still in flight when its client process ended (SIGKILL, a crash) is
recorded "unknown" with end = the time its process was found gone.

Keys: every key of a run lives under a prefix of its own, by default
"wl-<8 random hex digits>/" (prefix="" for none): a cluster that serves
several runs one after the other (the fault suite's rows) gives each run's
history only its own keys and values, registers that start absent and a
lock that no earlier run's session still holds.  Below, reg/k0
stands for <prefix>reg/k0 and so on; the "key" of every history line is
the full key.

Register: keys reg/k0..k{keys-1}; reads in the given modes (stale reads are
recorded with mode "stale" and are not the checker's business), writes of
unique values c<client>-<n>, CAS = a recorded read, then PUT ?cas=<its
ModifyIndex> (0 if absent) with "expect" = the value read and "applied" =
the answer.  Set: PUT set/c<client>-<n> = c<client>-<n> (op "add").  Lock:
session (TTL, LockDelay 0s, Behavior release), acquire lock/the ("token" =
its LockIndex, the fencing token), hold, release, destroy.  final_reads()
adds a ?consistent read of every register key (op "read") and of the set
prefix (op "final_read", "elements") from every node, the last attempt of
each (retried until ok or the deadline).

Bounds: every request times out (timeout, default 2 s); each client starts
at most `rate` operations a second, with a random think time; each client
process stops by itself at an absolute deadline (max_seconds after start(),
default 600) or when the driver process goes away; stop() sends SIGTERM to
the client processes it started and SIGKILL to any still there after
stop_grace seconds.  Nothing is sent anywhere but the given agents."""
import json
import os
import random
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WCLIENT = os.path.join(HERE, "wclient.py")
RESULTS = ("ok", "fail", "unknown")
OPS = ("read", "write", "cas", "add", "acquire", "release", "final_read")  # the op kinds
# the order of fields in a history line (extras follow)
FIELDS = ("client", "node", "op", "key", "value", "expect", "start", "end", "result",
          "index", "mode", "token", "elements")


def now():
    return time.monotonic_ns()


class ClientProc:
    """One wclient.py process we started (stopped by its PID only)."""

    def __init__(self, w, name, cfg, ns):
        self.name = name
        self.out = os.path.join(w.clients_dir, name + ".jsonl")
        self.log_path = os.path.join(w.clients_dir, name + ".log")
        self.cfg_path = os.path.join(w.clients_dir, name + ".json")
        cfg = dict(cfg, out=self.out)
        cmd = [w.python, WCLIENT, self.cfg_path]
        if ns is not None:
            if w.netns_mode == "exec":
                cmd = ["ip", "netns", "exec", ns] + cmd
            else:
                cfg["netns"] = ns  # each client thread setns()es itself
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f, indent=1)
        open(self.out, "w").close()
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log,
                                  stdin=subprocess.DEVNULL, close_fds=True)
        self.pid = self.p.pid
        self.ended_ns = None  # when we saw it gone

    def alive(self):
        if self.p.poll() is None:
            return True
        if self.ended_ns is None:
            self.ended_ns = now()
        return False

    def log_tail(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def close(self):
        if self.p.stdout:
            self.p.stdout.close()
        self.log.close()


def wait_ready(procs, timeout):
    """Wait for "ready" on every process's stdout; raise with the log of
    the first that did not make it."""
    pending = {p.p.stdout.fileno(): p for p in procs}
    bufs = {fd: b"" for fd in pending}
    end = time.monotonic() + timeout
    while pending:
        left = end - time.monotonic()
        if left <= 0:
            p = next(iter(pending.values()))
            raise RuntimeError("client %s not ready within %.0fs:\n%s" % (
                p.name, timeout, p.log_tail()))
        r, _, _ = select.select(list(pending), [], [], min(left, 0.5))
        for fd in r:
            data = os.read(fd, 4096)
            p = pending[fd]
            if not data:
                p.p.wait(5)
                raise RuntimeError("client %s exited (%s) before it was ready:\n%s" % (
                    p.name, p.p.returncode, p.log_tail()))
            bufs[fd] += data
            if b"ready\n" in bufs[fd]:
                del pending[fd]


def stop_procs(procs, grace):
    """SIGTERM each process (by PID), SIGKILL whatever is left after grace
    seconds; returns the names of those that had to be killed."""
    for p in procs:
        p.signal(signal.SIGTERM)
    end = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < end:
        time.sleep(0.05)
    killed = []
    for p in procs:
        if p.alive():
            killed.append(p.name)
            p.signal(signal.SIGKILL)
            try:
                p.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        p.alive()  # sets ended_ns
        p.close()
    return killed


def read_history(procs, problems, inflight=True):
    """Merge the processes' JSONL files into completed operations: a done
    line as it is; an invoke line without its done (nor a cancel) becomes
    "unknown", ending when its process was seen gone (inflight False:
    left out, for a look at a running workload)."""
    ops = []
    for p in procs:
        invoked, done, cancelled = {}, {}, set()
        with open(p.out, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    rec = json.loads(raw)
                    key = (rec["client"], rec["seq"])
                    ev = rec.pop("ev")
                except (ValueError, KeyError) as e:
                    # a line cut by a SIGKILL: its operation stays unknown
                    problems.append("%s line %d unreadable (%s)" % (p.out, n, e))
                    continue
                if ev == "invoke":
                    invoked[key] = rec
                elif ev == "done":
                    done[key] = rec
                elif ev == "cancel":
                    cancelled.add(key)
        ended = p.ended_ns if p.ended_ns is not None else now()
        for key, rec in invoked.items():
            if key in done or key in cancelled or not inflight:
                continue
            rec.update(end=max(ended, rec["start"]), result="unknown",
                       error="in flight when the client process ended")
            done[key] = rec
        for rec in done.values():
            rec.pop("seq", None)
            ops.append(rec)
    return ops


def ordered(rec):
    """The record with the documented fields first, in their order."""
    out = {k: rec.get(k) for k in FIELDS}
    out.update((k, v) for k, v in rec.items() if k not in out)
    return out


class Workload:
    def __init__(self, nodes, results_dir, seed=None, clients_per_node=2, keys=5,
                 modes=("default", "consistent"), lock_clients=2, set_workload=True,
                 timeout=2.0, rate=10.0, think_max=0.05, max_seconds=600.0,
                 hold=(0.05, 0.5), lock_ttl=10, stop_grace=8.0, netns_mode="setns",
                 prefix=None, python=sys.executable):
        """nodes: [{"name", "ns" (namespace or None), "http" (host:port as
        seen inside ns; default 127.0.0.1:8500)}]; results_dir: created if
        needed; seed: None picks one (logged in workload.json).
        Tuning: timeout (s per request), rate (op starts per second per
        client), think_max (s of random think time), max_seconds (hard cap
        of the run from start()), hold (lock hold range, s), lock_ttl (s),
        stop_grace (s before SIGKILL), netns_mode "setns" or "exec",
        prefix (of every key; None: a fresh "wl-XXXXXXXX/"; see the
        module's doc)."""
        if not nodes:
            raise ValueError("no nodes")
        if netns_mode not in ("exec", "setns"):
            raise ValueError("netns_mode must be exec or setns")
        bad = [m for m in modes if m not in ("default", "consistent", "stale")]
        if bad or not modes:
            raise ValueError("bad modes %r" % (modes,))
        self.nodes = [dict(n, http=n.get("http") or "127.0.0.1:8500") for n in nodes]
        self.results_dir = os.path.abspath(results_dir)
        self.clients_dir = os.path.join(self.results_dir, "clients")
        os.makedirs(self.clients_dir, exist_ok=True)
        self.seed = seed if seed is not None else random.randrange(1 << 31)
        # not from the seed: a rerun with the same seed gets fresh keys too
        self.prefix = prefix if prefix is not None else \
            "wl-%08x/" % random.SystemRandom().randrange(1 << 32)
        self.register_keys = [self.prefix + "reg/k%d" % k for k in range(keys)]
        self.set_prefix = self.prefix + "set/"
        self.lock_key = self.prefix + "lock/the"
        self.clients_per_node, self.keys = clients_per_node, keys
        self.modes, self.lock_clients = list(modes), lock_clients
        self.set_workload = set_workload
        self.timeout, self.rate, self.think_max = timeout, rate, think_max
        self.max_seconds, self.hold, self.lock_ttl = max_seconds, hold, lock_ttl
        self.stop_grace, self.netns_mode, self.python = stop_grace, netns_mode, python
        self.history_path = os.path.join(self.results_dir, "history.jsonl")
        self.marks = []           # [(name, monotonic ns)]
        self.procs = []           # workload ClientProcs
        self.ops = []             # merged workload ops (after stop)
        self.final_ops = []       # final reads (after final_reads)
        self.problems = []        # unreadable lines, killed processes
        self.t_start = self.t_stop = self.deadline_ns = None
        # client ids, unique in the run: register clients node by node, then
        # lock clients (spread over the nodes), then one final reader a node
        n = len(self.nodes)
        self.register_ids = [[i * clients_per_node + j for j in range(clients_per_node)]
                             for i in range(n)]
        base = n * clients_per_node
        self.lock_ids = [[base + k for k in range(lock_clients) if k % n == i]
                         for i in range(n)]
        self.final_ids = [base + lock_clients + i for i in range(n)]

    # ------------------------------------------------------------ control

    def _cfg(self, i, job, deadline_ns):
        return {"job": job, "node": i, "http": self.nodes[i]["http"], "seed": self.seed,
                "timeout": self.timeout, "rate": self.rate, "think_max": self.think_max,
                "deadline_ns": deadline_ns, "max_ops": 1_000_000, "keys": self.keys,
                "prefix": self.prefix,
                "modes": self.modes, "set_workload": self.set_workload,
                "register_clients": self.register_ids[i], "lock_clients": self.lock_ids[i],
                "final_client": self.final_ids[i], "lock_ttl": self.lock_ttl,
                "hold_min": self.hold[0], "hold_max": self.hold[1]}

    def start(self, ready_timeout=30.0):
        """Start one client process per node; return once all run."""
        if self.procs:
            raise RuntimeError("already started")
        self.deadline_ns = now() + int(self.max_seconds * 1e9)
        try:
            for i, node in enumerate(self.nodes):
                self.procs.append(ClientProc(self, "node%d" % i,
                                             self._cfg(i, "run", self.deadline_ns),
                                             node.get("ns")))
            wait_ready(self.procs, ready_timeout)
        except Exception:
            stop_procs(self.procs, 1.0)
            self.procs = []  # nothing ran: stop() has nothing to do
            raise
        self.t_start = now()
        self._save_meta()

    def client_pids(self):
        """PIDs of the client processes running now (a harness that kills
        or stops every process of a namespace may want to spare them)."""
        return [p.pid for p in self.procs if p.alive()]

    def mark(self, name):
        """Record a named moment (e.g. "fault", "heal") of the run."""
        self.marks.append((name, now()))
        self._save_meta()

    def stop(self):
        """Stop the clients (SIGTERM; SIGKILL after stop_grace seconds) and
        merge their histories into history_path.  Idempotent."""
        if self.t_stop is not None or not self.procs:
            return
        self.t_stop = now()
        killed = stop_procs(self.procs, self.stop_grace)
        self.problems += ["client process %s killed after %.0fs" % (k, self.stop_grace)
                          for k in killed]
        self.problems += ["client process %s exited %s" % (p.name, p.p.returncode)
                          for p in self.procs if p.p.returncode != 0 and p.name not in killed]
        self.ops = read_history(self.procs, self.problems)
        self._write_history()
        self._save_meta()

    def final_reads(self, deadline=60.0):
        """After the cluster healed: from every node, one ?consistent read
        of every register key and of the set prefix, each retried until ok
        or `deadline` seconds pass (the last attempt of each is recorded);
        added to the history (calling it again replaces them).  Returns
        {node name: [keys whose read never succeeded]}."""
        self.stop()
        dl = now() + int(deadline * 1e9)
        procs = []
        try:
            for i, node in enumerate(self.nodes):
                procs.append(ClientProc(self, "final%d" % i, self._cfg(i, "final", dl),
                                        node.get("ns")))
            end = time.monotonic() + deadline + self.timeout + 5
            while any(p.alive() for p in procs) and time.monotonic() < end:
                time.sleep(0.05)
        finally:
            killed = stop_procs(procs, 2.0)
            self.problems += ["final reader %s killed" % k for k in killed]
        ops = read_history(procs, self.problems)
        self.final_ops = ops  # a second call replaces the first's reads
        self._write_history()
        self._save_meta()
        missing = {n["name"]: [] for n in self.nodes}
        for o in ops:
            if o["result"] != "ok":
                missing[self.nodes[o["node"]]["name"]].append(o["key"])
        for i, n in enumerate(self.nodes):  # a reader that died early
            got = {o["key"] for o in ops if o["node"] == i}
            missing[n["name"]] += sorted(set(self.register_keys + [self.set_prefix]) - got)
        return missing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.procs:
            self.stop()

    # ------------------------------------------------------------ results

    def _write_history(self):
        ops = sorted(self.ops + self.final_ops, key=lambda o: (o["start"], o["client"]))
        tmp = self.history_path + ".tmp"
        with open(tmp, "w") as f:
            for o in ops:
                f.write(json.dumps(ordered(o), separators=(",", ":")) + "\n")
        os.replace(tmp, self.history_path)

    def _save_meta(self):
        meta = {"seed": self.seed, "prefix": self.prefix, "nodes": self.nodes,
                "keys": self.keys,
                "modes": self.modes, "clients_per_node": self.clients_per_node,
                "lock_clients": self.lock_clients, "set_workload": self.set_workload,
                "timeout": self.timeout, "rate": self.rate, "netns_mode": self.netns_mode,
                "clients": {"register": self.register_ids, "lock": self.lock_ids,
                            "final": self.final_ids},
                "pids": {p.name: p.pid for p in self.procs},
                "t_start": self.t_start, "t_stop": self.t_stop,
                "marks": [[n, t] for n, t in self.marks], "problems": self.problems}
        if self.t_stop is not None:
            meta["stats"] = self.stats()
        tmp = os.path.join(self.results_dir, "workload.json.tmp")
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, os.path.join(self.results_dir, "workload.json"))

    def stats(self):
        """Counts and rates of the workload operations (final reads apart):
        {"seed", "seconds", "ops_per_s", "ok_per_s",
         "counts": {op: {"ok", "fail", "unknown"}}, "cas_applied",
         "per_node": {node index: ok count},
         "phases": [{"name": "start..fault", "from", "to" (s since the
                     start), "seconds", "ops", "ok", "ops_per_s", "ok_per_s"}],
         "before"/"during"/"after": the phase before the first mark, from
                     the first to the last mark, after the last (None when
                     there is no such phase),
         "final_counts": {op: {...}} of the final reads, "problems": [...]}.
        An operation belongs to the phase in which it ended.  Before stop()
        it reads the clients' files as they are."""
        if self.t_start is None:
            raise RuntimeError("not started")
        ops = self.ops if self.t_stop is not None else read_history(self.procs, [], inflight=False)
        t0 = min([self.t_start] + [o["start"] for o in ops])
        t1 = self.t_stop if self.t_stop is not None else now()

        def counts(sel):
            c = {}
            for o in sel:
                c.setdefault(o["op"], dict.fromkeys(RESULTS, 0))[o["result"]] += 1
            return c

        def phase(name, a, b):
            sel = [o for o in ops if a <= o["end"] < b or (b == t1 and o["end"] >= b)]
            secs = max((b - a) / 1e9, 1e-9)
            ok = sum(1 for o in sel if o["result"] == "ok")
            return {"name": name, "from": round((a - t0) / 1e9, 3),
                    "to": round((b - t0) / 1e9, 3), "seconds": round(secs, 3),
                    "ops": len(sel), "ok": ok, "ops_per_s": round(len(sel) / secs, 1),
                    "ok_per_s": round(ok / secs, 1)}

        marks = sorted((min(max(t, t0), t1), n) for n, t in self.marks)
        edges = [(t0, "start")] + marks + [(t1, "stop")]
        phases = [phase("%s..%s" % (na, nb), ta, tb)
                  for (ta, na), (tb, nb) in zip(edges, edges[1:])]
        out = {"seed": self.seed, "prefix": self.prefix,
               "seconds": round((t1 - t0) / 1e9, 3),
               "ops_per_s": round(len(ops) / max((t1 - t0) / 1e9, 1e-9), 1),
               "ok_per_s": round(sum(1 for o in ops if o["result"] == "ok") /
                                 max((t1 - t0) / 1e9, 1e-9), 1),
               "counts": counts(ops),
               "cas_applied": sum(1 for o in ops if o["op"] == "cas" and o.get("applied")),
               "per_node": {}, "phases": phases,
               "before": phase("before", t0, marks[0][0]) if marks else phase("before", t0, t1),
               "during": phase("during", marks[0][0], marks[-1][0]) if len(marks) >= 2 else None,
               "after": phase("after", marks[-1][0], t1) if marks else None,
               "final_counts": counts(self.final_ops), "problems": list(self.problems)}
        for o in ops:
            if o["result"] == "ok":
                out["per_node"][o["node"]] = out["per_node"].get(o["node"], 0) + 1
        return out
