"""test_cli.py - Consul's kv, catalog, services, maint and validate commands
as `cairn` implements them, against a real dev agent: exact output where
Consul's format is fixed (kv get -detailed, kv export's JSON, catalog
tables, maint's list), exit codes, values from stdin, @file and base64,
check-and-set, locks, export -> delete -> import, services from flags and
config files, maintenance on and off, validate of good and bad configs,
unknown flags and an unreachable agent."""
import base64
import json
import os
import subprocess

import harness
from harness import SANITIZER_MARKS, TmpDir, binary, main, test, wait_for
from test_http import BASE
from test_http import Agent as HttpAgent

del harness._tests[:]  # test_http's own tests run from their file


class Agent(HttpAgent):
    """test_http's dev agent with DNS and Serf ports of its own too, so
    it can run beside other agents on the machine"""

    def __init__(self):
        super().__init__({"ports": {"dns": BASE + 40, "serf_lan": BASE + 41,
                                    "serf_wan": BASE + 42}})


def cli(*args, stdin=None, env=None, ok=None):
    """Run cairn; returns (rc, stdout, stderr) as text (stdout as bytes
    if stdin is bytes).  ok=True/False asserts the exit code is 0/1."""
    e = dict(os.environ)
    e.pop("CONSUL_HTTP_ADDR", None)
    e.pop("CAIRN_HTTP_ADDR", None)
    if env:
        e.update(env)
    binary_io = isinstance(stdin, bytes)
    r = subprocess.run([binary("cairn")] + list(args), input=stdin,
                       capture_output=True, text=not binary_io, timeout=60, env=e)
    err = r.stderr.decode(errors="replace") if binary_io else r.stderr
    for mark in SANITIZER_MARKS:
        assert mark not in err, (args, err)
    if ok is True:
        assert r.returncode == 0, (args, r.returncode, r.stdout, err)
    elif ok is False:
        assert r.returncode == 1, (args, r.returncode, r.stdout, err)
    return r.returncode, r.stdout, err


class Cli:
    """cairn <cmd> [<sub>] -http-addr=<agent> args..."""

    def __init__(self, agent):
        self.a = agent
        self.addr = "-http-addr=127.0.0.1:%d" % agent.http

    def __call__(self, *args, **kw):
        n = 2 if args[0] in ("kv", "catalog", "services") else 1
        return cli(*(list(args[:n]) + [self.addr] + list(args[n:])), **kw)

    def out(self, *args, **kw):
        """stdout of a run that must succeed with nothing on stderr"""
        rc, out, err = self(*args, ok=True, **kw)
        assert err == "", (args, err)
        return out

    def fail(self, *args, **kw):
        """stderr of a run that must exit 1 with nothing on stdout"""
        rc, out, err = self(*args, ok=False, **kw)
        assert out in ("", b""), (args, out)
        return err


def getj(a, path):
    st, body, _ = a.curl(path)
    assert st == 200, (path, st, body)
    return json.loads(body)


def table(rows):
    """columnize as Consul uses it: columns two spaces apart, the last
    one unpadded"""
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(c.ljust(w[i]) if i + 1 < len(r) else c
                             for i, c in enumerate(r)) + "\n" for r in rows)


def detailed(pair, value):
    return ("CreateIndex      %d\nFlags            %d\nKey              %s\n"
            "LockIndex        %d\nModifyIndex      %d\nSession          %s\n"
            "Value            %s\n" % (pair["CreateIndex"], pair["Flags"], pair["Key"],
                                       pair["LockIndex"], pair["ModifyIndex"],
                                       pair.get("Session") or "-", value))


# ---------------------------------------------------------------- kv

@test
def kv_get_put_values_from_args_stdin_files_and_base64():
    a = Agent()
    tmp = TmpDir()
    try:
        c = Cli(a)
        assert c.out("kv", "put", "foo", "bar") == "Success! Data written to: foo\n"
        assert c.out("kv", "get", "foo") == "bar\n"
        # the agent from the environment, Consul's and Cairn's variable
        for var in ("CONSUL_HTTP_ADDR", "CAIRN_HTTP_ADDR"):
            rc, out, err = cli("kv", "get", "foo", env={var: "127.0.0.1:%d" % a.http})
            assert (rc, out) == (0, "bar\n"), (var, rc, out, err)
        # no value: empty; Consul prints the empty value and a newline
        assert c.out("kv", "put", "empty") == "Success! Data written to: empty\n"
        assert c.out("kv", "get", "empty") == "\n"
        # a value that looks like a flag after the key is a value
        c.out("kv", "put", "neg", "-1")
        assert c.out("kv", "get", "neg") == "-1\n"
        # and so is one after "--"
        c.out("kv", "put", "--", "dash", "-detailed")
        assert c.out("kv", "get", "dash") == "-detailed\n"
        # common flags after the key still count
        assert cli("kv", "get", "foo", c.addr, ok=True)[1] == "bar\n"
        # stdin
        c.out("kv", "put", "in", "-", stdin="line 1\nline 2\n")
        assert c.out("kv", "get", "in") == "line 1\nline 2\n\n"
        # @file, binary, read back raw by curl and base64 by -base64
        blob = bytes(range(256)) * 3
        path = os.path.join(tmp.path, "blob")
        with open(path, "wb") as f:
            f.write(blob)
        c.out("kv", "put", "blob", "@" + path)
        r = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/v1/kv/blob?raw" % a.http],
                           capture_output=True, timeout=30)
        assert r.stdout == blob
        assert c.out("kv", "get", "-base64", "blob") == base64.b64encode(blob).decode() + "\n"
        rc, out, err = c("kv", "get", "blob", stdin=b"", ok=True)
        assert out == blob + b"\n"
        assert "Failed to read file" in c.fail("kv", "put", "x", "@" + path + ".missing")
        # -base64 input
        c.out("kv", "put", "-base64", "b64", base64.b64encode(b"hello\x00world").decode())
        rc, out, err = c("kv", "get", "b64", stdin=b"", ok=True)
        assert out == b"hello\x00world\n"
        assert c.fail("kv", "put", "-base64", "bad", "!!!").startswith(
            "Error! Cannot base 64 decode data")
        # flags and -detailed, exactly as Consul aligns it
        c.out("kv", "put", "-flags=42", "flagged", "v")
        pair = getj(a, "/v1/kv/flagged")[0]
        assert pair["Flags"] == 42
        assert c.out("kv", "get", "-detailed", "flagged") == detailed(pair, "v")
        pair = getj(a, "/v1/kv/foo")[0]
        assert c.out("kv", "get", "-detailed", "foo") == detailed(pair, "bar")
        assert c.out("kv", "get", "-detailed", "-base64", "foo") == detailed(pair, "YmFy")
        # leading slash stripped, as Consul does
        assert c.out("kv", "get", "/foo") == "bar\n"
        # keys with characters that need escaping
        c.out("kv", "put", "sp ace/q?#%", "odd")
        assert c.out("kv", "get", "sp ace/q?#%") == "odd\n"
        # missing key and missing argument
        assert c.fail("kv", "get", "nope") == "Error! No key exists at: nope\n"
        assert c.fail("kv", "get") == "Error! Missing KEY argument\n"
        assert c.fail("kv", "put") == "Error! Missing KEY argument\n"
        assert c.fail("kv", "get", "a", "b") == "Too many arguments (expected 1, got 2)\n"
        assert c.fail("kv", "put", "a", "b", "c") == \
            "Error! Too many arguments (expected 1 or 2, got 3)\n"
        assert "invalid value \"x\" for flag -flags" in c.fail("kv", "put", "-flags=x", "k")
    finally:
        a.stop()
        tmp.cleanup()


@test
def kv_recurse_keys_cas_locks_and_delete():
    a = Agent()
    try:
        c = Cli(a)
        for k, v in (("r/a", "1"), ("r/b", "2"), ("r/c/d", "3"), ("rx", "4")):
            c.out("kv", "put", k, v)
        assert c.out("kv", "get", "-recurse", "r/") == "r/a:1\nr/b:2\nr/c/d:3\n"
        assert c.out("kv", "get", "-recurse", "-base64", "r/") == "r/a:MQ==\nr/b:Mg==\nr/c/d:Mw==\n"
        pairs = getj(a, "/v1/kv/r/?recurse")
        want = "\n".join(detailed(p, v) for p, v in zip(pairs, "123"))
        assert c.out("kv", "get", "-recurse", "-detailed", "r/") == want
        assert c.out("kv", "get", "-keys", "r/") == "r/a\nr/b\nr/c/\n"
        assert c.out("kv", "get", "-keys", "-separator=", "r/") == "r/a\nr/b\nr/c/d\n"
        assert c.out("kv", "get", "-keys", "-separator=c", "r/") == "r/a\nr/b\nr/c\n"
        assert c.out("kv", "get", "-keys") == "r/\nrx\n"
        # an empty prefix is not an error
        assert c.out("kv", "get", "-recurse", "nothing/") == ""
        assert c.out("kv", "get", "-keys", "nothing/") == ""

        # check-and-set
        mi = getj(a, "/v1/kv/r/a")[0]["ModifyIndex"]
        assert c.fail("kv", "put", "-cas", "-modify-index=%d" % (mi + 1000), "r/a", "x") == \
            "Error! Did not write to r/a: CAS failed\n"
        assert c.out("kv", "get", "r/a") == "1\n"
        assert c.out("kv", "put", "-cas", "-modify-index=%d" % mi, "r/a", "new") == \
            "Success! Data written to: r/a\n"
        assert c.out("kv", "get", "r/a") == "new\n"
        assert c.fail("kv", "put", "-cas", "r/a", "x") == "Must specify -modify-index with -cas!\n"

        # locks
        def session():
            st, body, _ = a.curl("/v1/session/create", "PUT", b"{}")
            assert st == 200, body
            return json.loads(body)["ID"]
        s1, s2 = session(), session()
        assert c.out("kv", "put", "-acquire", "-session=" + s1, "lock", "held") == \
            "Success! Lock acquired on: lock\n"
        pair = getj(a, "/v1/kv/lock")[0]
        assert pair["Session"] == s1 and pair["LockIndex"] == 1
        assert c.out("kv", "get", "-detailed", "lock") == detailed(pair, "held")
        assert c.fail("kv", "put", "-acquire", "-session=" + s2, "lock") == \
            "Error! Did not acquire lock\n"
        assert c.fail("kv", "put", "-release", "-session=" + s2, "lock") == \
            "Error! Did not release lock\n"
        assert c.out("kv", "put", "-release", "-session=" + s1, "lock") == \
            "Success! Lock released on: lock\n"
        assert not getj(a, "/v1/kv/lock")[0].get("Session")
        assert c.fail("kv", "put", "-acquire", "lock") == \
            "Error! Missing -session (required with -acquire and -release)\n"

        # delete
        assert c.out("kv", "delete", "rx") == "Success! Deleted key: rx\n"
        assert c.fail("kv", "get", "rx") == "Error! No key exists at: rx\n"
        mi = getj(a, "/v1/kv/r/b")[0]["ModifyIndex"]
        assert c.fail("kv", "delete", "-cas", "-modify-index=%d" % (mi + 1000), "r/b") == \
            "Error! Did not delete key r/b: CAS failed\n"
        assert c.out("kv", "delete", "-cas", "-modify-index=%d" % mi, "r/b") == \
            "Success! Deleted key: r/b\n"
        assert c.fail("kv", "delete", "-modify-index=3", "r/a") == \
            "Cannot specify -modify-index without -cas!\n"
        assert c.fail("kv", "delete", "-cas", "-recurse", "-modify-index=3", "r/") == \
            "Cannot specify both -cas and -recurse!\n"
        assert c.fail("kv", "delete") == "Error! Missing KEY argument\n"
        assert c.out("kv", "delete", "-recurse", "r/") == "Success! Deleted keys with prefix: r/\n"
        assert c.out("kv", "get", "-keys") == "lock\n"
    finally:
        a.stop()


@test
def kv_export_delete_import_round_trip():
    a = Agent()
    tmp = TmpDir()
    try:
        c = Cli(a)
        c.out("kv", "put", "-flags=7", "e/one", "1")
        c.out("kv", "put", "-base64", "e/two", base64.b64encode(b"\x00\xff bin").decode())
        c.out("kv", "put", "e/dir/")
        c.out("kv", "put", "e/h<t>&\"q\"", "html")
        c.out("kv", "put", "other", "x")
        text = c.out("kv", "export", "e/")
        # json.MarshalIndent(..., "", "\t"), HTML-safe as Go writes it
        assert text == (
            '[\n'
            '\t{\n\t\t"key": "e/dir/",\n\t\t"flags": 0,\n\t\t"value": ""\n\t},\n'
            '\t{\n\t\t"key": "e/h\\u003ct\\u003e\\u0026\\"q\\"",\n\t\t"flags": 0,\n'
            '\t\t"value": "aHRtbA=="\n\t},\n'
            '\t{\n\t\t"key": "e/one",\n\t\t"flags": 7,\n\t\t"value": "MQ=="\n\t},\n'
            '\t{\n\t\t"key": "e/two",\n\t\t"flags": 0,\n\t\t"value": "AP8gYmlu"\n\t}\n'
            ']\n'), text
        assert c.out("kv", "export", "nothing/") == "[]\n"
        assert len(json.loads(c.out("kv", "export"))) == 5
        path = os.path.join(tmp.path, "export.json")
        with open(path, "w") as f:
            f.write(text)
        c.out("kv", "delete", "-recurse", "e/")
        assert c.out("kv", "export", "e/") == "[]\n"
        assert c.out("kv", "import", "@" + path) == (
            'Imported: e/dir/\nImported: e/h<t>&"q"\nImported: e/one\nImported: e/two\n')
        assert c.out("kv", "export", "e/") == text
        assert getj(a, "/v1/kv/e/one")[0]["Flags"] == 7
        rc, out, err = c("kv", "get", "e/two", stdin=b"", ok=True)
        assert out == b"\x00\xff bin\n"
        # from stdin, under a prefix
        assert c.out("kv", "import", "-prefix=copy/", "-", stdin=text).splitlines()[0] == \
            "Imported: copy/e/dir/"
        assert c.out("kv", "get", "copy/e/one") == "1\n"
        # the JSON itself as the argument; Go matches names case-insensitively
        assert c.out("kv", "import", '[{"Key": "lit", "Flags": 3, "Value": "eA=="}]') == \
            "Imported: lit\n"
        assert getj(a, "/v1/kv/lit")[0]["Flags"] == 3
        assert c.fail("kv", "import", "{nope").startswith("Cannot unmarshal data: ")
        assert c.fail("kv", "import", '[{"key": 1}]').startswith("Cannot unmarshal data: ")
        assert c.fail("kv", "import", '[{"key": "k", "value": "!!"}]').startswith(
            "Error base 64 decoding value for key k")
        assert c.fail("kv", "import") == "Error! Missing DATA argument\n"
        assert c.fail("kv", "import", "") == "Error! Empty DATA argument\n"
    finally:
        a.stop()
        tmp.cleanup()


# ------------------------------------------------- catalog and services

@test
def catalog_and_services_register_deregister():
    a = Agent()
    tmp = TmpDir()
    try:
        c = Cli(a)
        node = a.node()
        assert c.out("catalog", "datacenters") == "dc1\n"
        nodes = getj(a, "/v1/catalog/nodes")
        rows = [["Node", "ID", "Address", "DC"]] + [
            [n["Node"], n["ID"].split("-")[0], n["Address"], n["Datacenter"]] for n in nodes]
        assert c.out("catalog", "nodes") == table(rows)
        assert c.out("catalog", "nodes", "-near=_agent") == table(rows)

        def kv(m):
            return ", ".join("%s=%s" % (k, (m or {})[k]) for k in sorted(m or {}))
        rows = [["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"]] + [
            [n["Node"], n["ID"], n["Address"], n["Datacenter"], kv(n["TaggedAddresses"]),
             kv(n["Meta"])] for n in nodes]
        assert c.out("catalog", "nodes", "-detailed") == table(rows)

        # from flags
        assert c.out("services", "register", "-name=web", "-id=web1", "-port=8080",
                     "-address=10.0.0.5", "-tag=v1", "-tag=prod", "-meta=team=core",
                     "-meta=tier=1") == "Registered service: web\n"
        s = getj(a, "/v1/agent/services")["web1"]
        assert (s["Service"], s["Port"], s["Address"], s["Tags"], s["Meta"]) == \
            ("web", 8080, "10.0.0.5", ["v1", "prod"], {"team": "core", "tier": "1"}), s
        # from config files: "service" and "services", snake_case keys
        f1 = os.path.join(tmp.path, "db.json")
        with open(f1, "w") as f:
            json.dump({"service": {"name": "db", "port": 5432, "tags": ["primary"],
                                   "enable_tag_override": True,
                                   "check": {"ttl": "30s"}}}, f)
        f2 = os.path.join(tmp.path, "more.json")
        with open(f2, "w") as f:
            json.dump({"services": [{"name": "cache", "id": "cache1", "tags": ["b", "a"]},
                                    {"name": "queue"}]}, f)
        assert c.out("services", "register", f1, f2) == \
            "Registered service: db\nRegistered service: cache\nRegistered service: queue\n"
        svcs = getj(a, "/v1/agent/services")
        assert set(svcs) == {"web1", "db", "cache1", "queue"}, svcs
        assert svcs["db"]["EnableTagOverride"] is True and svcs["db"]["Port"] == 5432
        assert "service:db" in getj(a, "/v1/agent/checks")

        # the catalog, once anti-entropy has synced them
        names = ["cache", "consul", "db", "queue", "web"]
        wait_for(lambda: c.out("catalog", "services") == "".join(n + "\n" for n in names),
                 20, "the services in the catalog")
        tags = {"cache": ["a", "b"], "consul": [], "db": ["primary"], "queue": [],
                "web": ["prod", "v1"]}
        w = max(len(n) for n in names) + 6
        want = "".join(n.ljust(w) + ",".join(tags[n]) + "\n" for n in names).rstrip() + "\n"
        assert c.out("catalog", "services", "-tags") == want
        assert c.out("catalog", "services", "-node=" + node) == "".join(n + "\n" for n in names)
        rc, out, err = c("catalog", "services", "-node=no-such-node", ok=True)
        assert out == "" and err == "No services match the given query - try expanding your search.\n"
        rows = [["Node", "ID", "Address", "DC"]] + [
            [n["Node"], n["ID"].split("-")[0], n["Address"], n["Datacenter"]] for n in nodes]
        assert c.out("catalog", "nodes", "-service=web") == table(rows)
        rc, out, err = c("catalog", "nodes", "-service=nothing", ok=True)
        assert out == "" and err == "No nodes match the given query - try expanding your search.\n"
        rc, out, err = c("catalog", "nodes", "-node-meta=no=such", ok=True)
        assert out == "" and err.startswith("No nodes match")
        assert "missing" in c.fail("catalog", "nodes", "-node-meta=noequals")

        # deregister by ID and by the same files
        assert c.out("services", "deregister", "-id=web1") == "Deregistered service: web1\n"
        assert c.out("services", "deregister", f1, f2) == \
            "Deregistered service: db\nDeregistered service: cache1\nDeregistered service: queue\n"
        assert getj(a, "/v1/agent/services") == {}
        wait_for(lambda: c.out("catalog", "services") == "consul\n", 20,
                 "the services gone from the catalog")

        # usage errors and the agent's refusals
        assert c.fail("services", "register") == \
            "Service registration requires at least one argument or flags.\n"
        assert c.fail("services", "register", "-name=x", f1) == \
            "Service registration requires arguments or -id, not both.\n"
        assert c.fail("services", "deregister") == \
            "Service deregistration requires at least one argument or -id.\n"
        assert c.fail("services", "deregister", "-id=x", f1) == \
            "Service deregistration requires arguments or -id, not both.\n"
        bad = os.path.join(tmp.path, "bad.json")
        with open(bad, "w") as f:
            json.dump({"service": {"port": 1}}, f)
        err = c.fail("services", "register", bad)
        assert err.startswith("Error: ") and bad in err and "Missing service name" in err, err
        assert c.fail("services", "register", os.path.join(tmp.path, "none.json")).startswith(
            "Error: ")
        assert "invalid value" in c.fail("services", "register", "-name=x", "-port=http")
        err = c.fail("services", "deregister", "-id=no-such")
        assert err.startswith('Error deregistering service "": Unexpected response code: 404'), err
        assert getj(a, "/v1/agent/services") == {}
        assert c.fail("catalog", "nodes", "extra") == "Too many arguments (expected 0, got 1)\n"
    finally:
        a.stop()
        tmp.cleanup()


@test
def maint_enable_list_disable():
    a = Agent()
    try:
        c = Cli(a)
        node = a.node()
        assert c.out("maint") == ""
        c.out("services", "register", "-name=web")
        assert c.out("maint", "-enable", "-reason=down for upgrade") == \
            "Node maintenance is now enabled\n"
        assert c.out("maint", "-enable", "-service=web", "-reason=flaky") == \
            'Service maintenance is now enabled for "web"\n'
        checks = getj(a, "/v1/agent/checks")
        assert checks["_node_maintenance"]["Notes"] == "down for upgrade"
        assert checks["_service_maintenance:web"]["Notes"] == "flaky"
        assert checks["_service_maintenance:web"]["Status"] == "critical"
        assert c.out("maint") == ("Node:\n  Name:   %s\n  Reason: down for upgrade\n\n"
                                  "Service:\n  ID:     web\n  Reason: flaky\n\n" % node)
        assert c.out("maint", "-disable", "-service=web") == \
            'Service maintenance is now disabled for "web"\n'
        assert c.out("maint") == "Node:\n  Name:   %s\n  Reason: down for upgrade\n\n" % node
        assert c.out("maint", "-disable") == "Node maintenance is now disabled\n"
        assert c.out("maint") == ""
        checks = getj(a, "/v1/agent/checks")
        assert "_node_maintenance" not in checks and "_service_maintenance:web" not in checks
        assert c.fail("maint", "-enable", "-disable") == \
            "Only one of -enable or -disable may be provided\n"
        assert c.fail("maint", "-reason=x") == "Reason may only be provided with -enable\n"
        assert c.fail("maint", "-disable", "-reason=x") == \
            "Reason may only be provided with -enable\n"
        assert c.fail("maint", "-service=web") == "Service requires either -enable or -disable\n"
        assert c.fail("maint", "-enable", "-service=nosuch").startswith(
            "Error enabling service maintenance: Unexpected response code: 404")
    finally:
        a.stop()


# ------------------------------------------------------------- validate

@test
def validate_good_and_bad_configs():
    tmp = TmpDir()
    try:
        def write(name, content):
            path = os.path.join(tmp.path, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(content if isinstance(content, str) else json.dumps(content))
            return path
        good = write("good.json", {
            "data_dir": "/tmp/cairn-validate", "datacenter": "dc2",
            "service": {"name": "web", "port": 80,
                        "checks": [{"http": "http://127.0.0.1/", "interval": "10s"},
                                   {"ttl": "30s"}]},
            "checks": [{"name": "disk", "args": ["/bin/true"], "interval": "30s"},
                       {"id": "t", "name": "ttl", "ttl": "5s"}]})
        rc, out, err = cli("validate", good, ok=True)
        assert (out, err) == ("Configuration is valid!\n", ""), (out, err)
        rc, out, err = cli("validate", "-quiet", good, ok=True)
        assert (out, err) == ("", "")
        # a directory: its *.json files, by name; other files ignored
        write("dir/a.json", {"data_dir": "/tmp/cairn-validate"})
        write("dir/b.json", {"services": [{"name": "db", "port": 5432}]})
        write("dir/notes.txt", "not json at all {")
        d = os.path.join(tmp.path, "dir")
        assert cli("validate", d, ok=True)[1] == "Configuration is valid!\n"
        assert cli("validate", d, good, ok=True)[1] == "Configuration is valid!\n"

        def bad(*paths):
            rc, out, err = cli("validate", *paths, ok=False)
            assert out == "" and err.startswith("Config validation failed: "), (out, err)
            assert err.count("\n") == 1, err
            return err
        err = bad(write("syntax.json", '{"data_dir": "/tmp/x",'))
        assert "syntax.json" in err and "parse error" in err, err
        err = bad(write("unknown.json", {"data_dir": "/tmp/x", "no_such_key": 1}))
        assert "unknown.json" in err and "no_such_key" in err, err
        err = bad(write("nodatadir.json", {"datacenter": "dc1"}))
        assert "data_dir" in err, err
        # definitions are parsed as the agent's checkd parses them
        err = bad(write("badcheck.json", {"data_dir": "/tmp/x",
                                          "checks": [{"name": "ok", "ttl": "5s"},
                                                     {"name": "h", "http": "http://x/"}]}))
        assert "badcheck.json: checks[1]: " in err, err
        err = bad(write("noname.json", {"data_dir": "/tmp/x", "check": {"ttl": "5s"}}))
        assert "noname.json: check: Missing check name" in err, err
        err = bad(write("badsvc.json", {"data_dir": "/tmp/x", "service": {"name": "s",
                                        "check": {"interval": "10s"}}}))
        assert "badsvc.json: service: " in err, err
        err = bad(write("svcport.json", {"data_dir": "/tmp/x", "services": [{"name": "s",
                                         "port": "80"}]}))
        assert "svcport.json: services[0]: " in err, err
        # a bad file in a directory is named
        write("dir2/a.json", {"data_dir": "/tmp/cairn-validate"})
        b2 = write("dir2/b.json", {"service": {"port": 1}})
        err = bad(os.path.join(tmp.path, "dir2"))
        assert b2 + ": service: Missing service name" in err, err
        err = bad(os.path.join(tmp.path, "missing.json"))
        assert "missing.json" in err, err
        rc, out, err = cli("validate", ok=False)
        assert err == "Must specify at least one config file or directory\n", err
    finally:
        tmp.cleanup()


# ------------------------------------------------------ errors, usage

@test
def unknown_flags_unreachable_agent_and_usage():
    # an unknown flag: one line naming it, then the usage; exit 1
    for args in (["kv", "get", "-bogus", "k"], ["kv", "put", "-bogus", "k"],
                 ["kv", "delete", "-bogus", "k"], ["kv", "export", "-bogus"],
                 ["kv", "import", "-bogus", "[]"], ["catalog", "nodes", "-bogus"],
                 ["catalog", "services", "-bogus"], ["catalog", "datacenters", "-bogus"],
                 ["services", "register", "-bogus"], ["services", "deregister", "-bogus"],
                 ["maint", "-bogus"], ["validate", "-bogus", "x.json"]):
        rc, out, err = cli(*args, ok=False)
        assert err.splitlines()[0] == "flag provided but not defined: -bogus", (args, err)
        assert "Usage: cairn " in err, (args, err)
    # an agent that is not there: exit 1, naming the address
    dead = "127.0.0.1:1"
    for args in (["kv", "get", "k"], ["kv", "put", "k", "v"], ["kv", "delete", "k"],
                 ["kv", "export"], ["kv", "import", "[{\"key\":\"k\",\"value\":\"\"}]"],
                 ["catalog", "datacenters"], ["catalog", "nodes"], ["catalog", "services"],
                 ["services", "register", "-name=x"], ["services", "deregister", "-id=x"],
                 ["maint"], ["maint", "-enable"]):
        rc, out, err = cli(*(args[:2] if args[0] != "maint" else args[:1]),
                           "-http-addr=" + dead,
                           *(args[2:] if args[0] != "maint" else args[1:]), ok=False)
        assert dead in err and out == "", (args, out, err)
    rc, out, err = cli("kv", "get", "k", env={"CONSUL_HTTP_ADDR": dead}, ok=False)
    assert dead in err
    # subcommands: none or unknown is an error with the usage; -h is help
    for cmd in ("kv", "catalog", "services"):
        rc, out, err = cli(cmd, ok=False)
        assert err.startswith("Usage: cairn %s" % cmd), err
        rc, out, err = cli(cmd, "nope", ok=False)
        assert "unknown subcommand" in err and "Usage: cairn %s" % cmd in err, err
        rc, out, err = cli(cmd, "-h", ok=True)
        assert out.startswith("Usage: cairn %s" % cmd), out
    rc, out, err = cli("kv", "get", "-h", ok=True)
    assert out.startswith("Usage: cairn kv get"), out
    # the commands are listed in the CLI's help
    rc, out, err = cli("--help", ok=True)
    for cmd in ("catalog", "kv", "maint", "services", "validate"):
        assert "\n    %s " % cmd in out, (cmd, out)


if __name__ == "__main__":
    main()
