"""test_dns.py - dnsd through `dig`, as users query it: every Consul name
form (node, [tag.]service, RFC 2782, addr, the domain's SOA and NS, dc and
alt_domain variants) and record type (A, AAAA, SRV with Additional, TXT,
ANY), NXDOMAIN and NODATA with the SOA, case-insensitive names, health
filtering (a failing instance gone within a check interval; only_passing),
TTLs from config, UDP truncation of a 100-instance service with the full
answer over TCP, recursors (a local upstream, failover, SERVFAIL, REFUSED),
and malformed packets answered FORMERR or dropped without harm."""
import json
import os
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import main, test, wait_for
from test_http import BASE, Agent

del harness._tests[:]  # test_http's own tests run from their file

DNS = BASE + 7


class Dig:
    def __init__(self, out):
        self.raw = out
        self.status = None
        self.flags = ""
        self.sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
        sec = None
        for line in out.splitlines():
            if "status:" in line:
                self.status = line.split("status:")[1].split(",")[0].strip()
            if line.startswith(";; flags:"):
                self.flags = line.split(";; flags:")[1].split(";")[0].strip()
            if line.startswith(";; ") and line.endswith(" SECTION:"):
                sec = line[3:-9]
                continue
            if not line.strip() or line.startswith(";"):
                if not line.strip():
                    sec = None
                continue
            if sec in self.sections:
                self.sections[sec].append(line.split())

    def answer(self, rtype=None):
        return [r for r in self.sections["ANSWER"] if rtype is None or r[3] == rtype]

    def data(self, rtype):
        return sorted(" ".join(r[4:]) for r in self.answer(rtype))


def dig(name, rtype="A", *opts, port=DNS):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), name, rtype,
                        "+tries=1", "+time=3"] + list(opts),
                       capture_output=True, text=True, timeout=20)
    return Dig(r.stdout)


def put(a, path, body):
    st, text, _ = a.curl(path, "PUT", json.dumps(body).encode())
    assert st == 200, (path, st, text)


def dns_agent(extra=None):
    cfg = {"ports": {"dns": DNS}, "node_meta": {"rack": "r1", "rfc1035-raw": "plain"}}
    cfg.update(extra or {})
    a = Agent(cfg)
    # dnsd has read the catalog once the node answers
    try:
        wait_for(lambda: dig(a.node() + ".node.consul").status == "NOERROR", 10,
                 "dnsd answering")
    except Exception:
        a.stop()
        raise
    return a


@test
def every_name_form_and_record_type():
    a = dns_agent({"alt_domain": "cairn.", "dns_config": {"service_ttl": {"web": "7s"},
                                                          "node_ttl": "3s"}})
    try:
        node = a.node()
        put(a, "/v1/agent/service/register", {
            "Name": "web", "ID": "web-1", "Port": 8080, "Tags": ["v1", "blue"],
            "Check": {"TTL": "60s", "Status": "passing"}})
        put(a, "/v1/catalog/register", {
            "Node": "ext1", "Address": "10.1.2.3", "NodeMeta": {"zone": "a"},
            "Service": {"ID": "web-2", "Service": "web", "Port": 9090, "Tags": ["v2"],
                        "Address": "10.9.9.9"},
            "Check": {"CheckID": "c1", "Name": "c1", "Status": "passing"}})
        put(a, "/v1/catalog/register", {"Node": "v6node", "Address": "2001:db8::5",
                                        "Service": {"Service": "six", "Port": 1}})
        wait_for(lambda: len(dig("web.service.consul").answer("A")) == 2, 5, "two web instances")
        # node
        d = dig(node + ".node.consul")
        assert d.status == "NOERROR" and d.data("A") == ["127.0.0.1"], d.raw
        assert "aa" in d.flags.split(), d.flags
        assert d.answer("A")[0][1] == "3", d.raw  # node_ttl
        d = dig(node.upper() + ".NODE.dc1.Consul")  # case-insensitive, with dc
        assert d.data("A") == ["127.0.0.1"], d.raw
        d = dig(node + ".node.consul", "TXT")
        assert d.data("TXT") == ['"plain"', '"rack=r1"'], d.raw
        d = dig("ext1.node.consul", "ANY")
        assert d.data("A") == ["10.1.2.3"] and d.data("TXT") == ['"zone=a"'], d.raw
        d = dig("v6node.node.consul", "AAAA")
        assert d.data("AAAA") == ["2001:db8::5"], d.raw
        d = dig("v6node.node.consul", "A")  # NODATA: NOERROR, SOA
        assert d.status == "NOERROR" and d.answer() == [] and \
            d.sections["AUTHORITY"][0][3] == "SOA", d.raw
        # services
        d = dig("web.service.consul")
        assert d.data("A") == ["10.9.9.9", "127.0.0.1"], d.raw
        assert {r[1] for r in d.answer("A")} == {"7"}, d.raw  # service_ttl
        assert dig("v1.web.service.consul").data("A") == ["127.0.0.1"]
        assert dig("v2.web.service.dc1.consul").data("A") == ["10.9.9.9"]
        d = dig("web.service.consul", "SRV")
        assert d.data("SRV") == ["1 1 8080 %s.node.dc1.consul." % node,
                                 "1 1 9090 0a090909.addr.dc1.consul."], d.raw
        add = sorted((r[0], r[4]) for r in d.sections["ADDITIONAL"] if r[3] == "A")
        assert add == [("0a090909.addr.dc1.consul.", "10.9.9.9"),
                       ("%s.node.dc1.consul." % node, "127.0.0.1")], d.raw
        assert dig("_web._tcp.service.consul", "SRV").data("SRV") == d.data("SRV")
        assert dig("_web._v2.service.consul", "SRV").data("SRV") == \
            ["1 1 9090 0a090909.addr.dc1.consul."]
        assert dig("six.service.consul", "AAAA").data("AAAA") == ["2001:db8::5"]
        d = dig("web.service.consul", "ANY")
        assert len(d.answer("A")) == 2, d.raw
        d = dig("web.service.consul", "AAAA")  # IPv4 only: NODATA
        assert d.status == "NOERROR" and d.answer() == [], d.raw
        # addr
        assert dig("0a090909.addr.dc1.consul").data("A") == ["10.9.9.9"]
        assert dig("20010db8000000000000000000000005.addr.dc1.consul", "AAAA").data("AAAA") \
            == ["2001:db8::5"]
        # the domain itself
        d = dig("consul", "SOA")
        assert d.answer("SOA")[0][4:6] == ["ns.consul.", "hostmaster.consul."], d.raw
        d = dig("consul", "NS")
        assert d.data("NS") == ["%s.node.dc1.consul." % node], d.raw
        assert [r[4] for r in d.sections["ADDITIONAL"] if r[3] == "A"] == ["127.0.0.1"]
        # alt_domain: answered in the domain asked
        d = dig("web.service.cairn")
        assert len(d.answer("A")) == 2 and d.answer("A")[0][0] == "web.service.cairn.", d.raw
        # NXDOMAIN with the SOA
        for name in ("nope.service.consul", "nope.node.consul", "web.service.dc9.consul",
                     "x.query.consul", "what.consul", "zz.addr.dc1.consul",
                     "v9.web.service.consul"):
            d = dig(name)
            assert d.status == "NXDOMAIN", (name, d.raw)
            assert d.sections["AUTHORITY"] and d.sections["AUTHORITY"][0][3] == "SOA", d.raw
        # TCP gives the same
        d = dig("web.service.consul", "SRV", "+tcp")
        assert len(d.answer("SRV")) == 2 and "(TCP)" in d.raw, d.raw
        # reverse lookup of a node's address
        d = dig("3.2.1.10.in-addr.arpa", "PTR")
        assert d.data("PTR") == ["ext1.node.dc1.consul."], d.raw
    finally:
        a.stop()


@test
def health_filtering_and_a_failing_instance_leaving():
    a = dns_agent()
    try:
        for i, status in enumerate(["passing", "warning", "critical"]):
            put(a, "/v1/catalog/register", {
                "Node": "n%d" % i, "Address": "10.0.0.%d" % (i + 1),
                "Service": {"Service": "api", "Port": 80},
                "Check": {"CheckID": "c", "Name": "c", "Status": status,
                          "ServiceID": "api"}})
        # a node-level critical check hides every service of the node
        put(a, "/v1/catalog/register", {
            "Node": "n3", "Address": "10.0.0.4", "Service": {"Service": "api", "Port": 80},
            "Check": {"CheckID": "serfHealth", "Name": "serf", "Status": "critical"}})
        wait_for(lambda: dig("api.service.consul").data("A") == ["10.0.0.1", "10.0.0.2"], 5,
                 "passing and warning instances only")
        # an instance registered through the agent with a 1 s HTTP check
        # against a closed port: critical after its first run, never listed
        put(a, "/v1/agent/service/register", {"Name": "local", "Port": 1,
                                              "Check": {"TTL": "30s", "Status": "passing"}})
        wait_for(lambda: dig("local.service.consul").data("A") == ["127.0.0.1"], 5, "local")
        t0 = time.monotonic()
        st, _, _ = a.curl("/v1/agent/check/fail/service:local", "PUT", b"")
        assert st == 200
        wait_for(lambda: dig("local.service.consul").status == "NXDOMAIN", 3,
                 "the failing instance gone from DNS")
        print("  gone from DNS %.3fs after the check failed" % (time.monotonic() - t0))
    finally:
        a.stop()
    a = dns_agent({"dns_config": {"only_passing": True}})
    try:
        for i, status in enumerate(["passing", "warning"]):
            put(a, "/v1/catalog/register", {
                "Node": "n%d" % i, "Address": "10.0.0.%d" % (i + 1),
                "Service": {"Service": "api", "Port": 80},
                "Check": {"CheckID": "c", "Name": "c", "Status": status, "ServiceID": "api"}})
        wait_for(lambda: dig("api.service.consul").data("A") == ["10.0.0.1"], 5,
                 "only the passing instance")
    finally:
        a.stop()


@test
def a_hundred_instances_truncate_over_udp_and_fit_over_tcp():
    a = dns_agent({"dns_config": {"udp_answer_limit": 100}})
    try:
        for i in range(100):
            put(a, "/v1/catalog/register", {
                "Node": "big%03d" % i, "Address": "10.2.%d.%d" % (i // 200, i % 200 + 1),
                "Service": {"Service": "big", "Port": 1000 + i}})
        wait_for(lambda: len(dig("big.service.consul", "SRV", "+tcp").answer("SRV")) == 100,
                 10, "100 instances over TCP")
        # UDP with EDNS and 1232 bytes: what fits, TC set
        d = dig("big.service.consul", "SRV", "+bufsize=1232", "+ignore")
        assert "tc" in d.flags.split(), d.raw
        assert 0 < len(d.answer("SRV")) < 100, len(d.answer("SRV"))
        # dig retries over TCP by itself on TC and gets everything
        d = dig("big.service.consul", "SRV", "+bufsize=1232")
        assert len(d.answer("SRV")) == 100, d.raw[-500:]
        # UDP without EDNS: at most 8 answers (Consul), within 512 bytes
        d = dig("big.service.consul", "SRV", "+noedns", "+ignore")
        assert len(d.answer("SRV")) == 8, d.raw
        # EDNS with 4096 bytes: 100 A records fit
        d = dig("big.service.consul", "A", "+bufsize=4096")
        assert len(d.answer("A")) == 100 and "tc" not in d.flags.split(), d.raw[-500:]
        # the order changes between queries (shuffled)
        orders = {tuple(r[4] for r in dig("big.service.consul", "A", "+tcp").answer("A"))
                  for _ in range(6)}
        assert len(orders) > 1, "always the same order"
        # default udp_answer_limit is 3 without EDNS (Consul)
    finally:
        a.stop()
    a = dns_agent()
    try:
        for i in range(10):
            put(a, "/v1/catalog/register", {"Node": "m%d" % i, "Address": "10.3.0.%d" % (i + 1),
                                            "Service": {"Service": "many", "Port": 1}})
        wait_for(lambda: len(dig("many.service.consul", "A", "+tcp").answer("A")) == 10, 5, "10")
        assert len(dig("many.service.consul", "A", "+noedns").answer("A")) == 3
    finally:
        a.stop()


class Upstream:
    """A tiny resolver on loopback: A 192.0.2.7 for anything, or SERVFAIL."""

    def __init__(self, servfail=False):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.servfail = servfail
        self.count = 0
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        self.s.settimeout(0.2)
        while not self.stop.is_set():
            try:
                q, peer = self.s.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            qid, = struct.unpack("!H", q[:2])
            end = 12
            while q[end] != 0:
                end += q[end] + 1
            question = q[12:end + 5]
            if self.servfail:
                hdr = struct.pack("!HHHHHH", qid, 0x8182, 1, 0, 0, 0)
                self.s.sendto(hdr + question, peer)
                continue
            hdr = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
            rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 7])
            self.s.sendto(hdr + question + rr, peer)

    def close(self):
        self.stop.set()
        self.s.close()


@test
def recursors_forward_fail_over_and_refuse():
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound, never answers: a timeout
    bad = Upstream(servfail=True)
    good = Upstream()
    a = dns_agent({"recursors": ["127.0.0.1:%d" % dead.getsockname()[1],
                                 "127.0.0.1:%d" % bad.port, "127.0.0.1:%d" % good.port],
                   "dns_config": {"recursor_timeout": "500ms"}})
    try:
        d = dig("example.com")
        assert d.status == "NOERROR" and d.data("A") == ["192.0.2.7"], d.raw
        assert "ra" in d.flags.split(), d.flags
        assert bad.count >= 1 and good.count >= 1
        d = dig("example.com", "A", "+tcp")
        assert d.data("A") == ["192.0.2.7"], d.raw
        good.close()
        d = dig("example.org")
        assert d.status == "SERVFAIL", d.raw
        # names in the domain never go out
        n = bad.count
        assert dig("nope.service.consul").status == "NXDOMAIN" and bad.count == n
    finally:
        a.stop()
        bad.close()
        dead.close()
    a = dns_agent()
    try:
        d = dig("example.com")
        assert d.status == "REFUSED" and "ra" not in d.flags.split(), d.raw
    finally:
        a.stop()


def raw_query(payload, tcp=False, timeout=1.0):
    if tcp:
        s = socket.create_connection(("127.0.0.1", DNS), timeout=timeout)
        s.sendall(struct.pack("!H", len(payload)) + payload)
        try:
            hdr = s.recv(2)
            if len(hdr) < 2:
                return None
            n, = struct.unpack("!H", hdr)
            out = b""
            while len(out) < n:
                chunk = s.recv(n - len(out))
                if not chunk:
                    break
                out += chunk
            return out
        except socket.timeout:
            return None
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(payload, ("127.0.0.1", DNS))
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def q(name, qtype=1, qd=1, flags=0x0100, qid=0x4242):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"
    return struct.pack("!HHHHHH", qid, flags, qd, 0, 0, 0) + wire + struct.pack("!HH", qtype, 1)


def rcode(resp):
    return resp[3] & 0xF


@test
def malformed_packets_get_formerr_or_nothing():
    a = dns_agent()
    try:
        good = q("consul", 6)
        assert rcode(raw_query(good)) == 0
        cases = {
            "zero questions": (struct.pack("!HHHHHH", 1, 0x100, 0, 0, 0, 0), 1),
            "two questions": (q("consul", 6, qd=2), 1),
            "truncated question": (good[:-3], 1),
            "label of 64": (struct.pack("!HHHHHH", 2, 0x100, 1, 0, 0, 0) + b"\x40" +
                            b"a" * 64 + b"\0\0\1\0\1", 1),
            "compression loop": (struct.pack("!HHHHHH", 3, 0x100, 1, 0, 0, 0) +
                                 b"\xc0\x0c\0\1\0\1", 1),
            "bad additional": (good[:4] + b"\0\1\0\0\0\0\0\1" + good[12:] + b"\xff", 1),
            "opcode 2": (q("consul", 6, flags=0x1100), 4),
        }
        for what, (pkt, want) in cases.items():
            for tcp in (False, True):
                r = raw_query(pkt, tcp)
                assert r is not None and rcode(r) == want, (what, tcp, r)
        # dropped: too short, or a response
        assert raw_query(b"\1\2\3") is None
        assert raw_query(q("consul", 6, flags=0x8100)) is None
        # a flood of junk, then still answering
        import random
        rnd = random.Random(7)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(3000):
            s.sendto(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 600))),
                     ("127.0.0.1", DNS))
        s.close()
        assert dig(a.node() + ".node.consul").status == "NOERROR"
        # an oversized TCP length prefix with nothing behind it: closed on idle,
        # others unaffected
        s = socket.create_connection(("127.0.0.1", DNS))
        s.sendall(b"\xff\xff" + b"x" * 100)
        assert dig("consul", "SOA", "+tcp").status == "NOERROR"
        s.close()
    finally:
        a.stop()


if __name__ == "__main__":
    main()
