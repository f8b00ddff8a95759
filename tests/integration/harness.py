"""harness.py - helpers for Cairn's integration tests (Python 3 stdlib only).

Tests start real binaries from $CAIRN_BUILD (default ./build), talk to them
as users do, wait on real readiness (sd_notify READY=1 on a socket the
harness binds; no sleeps), bound every wait, and stop only the processes
they started, by PID.  Each test prints "PASS name" or "FAIL name"; the
runner (tests/run.sh) counts them.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CAIRN_BUILD", os.path.join(TOP, "build"))
DAEMONS = ["raftd", "gossipd", "httpd", "dnsd", "checkd"]

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def binary(name):
    return os.path.join(BUILD, name)


class Timeout(AssertionError):
    pass


def wait_for(pred, timeout, what, interval=0.02):
    """Poll pred() until truthy or timeout seconds pass; return its value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise Timeout("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Notify:
    """An sd_notify socket: bind it, pass .path as NOTIFY_SOCKET."""

    def __init__(self, tmpdir):
        self.path = os.path.join(tmpdir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []

    def wait(self, needle, timeout):
        end = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if needle in m:
                    self.messages.remove(m)
                    return m
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout("no %r on the notify socket within %.1fs" % (needle, timeout))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.messages.append(data.decode(errors="replace"))

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Proc:
    """A process we started; its output goes to a log file."""

    def __init__(self, args, tmpdir, name, env=None):
        self.name = name
        self.log_path = os.path.join(tmpdir, name + ".log")
        self.log = open(self.log_path, "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=e)
        self.pid = self.p.pid

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Timeout("%s (pid %d) did not exit within %.1fs" % (self.name, self.pid, timeout))

    def stop(self, timeout=10):
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.p.wait(5)
        if not self.log.closed:
            self.log.close()
        check_sanitizers(self)


SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer",
                   "ERROR: LeakSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")
sanitizer_reports = []


def check_sanitizers(proc):
    """Remember any sanitizer report in a process's output; main() fails
    the test that produced it."""
    with open(proc.log_path, "rb") as f:
        out = f.read().decode(errors="replace")
    for mark in SANITIZER_MARKS:
        if mark in out:
            i = out.index(mark)
            sanitizer_reports.append("%s: %s" % (proc.name, out[max(0, i - 200):i + 800]))
            return


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    state = st[st.rindex(")") + 2]
    return state != "Z"


def children(ppid):
    """{comm: pid} of the live children of ppid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            out[comm] = int(d)
    return out


def start_time(pid):
    """Process start time in seconds since boot."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def cairn(*args, timeout=30, env=None):
    """Run the cairn CLI; returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([binary("cairn")] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=e)


def daemon_status(run_dir, name, timeout_ms=1000):
    """Parsed `cairn daemon-status` for one daemon, or None if not answering."""
    r = cairn("daemon-status", "-run-dir", run_dir, "-timeout", str(timeout_ms), name,
              timeout=timeout_ms / 1000 + 10)
    if r.returncode != 0:
        return None
    st = {}
    for line in r.stdout.splitlines():
        if line.startswith("\t") and " = " in line:
            k, v = line.strip().split(" = ", 1)
            st[k] = v
    return st


class TmpDir:
    def __init__(self, prefix="cairn-it."):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class ClusterAgent:
    """A whole agent (`cairn agent`) on its own loopback address with
    Consul's default ports, ready once it notified READY=1."""

    def __init__(self, tmp, name, ip, args):
        self.name, self.ip = name, ip
        self.dir = os.path.join(tmp.path, name)
        os.makedirs(self.dir, exist_ok=True)
        self.args = [binary("cairn"), "agent", "-data-dir",
                     os.path.join(self.dir, "data"), "-node", name,
                     "-bind", ip, "-client", ip] + args
        self.n = Notify(self.dir)
        self.p = Proc(self.args, self.dir, name, env={"NOTIFY_SOCKET": self.n.path})
        self.n.wait("READY=1", 30)

    def http(self):
        return "-http-addr=%s:8500" % self.ip

    def curl(self, path, method="GET", data=None):
        args = ["curl", "-s", "-S", "-X", method, "--max-time", "20",
                "-w", "\n%{http_code}"]
        if data is not None:
            args += ["--data-binary", "@-"]
        args.append("http://%s:8500%s" % (self.ip, path))
        r = subprocess.run(args, input=data, capture_output=True, timeout=30)
        body, _, code = r.stdout.decode(errors="replace").rpartition("\n")
        return int(code or 0), body

    def stop(self):
        if self.p is not None:
            self.p.stop()
        self.n.close()


def members(agent):
    st, body = agent.curl("/v1/agent/members")
    if st != 200:
        return {}
    return {m["Name"]: m["Status"] for m in json.loads(body)}


def leader(agent):
    st, body = agent.curl("/v1/status/leader")
    return st == 200 and body not in ('""', "") and json.loads(body)


def seed_cluster(tmp, ips, extra=()):
    """The walkthrough on ips[0..3]: server1 -bootstrap, server2/3
    -server, agent1 joined; returns the four agents once the client sees a
    leader, Raft has 3 peers and the catalog 4 nodes."""
    agents = []
    extra = list(extra)
    try:
        agents.append(ClusterAgent(tmp, "server1", ips[0], ["-server", "-bootstrap"] + extra))
        agents.append(ClusterAgent(tmp, "server2", ips[1], ["-server"] + extra))
        agents.append(ClusterAgent(tmp, "server3", ips[2], ["-server"] + extra))
        agents.append(ClusterAgent(tmp, "agent1", ips[3], extra))
        for a in agents[1:]:
            r = cairn("join", a.http(), ips[0])
            assert r.returncode == 0, (r.stdout, r.stderr)
            assert "Successfully joined cluster by contacting 1 nodes." in r.stdout, r.stdout
        wait_for(lambda: all(len([s for s in members(a).values() if s == 1]) == 4
                             for a in agents), 20, "4 alive members everywhere")
        wait_for(lambda: leader(agents[3]), 20, "a leader seen by the client")
        # the leader adds the joined servers to Raft
        wait_for(lambda: len(json.loads(agents[3].curl("/v1/status/peers")[1])) == 3,
                 30, "3 Raft peers")
        # and registers every node with serfHealth
        wait_for(lambda: len(json.loads(agents[0].curl("/v1/catalog/nodes")[1])) == 4,
                 20, "4 catalog nodes")
        return agents
    except Exception:
        for a in agents:
            a.stop()
        raise


def main():
    only = sys.argv[1:]
    failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        t0 = time.monotonic()
        del sanitizer_reports[:]
        try:
            fn()
            if sanitizer_reports:
                raise AssertionError("sanitizer report:\n" + "\n".join(sanitizer_reports))
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
            for line in traceback.format_exc().splitlines():
                print("  " + line)
        else:
            print("PASS %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
        sys.stdout.flush()
    sys.exit(1 if failed else 0)
