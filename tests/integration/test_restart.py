"""test_restart.py - one component at a time, under load.  Three servers
on loopback (127.0.0.41-43, Consul's default ports on each address); while
a client writes and reads KV through server2's HTTP API and another asks
server2's DNS for web.service.consul, each of httpd, dnsd, checkd, gossipd
and raftd of server2 is stopped with SIGTERM and then with SIGKILL (the
agent starts it again).  Checked afterwards:

  - nothing acknowledged is lost: every write answered `true` reads back
    (consistent read on server1), and no read of an acknowledged key ever
    answered 404;
  - server2 never leaves: server1 sees it alive in every sample;
  - errors happen only while a component is down: every failed request
    lies within [stop, back + grace] of some restart (grace: 5 s, the time
    to reconnect and, for raftd, to catch up);
  - nothing hangs: ?stale reads kept in flight all along are each
    answered or failed within HUNG seconds (a request raftd took and then
    died with used to wait for its 30 s IPC deadline).

The restart windows and error counts are printed."""
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

from harness import (Notify, Proc, TmpDir, binary, cairn, children, daemon_status,
                     main, pid_alive, test, wait_for)

IPS = ["127.0.0.41", "127.0.0.42", "127.0.0.43"]
GRACE = 5.0
HUNG = 12.0  # a request lost with a dying daemon: failed or answered by then


class Server:
    def __init__(self, tmp, i, extra):
        self.name, self.ip = "s%d" % (i + 1), IPS[i]
        self.dir = os.path.join(tmp.path, self.name)
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.n = Notify(self.dir)
        self.p = Proc([binary("cairn"), "agent", "-server", "-data-dir", self.data,
                       "-node", self.name, "-bind", self.ip, "-client", self.ip] + extra,
                      self.dir, self.name, env={"NOTIFY_SOCKET": self.n.path})
        self.n.wait("READY=1", 60)

    def url(self, path):
        return "http://%s:8500%s" % (self.ip, path)

    def stop(self):
        self.p.stop(timeout=20)
        self.n.close()


def http(url, method="GET", data=None, timeout=2.0):
    """(status, body); status 0 on a connection error or timeout"""
    import urllib.request
    import urllib.error
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception:
        return 0, ""


def dns_a(ip, name, timeout=0.5):
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0\0\1\0\1"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (ip, 8600))
        r = s.recv(4096)
        return len(r) >= 12 and r[3] & 0xF == 0 and struct.unpack("!H", r[6:8])[0] >= 1
    except OSError:
        return False
    finally:
        s.close()


@test
def each_component_restarts_under_load_without_loss():
    tmp = TmpDir(prefix="cairn-restart.")
    srv = []
    stop = threading.Event()
    try:
        srv.append(Server(tmp, 0, ["-bootstrap-expect", "3"]))
        for i in (1, 2):
            srv.append(Server(tmp, i, ["-bootstrap-expect", "3", "-retry-join", IPS[0]]))
        s1, s2 = srv[0], srv[1]
        wait_for(lambda: all(http(s.url("/v1/status/leader"))[1] not in ("", '""', ) and
                             http(s.url("/v1/status/leader"))[0] == 200 for s in srv), 60,
                 "a leader known everywhere")
        wait_for(lambda: http(s2.url("/v1/kv/warm"), "PUT", b"1") == (200, "true"), 30,
                 "writes through s2")
        st, _ = http(s2.url("/v1/agent/service/register"), "PUT", json.dumps(
            {"Name": "web", "Port": 80, "Check": {"TTL": "600s", "Status": "passing"}}).encode())
        assert st == 200
        wait_for(lambda: dns_a(s2.ip, "web.service.consul"), 20, "DNS answering on s2")

        acked, errors, lost_reads, not_alive = {}, [], [], []
        lock = threading.Lock()

        def writer():
            i = 0
            while not stop.is_set():
                i += 1
                t = time.monotonic()
                st, body = http(s2.url("/v1/kv/load/%06d" % i), "PUT", str(i).encode())
                with lock:
                    if st == 200 and body == "true":
                        acked[i] = str(i)
                    else:
                        errors.append((t, "write", st))
                time.sleep(0.01)

        def reader():
            while not stop.is_set():
                with lock:
                    keys = list(acked)[-20:]
                for k in keys[-1:]:
                    t = time.monotonic()
                    st, body = http(s2.url("/v1/kv/load/%06d?raw" % k))
                    if st == 404:
                        lost_reads.append(k)
                    elif st != 200 or body != str(k):
                        with lock:
                            errors.append((t, "read", st))
                time.sleep(0.02)

        def dnsq():
            while not stop.is_set():
                t = time.monotonic()
                if not dns_a(s2.ip, "web.service.consul"):
                    with lock:
                        errors.append((t, "dns", 0))
                time.sleep(0.05)

        hung = []
        longest = [0.0]

        def stale_reader():
            # requests in flight when a daemon dies must be answered (or
            # failed) soon, not left to the 30 s IPC deadline
            while not stop.is_set():
                t = time.monotonic()
                st, _ = http(s2.url("/v1/kv/warm?stale"), timeout=25)
                d = time.monotonic() - t
                with lock:
                    longest[0] = max(longest[0], d)
                    if d > HUNG:
                        hung.append((round(t, 2), round(d, 2), st))
                time.sleep(0.005)

        def members():
            while not stop.is_set():
                st, body = http(s1.url("/v1/agent/members"))
                if st == 200:
                    m = {x["Name"]: x["Status"] for x in json.loads(body)}
                    if m.get("s2") != 1:
                        not_alive.append((time.monotonic(), m.get("s2")))
                time.sleep(0.5)

        threads = [threading.Thread(target=f, daemon=True)
                   for f in (writer, reader, dnsq, members,
                             stale_reader, stale_reader, stale_reader)]
        for th in threads:
            th.start()
        time.sleep(2)
        run_dir = os.path.join(s2.data, "run")
        windows = []
        for d in ("httpd", "dnsd", "checkd", "gossipd", "raftd"):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                old = children(s2.p.pid).get("cairn-" + d)
                assert old, (d, children(s2.p.pid))
                t0 = time.monotonic()
                os.kill(old, sig)
                wait_for(lambda: not pid_alive(old), 15, "%s %d gone" % (d, old))
                wait_for(lambda: children(s2.p.pid).get("cairn-" + d) not in (None, old) and
                         daemon_status(run_dir, d) is not None, 30, "a new %s" % d)
                t1 = time.monotonic()
                windows.append((d, sig, t0, t1))
                time.sleep(2.0)  # the load recovers before the next stop
        stop.set()
        for th in threads:
            th.join(10)

        def in_window(t):
            return any(t0 - 0.2 <= t <= t1 + GRACE for _, _, t0, t1 in windows)
        outside = [e for e in errors if not in_window(e[0])]
        for d, sig, t0, t1 in windows:
            n = sum(1 for e in errors if t0 - 0.2 <= e[0] <= t1 + GRACE)
            print("  %-7s %-7s down %.2fs, %d failed requests around it" % (
                d, signal.Signals(sig).name, t1 - t0, n))
        print("  %d writes acknowledged, %d failed requests in all" % (len(acked), len(errors)))
        print("  longest ?stale read: %.2fs" % longest[0])
        assert not hung, "requests hung past %.0fs: %s" % (HUNG, hung[:10])
        assert not lost_reads, "acknowledged keys read as missing: %s" % lost_reads[:10]
        assert not outside, "errors outside the restart windows: %s" % outside[:10]
        assert not not_alive, "s2 not alive on s1: %s" % not_alive[:10]
        # every acknowledged write is there (consistent read, from s1)
        st, body = http(s1.url("/v1/kv/load/?recurse&consistent"), timeout=30)
        assert st == 200, (st, body[:200])
        have = {int(x["Key"].rsplit("/", 1)[1]) for x in json.loads(body)}
        missing = sorted(set(acked) - have)
        assert not missing, "acknowledged writes lost: %s" % missing[:20]
        assert len(acked) > 100, len(acked)
    finally:
        stop.set()
        for s in srv:
            s.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
