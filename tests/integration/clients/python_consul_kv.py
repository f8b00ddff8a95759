"""python_consul_kv.py PORT - Debian's python3-consul (0.7.1) against a
Cairn agent: status, KV put/get/recurse/keys/cas/delete, consistency modes
and a blocking get woken by a write.  Exits non-zero on any mismatch."""
import sys
import consul, threading, time
c = consul.Consul(host="127.0.0.1", port=int(sys.argv[1]))
print("leader", c.status.leader())
print("peers", c.status.peers())
assert c.kv.put("py/a", "hello") is True
idx, v = c.kv.get("py/a")
print(idx, v["Key"], v["Value"], v["Flags"])
assert v["Value"] == b"hello"
assert c.kv.put("py/b", "x", flags=7) is True
idx, vs = c.kv.get("py/", recurse=True)
print([x["Key"] for x in vs])
idx2, keys = c.kv.get("py/", keys=True)
print(keys)
assert c.kv.put("py/a", "new", cas=v["ModifyIndex"]) is True
assert c.kv.put("py/a", "newer", cas=v["ModifyIndex"]) is False
res = {}
def blocker():
    res["r"] = c.kv.get("py/a", index=idx, wait="10s")
idx, _ = c.kv.get("py/a")
t = threading.Thread(target=blocker); t.start(); time.sleep(0.5)
c.kv.put("py/a", "woken")
t.join(5)
print("blocking", res["r"][0] > idx, res["r"][1]["Value"])
assert res["r"][1]["Value"] == b"woken"
assert c.kv.get("py/missing") == (c.kv.get("py/missing")[0], None)
assert c.kv.delete("py/", recurse=True) is True
print("deleted", c.kv.get("py/", recurse=True)[1])
print("consistency", c.kv.get("py/none", consistency="consistent")[1], c.kv.get("py/none", consistency="stale")[1])
print("OK")
