"""test_cluster.py - whole agents on loopback (127.0.0.21-24, Consul's
default ports on each address), as the user's seed walkthrough runs them:
three servers (the first with -bootstrap) and a client joined with
`cairn join`, `cairn members`, KV through any agent; then the gossip side
of sessions: a client agent killed -9 goes failed, its serfHealth check
critical, its session invalidated and its lock released; a graceful leave
deregisters the node."""
import json
import os
import signal
import subprocess
import time

from harness import (ClusterAgent as Agent, TmpDir, cairn, children, leader,
                     main, members, seed_cluster as harness_seed_cluster,
                     test, wait_for)

IPS = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"]


def seed_cluster(tmp, extra=()):
    return harness_seed_cluster(tmp, IPS, extra)


@test
def seed_walkthrough_join_members_kv():
    tmp = TmpDir()
    agents = seed_cluster(tmp)
    try:
        r = cairn("members", agents[3].http())
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split()[:7] == ["Node", "Address", "Status", "Type",
                                        "Build", "Protocol", "DC"], lines[0]
        rows = {l.split()[0]: l.split() for l in lines[1:]}
        assert sorted(rows) == ["agent1", "server1", "server2", "server3"], rows
        assert rows["agent1"][1] == IPS[3] + ":8301" and rows["agent1"][3] == "client", rows
        assert all(rows["server%d" % i][2:4] == ["alive", "server"] for i in (1, 2, 3)), rows
        # -status filter; no match exits 2
        r = cairn("members", agents[0].http(), "-status=failed")
        assert r.returncode == 2, (r.returncode, r.stdout)
        # KV through the client, read on a server
        assert agents[3].curl("/v1/kv/seed", "PUT", b"hello") == (200, "true")
        wait_for(lambda: agents[2].curl("/v1/kv/seed?raw&stale")[1] == "hello", 10,
                 "the write on server3")
        # a service on the client agent: checkd syncs it through the
        # client's raftd to the servers; its TTL flips show everywhere
        body = json.dumps({"Name": "web", "Port": 80, "Check": {"TTL": "30s"}}).encode()
        assert agents[3].curl("/v1/agent/service/register", "PUT", body) == (200, "")
        assert agents[3].curl("/v1/agent/check/pass/service:web", "PUT", b"") == (200, "")

        def passing_on(a):
            st, body = a.curl("/v1/health/service/web?passing&stale")
            return st == 200 and [(x["Node"]["Node"], x["Node"]["Address"], x["Service"]["Port"])
                                  for x in json.loads(body)] == [("agent1", IPS[3], 80)]
        wait_for(lambda: passing_on(agents[1]) and passing_on(agents[2]), 10,
                 "the client's service passing on the servers")
        assert agents[3].curl("/v1/agent/check/fail/service:web", "PUT", b"") == (200, "")
        wait_for(lambda: not passing_on(agents[0]), 10, "the failure seen on server1")
        # restarting the client's gossipd alone (systemctl restart
        # cairn-gossipd: SIGTERM) keeps the node a member: never left,
        # its service stays in the catalog
        old = children(agents[3].p.pid)["cairn-gossipd"]
        os.kill(old, signal.SIGTERM)
        seen = set()
        t_end = time.monotonic() + 6
        while time.monotonic() < t_end:
            seen.add(members(agents[0]).get("agent1"))
            time.sleep(0.2)
        assert children(agents[3].p.pid).get("cairn-gossipd") not in (None, old)
        assert seen <= {1, None}, seen
        assert members(agents[0]).get("agent1") == 1
        assert passing_on(agents[0]) or agents[3].curl(
            "/v1/agent/check/pass/service:web", "PUT", b"") == (200, "")
        assert json.loads(agents[0].curl("/v1/catalog/service/web")[1])[0]["Node"] == "agent1"
        assert agents[3].curl("/v1/agent/service/deregister/web", "PUT", b"") == (200, "")
        wait_for(lambda: agents[0].curl("/v1/catalog/service/web") == (200, "[]"), 10,
                 "web deregistered")
        # a bad join says why and exits 1
        r = cairn("join", agents[3].http(), "127.0.0.99:1")
        assert r.returncode == 1 and "Error joining address" in r.stderr, (r.stdout, r.stderr)
    finally:
        for a in agents:
            a.stop()
        tmp.cleanup()


@test
def failed_client_invalidates_its_session_and_leave_deregisters():
    tmp = TmpDir()
    agents = seed_cluster(tmp)
    try:
        client = agents[3]
        # a session on the client's node, bound to serfHealth by default
        st, body = client.curl("/v1/session/create", "PUT", b'{"LockDelay":"1s"}')
        assert st == 200, (st, body)
        sid = json.loads(body)["ID"]
        st, body = client.curl("/v1/session/info/" + sid)
        info = json.loads(body)[0]
        assert info["Node"] == "agent1" and info["NodeChecks"] == ["serfHealth"], info
        assert client.curl("/v1/kv/svc/leader?acquire=" + sid, "PUT", b"agent1") == (200, "true")
        # the client dies: failed in gossip, serfHealth critical, session
        # gone, lock free
        # a crash, not a stop: every process of the agent at once (a
        # SIGTERM would make the client leave gracefully)
        t0 = time.monotonic()
        kids = children(client.p.pid)
        for pid in kids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        client.p.signal(signal.SIGKILL)
        client.p.wait(10)
        srv = agents[0]

        def critical():
            st, body = srv.curl("/v1/health/node/agent1")
            return st == 200 and any(c["CheckID"] == "serfHealth" and
                                     c["Status"] == "critical" for c in json.loads(body))
        wait_for(critical, 30, "serfHealth critical for the killed client")
        print("  failed and critical after %.1fs" % (time.monotonic() - t0))
        wait_for(lambda: srv.curl("/v1/session/info/" + sid)[1] == "[]", 10,
                 "the session invalidated")
        st, body = srv.curl("/v1/kv/svc/leader")
        assert st == 200 and "Session" not in json.loads(body)[0], body
        # a new session on the failed node is refused
        st, body = srv.curl("/v1/session/create", "PUT", b'{"Node":"agent1"}')
        assert st == 500 and "critical" in body, (st, body)
        # graceful leave of server3 (servers stay unless asked): left in
        # gossip, deregistered from the catalog
        r = cairn("leave", agents[2].http())
        assert r.returncode == 0 and "Graceful leave complete" in r.stdout, (r.stdout, r.stderr)
        wait_for(lambda: members(srv).get("server3") == 3, 20, "server3 left")
        wait_for(lambda: "server3" not in srv.curl("/v1/catalog/nodes")[1], 20,
                 "server3 deregistered")
        wait_for(lambda: len(json.loads(srv.curl("/v1/status/peers")[1])) == 2, 20,
                 "server3 out of the Raft peers")
        # force-leave the failed client
        r = cairn("force-leave", srv.http(), "agent1")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: members(srv).get("agent1") == 3, 20, "agent1 left")
    finally:
        for a in agents:
            a.stop()
        tmp.cleanup()


def keyring(agent):
    """{key: (used, of)} of the LAN pool, from `cairn keyring -list`"""
    r = cairn("keyring", "-list", agent.http())
    assert r.returncode == 0, r.stderr
    out, lan = {}, False
    for line in r.stdout.splitlines():
        if line.endswith("(LAN):"):
            lan = True
        elif line == "WAN:":
            lan = False
        elif lan and line.startswith("  "):
            k, frac = line.split()
            used, of = frac.strip("[]").split("/")
            out[k] = (int(used), int(of))
    return out


@test
def gossip_key_rotation_across_the_cluster():
    k1 = cairn("keygen").stdout.strip()
    k2 = cairn("keygen").stdout.strip()
    assert len(k1) == 44 and k1 != k2, (k1, k2)
    tmp = TmpDir()
    agents = seed_cluster(tmp, ["-encrypt", k1])
    try:
        assert keyring(agents[0]) == {k1: (4, 4)}, keyring(agents[0])
        # bad keys and bad events: clear errors, nothing changes
        r = cairn("keyring", "-install=notbase64!", agents[3].http())
        assert r.returncode == 1 and "base64" in r.stderr, (r.stdout, r.stderr)
        r = cairn("keyring", "-install=" + "QUJD", agents[3].http())
        assert r.returncode == 1 and "16, 24 or 32" in r.stderr, (r.stdout, r.stderr)
        st, text = agents[0].curl("/v1/operator/keyring", "POST", b'{"Key": 5}')
        assert st == 400 and "Request decode failed" in text, (st, text)
        st, text = agents[0].curl("/v1/event/fire/_reserved", "PUT", b"x")
        assert st == 400, (st, text)
        st, text = agents[0].curl("/v1/event/fire/big", "PUT", b"x" * 600)
        assert st == 400 and "512" in text, (st, text)
        assert keyring(agents[0]) == {k1: (4, 4)}, keyring(agents[0])
        # install through the client: every member gets it
        r = cairn("keyring", "-install=" + k2, agents[3].http())
        assert r.returncode == 0, r.stderr
        wait_for(lambda: keyring(agents[1]) == {k1: (4, 4), k2: (4, 4)}, 15,
                 "both keys on all 4 members")
        # the new key becomes primary; the old one goes
        assert cairn("keyring", "-use=" + k2, agents[0].http()).returncode == 0
        wait_for(lambda: all(list(keyring(a))[0] == k2 for a in agents), 15,
                 "k2 primary everywhere")
        r = cairn("keyring", "-remove=" + k2, agents[0].http())
        assert r.returncode == 1 and "primary" in r.stderr, (r.stdout, r.stderr)
        assert cairn("keyring", "-remove=" + k1, agents[2].http()).returncode == 0
        wait_for(lambda: all(keyring(a) == {k2: (4, 4)} for a in agents), 15,
                 "only k2, on all 4 members")
        # the cluster still gossips: a user event reaches everyone
        r = cairn("event", "-name=rotated", agents[1].http())
        assert r.returncode == 0 and r.stdout.startswith("Event ID: "), r.stdout
        wait_for(lambda: all('"rotated"' in a.curl("/v1/event/list")[1] for a in agents),
                 15, "the event everywhere")
        # and the old key no longer gets anyone in
        old = Agent(tmp, "stale", "127.0.0.25", ["-encrypt", k1])
        try:
            r = cairn("join", old.http(), IPS[0])
            assert r.returncode == 1, (r.stdout, r.stderr)
            assert "stale" not in members(agents[0])
        finally:
            old.stop()
    finally:
        for a in agents:
            a.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
