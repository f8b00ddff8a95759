"""bench_kv.py - KV throughput and latency of a 3-server Cairn cluster (three
`cairn agent -server` on 127.0.0.1-3) and, in the same run, a 3-member etcd
cluster (Debian's etcd-server) on loopback through its v3 JSON gateway:
writes, and reads (Cairn default and ?stale; etcd serializable) at 1, 16
and 64 connections with wrk, printed as Cairn/etcd ratios.  Bounded: each
point runs BENCH_SECONDS (default 5) seconds.  For quicker runs, BENCH_OPS
(comma-separated: put,get) and BENCH_CONNS (e.g. "1,64") narrow what is
measured; ratios are printed for what both sides ran."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CAIRN_BUILD", os.path.join(TOP, "build"))
SECS = int(os.environ.get("BENCH_SECONDS", "5"))
LUA = os.path.join(TOP, "tests", "bench", "kv.lua")
NKEYS = 1000
OPS = os.environ.get("BENCH_OPS", "put,get").split(",")
CONNS = [int(c) for c in os.environ.get("BENCH_CONNS", "1,16,64").split(",")]
procs = []


def start(args, log):
    p = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def wait(pred, secs, what):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit("bench: timed out waiting for " + what)


def call(host, port, method, path, body=None):
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request(method, path, body=body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def wrk(url, conns, env):
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run(["wrk", "-t", "2" if conns > 1 else "1", "-c", str(conns),
                        "-d", "%ds" % SECS, "--latency", "-s", LUA, url],
                       capture_output=True, text=True, env=e, timeout=SECS + 60)
    out = r.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(p):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, out)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat("50"), lat("99"), int(bad.group(1)) if bad else 0


def main():
    tmp = tempfile.mkdtemp(prefix="cairn-bench-kv.")
    results = {}
    try:
        # etcd, 3 members
        cluster = ",".join("m%d=http://127.0.0.1:%d" % (i, 23800 + i) for i in (1, 2, 3))
        for i in (1, 2, 3):
            start(["etcd", "--name", "m%d" % i, "--data-dir", "%s/etcd%d" % (tmp, i),
                   "--listen-client-urls", "http://127.0.0.1:%d" % (23790 + i),
                   "--advertise-client-urls", "http://127.0.0.1:%d" % (23790 + i),
                   "--listen-peer-urls", "http://127.0.0.1:%d" % (23800 + i),
                   "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % (23800 + i),
                   "--initial-cluster", cluster, "--initial-cluster-state", "new",
                   "--logger", "zap", "--log-level", "warn"], "%s/etcd%d.log" % (tmp, i))
        # Cairn, 3 servers
        for i in (1, 2, 3):
            peers = []
            for j in (1, 2, 3):
                if j != i:
                    peers += ["-raft-peer", "s%d=127.0.0.%d:28300" % (j, j)]
            start([os.path.join(BUILD, "cairn"), "agent", "-server", "-bootstrap-expect", "3",
                   "-node", "s%d" % i, "-bind", "127.0.0.%d" % i, "-client", "127.0.0.%d" % i,
                   "-data-dir", "%s/cairn%d" % (tmp, i), "-server-port", "28300",
                   "-http-port", "28500", "-dns-port", "-1"] + peers,
                  "%s/cairn%d.log" % (tmp, i))

        def etcd_leader():
            out = subprocess.run(["etcdctl", "--endpoints",
                                  ",".join("127.0.0.1:%d" % (23790 + i) for i in (1, 2, 3)),
                                  "endpoint", "status", "-w", "json"],
                                 capture_output=True, text=True, timeout=10,
                                 env=dict(os.environ, ETCDCTL_API="3")).stdout
            for st in json.loads(out):
                if st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                    return st["Endpoint"]
        el = wait(etcd_leader, 60, "an etcd leader")
        ehost, eport = el.split(":")

        def cairn_leader():
            st, body = call("127.0.0.1", 28500, "GET", "/v1/status/leader")
            addr = json.loads(body)
            return addr.split(":")[0] if addr else None
        try:
            chost = wait(cairn_leader, 60, "a Cairn leader")
        except SystemExit:
            sys.stderr.write(open("%s/cairn1.log" % tmp).read()[-3000:])
            raise
        # the same keys exist on both
        for i in range(NKEYS):
            key = "bench/k%08d" % i
            call(chost, 28500, "PUT", "/v1/kv/" + key, b"x" * 100)
        import base64
        for i in range(NKEYS):
            key = base64.b64encode(("bench/k%08d" % i).encode()).decode()
            call(ehost, int(eport), "POST", "/v3/kv/put",
                 json.dumps({"key": key, "value": base64.b64encode(b"x" * 100).decode()}))
        for conns in CONNS:
            for name, url, env in (
                    ("cairn.put", "http://%s:28500" % chost, {"KV_TARGET": "cairn", "KV_OP": "put"}),
                    ("etcd.put", "http://%s" % el, {"KV_TARGET": "etcd", "KV_OP": "put"}),
                    ("cairn.get_default", "http://%s:28500" % chost, {"KV_TARGET": "cairn", "KV_OP": "get"}),
                    ("cairn.get_stale", "http://%s:28500" % chost,
                     {"KV_TARGET": "cairn", "KV_OP": "get", "KV_MODE": "stale"}),
                    ("etcd.get_ser", "http://%s" % el,
                     {"KV_TARGET": "etcd", "KV_OP": "get", "KV_MODE": "ser"})):
                if env["KV_OP"] not in OPS:
                    continue
                env["KV_KEYS"] = str(NKEYS)
                rps, p50, p99, bad = wrk(url, conns, env)
                results[(name, conns)] = (rps, p50, p99)
                print("%s.c%d %.0f ops/s p50 %.2f ms p99 %.2f ms%s" %
                      (name, conns, rps, p50, p99, " (%d errors)" % bad if bad else ""))
                sys.stdout.flush()
        for conns in CONNS:
            if "put" not in OPS or "get" not in OPS:
                if "put" in OPS:
                    w = results[("cairn.put", conns)][0] / results[("etcd.put", conns)][0]
                    p = results[("cairn.put", conns)][2] / max(results[("etcd.put", conns)][2], 1e-6)
                    print("ratio.c%d writes %.2fx (p99 %.2fx) (Cairn/etcd)" % (conns, w, p))
                continue
            w = results[("cairn.put", conns)][0] / results[("etcd.put", conns)][0]
            r = results[("cairn.get_default", conns)][0] / results[("etcd.get_ser", conns)][0]
            s = results[("cairn.get_stale", conns)][0] / results[("etcd.get_ser", conns)][0]
            p = results[("cairn.put", conns)][2] / max(results[("etcd.put", conns)][2], 1e-6)
            print("ratio.c%d writes %.2fx (p99 %.2fx), default reads %.2fx, stale reads %.2fx "
                  "(Cairn/etcd; targets: writes >= 3x at c64, reads >= 4x)" % (conns, w, p, r, s))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
