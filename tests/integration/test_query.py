"""test_query.py - prepared queries (/v1/query) on a dev agent
(127.0.0.77): create, list, get, update, delete with Consul's errors;
execute with health filtering (OnlyPassing, tags, !tags), ?limit and
?near=_agent; name_prefix_match templates and explain; a query bound to
a session goes with it; DNS <name>.query.consul with the query's TTL and
NXDOMAIN for none; and Debian's python3-consul driving the same API.
Failover to another datacenter is test_federation's."""
import json
import os
import subprocess

from harness import Notify, Proc, TmpDir, binary, main, test, wait_for

IP = "127.0.0.77"


class Dev:
    def __init__(self, tmp):
        d = os.path.join(tmp.path, "dev")
        os.makedirs(d)
        self.n = Notify(d)
        self.p = Proc([binary("cairn"), "agent", "-dev", "-node", "qdev", "-bind", IP,
                       "-client", IP, "-data-dir", os.path.join(d, "data")],
                      d, "qdev", env={"NOTIFY_SOCKET": self.n.path})
        self.n.wait("READY=1", 30)
        wait_for(lambda: self.curl("/v1/status/leader")[1] not in ("", '""'), 20, "leader")

    def curl(self, path, method="GET", data=None):
        args = ["curl", "-s", "-S", "-X", method, "--max-time", "20", "-w", "\n%{http_code}"]
        if data is not None:
            args += ["--data-binary", "@-"]
        r = subprocess.run(args + ["http://%s:8500%s" % (IP, path)],
                           input=data.encode() if isinstance(data, str) else data,
                           capture_output=True, timeout=30)
        body, _, code = r.stdout.decode(errors="replace").rpartition("\n")
        return int(code or 0), body

    def json(self, path, method="GET", data=None):
        st, body = self.curl(path, method, data)
        assert st == 200, (path, st, body)
        return json.loads(body) if body else None

    def dig(self, name, qtype="A"):
        r = subprocess.run(["dig", "@" + IP, "-p", "8600", "+tries=1", "+time=5", name, qtype],
                           capture_output=True, text=True, timeout=20)
        status = r.stdout.split("status: ")[1].split(",")[0] if "status: " in r.stdout else ""
        ans = []
        if ";; ANSWER SECTION:" in r.stdout:
            sec = r.stdout.split(";; ANSWER SECTION:")[1].split("\n\n")[0]
            ans = [l.split() for l in sec.strip().splitlines()]
        return status, ans

    def stop(self):
        self.p.stop()
        self.n.close()


def register(d, sid, port, tags, status="passing"):
    body = json.dumps({"ID": sid, "Name": "web", "Port": port, "Tags": tags,
                       "Check": {"TTL": "60s", "Status": status}})
    assert d.curl("/v1/agent/service/register", "PUT", body) == (200, "")


def nodes_of(res):
    return sorted(n["Service"]["ID"] for n in res["Nodes"])


@test
def prepared_queries_crud_execute_templates_dns():
    tmp = TmpDir()
    d = Dev(tmp)
    try:
        register(d, "web1", 8001, ["v1", "primary"])
        register(d, "web2", 8002, ["v1"])
        register(d, "web3", 8003, ["v2"], "warning")
        register(d, "web4", 8004, ["v1"], "critical")
        wait_for(lambda: len(d.json("/v1/catalog/service/web")) == 4, 20, "4 instances")

        # create, list, get
        q = d.json("/v1/query", "POST", json.dumps(
            {"Name": "web", "Service": {"Service": "web", "Tags": ["v1"]},
             "DNS": {"TTL": "7s"}}))
        qid = q["ID"]
        assert len(qid) == 36, q
        lst = d.json("/v1/query")
        assert [x["ID"] for x in lst] == [qid], lst
        got = d.json("/v1/query/" + qid)[0]
        assert got["Name"] == "web" and got["Service"]["Service"] == "web", got
        assert got["Service"]["Tags"] == ["v1"] and got["DNS"]["TTL"] == "7s", got
        assert got["CreateIndex"] == got["ModifyIndex"] > 0, got

        # execute: critical out, warning in unless OnlyPassing, tags
        res = d.json("/v1/query/web/execute")
        assert res["Service"] == "web" and res["Datacenter"] == "dc1", res
        assert res["Failovers"] == 0 and res["DNS"]["TTL"] == "7s", res
        assert nodes_of(res) == ["web1", "web2"], res
        assert all(set(n) == {"Node", "Service", "Checks"} for n in res["Nodes"]), res
        assert nodes_of(d.json("/v1/query/%s/execute" % qid)) == ["web1", "web2"]
        assert len(d.json("/v1/query/web/execute?limit=1")["Nodes"]) == 1
        assert nodes_of(d.json("/v1/query/web/execute?near=_agent")) == ["web1", "web2"]

        # update (PUT keeps the ID and CreateIndex), OnlyPassing, !tag
        assert d.curl("/v1/query/" + qid, "PUT", json.dumps(
            {"Name": "web", "Service": {"Service": "web", "Tags": ["!primary"],
                                        "OnlyPassing": False}})) == (200, "")
        upd = d.json("/v1/query/" + qid)[0]
        assert upd["CreateIndex"] == got["CreateIndex"] < upd["ModifyIndex"], upd
        assert nodes_of(d.json("/v1/query/web/execute")) == ["web2", "web3"]
        assert d.curl("/v1/query/" + qid, "PUT", json.dumps(
            {"Name": "web", "Service": {"Service": "web", "OnlyPassing": True},
             "DNS": {"TTL": "7s"}}))[0] == 200
        assert nodes_of(d.json("/v1/query/web/execute")) == ["web1", "web2"]

        # errors, as Consul words them
        assert d.curl("/v1/query", "POST", '{"Name":"x"}') == (
            400, "Must provide a Service name to query")
        assert d.curl("/v1/query", "POST", json.dumps(
            {"Name": "web", "Service": {"Service": "other"}})) == (
            400, "Name is already in use by another query")
        assert d.curl("/v1/query", "POST", '{"Service":{"Service":1}}')[0] == 400
        assert d.curl("/v1/query", "POST", "{not json")[0] == 400
        assert d.curl("/v1/query/nope/execute") == (404, "Query not found")
        assert d.curl("/v1/query/00000000-0000-0000-0000-000000000000")[0] == 404
        assert d.curl("/v1/query/00000000-0000-0000-0000-000000000000", "PUT",
                      '{"Service":{"Service":"web"}}') == (404, "Query not found")
        assert d.curl("/v1/query", "DELETE")[0] == 405
        assert d.curl("/v1/query", "POST", json.dumps(
            {"Name": "t-", "Template": {"Type": "name_prefix_match", "Regexp": "("},
             "Service": {"Service": "x"}}))[0] == 400
        assert d.curl("/v1/query", "POST", json.dumps(
            {"Name": "s", "Session": "11111111-2222-3333-4444-555555555555",
             "Service": {"Service": "x"}})) == (400, "Invalid session")

        # a template: geo-<service>; explain shows it rendered
        d.json("/v1/query", "POST", json.dumps(
            {"Name": "geo-", "Template": {"Type": "name_prefix_match",
                                          "Regexp": "^geo-(.*)$"},
             "Service": {"Service": "${match(1)}", "OnlyPassing": True}}))
        ex = d.json("/v1/query/geo-web/explain")
        assert ex["Query"]["Service"]["Service"] == "web", ex
        assert ex["Query"]["Template"]["Type"] == "name_prefix_match", ex
        assert nodes_of(d.json("/v1/query/geo-web/execute")) == ["web1", "web2"]
        assert d.json("/v1/query/geo-nothing/execute")["Nodes"] == []

        # DNS: the query's TTL, the template too, NXDOMAIN for none
        st, ans = d.dig("web.query.consul", "SRV")
        assert st == "NOERROR" and len(ans) == 2, (st, ans)
        assert {a[1] for a in ans} == {"7"}, ans
        assert sorted(int(a[6]) for a in ans) == [8001, 8002], ans
        st, ans = d.dig("geo-web.query.consul", "SRV")
        assert st == "NOERROR" and sorted(int(a[6]) for a in ans) == [8001, 8002], (st, ans)
        assert d.dig("nothing.query.consul")[0] == "NXDOMAIN"
        assert d.dig("geo-nothing.query.consul")[0] == "NXDOMAIN"
        assert d.dig("web.query.dc9.consul")[0] == "NXDOMAIN"

        # bound to a session: gone with it
        st, body = d.curl("/v1/session/create", "PUT", '{"TTL":"60s"}')
        sid = json.loads(body)["ID"]
        bq = d.json("/v1/query", "POST", json.dumps(
            {"Name": "bound", "Session": sid, "Service": {"Service": "web"}}))["ID"]
        assert d.curl("/v1/query/" + bq)[0] == 200
        assert d.curl("/v1/session/destroy/" + sid, "PUT")[0] == 200
        assert d.curl("/v1/query/" + bq) == (404, "Query not found")

        # delete
        assert d.curl("/v1/query/" + qid, "DELETE") == (200, "")
        assert d.curl("/v1/query/" + qid, "DELETE") == (404, "Query not found")
        assert d.curl("/v1/query/web/execute") == (404, "Query not found")

        # python3-consul, as its users call it
        r = subprocess.run(["/usr/bin/python3", "-c", PY_CLIENT, IP], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        d.stop()
        tmp.cleanup()


PY_CLIENT = r'''
import sys, consul
c = consul.Consul(host=sys.argv[1], port=8500)
q = c.query.create("web", name="py", onlypassing=True, tags=["v1"], ttl="5s")
assert len(q["ID"]) == 36, q
got = c.query.get(q["ID"])
assert got[0]["Name"] == "py", got
res = c.query.execute("py", limit=5)
assert res["Service"] == "web" and [n["Service"]["Port"] for n in res["Nodes"]] in ([8001, 8002], [8002, 8001]), res
assert c.query.explain("py")["Query"]["Service"]["Service"] == "web"
assert any(x["ID"] == q["ID"] for x in c.query.list())
c.query.delete(q["ID"])
print("python3-consul ok")
'''


if __name__ == "__main__":
    main()
