#!/usr/bin/env python3
"""wclient.py CONFIG.json - the per-node client process of the fault-test
workload (Python 3 standard library only).  tests/fault/workload.py starts
one per node; it talks to the node's own agent over HTTP from inside the
node's network namespace: either its client threads each enter the
namespace with setns(2) (config "netns"; the process itself stays in the
root namespace) or the whole process was started there (`ip netns exec NS
python3 wclient.py CONFIG`); for loopback clusters, neither.

Two jobs, chosen by the config:

  run    several client threads (register, set and lock workloads) until
         SIGTERM, the absolute deadline, or the driver going away; every
         operation is recorded;
  final  after the cluster healed: one ?consistent read of every register
         key and of the set prefix, each retried until it succeeds or the
         deadline passes.

Output: JSON lines in config["out"], one writer lock, a flush per line, so
that a process killed at any moment leaves every finished line behind:

  {"ev": "invoke", "client": C, "seq": S, ...op fields, "start": T}
  {"ev": "done",   "client": C, "seq": S, ...the complete op record}

An invoke line without its done line is an operation that was in flight
when the process died; the driver records it as "unknown".  Times are
time.monotonic_ns() (CLOCK_MONOTONIC: one clock for every namespace of the
host).  The process prints "ready" on stdout once its threads run.

Result rules (per operation, one HTTP request each, a new connection each):
  - the connection cannot be made (refused, unreachable, connect timeout):
    nothing was sent, "fail";
  - a timeout, reset or close after the request may have been sent:
    "unknown" (the operation may or may not take effect);
  - an HTTP answer: 2xx per operation (a write answered `false` is "fail",
    a CAS answered `false` is "ok" with applied false, a read's 404 is "ok"
    with value null); a read's 4xx/5xx "fail"; a write's 4xx "fail" (refused)
    but its 5xx "unknown": Consul's 500 does not say the write was not
    applied (a leader lost mid-commit, a disk that filled after the entry
    went out to the followers: it may still commit).
Every record also carries "status" (the HTTP status, or null) and "error"
(a short reason, or null) for diagnosis."""
import base64
import ctypes
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import traceback

CLONE_NEWNET = 0x40000000

# the op mix of a register client (set_workload adds "add"); relative weights
MIX = {"read": 40, "write": 20, "cas": 25, "add": 15}


def now():
    return time.monotonic_ns()


class Recorder:
    """Thread-safe JSONL writer: one line per event, flushed at once."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, rec):
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        with self.lock:
            if not self.f.closed:
                self.f.write(line)
                self.f.flush()

    def close(self):
        with self.lock:
            self.f.close()


def enter_netns(name):
    """Move the calling thread (only it) into network namespace NAME: the
    sockets it opens afterwards live there.  Used by the "setns" launch
    mode, which keeps the process itself in the root namespace (out of
    `ip netns pids`, so a fault that kills or stops a node's processes does
    not hit the clients)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (name, os.strerror(e)))
    finally:
        os.close(fd)


class Http:
    """One request per call on a fresh connection, bounded by timeout
    seconds from connect to the end of the answer."""

    def __init__(self, addr, timeout):
        host, _, port = addr.rpartition(":")
        self.host, self.port, self.timeout = host, int(port), timeout

    def call(self, method, path, body=None, timeout=None):
        """-> (kind, status, headers, text, error): kind "answer" (status,
        headers and text set), "fail" (not sent) or "unknown" (maybe sent)."""
        timeout = timeout or self.timeout
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as e:
                return "fail", None, {}, "", "connect: %s" % short(e)
            try:
                data = body.encode() if isinstance(body, str) else body
                conn.request(method, path, body=data,
                             headers={"Content-Type": "application/octet-stream"}
                             if data is not None else {})
                left = timeout - (time.monotonic() - t0)
                conn.sock.settimeout(max(left, 0.05))
                r = conn.getresponse()
                text = r.read().decode(errors="replace")
                return "answer", r.status, {k.lower(): v for k, v in r.getheaders()}, text, None
            except (OSError, http.client.HTTPException) as e:
                return "unknown", None, {}, "", short(e)
        finally:
            conn.close()


def short(e):
    s = "%s: %s" % (type(e).__name__, e)
    return s[:160]


def index_of(headers):
    v = headers.get("x-consul-index")
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def b64text(v):
    return None if v is None else base64.b64decode(v).decode(errors="replace")


class Client:
    """What every client thread shares: identity, output, pacing, stop."""

    def __init__(self, cfg, cid, rec, stop):
        self.cfg, self.id, self.rec, self.stop = cfg, cid, rec, stop
        self.node = cfg["node"]
        self.http = Http(cfg["http"], cfg["timeout"])
        self.rng = random.Random("%s-%d" % (cfg["seed"], cid))
        self.seq = 0        # per-client operation number (invoke/done pairing)
        self.n = 0          # per-client counter for unique values
        self.deadline = cfg["deadline_ns"]
        self.next_start = 0.0

    def unique(self):
        """A value no other operation of the run writes: c<client>-<n>."""
        self.n += 1
        return "c%d-%d" % (self.id, self.n)

    def running(self):
        return not self.stop.is_set() and now() < self.deadline and \
            self.seq < self.cfg["max_ops"]

    def pace(self):
        """Think time: a random pause, and at most cfg["rate"] operation
        starts per second; returns False if the client must stop."""
        think = self.rng.uniform(0, self.cfg["think_max"])
        t = time.monotonic()
        wait = max(self.next_start - t, think)
        if wait > 0 and self.stop.wait(wait):
            return False
        self.next_start = time.monotonic() + 1.0 / self.cfg["rate"]
        return self.running()

    def op(self, op, key, value=None, expect=None, mode="default", **extra):
        """Start recording one operation; returns its record (finish it
        with done()).  extra: more fields known at the start."""
        self.seq += 1
        r = {"client": self.id, "node": self.node, "op": op, "key": key,
             "value": value, "expect": expect, "start": now(), "end": None,
             "result": None, "index": None, "mode": mode, "token": None,
             "elements": None, "status": None, "error": None, "modify_index": None}
        if op == "cas":
            r["applied"] = None
        r.update(extra)
        inv = dict(r, ev="invoke", seq=self.seq)
        self.rec.write(inv)
        r["seq"] = self.seq
        return r

    def done(self, r, result, end=None, **kw):
        """Finish and write the record; end: when the operation's answer
        came, if earlier than now."""
        r.update(kw)
        r["result"] = result
        r["end"] = end if end is not None else now()
        self.rec.write(dict(r, ev="done"))
        return r

    def call(self, method, path, body=None, timeout=None):
        return self.http.call(method, path, body, timeout)


# ---------------------------------------------------------------- register

def mode_query(mode):
    return {"consistent": "?consistent", "stale": "?stale"}.get(mode, "")


def do_read(c, key, mode, op="read"):
    """GET the key; record it; -> (record, ModifyIndex or 0 if absent)."""
    r = c.op(op, key, mode=mode)
    kind, st, hdr, text, err = c.call("GET", "/v1/kv/" + key + mode_query(mode))
    if kind != "answer":
        return c.done(r, kind, error=err), None
    idx = index_of(hdr)
    if st == 404:
        return c.done(r, "ok", status=st, index=idx), 0
    if st != 200:
        return c.done(r, "fail", status=st, index=idx, error=text[:160]), None
    try:
        row = json.loads(text)[0]
        val, mi = b64text(row.get("Value")), int(row["ModifyIndex"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        return c.done(r, "fail", status=st, index=idx, error="bad body: " + short(e)), None
    return c.done(r, "ok", status=st, index=idx, value=val, modify_index=mi), mi


def write_result(c, r, kind, st, hdr, text, err, cas=False):
    """Finish a PUT's record from its answer: `true` ok, `false` fail (a
    CAS: ok with applied false), 4xx fail, 5xx and other bodies unknown."""
    if kind != "answer":
        return c.done(r, kind, error=err)
    idx = index_of(hdr)
    if st != 200:
        return c.done(r, "unknown" if st >= 500 else "fail", status=st, index=idx,
                      error=text[:160])
    body = text.strip()
    if body not in ("true", "false"):
        return c.done(r, "unknown", status=st, index=idx, error="body %r" % body[:60])
    if cas:
        return c.done(r, "ok", status=st, index=idx, applied=body == "true")
    return c.done(r, "ok" if body == "true" else "fail", status=st, index=idx)


def register_loop(c):
    """Reads, unique writes, CAS (read then ?cas=ModifyIndex) and, with the
    set workload, unique set adds, until told to stop."""
    cfg = c.cfg
    mix = {k: w for k, w in MIX.items() if k != "add" or cfg["set_workload"]}
    ops, weights = list(mix), list(mix.values())
    while c.pace():
        what = c.rng.choices(ops, weights)[0]
        key = cfg["prefix"] + "reg/k%d" % c.rng.randrange(cfg["keys"])
        mode = c.rng.choice(cfg["modes"])
        if what == "read":
            do_read(c, key, mode)
        elif what == "write":
            v = c.unique()
            r = c.op("write", key, value=v)
            write_result(c, r, *c.call("PUT", "/v1/kv/" + key, v))
        elif what == "cas":
            rd, mi = do_read(c, key, mode)
            if rd["result"] != "ok" or not c.running():
                continue
            v = c.unique()
            r = c.op("cas", key, value=v, expect=rd["value"], modify_index=mi)
            write_result(c, r, *c.call("PUT", "/v1/kv/%s?cas=%d" % (key, mi), v), cas=True)
        else:
            v = c.unique()
            r = c.op("add", cfg["prefix"] + "set/" + v, value=v)
            write_result(c, r, *c.call("PUT", "/v1/kv/" + r["key"], v))


# ---------------------------------------------------------------- lock

def session_create(c):
    body = json.dumps({"Name": "wl-c%d" % c.id, "TTL": "%ds" % c.cfg["lock_ttl"],
                       "LockDelay": "0s", "Behavior": "release"})
    kind, st, _, text, _ = c.call("PUT", "/v1/session/create", body)
    if kind == "answer" and st == 200:
        try:
            return json.loads(text)["ID"]
        except (ValueError, KeyError, TypeError):
            return None
    return None


def lock_loop(c):
    """Session, acquire, learn the fencing token (LockIndex), hold, renew
    past TTL/2, release, destroy; again until told to stop."""
    cfg = c.cfg
    ttl = cfg["lock_ttl"]
    lock_key = cfg["prefix"] + "lock/the"
    while c.pace():
        sid = session_create(c)
        if sid is None:
            continue  # pace() backs off
        v = c.unique()
        r = c.op("acquire", lock_key, value=v, session=sid)
        kind, st, hdr, text, err = c.call("PUT", "/v1/kv/%s?acquire=%s" % (lock_key, sid), v)
        t_answer = now()
        held = False
        if kind != "answer":
            c.done(r, kind, error=err)
        elif st != 200 or text.strip() != "true":
            c.done(r, "unknown" if st >= 500 else
                   "fail" if st != 200 or text.strip() == "false" else "unknown",
                   status=st, index=index_of(hdr), error=None if st == 200 else text[:160])
        else:
            # the fencing token: LockIndex, as long as our session holds it
            # (the acquire ends at its answer, before this read)
            token = None
            k2, st2, _, t2, _ = c.call("GET", "/v1/kv/%s?consistent" % lock_key)
            if k2 == "answer" and st2 == 200:
                try:
                    row = json.loads(t2)[0]
                    if row.get("Session") == sid:
                        token = int(row["LockIndex"])
                except (ValueError, KeyError, IndexError, TypeError):
                    pass
            c.done(r, "ok", end=t_answer, status=st, index=index_of(hdr), token=token)
            held = True
            # hold, renewing the session past TTL/2
            hold_end = time.monotonic() + c.rng.uniform(cfg["hold_min"], cfg["hold_max"])
            renewed = time.monotonic()
            while time.monotonic() < hold_end and c.running():
                if time.monotonic() - renewed > ttl / 2:
                    c.call("PUT", "/v1/session/renew/" + sid)
                    renewed = time.monotonic()
                c.stop.wait(min(0.1, max(hold_end - time.monotonic(), 0)))
        if held or r["result"] == "unknown":
            # after an unknown acquire the lock may be ours: release too
            rl = c.op("release", lock_key, value=v, token=r["token"], session=sid)
            write_result(c, rl, *c.call("PUT", "/v1/kv/%s?release=%s" % (lock_key, sid), v,
                                        timeout=min(cfg["timeout"], 1.0)
                                        if c.stop.is_set() else None))
        # not recorded; the TTL ends a session we fail to destroy (short
        # when stopping, so that stop() stays quick)
        c.call("PUT", "/v1/session/destroy/" + sid,
               timeout=min(cfg["timeout"], 1.0) if c.stop.is_set() else None)


# ---------------------------------------------------------------- final reads

def final_reads(c, keys):
    """One ?consistent read of every register key (op "read") and of the
    set prefix (op "final_read"), each retried until ok or the deadline;
    only the last attempt is recorded."""
    pfx = c.cfg["prefix"]
    for key in [pfx + "reg/k%d" % i for i in range(keys)] + [pfx + "set/"]:
        is_set = key == pfx + "set/"
        while True:
            r = c.op("final_read" if is_set else "read", key, mode="consistent")
            path = "/v1/kv/" + key + ("?recurse&consistent" if is_set else "?consistent")
            kind, st, hdr, text, err = c.call("GET", path)
            res, kw = kind, {"error": err}
            if kind == "answer":
                kw = {"status": st, "index": index_of(hdr)}
                if st == 404:
                    res = "ok"
                    kw["elements" if is_set else "value"] = [] if is_set else None
                elif st == 200:
                    try:
                        rows = json.loads(text)
                        if is_set:
                            kw["elements"] = [b64text(x.get("Value")) for x in rows]
                        else:
                            kw["value"] = b64text(rows[0].get("Value"))
                            kw["modify_index"] = int(rows[0]["ModifyIndex"])
                        res = "ok"
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        res, kw["error"] = "fail", "bad body: " + short(e)
                else:
                    res, kw["error"] = "fail", text[:160]
            last = res == "ok" or now() + 250_000_000 >= c.deadline or c.stop.is_set()
            if last:
                c.done(r, res, **kw)
                break
            # a retry: the attempt is dropped from the history (its invoke
            # line is cancelled so the driver does not count it unknown)
            c.rec.write({"ev": "cancel", "client": c.id, "seq": r["seq"]})
            c.stop.wait(0.2)


# ---------------------------------------------------------------- main

def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ppid = os.getppid()
    rec = Recorder(cfg["out"])
    netns = cfg.get("netns")
    errors = []
    entered = []  # one Event per thread: set once it is in its namespace

    def thread_main(fn, c, ev):
        try:
            if netns:
                enter_netns(netns)
        except OSError as e:
            errors.append(e)
            print("client %d: %s" % (c.id, short(e)), file=sys.stderr, flush=True)
            ev.set()
            return
        ev.set()
        try:
            fn(c)
        except Exception as e:  # noqa: BLE001 - reported, the others go on
            errors.append(e)
            print("client %d: %s" % (c.id, short(e)), file=sys.stderr, flush=True)
            traceback.print_exc()

    def new_event():
        entered.append(threading.Event())
        return entered[-1]

    threads = []
    if cfg["job"] == "final":
        c = Client(cfg, cfg["final_client"], rec, stop)
        threads.append(threading.Thread(target=thread_main, args=(
            lambda c: final_reads(c, cfg["keys"]), c, new_event())))
    else:
        for cid in cfg["register_clients"]:
            threads.append(threading.Thread(target=thread_main, args=(
                register_loop, Client(cfg, cid, rec, stop), new_event())))
        for cid in cfg["lock_clients"]:
            threads.append(threading.Thread(target=thread_main, args=(
                lock_loop, Client(cfg, cid, rec, stop), new_event())))
    for t in threads:
        t.daemon = True
        t.start()
    # "ready" only once every thread is in its namespace; a thread that
    # cannot get there (no such namespace, no privilege) fails the start
    end = time.monotonic() + 10
    for ev in entered:
        ev.wait(max(end - time.monotonic(), 0))
    if errors or not all(ev.is_set() for ev in entered):
        print("cannot start the clients: %s" % (errors or "timeout"), file=sys.stderr)
        sys.exit(2)
    print("ready", flush=True)
    # wait for SIGTERM, the deadline, the driver's exit or every thread's end
    while not stop.is_set():
        if now() >= cfg["deadline_ns"] or os.getppid() != ppid or \
                not any(t.is_alive() for t in threads):
            stop.set()
            break
        stop.wait(0.1)
    # threads end within one operation timeout plus a release and destroy
    end = time.monotonic() + 3 * cfg["timeout"] + 1
    for t in threads:
        t.join(max(end - time.monotonic(), 0))
    rec.close()
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
