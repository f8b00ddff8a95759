"""test_agent.py - `cairn agent`: readiness, supervision of the five daemons,
signals, no orphans, config errors, and each daemon's own reload/stop."""
import os
import signal
import time

from harness import (DAEMONS, Notify, Proc, TmpDir, Timeout, binary, cairn,
                     children, daemon_status, main, pid_alive, start_time,
                     test, wait_for)

COMM = {"cairn-" + d: d for d in DAEMONS}
READY_TIMEOUT = 30  # generous: the SAN build starts slowly on 2 cores


SERVER_PORT = 25000 + os.getpid() % 5000  # not 8300: a dev agent may run


def start_agent(tmp, *args, name="agent"):
    n = Notify(tmp.path)
    a = Proc([binary("cairn"), "agent", "-server-port", str(SERVER_PORT),
              "-http-port", str(SERVER_PORT + 1)] + list(args), tmp.path, name,
             env={"NOTIFY_SOCKET": n.path})
    try:
        n.wait("READY=1", READY_TIMEOUT)
    except Timeout:
        a.stop()
        raise AssertionError("agent not ready; output:\n" + a.output())
    return a, n


def kids(agent):
    return {COMM[c]: pid for c, pid in children(agent.pid).items() if c in COMM}


def assert_all_gone(pids, timeout):
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout,
             "processes %s to exit" % pids)


@test
def dev_agent_replaces_each_killed_daemon_and_stops_clean():
    tmp = TmpDir()
    data = os.path.join(tmp.path, "data")
    a, n = start_agent(tmp, "-dev", "-data-dir", data, "-node", "devnode")
    try:
        out = a.output()
        assert "==> Cairn agent running!" in out, out
        assert "Node name: 'devnode'" in out, out
        assert "Server: true (bootstrap: true)" in out, out
        run_dir = os.path.join(data, "run")
        k = kids(a)
        assert sorted(k) == sorted(DAEMONS), k
        # the dev agent's raftd is a self-bootstrapped leader serving KV
        r = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            cairn("debug-raft", "-data-dir=" + data, "put", "devkey", "1")),
            15, "a write on the dev agent")
        assert "ok = true" in r.stdout, r.stdout
        r = cairn("debug-raft", "-data-dir=" + data, "get", "devkey", "consistent")
        assert r.returncode == 0 and "row = devkey" in r.stdout, r
        for d in DAEMONS:
            st = daemon_status(run_dir, d)
            assert st is not None, d
            assert int(st["pid"]) == k[d], (d, st, k)
        every = set(k.values())
        for d in DAEMONS:
            old = kids(a)[d]
            os.kill(old, signal.SIGKILL)
            t0 = time.monotonic()

            def replaced():
                new = kids(a).get(d)
                if new is None or new == old:
                    return None
                st = daemon_status(run_dir, d, timeout_ms=200)
                return new if st is not None and int(st["pid"]) == new else None
            new = wait_for(replaced, 2.0, "cairn-%s replaced and answering" % d)
            print("  cairn-%s replaced in %.2fs (pid %d -> %d)" %
                  (d, time.monotonic() - t0, old, new))
            every.add(new)
        # raftd came back from its disk: the write is still there
        r = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            cairn("debug-raft", "-data-dir=" + data, "get", "devkey")),
            15, "the write after raftd's restart")
        assert "row = devkey" in r.stdout, r.stdout
        a.signal(signal.SIGTERM)
        rc = a.wait(6)
        assert rc == 0, rc
        assert_all_gone(every, 1)
        assert not os.path.exists(os.path.join(run_dir, "raftd.rpc"))
    finally:
        a.stop()
        n.close()
        tmp.cleanup()


@test
def dev_agent_without_data_dir_uses_and_removes_a_temp_dir():
    tmp = TmpDir()
    a, n = start_agent(tmp, "-dev")
    try:
        out = a.output()
        line = [l for l in out.splitlines() if "Data dir:" in l][0]
        data = line.split("'")[1]
        assert data.startswith("/tmp/cairn-dev."), line
        assert os.path.isdir(data)
        a.signal(signal.SIGINT)
        assert a.wait(6) == 0
        assert not os.path.exists(data), data
    finally:
        a.stop()
        n.close()
        tmp.cleanup()


@test
def restarts_are_spaced_at_least_a_second_apart():
    tmp = TmpDir()
    data = os.path.join(tmp.path, "data")
    a, n = start_agent(tmp, "-dev", "-data-dir", data)
    try:
        starts = []
        for i in range(3):
            old = kids(a)["dnsd"]
            starts.append(start_time(old))
            os.kill(old, signal.SIGKILL)
            wait_for(lambda: kids(a).get("dnsd") not in (None, old), 10,
                     "dnsd restarted")
        starts.append(start_time(kids(a)["dnsd"]))
        gaps = [b - x for x, b in zip(starts, starts[1:])]
        # clock ticks are 10 ms and each start time is rounded: allow two
        assert all(g >= 0.98 for g in gaps), gaps
        # a daemon that keeps dying quickly is backed off (1, 1, then 2 s)
        assert gaps[-1] >= 1.99, gaps
        assert "restarting in" in a.output()
    finally:
        a.stop()
        n.close()
        tmp.cleanup()


@test
def sighup_is_forwarded_and_each_daemon_reloads():
    tmp = TmpDir()
    data = os.path.join(tmp.path, "data")
    cfg = os.path.join(tmp.path, "c.json")
    with open(cfg, "w") as f:
        f.write('{"log_level": "info"}')
    a, n = start_agent(tmp, "-dev", "-data-dir", data, "-config-file", cfg)
    try:
        run_dir = os.path.join(data, "run")
        with open(cfg, "w") as f:
            f.write('{"log_level": "warn"}')
        a.signal(signal.SIGHUP)
        for d in DAEMONS:
            wait_for(lambda: (daemon_status(run_dir, d) or {}).get("reloads") == "1",
                     10, "%s reloaded" % d)
            assert daemon_status(run_dir, d)["log_level"] == "WARN"
    finally:
        a.stop()
        n.close()
        tmp.cleanup()


@test
def killing_the_agent_leaves_no_orphans():
    tmp = TmpDir()
    data = os.path.join(tmp.path, "data")
    a, n = start_agent(tmp, "-dev", "-data-dir", data)
    try:
        pids = list(kids(a).values())
        assert len(pids) == 5
        a.signal(signal.SIGKILL)
        a.wait(5)
        assert_all_gone(pids, 6)
    finally:
        a.stop()
        n.close()
        tmp.cleanup()


@test
def agent_config_errors_name_source_and_key():
    tmp = TmpDir()
    try:
        r = cairn("agent", "-data-dir", tmp.path, "-http-port", "http")
        assert r.returncode == 1, r
        assert "command line: -http-port:" in r.stderr, r.stderr
        r = cairn("agent", "-data-dir", tmp.path, "-no-such-flag")
        assert r.returncode == 1 and "-no-such-flag" in r.stderr, r
        bad = os.path.join(tmp.path, "bad.json")
        with open(bad, "w") as f:
            f.write('{"ports": {"dns": "x"}}')
        r = cairn("agent", "-data-dir", tmp.path, "-config-file", bad)
        assert r.returncode == 1, r
        assert bad + ": ports.dns:" in r.stderr, r.stderr
        with open(bad, "w") as f:
            f.write('{"datacenter": "dc1", "no_such_key": 1}')
        r = cairn("agent", "-data-dir", tmp.path, "-config-file", bad)
        assert r.returncode == 1 and bad + ": no_such_key:" in r.stderr, r.stderr
        r = cairn("agent")
        assert r.returncode == 1 and "data_dir" in r.stderr, r.stderr
        # a FIFO or device as a config file is refused, not waited on
        fifo = os.path.join(tmp.path, "fifo.json")
        os.mkfifo(fifo)
        r = cairn("agent", "-data-dir", tmp.path, "-config-file", fifo, timeout=10)
        assert r.returncode == 1 and fifo + ": not a regular file" in r.stderr, r.stderr
        # nothing was left running
        assert not os.path.exists(os.path.join(tmp.path, "run", "raftd.rpc"))
    finally:
        tmp.cleanup()


@test
def daemon_reload_keeps_old_config_on_error_and_stops_on_term():
    tmp = TmpDir()
    data = os.path.join(tmp.path, "data")
    cfg = os.path.join(tmp.path, "c.json")
    with open(cfg, "w") as f:
        f.write('{"log_level": "info", "server": true}')
    n = Notify(tmp.path)
    p = Proc([binary("cairn-httpd"), "-data-dir", data, "-config-file", cfg,
              "-http-port", "-1"],
             tmp.path, "httpd", env={"NOTIFY_SOCKET": n.path})
    try:
        n.wait("READY=1", READY_TIMEOUT)
        run_dir = os.path.join(data, "run")
        st = daemon_status(run_dir, "httpd")
        assert st["log_level"] == "INFO" and st["reloads"] == "0", st
        # a good reload
        with open(cfg, "w") as f:
            f.write('{"log_level": "debug", "server": true}')
        p.signal(signal.SIGHUP)
        n.wait("RELOADING=1", 10)
        n.wait("READY=1", 10)
        st = daemon_status(run_dir, "httpd")
        assert st["log_level"] == "DEBUG" and st["reloads"] == "1", st
        # a bad one: the daemon keeps running on the old configuration
        with open(cfg, "w") as f:
            f.write('{"log_level": "debug", "server": tru')
        p.signal(signal.SIGHUP)
        n.wait("RELOADING=1", 10)
        n.wait("READY=1", 10)
        st = daemon_status(run_dir, "httpd")
        assert st is not None and st["log_level"] == "DEBUG" and st["reloads"] == "1", st
        assert p.alive()
        out = p.output()
        assert "reload failed" in out and cfg in out, out
        # a non-reloadable change is reported, not applied
        with open(cfg, "w") as f:
            f.write('{"log_level": "info", "server": false}')
        p.signal(signal.SIGHUP)
        wait_for(lambda: (daemon_status(run_dir, "httpd") or {}).get("reloads") == "2",
                 10, "second reload")
        assert "server changed" in p.output(), p.output()
        # graceful stop
        p.signal(signal.SIGTERM)
        n.wait("STOPPING=1", 10)
        assert p.wait(5) == 0
        assert not os.path.exists(os.path.join(run_dir, "httpd.rpc"))
    finally:
        p.stop()
        n.close()
        tmp.cleanup()


@test
def second_daemon_on_same_socket_is_refused():
    tmp = TmpDir()
    data = os.path.join(tmp.path, "data")
    n = Notify(tmp.path)
    p = Proc([binary("cairn-dnsd"), "-data-dir", data], tmp.path, "dnsd1",
             env={"NOTIFY_SOCKET": n.path})
    try:
        n.wait("READY=1", READY_TIMEOUT)
        q = Proc([binary("cairn-dnsd"), "-data-dir", data], tmp.path, "dnsd2")
        rc = q.wait(10)
        assert rc == 1, rc
        assert "already serving" in q.output(), q.output()
        assert daemon_status(os.path.join(data, "run"), "dnsd") is not None
    finally:
        p.stop()
        n.close()
        tmp.cleanup()


@test
def cli_version_help_and_unknown_command():
    r = cairn("version")
    assert r.returncode == 0 and r.stdout.startswith("Cairn v"), r
    assert "Protocol 2 spoken by default" in r.stdout, r.stdout
    r = cairn("--help")
    assert r.returncode == 0 and "agent" in r.stdout and "version" in r.stdout, r
    r = cairn("frobnicate")
    assert r.returncode == 1 and "unknown command" in r.stderr, r
    r = cairn()
    assert r.returncode == 1 and "Usage: cairn" in r.stderr, r
    r = cairn("daemon-status", "-run-dir", "/nonexistent", "-timeout", "200", "raftd")
    assert r.returncode == 1 and "not answering" in r.stdout, r


if __name__ == "__main__":
    main()
