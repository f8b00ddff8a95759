"""python_consul_session.py HOST PORT - Debian's python3-consul (0.7.1)
sessions and locks against one Cairn agent: session.create with a TTL and a
lock delay (sent as lowercase "ttl"/"lockdelay"), kv.put with acquire=,
kv.get showing Session, a blocking kv.get(index=...) woken by a write from
another thread, session.renew/info/list/node/destroy, and the lock released
by the destroy.  Prints OK at the end; exits non-zero on any mismatch."""
import sys
import threading
import time

import consul


def check(cond, what, got):
    if not cond:
        raise SystemExit("FAILED: expected %s, got %r" % (what, got))


c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
sid = c.session.create(name="py-lock", ttl=20, lock_delay=1)
print("session", sid)
check(isinstance(sid, str) and len(sid) == 36, "a 36-char session id", sid)

idx, s = c.session.info(sid)
print("info", idx, s)
check(s is not None and s["ID"] == sid, "info of the new session", s)
check(s["Name"] == "py-lock", "Name py-lock", s.get("Name"))
check(s["TTL"] == "20s", "TTL 20s", s.get("TTL"))
check(s["LockDelay"] == 1000000000, "LockDelay 1s = 1000000000 ns", s.get("LockDelay"))
check(s["Behavior"] == "release", "Behavior release", s.get("Behavior"))
check(int(idx) >= 1, "an index >= 1", idx)

ok = c.kv.put("pysess/lock", "holder-1", acquire=sid)
check(ok is True, "kv.put(acquire=) -> True", ok)
idx, v = c.kv.get("pysess/lock")
print("locked", idx, v)
check(v is not None and v.get("Session") == sid, "Session == %s on the locked key" % sid, v)
check(v["Value"] == b"holder-1", "Value b'holder-1'", v["Value"])
check(v["LockIndex"] == 1, "LockIndex 1", v["LockIndex"])

# a second session cannot take it
other = c.session.create(name="py-other", lock_delay=0)
ok = c.kv.put("pysess/lock", "holder-2", acquire=other)
check(ok is False, "kv.put(acquire=<other session>) -> False while held", ok)

# a blocking get wakes when another thread writes
res = {}


def blocker():
    t0 = time.monotonic()
    res["r"] = c.kv.get("pysess/lock", index=idx, wait="15s")
    res["took"] = time.monotonic() - t0


t = threading.Thread(target=blocker)
t.start()
time.sleep(0.5)
check(t.is_alive(), "the blocking get still waiting before the write", res)
check(c.kv.put("pysess/lock", "holder-1b", acquire=sid) is True,
      "re-acquire by the holder -> True", False)
t.join(10)
check("r" in res, "the blocking get to return after the write", res)
print("woken", res["r"][0], res["took"])
check(int(res["r"][0]) > int(idx), "a new index > %s" % idx, res["r"][0])
check(res["r"][1]["Value"] == b"holder-1b", "the new value b'holder-1b'", res["r"][1])
check(res["r"][1]["LockIndex"] == 1, "LockIndex still 1 (same holder)", res["r"][1])
check(res["took"] < 5, "woken in < 5 s", res["took"])

s = c.session.renew(sid)
print("renew", s)
check(s is not None and s["ID"] == sid, "renew -> the session", s)

idx, ss = c.session.list()
ids = [x["ID"] for x in ss]
print("list", ids)
check(sid in ids and other in ids, "both sessions listed", ids)
idx, ss = c.session.node(s["Node"])
check(sid in [x["ID"] for x in ss], "the session under its node %s" % s["Node"], ss)

check(c.session.destroy(sid) is True, "destroy -> True", False)
idx, s = c.session.info(sid)
check(s is None, "info of a destroyed session -> None", s)
idx, v = c.kv.get("pysess/lock")
print("after destroy", v)
check("Session" not in v, "no Session after the holder's destroy", v)
check(c.session.destroy(other) is True, "destroy other -> True", False)
check(c.kv.delete("pysess/", recurse=True) is True, "cleanup delete -> True", False)
print("OK")
