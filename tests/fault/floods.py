"""floods.py - the hostile clients of the fault matrix's rows 11-13
(../shared/spec/reliability.md section 8): floods of malformed HTTP
requests, DNS packets, gossip datagrams and Raft RPC streams, slowloris
connections, oversized requests, and a probe that keeps asking real
questions meanwhile.  Run inside a lab namespace:

    ip netns exec NS python3 floods.py COMMAND JSON-ARGS

Each command prints one JSON object (its findings) on stdout.  Every loop
is bounded in count and in time; traffic goes only to the address given."""
import json
import random
import socket
import struct
import sys
import threading
import time

VALID_HTTP = [
    b"GET /v1/kv/fault/probe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PUT /v1/kv/fault/flood?cas=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /v1/txn HTTP/1.1\r\nHost: x\r\nContent-Length: 58\r\n\r\n"
    b'[{"KV":{"Verb":"set","Key":"fault/flood","Value":"eA=="}}]',
    b"PUT /v1/agent/service/register HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
    b'{"Name":"flood","Port":80,"Tags":["a"]}',
    b"GET /v1/health/service/consul?index=1&wait=1ms&passing HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PUT /v1/session/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"d\r\n{\"TTL\":\"10s\"}\r\n0\r\n\r\n",
    b"GET /v1/catalog/service/consul?filter=ServiceName%20%3D%3D%20%22x%22 HTTP/1.1\r\n\r\n",
    b"POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\n"
    b'{"Name":"q","Service":{"Service":"x"}}',
]


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op == 2 and b:
            del b[rng.randrange(len(b))]
        elif op == 3 and b:
            i = rng.randrange(len(b))
            b[i:i] = b[i:i + rng.randint(1, 64)] * rng.randint(1, 200)
        elif op == 4:
            b[rng.randrange(len(b) + 1):] = b""  # truncated
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(b)


def bad_http(rng):
    k = rng.randrange(10)
    if k == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 2048)))
    if k == 1:  # a header line far over any limit
        return b"GET / HTTP/1.1\r\nX-A: " + b"a" * rng.randint(70000, 200000) + b"\r\n\r\n"
    if k == 2:  # bad chunk sizes
        return (b"PUT /v1/kv/fault/flood HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
                rng.choice([b"fffffffffffffffff\r\n", b"-1\r\n", b"zz\r\n", b"10\r\nabc"]))
    if k == 3:  # JSON nested deep
        body = b"[" * rng.randint(1000, 100000)
        return (b"PUT /v1/txn HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    return mutate(rng, rng.choice(VALID_HTTP))


def http_flood(a):
    """a["n"] malformed requests to a["host"]:a["port"], 8 at a time;
    -> answers by status, and how many got none within the read time"""
    rng = random.Random(a["seed"])
    reqs = [bad_http(rng) for _ in range(a["n"])]
    lock = threading.Lock()
    out = {"sent": 0, "status": {}, "no_answer": 0, "refused": 0}
    deadline = time.monotonic() + a.get("max_s", 60)

    def worker(part):
        for req in part:
            if time.monotonic() > deadline:
                return
            try:
                s = socket.create_connection((a["host"], a["port"]), timeout=2)
            except OSError:
                with lock:
                    out["refused"] += 1
                continue
            key = None
            try:
                s.settimeout(0.5)
                try:
                    s.sendall(req)
                except OSError:
                    pass
                data = s.recv(64)
                if data.startswith(b"HTTP/1."):
                    key = data[9:12].decode(errors="replace")
            except OSError:
                pass
            finally:
                s.close()
            with lock:
                out["sent"] += 1
                if key is None:
                    out["no_answer"] += 1
                else:
                    out["status"][key] = out["status"].get(key, 0) + 1
    ts = [threading.Thread(target=worker, args=(reqs[i::8],)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def dns_query(name, qtype=1, qid=None, edns=False):
    qid = random.randrange(65536) if qid is None else qid
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack(">HHIH", 41, 4096, 0, 0)
    return q


def dns_flood(a):
    """a["n"] random and mutated DNS queries over UDP, and a few over TCP"""
    rng = random.Random(a["seed"])
    base = [dns_query("consul.service.consul"), dns_query("n1.node.consul", 255),
            dns_query("_consul._tcp.service.consul", 33, edns=True),
            dns_query("x.query.consul", 16)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    answers = sent = 0
    deadline = time.monotonic() + a.get("max_s", 60)
    for i in range(a["n"]):
        if time.monotonic() > deadline:
            break
        pkt = (bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))
               if rng.random() < 0.3 else mutate(rng, rng.choice(base)))
        try:
            s.sendto(pkt[:65000], (a["host"], a["port"]))
            sent += 1
        except OSError:
            pass
        while True:
            try:
                s.recv(65536)
                answers += 1
            except OSError:
                break
        if i % 200 == 0:
            time.sleep(0.01)
    tcp = 0
    for _ in range(min(50, a["n"] // 20)):
        pkt = mutate(rng, rng.choice(base))
        try:
            t = socket.create_connection((a["host"], a["port"]), timeout=1)
            t.settimeout(0.5)
            t.sendall(struct.pack(">H", rng.choice([len(pkt), 65535, 0, 3])) + pkt)
            t.recv(2)
        except OSError:
            pass
        else:
            t.close()
        tcp += 1
    s.close()
    return {"sent": sent, "answers": answers, "tcp": tcp}


def gossip_flood(a):
    """a["n"] random or mutated datagrams to the gossip port, and a few
    streams of garbage to the gossip and Raft TCP ports"""
    rng = random.Random(a["seed"])
    # msgpack-ish shapes memberlist packets have: a type byte then a map
    base = [b"\x00\x84\xa5SeqNo\x01\xa4Node\xa2n9\xa4Addr\xc4\x04\x0a\xc8\x00\x09\xa4Port\xcd\x20\xfd",
            b"\x02\x83\xa11\x01\xa4Node\xa2n1\xa4From\xa2n9",
            b"\x07\x02\x00\x10" + b"\x00" * 16, b"\x0b\x00\x01\xff"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    deadline = time.monotonic() + a.get("max_s", 60)
    for i in range(a["n"]):
        if time.monotonic() > deadline:
            break
        pkt = (bytes(rng.randrange(256) for _ in range(rng.randint(1, 1400)))
               if rng.random() < 0.4 else mutate(rng, rng.choice(base)))
        try:
            s.sendto(pkt[:1400], (a["host"], a["gossip_port"]))
            sent += 1
        except OSError:
            pass
        if i % 200 == 0:
            time.sleep(0.01)
    s.close()
    streams = 0
    for port in (a["gossip_port"], a["raft_port"]):
        for _ in range(20):
            try:
                t = socket.create_connection((a["host"], port), timeout=1)
                t.settimeout(0.3)
                t.sendall(bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096))))
                t.recv(16)
            except OSError:
                pass
            else:
                t.close()
            streams += 1
    return {"sent": sent, "streams": streams}


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def probe(a):
    """real questions every 50 ms for a["seconds"]: an HTTP GET of
    /v1/status/leader and a DNS query for consul.service.consul;
    -> latencies (ms) and failures"""
    http_ms, dns_ms, fails = [], [], {"http": 0, "dns": 0}
    end = time.monotonic() + a["seconds"]
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection((a["host"], a["port"]), timeout=2)
            s.settimeout(2)
            s.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                k = s.recv(4096)
                if not k:
                    break
                data += k
            s.close()
            if data.startswith(b"HTTP/1.1 200"):
                http_ms.append((time.monotonic() - t0) * 1000)
            else:
                fails["http"] += 1
        except OSError:
            fails["http"] += 1
        if a.get("dns_port"):
            t0 = time.monotonic()
            try:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.settimeout(2)
                u.sendto(dns_query("consul.service.consul", qid=4242),
                         (a["host"], a["dns_port"]))
                r = u.recv(4096)
                u.close()
                if r[:2] == b"\x10\x92" and r[3] & 0x0F == 0:
                    dns_ms.append((time.monotonic() - t0) * 1000)
                else:
                    fails["dns"] += 1
            except OSError:
                fails["dns"] += 1
        time.sleep(max(0.0, 0.05 - (time.monotonic() - t0)))
    return {"http_n": len(http_ms), "http_p50_ms": pct(http_ms, 0.5),
            "http_p99_ms": pct(http_ms, 0.99), "dns_n": len(dns_ms),
            "dns_p50_ms": pct(dns_ms, 0.5), "dns_p99_ms": pct(dns_ms, 0.99),
            "failures": fails}


def slowloris(a):
    """a["conns"] connections each sending one header byte every
    a["every"] s; -> seconds until the server closed each, and what one
    connection over the per-IP cap was answered"""
    head = b"GET /v1/kv/fault/probe HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    socks = []
    for _ in range(a["conns"]):
        try:
            socks.append(socket.create_connection((a["host"], a["port"]), timeout=2))
        except OSError:
            break
    t0 = time.monotonic()
    # one more than the cap: answered 429 at once
    over = None
    try:
        x = socket.create_connection((a["host"], a["port"]), timeout=2)
        x.settimeout(3)
        x.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
        over = x.recv(64)[9:12].decode(errors="replace") or "closed"
        x.close()
    except OSError as e:
        over = "error: %s" % e
    closed = {}
    pos = 0
    end = t0 + a["max_s"]
    while len(closed) < len(socks) and time.monotonic() < end:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.settimeout(0.001)
                try:
                    if s.recv(4096) == b"":
                        closed[i] = time.monotonic() - t0
                        continue
                except socket.timeout:
                    pass
                s.sendall(head[pos % len(head):pos % len(head) + 1])
            except OSError:
                closed[i] = time.monotonic() - t0
        pos += 1
        time.sleep(a["every"])
    for s in socks:
        s.close()
    times = list(closed.values())
    return {"opened": len(socks), "closed": len(closed), "over_cap": over,
            "close_max_s": max(times) if times else None,
            "close_p50_s": pct(times, 0.5)}


def big_body(a):
    """PUT a a["mb"] MiB body to a["path"] (Content-Length, or chunked);
    -> the status and how much of the body the server took before it"""
    s = socket.create_connection((a["host"], a["port"]), timeout=5)
    total = a["mb"] << 20
    if a.get("chunked"):
        s.sendall(b"PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" %
                  a["path"].encode())
    else:
        s.sendall(b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" %
                  (a["path"].encode(), total))
    chunk = b"v" * 65536
    sent = 0
    status = None
    s.settimeout(0.0)
    end = time.monotonic() + 60
    try:
        while sent < total and time.monotonic() < end:
            try:
                data = s.recv(64)
                if data:
                    status = data[9:12].decode(errors="replace")
                    break
            except BlockingIOError:
                pass
            piece = (b"10000\r\n" + chunk + b"\r\n") if a.get("chunked") else chunk
            try:
                s.settimeout(5)
                s.sendall(piece)
                s.settimeout(0.0)
            except OSError:
                break
            sent += len(chunk)
        if status is None:
            s.settimeout(5)
            try:
                data = s.recv(64)
                status = data[9:12].decode(errors="replace") if data else "closed"
            except OSError as e:
                status = "error: %s" % e
    finally:
        s.close()
    return {"status": status, "sent_mb": round(sent / (1 << 20), 1)}


COMMANDS = {"http_flood": http_flood, "dns_flood": dns_flood, "gossip_flood": gossip_flood,
            "probe": probe, "slowloris": slowloris, "big_body": big_body}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))))
