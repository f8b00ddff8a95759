"""test_ui.py - the web UI (httpd/ui/, served under /ui/) on dev agents of
their own (127.0.0.95-97, Consul's default ports on each address):

- as curl sees it: / redirects to /ui/, the files with their types and
  security headers (CSP without inline script, nosniff, DENY), HEAD, 405,
  no path traversal; a disabled UI is 404 and / stays "Consul Agent";
  -ui-dir serves another directory;
- in real headless Chromium (Debian's chromium driven by playwright-core,
  tests/ui/e2e.mjs, one scenario per test): the services page, a check
  turning critical live, nodes, KV create/edit/delete with the API
  agreeing, markup rendered as text, the datacenter switcher, the ACL
  token, a 413, a cluster without a leader and a stopped agent shown as
  errors, and a hidden tab that
  starts no long-polls.  Screenshots land in tests/ui/results/<build>/.
"""
import json
import os
import select
import shutil
import subprocess
import time

from harness import TOP, BUILD, Notify, Proc, TmpDir, binary, main, test, wait_for

IP, IP_OFF, IP_DIR = "127.0.0.95", "127.0.0.96", "127.0.0.97"
E2E = os.path.join(TOP, "tests", "ui", "e2e.mjs")
RESULTS = os.path.join(TOP, "tests", "ui", "results", os.path.basename(BUILD.rstrip("/")))


class Dev:
    """cairn agent -dev on ip; extra: a config file's content"""

    def __init__(self, ip, name, extra=None, args=(), leaderless=False):
        self.ip = ip
        self.tmp = TmpDir()
        mode = ["-server", "-bootstrap-expect", "3", "-ui"] if leaderless else ["-dev"]
        cmd = [binary("cairn"), "agent"] + mode + ["-node", name, "-bind", ip, "-client", ip,
                                                   "-data-dir", os.path.join(self.tmp.path, "data")] + list(args)
        if extra is not None:
            cfg = os.path.join(self.tmp.path, "extra.json")
            with open(cfg, "w") as f:
                json.dump(extra, f)
            cmd += ["-config-file", cfg]
        self.n = Notify(self.tmp.path)
        self.p = Proc(cmd, self.tmp.path, name, env={"NOTIFY_SOCKET": self.n.path})
        try:
            self.n.wait("READY=1", 30)
            if leaderless:
                return
            wait_for(lambda: self.curl("/v1/status/leader")[1] not in ("", '""'), 20, "a leader")
            wait_for(lambda: '"serfHealth"' in self.curl("/v1/health/node/" + name)[1], 20,
                     "the node's registration")
        except Exception:
            self.stop()
            raise

    def base(self):
        return "http://%s:8500" % self.ip

    def curl(self, path, method="GET", data=None, extra=()):
        args = ["curl", "-s", "-S", "-i", "-X", method, "--max-time", "20"] + list(extra)
        if data is not None:
            args += ["--data-binary", "@-"]
        r = subprocess.run(args + [self.base() + path], input=data, capture_output=True, timeout=30)
        raw = r.stdout.decode(errors="replace")
        head, _, body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        st = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
        hs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hs[k.strip().lower()] = v.strip()
        return st, body, hs

    def stop(self):
        self.p.stop()
        self.n.close()
        self.tmp.cleanup()


@test
def ui_files_headers_and_paths():
    d = Dev(IP_OFF, "uihdr")
    try:
        st, body, h = d.curl("/")
        assert st == 301 and h["location"] == "/ui/", (st, h)
        for path in ("/ui", "/ui/", "/ui/index.html"):
            st, body, h = d.curl(path)
            assert st == 200 and h["content-type"] == "text/html; charset=utf-8", (path, st, h)
            assert '<script type="module" src="/ui/app.js">' in body
            csp = h["content-security-policy"]
            assert "default-src 'self'" in csp and "unsafe-inline" not in csp, csp
            assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY", h
        for path, ctype in (("/ui/app.js", "text/javascript; charset=utf-8"),
                            ("/ui/style.css", "text/css; charset=utf-8"),
                            ("/ui/favicon.svg", "image/svg+xml")):
            st, body, h = d.curl(path)
            assert st == 200 and h["content-type"] == ctype and body, (path, st, h)
        # no inline script anywhere: the CSP would refuse it
        st, body, _ = d.curl("/ui/index.html")
        assert "<script>" not in body and "onload=" not in body
        # HEAD: GET's headers, no body (the connection stays usable)
        st, body, h = d.curl("/ui/app.js", extra=("-I",))
        assert st == 200 and int(h["content-length"]) > 0 and body == "", (st, h, body[:80])
        st, body, h = d.curl("/ui/app.js", "POST", b"x")
        assert st == 405 and "GET" in h.get("allow", ""), (st, h)
        st, _, _ = d.curl("/ui/app.js", "DELETE")
        assert st == 405
        # traversal, hidden files, directories, unknown files
        for path in ("/ui/../etc/passwd", "/ui/%2e%2e/%2e%2e/etc/passwd", "/ui/%2E%2E/x",
                     "/ui/.hidden", "/ui//app.js", "/ui/./app.js", "/ui/nope.js",
                     "/ui/a%5c..%5capp.js", "/ui/app.js/"):
            st, body, _ = d.curl(path, extra=("--path-as-is",))
            assert st in (400, 404), (path, st, body[:80])
            assert "root:" not in body
        st, _, _ = d.curl("/ui/a%00b", extra=("--path-as-is",))
        assert st == 400, st
        # the UI's summaries
        st, body, h = d.curl("/v1/internal/ui/services")
        svcs = json.loads(body)
        assert st == 200 and any(s["Name"] == "consul" and s["InstanceCount"] == 1 for s in svcs), body
        assert int(h["x-consul-index"]) >= 1
        st, body, _ = d.curl("/v1/internal/ui/nodes")
        nodes = json.loads(body)
        assert nodes[0]["Node"] == "uihdr" and nodes[0]["Checks"][0]["CheckID"] == "serfHealth", body
        st, body, _ = d.curl("/v1/internal/ui/node/uihdr")
        assert st == 200 and json.loads(body)["Services"][0]["Service"] == "consul", body
        assert d.curl("/v1/internal/ui/node/nope")[0] == 404
        assert d.curl("/v1/internal/ui/services", "PUT", b"")[0] == 405
    finally:
        d.stop()


@test
def ui_disabled_and_ui_dir():
    d = Dev(IP_OFF, "uioff", extra={"ui_config": {"enabled": False}})
    try:
        st, body, _ = d.curl("/")
        assert st == 200 and body == "Consul Agent", (st, body)
        assert d.curl("/ui/")[0] == 404
        assert d.curl("/ui/app.js")[0] == 404
    finally:
        d.stop()
    tmp = TmpDir()
    try:
        www = os.path.join(tmp.path, "www")
        os.makedirs(os.path.join(www, "sub"))
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<!doctype html><title>custom</title>")
        with open(os.path.join(www, "sub", "x.css"), "w") as f:
            f.write("body{}")
        with open(os.path.join(tmp.path, "secret.txt"), "w") as f:
            f.write("secret")
        d = Dev(IP_DIR, "uidir", args=["-ui-dir", www])
        try:
            st, body, h = d.curl("/ui/")
            assert st == 200 and "custom" in body and "content-security-policy" in h, (st, body)
            st, body, h = d.curl("/ui/sub/x.css")
            assert st == 200 and body == "body{}" and h["content-type"].startswith("text/css")
            assert d.curl("/ui/sub")[0] == 404  # a directory
            st, body, _ = d.curl("/ui/%2e%2e/secret.txt", extra=("--path-as-is",))
            assert st == 404 and "secret" not in body, (st, body)
            assert d.curl("/ui/app.js")[0] == 404  # not the embedded files
        finally:
            d.stop()
    finally:
        tmp.cleanup()


# ------------------------------------------------------------ in Chromium

_agent = []


def agent():
    """the e2e scenarios' agent, shared, started by the first; a 4 KiB
    value limit makes a 413 easy to provoke"""
    if not _agent:
        _agent.append(Dev(IP, "uidev", extra={"limits": {"kv_max_value_size": 4096}}))
    return _agent[0]


def scenario(name, timeout=120, a=None):
    """run tests/ui/e2e.mjs NAME against the agent (a, or the shared one);
    True when it says OK"""
    have = shutil.which("node") and os.path.exists("/usr/bin/chromium") and \
        os.path.isdir(os.path.join(TOP, "tests", "ui", "node_modules", "playwright-core"))
    assert have, "node, /usr/bin/chromium or tests/ui/node_modules/playwright-core " \
                 "missing: run `make deps`"
    a = a or agent()
    os.makedirs(RESULTS, exist_ok=True)
    p = subprocess.Popen(["node", E2E, a.base(), RESULTS, name], cwd=TOP,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    end = time.monotonic() + timeout
    try:
        while True:
            left = end - time.monotonic()
            assert left > 0, "scenario %s timed out; output:\n%s" % (name, out.decode(errors="replace"))
            r, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
            if not r:
                continue
            line = p.stdout.readline()
            if not line:
                break
            out += line
            if line.strip() == b"NEED stop-agent":
                a.stop()
                _agent.clear()
                p.stdin.write(b"stopped\n")
                p.stdin.flush()
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    text = out.decode(errors="replace")
    assert p.returncode == 0 and ("OK " + name) in text, "scenario %s:\n%s" % (name, text)


@test
def services_page_lists_service():
    scenario("services_page_lists_service")


@test
def check_turns_critical_live():
    scenario("check_turns_critical_live")


@test
def nodes_and_node_pages():
    scenario("nodes_and_node_pages")


@test
def kv_create_edit_delete():
    scenario("kv_create_edit_delete")


@test
def markup_renders_as_text():
    scenario("markup_renders_as_text")


@test
def dc_switcher():
    scenario("dc_switcher")


@test
def token_sent():
    scenario("token_sent")


@test
def error_shown_too_large():
    scenario("error_shown_too_large")


@test
def background_tab_rests():
    scenario("background_tab_rests")


@test
def no_leader_banner():
    """a lone server waiting for two more: every list shows the error"""
    a = Dev(IP_OFF, "uilone", leaderless=True)
    try:
        st, body, _ = a.curl("/v1/catalog/services")
        assert st == 500 and "No cluster leader" in body, (st, body)
        scenario("no_leader_banner", a=a)
    finally:
        a.stop()


@test
def network_down_banner():
    """last: stops the agent"""
    try:
        scenario("network_down_banner")
    finally:
        for a in _agent:
            a.stop()
        _agent.clear()


if __name__ == "__main__":
    main()
