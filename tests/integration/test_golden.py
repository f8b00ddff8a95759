"""test_golden.py - the CLI's output, byte for byte, against golden files in
golden/: `members`, `members -detailed`, `info` (section and key names),
`operator raft list-peers`, `kv get -detailed`.  A dev agent with a fixed
node name and ID keeps the output stable; {NAME} in a golden file matches
the value named (as computed by the test) and {*} matches any text within
the line.  GOLDEN_UPDATE=1 rewrites the files from the current output
(review the diff before committing)."""
import json
import os
import re
import subprocess

import harness
from harness import Notify, Proc, TmpDir, binary, cairn, main, test, wait_for
from test_http import BASE

del harness._tests[:]

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
NODE = "golden1"
NODE_ID = "3f6c9b2e-8f1a-4c1d-9a3e-5b7d2c4e6f80"
HTTP = BASE + 20
SERF = BASE + 21


def template_re(text, values):
    out = []
    for line in text.splitlines():
        pat, i = "", 0
        for m in re.finditer(r"\{(\*|[A-Z_]+)\}", line):
            pat += re.escape(line[i:m.start()])
            pat += ".*?" if m.group(1) == "*" else re.escape(values[m.group(1)])
            i = m.end()
        pat += re.escape(line[i:])
        out.append(pat)
    return re.compile("\\n".join(out) + "\\n?\\Z")


def check(name, output, values):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("GOLDEN_UPDATE") == "1" or not os.path.exists(path):
        raise AssertionError("no golden file %s; output was:\n%s" % (path, output))
    with open(path) as f:
        want = f.read()
    if not template_re(want, values).match(output):
        raise AssertionError("%s differs\n--- golden\n%s--- got\n%s" % (name, want, output))


def run(*args):
    r = cairn(*args, "-http-addr=127.0.0.1:%d" % HTTP)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


@test
def cli_output_matches_golden_files():
    tmp = TmpDir()
    n = Notify(tmp.path)
    p = Proc([binary("cairn"), "agent", "-dev", "-node", NODE, "-node-id", NODE_ID,
              "-data-dir", os.path.join(tmp.path, "data"), "-http-port", str(HTTP),
              "-server-port", str(BASE + 22), "-serf-lan-port", str(SERF),
              "-dns-port", str(BASE + 23), "-serf-wan-port", str(BASE + 24)], tmp.path, "agent",
             env={"NOTIFY_SOCKET": n.path})
    try:
        n.wait("READY=1", 30)
        wait_for(lambda: run("operator", "raft", "list-peers").count("leader") == 1, 15,
                 "a leader")
        values = {"NODE": NODE, "SERF": "127.0.0.1:%d" % SERF,
                  "RAFT": "127.0.0.1:%d" % (BASE + 22)}
        check("members.txt", run("members"), values)
        check("members_detailed.txt", run("members", "-detailed"), values)
        check("list_peers.txt", run("operator", "raft", "list-peers"), values)
        # info: every section and key, values free
        info = run("info")
        check("info.txt", re.sub(r" = .*", " = {*}", info), values)
        # kv get -detailed (if the kv command exists)
        r = cairn("kv", "put", "-flags=42", "-http-addr=127.0.0.1:%d" % HTTP,
                  "golden/key", "hello")
        if r.returncode == 0:
            check("kv_get_detailed.txt", run("kv", "get", "-detailed", "golden/key"), values)
        else:
            print("SKIP: kv get -detailed (no kv command yet)")
    finally:
        p.stop()
        n.close()
        tmp.cleanup()


if __name__ == "__main__":
    main()
