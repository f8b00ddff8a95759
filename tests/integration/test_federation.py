"""test_federation.py - two datacenters on four hosts of the netns fault
lab: dc1 = server s1 (10.200.0.1) + client c1 (.2), dc2 = server s2 (.3)
+ client c2 (.4).  The servers meet in the WAN pool with `cairn join
-wan`; then, as users do it through dc1's client agent:

  - `cairn members -wan` lists both servers as node.dc;
  - /v1/catalog/datacenters and `cairn catalog datacenters` list both,
    nearest (our own) first;
  - a KV write in dc2 made with ?dc=dc2 through dc1 is read back in dc2,
    and a blocking query on it through dc1 wakes on a change made in dc2;
  - a service registered on dc2's client is found through dc1 over HTTP
    (?dc=dc2) and DNS (web.service.dc2.consul);
  - a prepared query of dc1 (OnlyPassing, Failover NearestN 1 + dc2)
    answers with dc1's instance, with dc2's over HTTP and DNS once dc1's
    check fails (Failovers 1), and with dc1's again when it passes;
  - an unknown datacenter: 500 "No path to datacenter" and NXDOMAIN;
  - the WAN cut (dc1's hosts from dc2's): each datacenter keeps serving
    its own reads and writes, cross-datacenter requests fail with a clear
    error (HTTP 500 "Remote DC has no server currently reachable" after
    one 3 s attempt per server of dc2; DNS SERVFAIL or the last copy) and
    work again once the network heals.

Needs root; SKIPs where the lab cannot run."""
import json
import os
import subprocess
import time

import harness
from harness import Notify, Proc, TmpDir, binary, main, wait_for
from test_gossip import LAB_STATE, Lab, lab_test  # noqa: F401

del harness._tests[:]  # test_gossip's tests run from their own file

IP = {1: "10.200.0.1", 2: "10.200.0.2", 3: "10.200.0.3", 4: "10.200.0.4"}


class Host:
    """`cairn agent` in lab host i; CLI, curl and dig run inside it."""

    def __init__(self, lab, tmp, i, name, args):
        self.lab, self.i, self.name = lab, i, name
        d = os.path.join(tmp.path, "notify-" + name)
        os.makedirs(d)
        self.n = Notify(d)
        self.p = Proc(["ip", "netns", "exec", lab.ns(i), binary("cairn"), "agent",
                       "-node", name, "-bind", IP[i],
                       "-data-dir", os.path.join(tmp.path, name)] + list(args),
                      tmp.path, name, env={"NOTIFY_SOCKET": self.n.path})
        self.n.wait("READY=1", 60)

    def run(self, *args, timeout=40):
        return subprocess.run(["ip", "netns", "exec", self.lab.ns(self.i)] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def cli(self, *args):
        return self.run(binary("cairn"), *args)

    def http(self, path, method="GET", data=None, max_time=30):
        args = ["curl", "-s", "-S", "--max-time", str(max_time), "-X", method,
                "-w", "\n%{http_code}"]
        if data is not None:
            args += ["--data-binary", data]
        r = self.run(*(args + ["http://127.0.0.1:8500" + path]), timeout=max_time + 10)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def dig(self, name, qtype="A"):
        r = self.run("dig", "@127.0.0.1", "-p", "8600", "+tries=1", "+time=15",
                     name, qtype)
        status = ""
        for line in r.stdout.splitlines():
            if "status:" in line:
                status = line.split("status:")[1].split(",")[0].strip()
        answers = [line.split() for line in r.stdout.split(";; ANSWER SECTION:")[-1]
                   .split("\n\n")[0].splitlines()[1:] if line.strip()] \
            if ";; ANSWER SECTION:" in r.stdout else []
        return status, answers

    def stop(self):
        self.p.stop(timeout=20)
        self.n.close()


def kv_value(host, path):
    st, body = host.http(path)
    if st != 200:
        return None
    import base64
    return base64.b64decode(json.loads(body)[0]["Value"]).decode()


@lab_test
def two_datacenters_over_the_wan():
    tmp = TmpDir(prefix="cairn-fed.")
    lab = Lab(4)
    hosts = []
    try:
        s1 = Host(lab, tmp, 1, "s1", ["-server", "-bootstrap", "-datacenter", "dc1"])
        hosts.append(s1)
        c1 = Host(lab, tmp, 2, "c1", ["-datacenter", "dc1", "-retry-join", IP[1]])
        hosts.append(c1)
        s2 = Host(lab, tmp, 3, "s2", ["-server", "-bootstrap", "-datacenter", "dc2",
                                      "-retry-join-wan", IP[1]])
        hosts.append(s2)
        c2 = Host(lab, tmp, 4, "c2", ["-datacenter", "dc2", "-retry-join", IP[3]])
        hosts.append(c2)
        for h in hosts:
            wait_for(lambda: h.http("/v1/status/leader")[1] not in ("", '""'), 30,
                     "a leader seen by " + h.name)

        # WAN join (s2 also has -retry-join-wan): members -wan
        r = s1.cli("join", "-wan", IP[3])
        assert r.returncode == 0, (r.stdout, r.stderr)

        def wan_members():
            r = s1.cli("members", "-wan")
            return {f[0]: f[2] for f in (l.split() for l in r.stdout.splitlines()[1:]) if f}
        wait_for(lambda: wan_members() == {"s1.dc1": "alive", "s2.dc2": "alive"}, 30,
                 "both servers in the WAN pool")
        # the datacenters, through a client of dc1
        wait_for(lambda: c1.http("/v1/catalog/datacenters") == (200, '["dc1","dc2"]'),
                 30, "both datacenters listed")
        r = c1.cli("catalog", "datacenters")
        assert r.stdout.split() == ["dc1", "dc2"], r.stdout

        # KV in dc2 through dc1, read back in dc2
        assert c1.http("/v1/kv/fed/key?dc=dc2", "PUT", "written-from-dc1") == (200, "true")
        assert kv_value(c2, "/v1/kv/fed/key") == "written-from-dc1"
        assert c1.http("/v1/kv/fed/key")[0] == 404  # not in dc1
        r = c1.cli("kv", "get", "-datacenter=dc2", "fed/key")
        assert r.stdout.strip() == "written-from-dc1", (r.stdout, r.stderr)
        # a blocking query across the WAN wakes on a change in dc2
        st, body = c1.http("/v1/kv/fed/key?dc=dc2")
        idx = json.loads(body)[0]["ModifyIndex"]
        t0 = time.monotonic()
        blocker = subprocess.Popen(
            ["ip", "netns", "exec", lab.ns(2), "curl", "-s", "--max-time", "30",
             "http://127.0.0.1:8500/v1/kv/fed/key?dc=dc2&index=%d&wait=20s" % idx],
            stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert c2.http("/v1/kv/fed/key", "PUT", "changed-in-dc2") == (200, "true")
        out, _ = blocker.communicate(timeout=40)
        woke = time.monotonic() - t0
        assert "Y2hhbmdlZC1pbi1kYzI=" in out and woke < 10, (woke, out)

        # a service of dc2, found through dc1 over HTTP and DNS
        svc = json.dumps({"Name": "web", "Port": 8080, "Tags": ["v1"]})
        assert c2.http("/v1/agent/service/register", "PUT", svc)[0] == 200
        wait_for(lambda: json.loads(c1.http("/v1/health/service/web?dc=dc2")[1] or "[]"),
                 30, "web of dc2 seen through dc1")
        inst = json.loads(c1.http("/v1/health/service/web?dc=dc2")[1])
        assert [(i["Node"]["Node"], i["Node"]["Datacenter"], i["Service"]["Port"])
                for i in inst] == [("c2", "dc2", 8080)], inst
        assert c1.http("/v1/health/service/web")[1] == "[]"  # none in dc1
        st, ans = c1.dig("web.service.dc2.consul", "SRV")
        assert st == "NOERROR" and ans and ans[0][-1] == "c2.node.dc2.consul.", (st, ans)
        st, ans = c1.dig("v1.web.service.dc2.consul")
        assert st == "NOERROR" and [a[-1] for a in ans] == [IP[4]], (st, ans)
        st, ans = c1.dig("c2.node.dc2.consul")
        assert st == "NOERROR" and [a[-1] for a in ans] == [IP[4]], (st, ans)

        # a prepared query of dc1 that fails over to dc2
        for h in (c1, c2):
            assert h.http("/v1/agent/service/register", "PUT", json.dumps(
                {"Name": "db", "Port": 5432, "Check": {"TTL": "60s", "Status": "passing"}}
            ))[0] == 200
        wait_for(lambda: len(json.loads(c1.http("/v1/health/service/db?passing")[1])) == 1 and
                 len(json.loads(c2.http("/v1/health/service/db?passing")[1])) == 1,
                 30, "db passing in both datacenters")
        st, body = c1.http("/v1/query", "POST", json.dumps(
            {"Name": "db", "Service": {"Service": "db", "OnlyPassing": True,
                                       "Failover": {"NearestN": 1, "Datacenters": ["dc2"]}}}))
        assert st == 200, body

        def executed():
            res = json.loads(c1.http("/v1/query/db/execute")[1])
            return (res["Datacenter"], res["Failovers"],
                    [n["Node"]["Node"] for n in res["Nodes"]])
        assert executed() == ("dc1", 0, ["c1"]), executed()
        assert [a[-1] for a in c1.dig("db.query.consul")[1]] == [IP[2]]
        # no healthy db in dc1: dc2's, over HTTP and DNS
        assert c1.http("/v1/agent/check/fail/service:db", "PUT")[0] == 200
        wait_for(lambda: executed() == ("dc2", 1, ["c2"]), 20, "failover to dc2")
        st, ans = c1.dig("db.query.consul")
        assert st == "NOERROR" and [a[-1] for a in ans] == [IP[4]], (st, ans)
        st, ans = c1.dig("db.query.consul", "SRV")
        assert ans and ans[0][-1] == "c2.node.dc2.consul.", ans
        # and back once dc1's is healthy again
        assert c1.http("/v1/agent/check/pass/service:db", "PUT")[0] == 200
        wait_for(lambda: executed() == ("dc1", 0, ["c1"]), 20, "dc1 again")

        # an unknown datacenter
        assert c1.http("/v1/kv/x?dc=nowhere") == (500, "No path to datacenter")
        assert c1.dig("web.service.nowhere.consul")[0] == "NXDOMAIN"

        # the WAN cut: each datacenter serves itself, cross-DC fails clearly
        lab.sh("partition", "1,2", "3,4")
        assert c1.http("/v1/kv/local1", "PUT", "a") == (200, "true")
        assert c2.http("/v1/kv/local2", "PUT", "b") == (200, "true")
        t0 = time.monotonic()
        st, body = c1.http("/v1/kv/fed/key?dc=dc2", max_time=60)
        took = time.monotonic() - t0
        assert st == 500 and body in ("Remote DC has no server currently reachable",
                                      "No path to datacenter"), (st, body)
        assert took < 30, took
        print("  cross-DC read failed after %.1f s during the cut: %s" % (took, body))
        # DNS: answered from the copy it has, or SERVFAIL; never a hang
        assert c1.dig("web.service.dc2.consul", "SRV")[0] in ("SERVFAIL", "NOERROR")
        assert kv_value(c1, "/v1/kv/local1") == "a"
        assert kv_value(c2, "/v1/kv/local2") == "b"

        # heal: cross-DC works again
        lab.sh("heal")
        wait_for(lambda: c1.http("/v1/kv/fed/key?dc=dc2")[0] == 200, 60,
                 "cross-DC reads after the heal")
        assert kv_value(c1, "/v1/kv/local2?dc=dc2") == "b"
        assert c2.http("/v1/kv/back?dc=dc1", "PUT", "from-dc2") == (200, "true")
        assert kv_value(c1, "/v1/kv/back") == "from-dc2"
        wait_for(lambda: c1.dig("web.service.dc2.consul", "SRV")[1], 20,
                 "DNS across the WAN again")
    finally:
        for h in hosts:
            h.stop()
        lab.down()
        tmp.cleanup()


if __name__ == "__main__":
    main()
