"""test_lock_watch.py - `cairn lock` and `cairn watch` against a real
`cairn agent -dev`, run in the background as users run them: mutual
exclusion of two lock holders (their children's start/end lines never
overlap), the lock key's Session while held and its cleanup after, the
child's exit code (-child-exit-code), SIGTERM, a lock lost when its
session is destroyed, -try/-timeout, a semaphore (-n=2), usage errors;
key, service (-passingonly, TTL check flips) and event watches running
a handler, a watch without a handler printing once, bad -type."""
import base64
import json
import os
import signal
import subprocess
import time

import harness
from harness import Proc, binary, main, pid_alive, test, wait_for
from test_http import Agent

del harness._tests[:]  # test_http's own tests run from their file

MARKS = harness.SANITIZER_MARKS


def env_for(a):
    # SHELL pinned: children run under $SHELL -c, as in Consul
    return {"CAIRN_HTTP_ADDR": "127.0.0.1:%d" % a.http, "SHELL": "/bin/sh"}


def run(a, *args, timeout=60):
    """The CLI in the foreground; a sanitizer report fails the test."""
    e = dict(os.environ)
    e.update(env_for(a))
    r = subprocess.run([binary("cairn")] + list(args), capture_output=True,
                       text=True, timeout=timeout, env=e)
    for m in MARKS:
        if m in r.stderr:
            harness.sanitizer_reports.append("cairn %s: %s" % (args[0], r.stderr[-3000:]))
            break
    return r


def bg(a, name, *args):
    """The CLI in the background (output in a log file)."""
    return Proc([binary("cairn")] + list(args), a.tmp.path, name, env=env_for(a))


def getj(a, path):
    st, body, _ = a.curl(path)
    return st, (json.loads(body) if st == 200 and body else None)


def lock_entry(a, prefix):
    st, v = getj(a, "/v1/kv/%s/.lock" % prefix)
    return v[0] if st == 200 else None


def holder(a, prefix):
    e = lock_entry(a, prefix)
    return e.get("Session") if e else None


def kill_pidfile(path):
    """A child we started through cairn lock, if a failed test left it."""
    try:
        pid = int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def stop_all(procs):
    for p in procs:
        p.stop()


# ---------------------------------------------------------------- lock

@test
def lock_two_holders_never_overlap():
    a = Agent()
    procs = []
    try:
        log = os.path.join(a.tmp.path, "runs.log")
        child = ('echo "start %s $(date +%%s.%%N)" >> ' + log +
                 '; sleep 1.5; echo "end %s $(date +%%s.%%N)" >> ' + log)
        p1 = bg(a, "lock1", "lock", "jobs/nightly", child % ("A", "A"))
        procs.append(p1)
        sid = wait_for(lambda: holder(a, "jobs/nightly"), 20, "the first holder")
        # the key names our session, marked as Consul's lock, and the
        # session is one the agent knows, with a 15s TTL
        e = lock_entry(a, "jobs/nightly")
        assert e["Flags"] == 0x2ddccbc058a50c18, e
        st, info = getj(a, "/v1/session/info/" + sid)
        assert st == 200 and info and info[0]["TTL"] == "15s", info
        assert "jobs/nightly" in info[0]["Name"], info
        p2 = bg(a, "lock2", "lock", "jobs/nightly", child % ("B", "B"))
        procs.append(p2)
        assert p1.wait(30) == 0, p1.output()
        assert p2.wait(30) == 0, p2.output()
        lines = [l.split() for l in open(log).read().splitlines()]
        assert [l[0] for l in lines] == ["start", "end", "start", "end"], lines
        assert lines[0][1] == lines[1][1] and lines[2][1] == lines[3][1], lines
        assert {lines[0][1], lines[2][1]} == {"A", "B"}, lines
        t = [float(l[2]) for l in lines]
        assert t[1] <= t[2], ("overlap", lines)
        # released and cleaned up: no key, no session left
        assert holder(a, "jobs/nightly") is None
        st, sessions = getj(a, "/v1/session/list")
        assert st == 200 and sessions == [], sessions
    finally:
        stop_all(procs)
        a.stop()


@test
def lock_child_exit_code_env_and_verbose():
    a = Agent()
    try:
        # Consul: the child's failure is reported, not propagated...
        r = run(a, "lock", "svc/x", "exit 7")
        assert r.returncode == 0, (r.returncode, r.stderr)
        assert "Error running handler: exit status 7" in r.stderr, r.stderr
        # ... unless -child-exit-code: then 2
        r = run(a, "lock", "-child-exit-code", "svc/x", "exit", "7")
        assert r.returncode == 2, (r.returncode, r.stderr)
        r = run(a, "lock", "-child-exit-code", "svc/x", "true")
        assert r.returncode == 0, (r.returncode, r.stderr)
        # the child sees CONSUL_LOCK_HELD and the key held by the session;
        # -verbose tells the steps on stdout, nothing without it
        r = run(a, "lock", "-verbose", "svc/x",
                'echo held=$CONSUL_LOCK_HELD; curl -s http://127.0.0.1:%d/v1/kv/svc/x/.lock'
                % a.http)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert "Setting up lock at path: svc/x/.lock" in out, out
        assert "Attempting lock acquisition" in out and "Cleanup succeeded" in out, out
        assert "held=true" in out, out
        entry = json.loads(out[out.index("["):out.index("]") + 1])[0]
        assert entry["Key"] == "svc/x/.lock" and entry["Session"], entry
        r = run(a, "lock", "svc/x", "echo quiet")
        assert r.stdout == "quiet\n" and r.stderr == "", (r.stdout, r.stderr)
        # -shell=false: the arguments as they are, no shell expansion
        r = run(a, "lock", "-shell=false", "svc/x", "echo", "$HOME", "a  b")
        assert r.stdout == "$HOME a  b\n", r.stdout
        # flags end at the prefix: the child's own flags stay the child's
        r = run(a, "lock", "svc/x", "echo", "-n", "x")
        assert r.returncode == 0 and r.stdout == "x", (r.stdout, r.stderr)
        assert holder(a, "svc/x") is None
        st, sessions = getj(a, "/v1/session/list")
        assert sessions == [], sessions
    finally:
        a.stop()


@test
def lock_sigterm_stops_child_and_releases():
    a = Agent()
    procs = []
    pidf = None
    try:
        pidf = os.path.join(a.tmp.path, "child.pid")
        p = bg(a, "lock", "lock", "svc/term", "echo $$ > %s; exec sleep 60" % pidf)
        procs.append(p)
        wait_for(lambda: holder(a, "svc/term") and os.path.exists(pidf)
                 and open(pidf).read().strip(), 20, "the lock held and its child")
        child = int(open(pidf).read())
        assert pid_alive(child)
        p.signal(signal.SIGTERM)
        assert p.wait(20) == 0, p.output()
        assert not pid_alive(child), "child still running"
        assert holder(a, "svc/term") is None
        st, sessions = getj(a, "/v1/session/list")
        assert sessions == [], sessions
    finally:
        if pidf:
            kill_pidfile(pidf)
        stop_all(procs)
        a.stop()


def one_session(a):
    st, v = getj(a, "/v1/session/list")
    return v[0]["ID"] if st == 200 and v and len(v) == 1 else None


@test
def lock_lost_when_session_destroyed():
    a = Agent()
    procs = []
    try:
        for n, prefix in (("-n=1", "svc/lost"), ("-n=2", "svc/lost2")):
            pidf = os.path.join(a.tmp.path, "child%s.pid" % n)
            p = bg(a, "lock" + n, "lock", n, prefix,
                   "echo $$ > %s; exec sleep 60" % pidf)
            procs.append(p)
            wait_for(lambda: os.path.exists(pidf) and open(pidf).read().strip(),
                     20, "the lock held and its child")
            child = int(open(pidf).read())
            sid = one_session(a)
            assert sid, "one session while held"
            st, body, _ = a.curl("/v1/session/destroy/" + sid, "PUT")
            assert st == 200, (st, body)
            rc = p.wait(20)
            assert rc != 0, (n, rc, p.output())
            assert "Lock lost" in p.output(), p.output()
            assert not pid_alive(child), (n, "child still running")
            st, _ = getj(a, "/v1/kv/%s/?recurse" % prefix)
            assert st == 404, (n, "lock keys left behind")
    finally:
        for f in os.listdir(a.tmp.path):
            if f.endswith(".pid"):
                kill_pidfile(os.path.join(a.tmp.path, f))
        stop_all(procs)
        a.stop()


@test
def lock_try_and_timeout_give_up_when_held():
    a = Agent()
    procs = []
    pidf = None
    try:
        pidf = os.path.join(a.tmp.path, "child.pid")
        marker = os.path.join(a.tmp.path, "ran")
        p = bg(a, "holder", "lock", "svc/busy", "echo $$ > %s; exec sleep 60" % pidf)
        procs.append(p)
        sid = wait_for(lambda: holder(a, "svc/busy"), 20, "the holder")
        for flag in ("-try=1s", "-timeout=1500ms"):
            t0 = time.monotonic()
            r = run(a, "lock", flag, "svc/busy", "touch " + marker, timeout=30)
            took = time.monotonic() - t0
            assert r.returncode == 1, (flag, r.returncode, r.stderr)
            assert "timeout during lock acquisition" in r.stderr, r.stderr
            assert 0.9 <= took < 10, (flag, took)
            assert not os.path.exists(marker), "child ran without the lock"
        # the holder kept it; the failed contenders left no session
        assert holder(a, "svc/busy") == sid
        st, sessions = getj(a, "/v1/session/list")
        assert [s["ID"] for s in sessions] == [sid], sessions
        p.signal(signal.SIGTERM)
        assert p.wait(20) == 0, p.output()
        # free now: -try gets it at once
        r = run(a, "lock", "-try=5s", "svc/busy", "touch " + marker)
        assert r.returncode == 0 and os.path.exists(marker), r.stderr
    finally:
        if pidf:
            kill_pidfile(pidf)
        stop_all(procs)
        a.stop()


@test
def lock_semaphore_two_holders():
    a = Agent()
    procs = []
    try:
        log = os.path.join(a.tmp.path, "sem.log")
        child = ('echo "start %s $(date +%%s.%%N)" >> ' + log +
                 '; sleep 2; echo "end %s $(date +%%s.%%N)" >> ' + log)
        for n in "ABC":
            procs.append(bg(a, "sem" + n, "lock", "-n=2", "pool", child % (n, n)))
        # two slots taken: .lock lists two live holders, Consul's format
        def two_holders():
            st, v = getj(a, "/v1/kv/pool/.lock")
            if st != 200:
                return None
            lk = json.loads(base64.b64decode(v[0]["Value"]))
            return lk if len(lk["Holders"]) == 2 else None
        lk = wait_for(two_holders, 20, "two semaphore holders")
        assert lk["Limit"] == 2, lk
        e = lock_entry(a, "pool")
        assert e["Flags"] == 0xe0f69a2baa414de0 and not e.get("Session"), e
        # a lock (-n=1) or another limit on the same prefix conflicts
        r = run(a, "lock", "pool", "true")
        assert r.returncode == 1 and "does not match lock use" in r.stderr, r.stderr
        r = run(a, "lock", "-n=3", "pool", "true")
        assert r.returncode == 1 and "limit conflict" in r.stderr, r.stderr
        for p in procs:
            assert p.wait(40) == 0, p.output()
        events = []
        for l in open(log).read().splitlines():
            kind, who, ts = l.split()
            events.append((float(ts), 1 if kind == "start" else -1, who))
        assert len(events) == 6, events
        events.sort(key=lambda e: (e[0], e[1]))  # an end before a start
        cur = peak = 0
        for _, d, _ in events:
            cur += d
            peak = max(peak, cur)
        assert peak == 2, ("holders at once", peak, events)
        st, _ = getj(a, "/v1/kv/pool/?recurse")
        assert st == 404, "semaphore keys left behind"
        st, sessions = getj(a, "/v1/session/list")
        assert sessions == [], sessions
    finally:
        stop_all(procs)
        a.stop()


@test
def lock_usage_errors():
    a = Agent()
    try:
        for args, text in ((["lock"], "Key prefix and child command"),
                           (["lock", "only-prefix"], "Key prefix and child command"),
                           (["lock", "-n=0", "p", "true"], "must be positive"),
                           (["lock", "-n=x", "p", "true"], "invalid value"),
                           (["lock", "-timeout=-1s", "p", "true"], "Timeout must be positive"),
                           (["lock", "-monitor-retry=-1", "p", "true"], "monitor-retry"),
                           (["lock", "-bogus", "p", "true"], "flag provided but not defined")):
            r = run(a, *args)
            assert r.returncode == 1 and text in r.stderr, (args, r.returncode, r.stderr)
        r = run(a, "lock", "-http-addr=127.0.0.1:1", "p", "true")
        assert r.returncode == 1 and "127.0.0.1:1" in r.stderr, r.stderr
    finally:
        a.stop()


# --------------------------------------------------------------- watch

HANDLER = """#!/bin/sh
# one file per invocation: <n>-<CONSUL_INDEX>.json holding our stdin
n=$(ls "$1" | wc -l)
cat > "$1/$(printf %04d "$n")-$CONSUL_INDEX.json"
"""


def handler(a, name):
    d = os.path.join(a.tmp.path, name)
    os.mkdir(d)
    path = os.path.join(a.tmp.path, name + ".sh")
    with open(path, "w") as f:
        f.write(HANDLER)
    os.chmod(path, 0o755)
    return path, d


def invocations(d):
    out = []
    for f in sorted(os.listdir(d)):
        idx = int(f.split("-")[1].split(".")[0])
        with open(os.path.join(d, f)) as fh:
            text = fh.read()
        if not text.endswith("\n"):
            return None  # being written
        out.append((idx, json.loads(text)))
    return out


def wait_invocation(d, pred, what, timeout=20):
    return wait_for(lambda: (lambda inv: inv and any(pred(v) for _, v in inv) and inv)(
        invocations(d)), timeout, what)


def b64(s):
    return base64.b64encode(s.encode()).decode()


@test
def watch_key_runs_handler_on_each_change():
    a = Agent()
    procs = []
    try:
        h, d = handler(a, "inv")
        p = bg(a, "watch", "watch", "-type=key", "-key=app/config", h, d)
        procs.append(p)
        # the first run: no such key yet, null
        wait_invocation(d, lambda v: v is None, "the first (null) invocation")
        st, _, _ = a.curl("/v1/kv/app/config", "PUT", b"one")
        assert st == 200
        wait_invocation(d, lambda v: v and v["Value"] == b64("one"), "value one")
        # another key moves the store's index but not this view
        a.curl("/v1/kv/app/other", "PUT", b"x")
        st, _, _ = a.curl("/v1/kv/app/config", "PUT", b"two")
        inv = wait_invocation(d, lambda v: v and v["Value"] == b64("two"), "value two")
        assert [v and base64.b64decode(v["Value"]).decode() for _, v in inv] == \
            [None, "one", "two"], inv
        for idx, v in inv[1:]:
            assert v["Key"] == "app/config" and idx >= v["ModifyIndex"], (idx, v)
        assert inv[1][0] < inv[2][0], inv
        assert p.alive(), "a watch with a handler keeps watching"
        p.signal(signal.SIGTERM)
        assert p.wait(10) == 0, p.output()
    finally:
        stop_all(procs)
        a.stop()


@test
def watch_service_passingonly_follows_ttl_check():
    a = Agent()
    procs = []
    try:
        st, body, _ = a.curl("/v1/agent/service/register", "PUT", json.dumps({
            "Name": "web", "ID": "web1", "Port": 8080, "Tags": ["v1"],
            "Check": {"CheckID": "web-ttl", "TTL": "120s"}}).encode())
        assert st == 200, (st, body)
        h, d = handler(a, "inv")
        p = bg(a, "watch", "watch", "-type=service", "-service=web", "-tag=v1",
               "-passingonly=true", h, d)
        procs.append(p)
        # a new TTL check is critical: no passing instance
        wait_invocation(d, lambda v: v == [], "the empty first invocation")
        st, _, _ = a.curl("/v1/agent/check/pass/web-ttl", "PUT")
        assert st == 200
        inv = wait_invocation(d, lambda v: len(v) == 1, "the instance passing")
        e = inv[-1][1][0]
        assert e["Service"]["ID"] == "web1" and e["Service"]["Port"] == 8080, e
        assert all(c["Status"] == "passing" for c in e["Checks"]), e
        n = len(inv)
        st, _, _ = a.curl("/v1/agent/check/fail/web-ttl", "PUT")
        assert st == 200
        inv = wait_for(lambda: (lambda i: i and len(i) > n and i)(invocations(d)),
                       20, "the instance failing")
        assert inv[-1][1] == [], inv
        p.signal(signal.SIGTERM)
        assert p.wait(10) == 0, p.output()
    finally:
        stop_all(procs)
        a.stop()


@test
def watch_event_gets_only_new_events():
    a = Agent()
    procs = []
    try:
        h, d = handler(a, "inv")
        p = bg(a, "watch", "watch", "-type=event", "-name=deploy", h, d)
        procs.append(p)
        wait_invocation(d, lambda v: v == [], "the first invocation")
        r = run(a, "event", "-name=deploy", "v1")
        assert r.returncode == 0, r.stderr
        id1 = r.stdout.split("Event ID: ")[1].strip()
        inv = wait_invocation(d, lambda v: len(v) == 1, "the first event")
        ev = inv[-1][1][0]
        assert ev["ID"] == id1 and ev["Name"] == "deploy" and ev["Payload"] == b64("v1"), ev
        run(a, "event", "-name=other", "x")
        r = run(a, "event", "-name=deploy", "v2")
        id2 = r.stdout.split("Event ID: ")[1].strip()
        inv = wait_invocation(d, lambda v: len(v) == 1 and v[0]["ID"] == id2,
                              "the second event")
        # both events reach the handler, in order, never "other" (the
        # agent's event list can be answered twice at one index, so an
        # event may come again)
        got = []
        for _, v in inv:
            for e in v:
                assert e["Name"] == "deploy", inv
                if e["ID"] not in got:
                    got.append(e["ID"])
        assert got == [id1, id2], inv
        p.signal(signal.SIGTERM)
        assert p.wait(10) == 0, p.output()
    finally:
        stop_all(procs)
        a.stop()


@test
def watch_without_handler_prints_once_and_errors():
    a = Agent()
    try:
        a.curl("/v1/kv/cfg/a", "PUT", b"hello")
        r = run(a, "watch", "-type=key", "-key=cfg/a")
        assert r.returncode == 0, r.stderr
        v = json.loads(r.stdout)
        assert v["Key"] == "cfg/a" and v["Value"] == b64("hello"), v
        assert r.stdout.startswith('{\n    "'), r.stdout  # Go's MarshalIndent
        r = run(a, "watch", "-type=keyprefix", "-prefix=cfg/")
        assert r.returncode == 0 and [e["Key"] for e in json.loads(r.stdout)] == ["cfg/a"]
        r = run(a, "watch", "-type=keyprefix", "-prefix=none/")
        assert r.returncode == 0 and r.stdout.strip() == "null", r.stdout
        r = run(a, "watch", "-type=services")
        assert r.returncode == 0 and "consul" in json.loads(r.stdout), r.stdout
        r = run(a, "watch", "-type=nodes")
        assert r.returncode == 0 and json.loads(r.stdout)[0]["Node"] == a.node()
        r = run(a, "watch", "-type=checks", "-state=passing")
        assert r.returncode == 0 and any(c["CheckID"] == "serfHealth"
                                         for c in json.loads(r.stdout)), r.stdout
        # a failing handler ends the watch with 1
        r = run(a, "watch", "-type=nodes", "exit 3")
        assert r.returncode == 1 and "exit status 3" in r.stderr, r.stderr
        for args, text in ((["watch"], "Watch type must be specified"),
                           (["watch", "-type=nope"], "Unsupported watch type: nope"),
                           (["watch", "-type=key"], "Must specify a single key"),
                           (["watch", "-type=keyprefix"], "Must specify a single prefix"),
                           (["watch", "-type=service"], "Must specify a single service"),
                           (["watch", "-type=checks", "-service=a", "-state=any"],
                            "Cannot specify service and state"),
                           (["watch", "-type=nodes", "-key=k"], "Invalid parameters: [key]"),
                           (["watch", "-type=service", "-service=a", "-passingonly=maybe"],
                            "Failed to parse passingonly"),
                           (["watch", "-type=nodes", "-http-addr=127.0.0.1:1"],
                            "127.0.0.1:1")):
            r = run(a, *args)
            assert r.returncode == 1 and text in r.stderr, (args, r.returncode, r.stderr)
    finally:
        a.stop()


if __name__ == "__main__":
    main()
