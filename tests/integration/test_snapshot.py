"""test_snapshot.py - `cairn snapshot save|restore|inspect` and
/v1/snapshot on the seed's cluster (3 servers + 1 client on
127.0.0.71-74): saved through the client (the archive is made on the
leader and read across the network), restored through a follower (the
state goes through the log to every server), what the state was then is
back on every server and later writes are gone, indexes keep rising,
blocked queries wake, a follower restarted afterwards agrees; damaged,
forged and foreign archives are refused with the state untouched; and a
snapshot of this cluster restored into a fresh dev agent (the DR case)."""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
import time

from harness import (Notify, Proc, TmpDir, binary, cairn, main, seed_cluster,
                     test, wait_for)

IPS = ["127.0.0.71", "127.0.0.72", "127.0.0.73", "127.0.0.74"]


def kv(agent, key, stale=False):
    st, body = agent.curl("/v1/kv/%s%s" % (key, "?stale" if stale else ""))
    if st == 404:
        return None
    assert st == 200, (st, body)
    import base64
    return base64.b64decode(json.loads(body)[0]["Value"] or "").decode()


def put(agent, key, value):
    st, body = agent.curl("/v1/kv/" + key, "PUT", value.encode())
    assert (st, body) == (200, "true"), (st, body)


def index_of(agent, path):
    out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null",
                          "http://%s:8500%s" % (agent.ip, path)],
                         capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        if line.lower().startswith("x-consul-index:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("no X-Consul-Index in %r" % out)


def put_archive(agent, data):
    r = subprocess.run(["curl", "-s", "-S", "-X", "PUT", "--max-time", "60",
                        "--data-binary", "@-", "-w", "\n%{http_code}",
                        "http://%s:8500/v1/snapshot" % agent.ip],
                       input=data, capture_output=True, timeout=90)
    body, _, code = r.stdout.decode(errors="replace").rpartition("\n")
    return int(code or 0), body


def archive(members):
    """A gzipped tar of (name, bytes), as Python's tarfile makes it."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return gzip.compress(bio.getvalue())


def forged(state):
    """An archive whose sums are right but whose state is not a state."""
    meta = json.dumps({"Version": 1, "ID": "1-1-1", "Index": 1, "Term": 1,
                       "Size": len(state)}).encode()
    sums = "%s  meta.json\n%s  state.bin\n" % (hashlib.sha256(meta).hexdigest(),
                                               hashlib.sha256(state).hexdigest())
    return archive([("meta.json", meta), ("state.bin", state),
                    ("SHA256SUMS", sums.encode())])


@test
def save_restore_inspect_across_a_cluster():
    tmp = TmpDir()
    agents = seed_cluster(tmp, IPS)
    client = agents[3]
    try:
        for i in range(50):
            put(client, "app/k%02d" % i, "v%d" % i)
        put(client, "app/big", "x" * 200000)
        st, body = client.curl("/v1/session/create", "PUT", b'{"Name":"s1","TTL":"60s"}')
        assert st == 200, body
        sid = json.loads(body)["ID"]
        snap = os.path.join(tmp.path, "backup.snap")

        # save through the client agent: made on the leader, read over
        # the network in chunks, verified, then renamed into place
        r = cairn("snapshot", "save", client.http(), snap)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert r.stdout.startswith("Saved and verified snapshot to index "), r.stdout
        saved_at = int(r.stdout.split()[-1])
        assert not os.path.exists(snap + ".part")
        r = cairn("snapshot", "inspect", snap)
        assert r.returncode == 0, r.stderr
        rows = dict(line.split(None, 1) for line in r.stdout.splitlines())
        assert list(rows) == ["ID", "Size", "Index", "Term", "Version"], r.stdout
        assert int(rows["Index"]) == saved_at and rows["Version"] == "1", rows
        assert rows["ID"].split("-")[1] == str(saved_at), rows
        # a stale save from a follower works too (its own state)
        st, _ = agents[1].curl("/v1/snapshot?stale")
        assert st == 200

        # the world moves on: changed, new and deleted keys
        put(client, "app/k00", "changed")
        put(client, "later/key", "gone after the restore")
        assert client.curl("/v1/kv/app/k01", "DELETE") == (200, "true")
        before = index_of(client, "/v1/kv/app/k00")

        # a blocking query on a key the restore changes
        woke = {}

        def block():
            t0 = time.monotonic()
            st, body = agents[2].curl("/v1/kv/app/k00?index=%d&wait=60s" % before)
            woke["after"] = time.monotonic() - t0
            woke["body"] = body
        th = threading.Thread(target=block)
        th.start()
        time.sleep(0.3)

        # restore through a follower: every server takes the old state
        r = cairn("snapshot", "restore", agents[1].http(), snap)
        assert (r.returncode, r.stdout.strip()) == (0, "Restored snapshot"), (r.stdout, r.stderr)
        th.join(30)
        assert not th.is_alive() and woke["after"] < 20, woke
        assert "djA=" in woke["body"], woke  # base64 "v0"
        for a in agents[:3]:
            wait_for(lambda: kv(a, "app/k00", stale=True) == "v0", 10,
                     "the restored value on " + a.name)
            assert kv(a, "app/k01", stale=True) == "v1"
            assert kv(a, "later/key", stale=True) is None
            assert kv(a, "app/big", stale=True) == "x" * 200000
        # X-Consul-Index never goes back: the restore is a change
        after = index_of(client, "/v1/kv/app/k00")
        assert after > before, (before, after)
        put(client, "post/restore", "ok")
        assert index_of(client, "/v1/kv/post/restore") > after
        # the session came back with the state
        st, body = client.curl("/v1/session/info/" + sid)
        assert st == 200 and json.loads(body) and json.loads(body)[0]["ID"] == sid, body
        # the catalog still knows every node (agents sync themselves back)
        wait_for(lambda: len(json.loads(client.curl("/v1/catalog/nodes")[1])) == 4,
                 30, "4 catalog nodes after the restore")

        # a follower's raftd killed and restarted replays to the same state
        f = agents[2]
        pids = subprocess.run(["pgrep", "-f", "cairn-raftd.*%s" % f.dir],
                              capture_output=True, text=True).stdout.split()
        assert len(pids) == 1, pids
        os.kill(int(pids[0]), 9)

        def restarted_kv(key):
            # 500 while raftd is down (the agent restarts it after 1 s);
            # a request must never hang (status 0 after curl's 20 s)
            st, body = f.curl("/v1/kv/%s?stale" % key)
            assert st in (200, 404, 500), (st, body)
            return kv(f, key, stale=True) if st == 200 else None
        wait_for(lambda: restarted_kv("post/restore") == "ok" and
                 restarted_kv("app/k00") == "v0", 30,
                 "the restarted follower agrees")

        # damaged, forged and foreign archives: refused, state untouched
        with open(snap, "rb") as fh:
            good = fh.read()
        bad = os.path.join(tmp.path, "bad.snap")
        with open(bad, "wb") as fh:
            fh.write(good[:len(good) // 2])
        r = cairn("snapshot", "inspect", bad)
        assert r.returncode == 1 and "Error verifying snapshot file" in r.stderr, r.stderr
        r = cairn("snapshot", "restore", client.http(), bad)
        assert r.returncode == 1 and "truncated" in r.stderr, r.stderr
        st, body = put_archive(client, good[:len(good) // 2])
        assert st == 400 and "truncated" in body, (st, body)
        st, body = put_archive(client, b"not a snapshot at all")
        assert st == 400 and "gzip" in body, (st, body)
        st, body = put_archive(client, b"")
        assert st == 400, (st, body)
        # right sums, but state.bin is no LMDB state: through the log,
        # refused by every server alike
        st, body = put_archive(client, forged(b"\0garbage" * 5000))
        assert st == 500 and "not restored" in body, (st, body)
        for a in agents[:3]:
            assert kv(a, "post/restore", stale=True) == "ok"
        # a tampered state byte inside a well-formed archive
        raw = gzip.decompress(good)
        i = raw.index(b"state.bin") + 512 + 100
        tampered = gzip.compress(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:])
        st, body = put_archive(client, tampered)
        assert st == 400 and "does not match" in body, (st, body)
        assert client.curl("/v1/snapshot", "DELETE")[0] == 405
        # the cluster still writes
        put(client, "still/works", "yes")
        assert kv(agents[0], "still/works") == "yes"

        # disaster recovery: this cluster's snapshot into a fresh agent
        # whose log is far behind the snapshot's indexes
        dev_dir = os.path.join(tmp.path, "dev")
        os.makedirs(dev_dir)
        n = Notify(dev_dir)
        dev = Proc([binary("cairn"), "agent", "-dev", "-node", "dr", "-bind", "127.0.0.75",
                    "-client", "127.0.0.75", "-data-dir", os.path.join(dev_dir, "data")],
                   dev_dir, "dr", env={"NOTIFY_SOCKET": n.path})
        try:
            n.wait("READY=1", 30)

            class Dev:
                ip = "127.0.0.75"
                curl = agents[0].__class__.curl
            d = Dev()
            wait_for(lambda: d.curl("/v1/status/leader")[1] not in ("", '""'), 20,
                     "the dev agent leads")
            r = cairn("snapshot", "restore", "-http-addr=127.0.0.75:8500", snap)
            assert r.returncode == 0, (r.stdout, r.stderr)
            assert kv(d, "app/k00") == "v0"
            st, body = d.curl("/v1/kv/app/?recurse")
            rows = json.loads(body)
            top = index_of(d, "/v1/kv/app/?recurse")
            raft_index = int(json.loads(d.curl("/v1/agent/self")[1])["Stats"]
                             ["raft"]["applied_index"])
            # every index is within this agent's own log
            assert top <= raft_index, (top, raft_index)
            assert all(r["ModifyIndex"] <= raft_index for r in rows), rows
            put(d, "app/k00", "dr")
            assert index_of(d, "/v1/kv/app/k00") > top
        finally:
            dev.stop()
            n.close()
    finally:
        for a in agents:
            a.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
