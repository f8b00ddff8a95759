"""test_catalog.py - the catalog in raftd through Consul's HTTP API on a
dev agent: /v1/catalog/register and deregister (nodes, services, checks),
services, service/<s> (tag filters), node/<n>, datacenters;
/v1/health/service/<s> (?passing), checks/<s>, state/<state>; a blocking
?passing watch woken within a second of a check changing; bad input."""
import json
import threading
import time

import harness
from harness import main, test
from test_http import Agent

del harness._tests[:]  # test_http's own tests run from their file


def reg(a, body):
    st, text, _ = a.curl("/v1/catalog/register", "PUT", json.dumps(body).encode())
    return st, text


def get(a, path):
    st, text, h = a.curl(path)
    assert st == 200, (path, st, text)
    return json.loads(text), h


@test
def catalog_register_read_deregister():
    a = Agent()
    try:
        assert reg(a, {"Node": "ext1", "Address": "10.1.1.1", "NodeMeta": {"rack": "r1"},
                       "Service": {"Service": "redis", "Tags": ["primary", "v1"], "Port": 6379},
                       "Check": {"CheckID": "service:redis", "Name": "redis",
                                 "Status": "passing", "ServiceID": "redis"}}) == (200, "true")
        # python-consul style lowercase keys work too
        assert reg(a, {"node": "ext2", "address": "10.1.1.2",
                       "service": {"id": "redis2", "service": "redis", "tags": ["v1"],
                                   "port": 6380},
                       "checks": [{"checkid": "c2", "name": "c2", "status": "critical",
                                   "serviceid": "redis2"}]}) == (200, "true")
        svcs, h = get(a, "/v1/catalog/services")
        assert svcs["redis"] == ["primary", "v1"], svcs
        assert int(h["x-consul-index"]) > 0 and h["x-consul-knownleader"] == "true"
        inst, _ = get(a, "/v1/catalog/service/redis")
        assert sorted(i["ServiceID"] for i in inst) == ["redis", "redis2"], inst
        one, _ = get(a, "/v1/catalog/service/redis?tag=primary&tag=v1")
        assert [i["Node"] for i in one] == ["ext1"], one
        e = one[0]
        assert (e["Address"], e["ServicePort"], e["ServiceAddress"], e["NodeMeta"]) == \
            ("10.1.1.1", 6379, "", {"rack": "r1"}), e
        hs, _ = get(a, "/v1/health/service/redis")
        assert len(hs) == 2 and all({"Node", "Service", "Checks"} <= set(x) for x in hs), hs
        passing, _ = get(a, "/v1/health/service/redis?passing")
        assert [x["Node"]["Node"] for x in passing] == ["ext1"], passing
        assert [c["CheckID"] for c in passing[0]["Checks"]] == ["service:redis"], passing
        node, _ = get(a, "/v1/catalog/node/ext1")
        assert node["Node"]["Address"] == "10.1.1.1" and list(node["Services"]) == ["redis"], node
        assert get(a, "/v1/catalog/node/nobody")[0] is None
        crit, _ = get(a, "/v1/health/state/critical")
        assert [c["CheckID"] for c in crit] == ["c2"], crit
        chks, _ = get(a, "/v1/health/checks/redis")
        assert sorted(c["CheckID"] for c in chks) == ["c2", "service:redis"], chks
        assert get(a, "/v1/catalog/datacenters")[0] == ["dc1"]
        # ?near=_agent: this agent's node first (it has a coordinate; the
        # registered external nodes have none and come after); without
        # it, name order
        names = [x["Node"] for x in get(a, "/v1/catalog/nodes")[0]]
        assert names == sorted(names) and names[0] == "ext1", names
        me = a.node()
        near = [x["Node"] for x in get(a, "/v1/catalog/nodes?near=_agent")[0]]
        assert near[0] == me and sorted(near) == sorted(names), (near, me)
        # discovery endpoints say which consistency answered
        assert h.get("x-consul-effective-consistency") == "leader", h
        _, hs_ = get(a, "/v1/catalog/services?stale")
        assert hs_.get("x-consul-effective-consistency") == "stale", hs_
        # bad input: clear errors, nothing written
        assert reg(a, {"Address": "1.2.3.4"}) == (400, "Must provide node")
        assert reg(a, {"Node": "n"}) == (400, "Must provide address")
        st, text = reg(a, {"Node": "n", "Address": "1", "Check": {"Name": "x",
                                                                  "ServiceID": "nope"}})
        assert st == 500 and "Unknown service ID 'nope'" in text, (st, text)
        st, text, _ = a.curl("/v1/catalog/register", "PUT", b"{not json")
        assert st == 400 and text.startswith("Request decode failed"), (st, text)
        assert reg(a, {"Node": "n", "Address": "1", "Service": {"Service": "s",
                                                                "Port": "80"}})[0] == 400
        assert "n" not in [x["Node"] for x in get(a, "/v1/catalog/nodes")[0]]
        st, text, _ = a.curl("/v1/health/state/bogus")
        assert st == 400, (st, text)
        st, _, h = a.curl("/v1/catalog/register", "GET")
        assert st == 405 and h.get("allow") == "PUT"
        # deregister a service (its checks go), then a node
        st, text, _ = a.curl("/v1/catalog/deregister", "PUT",
                             b'{"Node":"ext2","ServiceID":"redis2"}')
        assert (st, text) == (200, "true")
        assert get(a, "/v1/health/state/critical")[0] == []
        st, text, _ = a.curl("/v1/catalog/deregister", "PUT", b'{"Node":"ext1"}')
        assert (st, text) == (200, "true")
        assert "redis" not in get(a, "/v1/catalog/services")[0]
        assert "ext1" not in [x["Node"] for x in get(a, "/v1/catalog/nodes")[0]]
    finally:
        a.stop()


@test
def passing_watch_wakes_within_a_second():
    a = Agent()
    try:
        def svc(status):
            return reg(a, {"Node": "w1", "Address": "10.2.2.2",
                           "Service": {"Service": "web", "Port": 80},
                           "Check": {"CheckID": "web-check", "Name": "web",
                                     "Status": status, "ServiceID": "web"}})
        assert svc("critical") == (200, "true")
        body, h = get(a, "/v1/health/service/web?passing")
        assert body == [], body
        idx = h["x-consul-index"]
        got = {}

        def watch():
            t0 = time.monotonic()
            st, text, hh = a.curl("/v1/health/service/web?passing&index=%s&wait=30s" % idx)
            got["t"] = time.monotonic()
            got["body"] = json.loads(text)
        th = threading.Thread(target=watch)
        th.start()
        time.sleep(0.5)
        assert "t" not in got, "the watch returned before any change"
        t_change = time.monotonic()
        assert svc("passing") == (200, "true")
        th.join(10)
        assert "t" in got, "the watch did not return"
        dt = got["t"] - t_change
        print("  watch returned %.3fs after the check passed" % dt)
        assert dt < 1.0, dt
        assert [x["Node"]["Node"] for x in got["body"]] == ["w1"], got
    finally:
        a.stop()


if __name__ == "__main__":
    main()
