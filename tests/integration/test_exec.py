"""test_exec.py - `cairn exec` (remote execution) against three real agents
on loopback (127.0.0.51-53): a server and a client with remote exec
enabled (-disable-remote-exec=false) and a client with Consul's default
(disabled), all joined.  The exit code and output of every enabled node
(exit 2 when one fails), the disabled node ignoring the job; node and
service filters (nothing matched: 0 acknowledged); output of many 4 KB
pieces arriving whole and in order; a script from stdin; a command that
sleeps forever kept alive by heartbeats, then killed on both kinds of
node when the CLI is interrupted, its session and _rexec/ keys gone;
-shell=false.  The agents are started by the first
test and stopped by the last."""
import json
import os
import signal
import subprocess
import time

import harness
from harness import Notify, Proc, TmpDir, binary, main, pid_alive, test, wait_for

IPS = {"srv": "127.0.0.51", "cli1": "127.0.0.52", "cli2": "127.0.0.53"}
MARKS = harness.SANITIZER_MARKS


class Agent:
    def __init__(self, tmp, name, args):
        self.name, self.ip = name, IPS[name]
        self.dir = os.path.join(tmp.path, name)
        os.makedirs(self.dir)
        self.n = Notify(self.dir)
        self.p = Proc([binary("cairn"), "agent", "-data-dir", os.path.join(self.dir, "data"),
                       "-node", name, "-bind", self.ip, "-client", self.ip] + args,
                      self.dir, name, env={"NOTIFY_SOCKET": self.n.path})

    def http(self):
        return "-http-addr=%s:8500" % self.ip

    def curl(self, path, method="GET", data=None):
        args = ["curl", "-s", "-S", "-X", method, "--max-time", "20", "-w", "\n%{http_code}"]
        if data is not None:
            args += ["--data-binary", "@-"]
        args.append("http://%s:8500%s" % (self.ip, path))
        r = subprocess.run(args, input=data, capture_output=True, timeout=30)
        body, _, code = r.stdout.decode(errors="replace").rpartition("\n")
        return int(code or 0), body

    def stop(self):
        self.p.stop()
        self.n.close()


class Cluster:
    def __init__(self):
        self.tmp = TmpDir()
        self.agents = {}
        try:
            # started together: each takes a few seconds to come up
            self.agents["srv"] = Agent(self.tmp, "srv", ["-server", "-bootstrap",
                                                         "-disable-remote-exec=false"])
            join = ["-retry-join", IPS["srv"], "-retry-interval", "1s"]
            self.agents["cli1"] = Agent(self.tmp, "cli1", ["-disable-remote-exec=false"] + join)
            self.agents["cli2"] = Agent(self.tmp, "cli2", join)
            for a in self.agents.values():
                a.n.wait("READY=1", 30)
            # every node in the catalog (sessions need the CLI's agent's
            # node; the clients write through the servers)
            wait_for(lambda: self.nodes() == ["cli1", "cli2", "srv"], 30,
                     "3 catalog nodes")
        except Exception:
            self.stop()
            raise

    def nodes(self):
        st, body = self.agents["srv"].curl("/v1/catalog/nodes")
        try:
            return sorted(n["Node"] for n in json.loads(body)) if st == 200 else []
        except ValueError:
            return []

    def stop(self):
        for a in self.agents.values():
            a.stop()
        self.tmp.cleanup()


cluster = None


def get():
    global cluster
    if cluster is None:
        cluster = Cluster()
    return cluster


def exec_(*args, stdin=None, timeout=60):
    """cairn exec through the server's agent; a sanitizer report fails
    the test."""
    r = subprocess.run([binary("cairn"), "exec", get().agents["srv"].http()] + list(args),
                       input=stdin, capture_output=True, text=True, timeout=timeout)
    for m in MARKS:
        if m in r.stderr:
            harness.sanitizer_reports.append("cairn exec: " + r.stderr[-3000:])
            break
    return r


def node_lines(out, node):
    pre = "    %s: " % node
    return [l[len(pre):] for l in out.splitlines() if l.startswith(pre)]


def no_leftovers(srv):
    """the CLI destroyed its session and deleted its prefix"""
    st, body = srv.curl("/v1/session/list")
    assert st == 200 and json.loads(body) == [], body
    st, body = srv.curl("/v1/kv/_rexec/?keys")
    assert st == 404, (st, body)


@test
def exec_runs_on_enabled_nodes_and_reports_exit_codes():
    c = get()
    r = exec_("echo hello; exit 3")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    for node in ("srv", "cli1"):
        assert node_lines(r.stdout, node) == ["hello"], r.stdout
        assert "==> %s: finished with exit code 3" % node in r.stdout, r.stdout
    assert "2 / 2 node(s) completed / acknowledged" in r.stdout, r.stdout
    # remote exec is disabled by default: cli2 got the event and ignored it
    assert "cli2" not in r.stdout, r.stdout
    wait_for(lambda: "ignoring remote exec event" in c.agents["cli2"].p.output(), 5,
             "cli2 logging the ignored event")
    no_leftovers(c.agents["srv"])
    # success everywhere: exit 0; -verbose says what happens
    r = exec_("-verbose", "-wait=1s", "true")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    for l in ("Created remote execution session: ", "Uploaded remote execution spec",
              "Fired remote execution event: ", "==> srv: acknowledged",
              "==> cli1: acknowledged", "==> cli1: finished with exit code 0",
              "2 / 2 node(s) completed / acknowledged", "Completed in "):
        assert l in r.stdout, (l, r.stdout)


@test
def exec_filters_pick_nodes():
    c = get()
    # nothing matches: nobody acknowledges, nothing failed
    r = exec_("-node=^nomatch$", "-wait=1s", "echo should-not-run")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "0 / 0 node(s) completed / acknowledged" in r.stdout, r.stdout
    assert "should-not-run" not in r.stdout, r.stdout
    r = exec_("-node=^cli", "-wait=1s", "echo only")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert node_lines(r.stdout, "cli1") == ["only"] and "srv:" not in r.stdout, r.stdout
    assert "1 / 1 node(s) completed / acknowledged" in r.stdout, r.stdout
    # a service (by ID, as Consul) and a tag: only cli1 has it
    body = json.dumps({"Name": "web", "ID": "web-1", "Tags": ["blue"], "Port": 80}).encode()
    assert c.agents["cli1"].curl("/v1/agent/service/register", "PUT", body) == (200, "")
    r = exec_("-service=^web", "-tag=^bl", "-wait=1s", "echo web")
    assert r.returncode == 0 and node_lines(r.stdout, "cli1") == ["web"], (r.stdout, r.stderr)
    assert "1 / 1 node(s)" in r.stdout and "srv:" not in r.stdout, r.stdout
    r = exec_("-service=^web", "-tag=^green$", "-wait=1s", "echo web")
    assert "0 / 0 node(s)" in r.stdout, r.stdout
    # usage errors, before anything is sent
    for args, text in ((["-tag=x", "true"], "Cannot provide tag filter without service filter"),
                       (["-node=(", "true"], "Failed to compile node filter regexp"),
                       ([], "Must specify a command to execute"),
                       (["-shell=false", "-"], "Cannot configure -shell=false")):
        r = exec_(*args)
        assert r.returncode == 1 and text in r.stderr, (args, r.stdout, r.stderr)
    no_leftovers(c.agents["srv"])


@test
def exec_large_output_arrives_whole_and_in_order():
    c = get()
    # about 60 KB: 15 pieces of 4 KB, lines cut across them, and one line
    # longer than a piece
    r = exec_("-node=^srv$", "-wait=1s",
              "seq 1 12000; head -c 10000 /dev/zero | tr '\\0' x; echo; echo end >&2")
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr)
    lines = node_lines(r.stdout, "srv")
    assert lines == [str(i) for i in range(1, 12001)] + ["x" * 10000, "end"], \
        (len(lines), lines[:3], [l[:40] for l in lines[-3:]])
    # a script from stdin (-), spilled to a file on the agent and run
    r = exec_("-node=^cli1$", "-wait=1s", "-", stdin="#!/bin/sh\necho from script $0\nexit 1\n")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    out = node_lines(r.stdout, "cli1")
    assert len(out) == 1 and out[0].startswith("from script /"), r.stdout
    assert not os.path.exists(out[0].split()[-1]), "the spilled script stays behind"
    # -shell=false: the arguments as they are (Args), no shell between
    r = exec_("-node=^srv$", "-wait=1s", "-shell=false", "printf", "%s|%s\\n", "a  b", "$HOME")
    assert r.returncode == 0 and node_lines(r.stdout, "srv") == ["a  b|$HOME"], (r.stdout, r.stderr)
    no_leftovers(c.agents["srv"])


@test
def exec_interrupted_kills_the_command_everywhere():
    c = get()
    pidf = os.path.join(c.tmp.path, "sleep.pids")
    procs = []
    try:
        p = Proc([binary("cairn"), "exec", c.agents["srv"].http(), "-wait=1s", "-verbose",
                  "-node=^(srv|cli1)$",
                  "echo $$ >> %s; echo started; exec sleep 1000" % pidf],
                 c.tmp.path, "exec-sleep")
        procs.append(p)
        wait_for(lambda: len(node_lines(p.output(), "srv")) == 1 and
                 len(node_lines(p.output(), "cli1")) == 1, 15, "both nodes started")
        pids = [int(x) for x in open(pidf).read().split()]
        assert len(pids) == 2 and all(pid_alive(x) for x in pids), pids
        # still waiting after more than twice -wait without output: the
        # agents' heartbeats (empty output pieces) keep it
        time.sleep(2.5)
        assert p.alive(), p.output()
        assert "==> cli1: heartbeat received" in p.output(), p.output()
        p.signal(signal.SIGINT)
        assert p.wait(15) == 1, p.output()
        # the server sees its session destroyed at once; the client's next
        # heartbeat write fails (-wait=1s): both kill their job
        wait_for(lambda: not any(pid_alive(x) for x in pids), 10, "the sleeps killed")
        no_leftovers(c.agents["srv"])
        out = p.output()
        assert "node(s) completed" not in out, out
    finally:
        for p in procs:
            p.stop()


@test
def exec_stop_agents():
    global cluster
    if cluster is not None:
        cluster.stop()
        cluster = None


if __name__ == "__main__":
    try:
        main()
    finally:
        if cluster is not None:
            cluster.stop()
