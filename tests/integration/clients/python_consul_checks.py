"""python_consul_checks.py HOST PORT - Debian's python3-consul (0.7.1)
against one Cairn agent: agent.service.register with a TTL check (sent as
lowercase keys), agent.services/checks, the instance in catalog.service and
health.service (passing only after ttl_pass), ttl_fail hiding it again, a
standalone check bound to the service, agent.service.maintenance, and
deregistration removing it everywhere.  Prints OK at the end; exits non-zero
on any mismatch."""
import sys
import time

import consul


def check(cond, what, got):
    if not cond:
        raise SystemExit("FAILED: expected %s, got %r" % (what, got))


def wait(pred, what, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit("FAILED: timed out waiting for %s" % what)


c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
ok = c.agent.service.register("pyweb", service_id="pyweb-1", port=8080,
                              tags=["blue", "v2"], check=consul.Check.ttl("30s"))
check(ok is True, "service.register -> True", ok)
svcs = c.agent.services()
print("services", svcs)
check("pyweb-1" in svcs, "pyweb-1 among agent.services()", svcs)
s = svcs["pyweb-1"]
check((s["Service"], s["Port"], s["Tags"]) == ("pyweb", 8080, ["blue", "v2"]),
      "Service/Port/Tags as registered", s)
checks = c.agent.checks()
check(checks.get("service:pyweb-1", {}).get("Status") == "critical",
      "the TTL check critical before its first pass", checks)

idx, inst = wait(lambda: (lambda r: r if r[1] else None)(c.catalog.service("pyweb")),
                 "pyweb in the catalog")
print("catalog", idx, inst)
check([i["ServiceID"] for i in inst] == ["pyweb-1"], "one catalog instance", inst)
check(inst[0]["ServicePort"] == 8080, "ServicePort 8080", inst[0])
idx, nodes = c.health.service("pyweb", passing=True)
check(nodes == [], "no passing instance yet", nodes)

check(c.agent.check.ttl_pass("service:pyweb-1", "all good") is True, "ttl_pass -> True", None)
idx, nodes = wait(lambda: (lambda r: r if r[1] else None)(c.health.service("pyweb", passing=True)),
                  "a passing pyweb")
print("health", idx, nodes)
ck = [x for x in nodes[0]["Checks"] if x["CheckID"] == "service:pyweb-1"][0]
check((ck["Status"], ck["Output"]) == ("passing", "all good"), "passing, output 'all good'", ck)

check(c.agent.check.ttl_fail("service:pyweb-1", "down") is True, "ttl_fail -> True", None)
wait(lambda: c.health.service("pyweb", passing=True)[1] == [], "pyweb hidden again")
idx, states = c.health.state("critical")
check(any(x["CheckID"] == "service:pyweb-1" for x in states), "the check among critical", states)

ok = c.agent.check.register("pyweb-extra", check=consul.Check.ttl("30s"),
                            check_id="pyweb-extra", service_id="pyweb-1", notes="extra")
check(ok is True, "check.register -> True", ok)
extra = c.agent.checks()["pyweb-extra"]
check((extra["ServiceID"], extra["Notes"]) == ("pyweb-1", "extra"), "bound extra check", extra)
check(c.agent.check.deregister("pyweb-extra") is True, "check.deregister -> True", None)
check("pyweb-extra" not in c.agent.checks(), "extra check gone", None)

check(c.agent.service.maintenance("pyweb-1", "true", "upgrade") is True,
      "service.maintenance -> True", None)
check(c.agent.checks()["_service_maintenance:pyweb-1"]["Notes"] == "upgrade",
      "maintenance check with the reason", None)
c.agent.service.maintenance("pyweb-1", "false")

check(c.agent.service.deregister("pyweb-1") is True, "service.deregister -> True", None)
check("pyweb-1" not in c.agent.services(), "pyweb-1 gone from the agent", None)
wait(lambda: c.catalog.service("pyweb")[1] == [], "pyweb gone from the catalog")
print("OK")
