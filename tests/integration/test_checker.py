"""test_checker.py - the fault suite's history checkers
(tests/fault/checker.py), on hand-written histories that must pass or
fail, on simulated linearizable registers (and the same histories with one
read made stale), against a brute-force enumeration on small random
histories, on the set and lock workloads, on the time bound, and as a
command.  Pure Python: no daemons are started."""
import itertools
import json
import os
import random
import subprocess
import sys
import time

from harness import TOP, TmpDir, main, test

sys.path.insert(0, os.path.join(TOP, "tests", "fault"))
import checker  # noqa: E402

CHECKER = os.path.join(TOP, "tests", "fault", "checker.py")
T0 = 1000000000            # histories start 1 s after boot


# ---------------------------------------------------------------------------
# Building histories

def op(kind, client, key, start, end, result="ok", value=None, **kw):
    """One history line; times are given in microseconds after T0."""
    o = {"client": client, "node": kw.pop("node", client % 3 + 1), "op": kind, "key": key,
         "value": value, "expect": None, "start": T0 + start * 1000,
         "end": None if end is None else T0 + end * 1000, "result": result,
         "index": None, "mode": "default", "token": None, "elements": None}
    o.update(kw)
    return o


def W(c, v, s, e, result="ok", key="k1", **kw):
    return op("write", c, key, s, e, result, v, **kw)


def R(c, v, s, e, result="ok", key="k1", **kw):
    return op("read", c, key, s, e, result, v, **kw)


def CAS(c, expect, v, s, e, result="ok", key="k1", **kw):
    return op("cas", c, key, s, e, result, v, expect=expect, **kw)


def lin(ops, timeout=10.0):
    """check_linearizable, checked against the search alone (no
    shortcuts): both must reach the same verdict."""
    full = checker.check_linearizable(ops, timeout)
    search = checker.check_linearizable(ops, timeout, shortcuts=False)
    assert full.valid == search.valid, "with shortcuts:\n%s\nsearch alone:\n%s" % (
        full.summary(), search.summary())
    return full


def search_only(ops, timeout=10.0):
    return checker.check_linearizable(ops, timeout, shortcuts=False)


def assert_valid(report):
    assert report.valid, report.summary()


def assert_invalid(report, *needles):
    assert not report.valid, "accepted a bad history: " + report.summary()
    text = "\n".join(report.problems)
    for n in needles:
        assert n in text, "%r not in problems:\n%s" % (n, text)


def simulate(seed, n_ops, n_clients=6, keys=("k1",), p_unknown=0.03, p_fail=0.03,
             p_stale=0.03, p_cas=0.3, p_write=0.3):
    """A history of a real linearizable register per key: clients issue
    ops one after another with random think times and latencies; each op
    takes effect at a random point inside its interval (an unknown op at a
    random point after its start, or not at all; a failed op never), and
    the register's state at that point decides reads and CASes.  A CAS
    expects the value its client last saw (sometimes an older one, so some
    are not applied).  Stale reads return some older value."""
    rng = random.Random(seed)
    ops, effects = [], []
    per_client = n_ops // n_clients
    vals = itertools.count()
    for c in range(n_clients):
        t = rng.randrange(0, 100000)
        for _ in range(per_client):
            t += rng.randrange(0, 200000)              # think time, ns
            lat = rng.randrange(20000, 2000000)
            if rng.random() < 0.02:
                lat *= 20                              # a slow one
            key = rng.choice(keys)
            x = rng.random()
            kind = "cas" if x < p_cas else "write" if x < p_cas + p_write else "read"
            o = {"client": c, "node": c % 3 + 1, "op": kind, "key": key, "value": None,
                 "expect": None, "start": T0 + t, "end": T0 + t + lat, "result": "ok",
                 "index": None, "mode": "default", "token": None, "elements": None}
            if kind != "read":
                o["value"] = "v%d" % next(vals)
            y = rng.random()
            if y < p_unknown:
                o["result"] = "unknown"
                if rng.random() < 0.5:                 # took effect, maybe late
                    effects.append((T0 + t + rng.randrange(0, 3 * lat), len(ops)))
            elif y < p_unknown + p_fail:
                o["result"] = "fail"
            else:
                effects.append((T0 + t + rng.randrange(0, lat + 1), len(ops)))
                if kind == "read" and rng.random() < p_stale:
                    o["mode"] = "stale"
            ops.append(o)
            t += lat
    state, past, seen, done = {}, {}, {}, set()
    for _, i in sorted(effects):
        done.add(i)
        o = ops[i]
        k, c = o["key"], o["client"]
        cur = state.get(k)
        if o["op"] == "read":
            if o["mode"] == "stale":
                o["value"] = rng.choice(past.get(k, [None]) + [cur])
            else:
                o["value"] = cur
            seen[c, k] = o["value"]
        elif o["op"] == "write":
            past.setdefault(k, []).append(cur)
            state[k] = o["value"]
            if o["result"] == "ok":
                seen[c, k] = o["value"]
        else:
            o["expect"] = seen.get((c, k))
            if rng.random() < 0.15:
                o["expect"] = rng.choice(past.get(k, [None]))
            applied = cur == o["expect"]
            if applied:
                past.setdefault(k, []).append(cur)
                state[k] = o["value"]
            if o["result"] == "ok":
                o["applied"] = applied
                if applied:
                    seen[c, k] = o["value"]
    for i, o in enumerate(ops):
        if o["op"] == "cas" and i not in done:
            # a failed CAS, or an unknown one that took no effect: give
            # it some plausible expectation
            o["expect"] = seen.get((o["client"], o["key"]))
    for o in ops:
        if o["result"] == "unknown":
            o["end"] = o["end"] + rng.randrange(0, 10 ** 9)   # a timeout
    return ops


def victim_text(o):
    return "client %d (node %d) read %s -> %r ok, start=%d end=%d" % (
        o["client"], o["node"], o["key"], o["value"], o["start"], o["end"])


def make_stale(ops, key="k1"):
    """A copy of ops with one late ok read changed to return the value of
    a write that a later, completed write had overwritten before the read
    began: certainly not linearizable (values are unique)."""
    ops = [dict(o) for o in ops]
    writes = sorted((o for o in ops if o["key"] == key and o["result"] == "ok" and
                     (o["op"] == "write" or (o["op"] == "cas" and o.get("applied")))),
                    key=lambda o: o["start"])
    reads = [o for o in ops if o["key"] == key and o["op"] == "read" and o["result"] == "ok"
             and o["mode"] != "stale"]
    reads.sort(key=lambda o: o["start"])
    for r in reversed(reads[len(reads) // 2:]):
        before = [w for w in writes if w["end"] < r["start"]]
        for w2 in reversed(before):
            olds = [w1 for w1 in before if w1["end"] < w2["start"]]
            if olds and olds[-1]["value"] != r["value"]:
                r["value"] = olds[-1]["value"]
                return ops, r
    raise AssertionError("no read to corrupt")


# ---------------------------------------------------------------------------
# A brute-force reference: the definition, enumerated

def brute_linearizable(ops):
    """Is there an order of the ok ops plus any subset of the unknown
    ones, respecting real time (a before b if a ended before b started;
    unknown ops never end), in which the register semantics hold?"""
    items = []
    for o in ops:
        if o["result"] == "fail" or (o["op"] == "read" and
                                     (o["result"] != "ok" or o.get("mode") == "stale")):
            continue
        end = o["end"] if o["result"] == "ok" else float("inf")
        items.append((o, end))
    n = len(items)
    must = [i for i in range(n) if items[i][0]["result"] == "ok"]
    before = [[j for j in range(n) if items[j][1] < items[i][0]["start"]] for i in range(n)]
    failed = set()

    def step(o, s):
        if o["op"] == "read":
            return s == o["value"], s
        if o["op"] == "write":
            return True, o["value"]
        if o["result"] == "ok" and o.get("applied") is False:
            return s != o["expect"], s
        return s == o["expect"], o["value"]

    def go(done, s):
        if all(i in done for i in must):
            return True
        if (done, s) in failed:
            return False
        for i in range(n):
            if i in done or any(j not in done for j in before[i]):
                continue
            ok, ns = step(items[i][0], s)
            if ok and go(done | {i}, ns):
                return True
        failed.add((done, s))
        return False

    return go(frozenset(), None)


def random_small(rng, n):
    """A small random register history on one key, valid or not."""
    ops, written = [], [None]
    for i in range(n):
        s = rng.randrange(0, 12)
        e = s + rng.randrange(0, 8)
        res = rng.choices(["ok", "unknown", "fail"], [6, 3, 1])[0]
        kind = rng.choices(["read", "write", "cas"], [4, 3, 3])[0]
        if kind == "read":
            o = R(i, rng.choice(written + ["v%d" % rng.randrange(n + 1)]), s, e, res)
        elif kind == "write":
            o = W(i, "v%d" % i, s, e, res)
        else:
            o = CAS(i, rng.choice(written + ["v%d" % rng.randrange(n + 1)]), "v%d" % i, s, e, res)
            if res == "ok" and rng.random() < 0.35:
                o["applied"] = False
        if kind != "read":
            written.append("v%d" % i)
        if res == "unknown" and rng.random() < 0.5:
            o["end"] = None
        ops.append(o)
    return ops


def random_small_unknowns(rng, n):
    """A small random history heavy in unknown writes and CASes and in
    not-applied CASes (the search's lazy ops and its spent writes)."""
    ops, written = [W(99, "a", 0, rng.randrange(0, 4))], [None, "a"]
    for i in range(n):
        s = rng.randrange(0, 20)
        e = s + rng.randrange(0, 10)
        kind = rng.choices(["uw", "casf", "w", "r", "ucas", "cas"], [4, 4, 1, 2, 1, 1])[0]
        expect = rng.choice(written[-3:] + [None])
        if kind == "uw":
            o = W(i, "v%d" % i, s, e, "unknown")
        elif kind == "casf":
            o = CAS(i, expect, "x%d" % i, s, e, applied=False)
        elif kind == "w":
            o = W(i, "v%d" % i, s, e)
        elif kind == "r":
            o = R(i, expect, s, e)
        elif kind == "ucas":
            o = CAS(i, expect, "v%d" % i, s, e, "unknown")
        else:
            o = CAS(i, expect, "v%d" % i, s, e)
        if kind in ("uw", "w", "ucas", "cas"):
            written.append("v%d" % i)
        ops.append(o)
    return ops


# ---------------------------------------------------------------------------
# Register workload: hand-written histories

@test
def good_concurrent_history():
    # three clients; writes overlap each other and the reads; a CAS
    # applied and one not; the absent key read first
    h = [R(1, None, 0, 5),
         W(1, "a", 10, 40), W(2, "b", 15, 35),
         R(3, "b", 20, 30),          # b took effect first ...
         R(3, "a", 41, 50),          # ... then a
         CAS(2, "a", "c", 45, 60),
         CAS(1, "a", "d", 50, 70, applied=False),
         R(2, "c", 61, 65, mode="consistent"),
         R(3, "c", 66, 80),
         W(3, "e", 81, 90), R(1, "e", 95, 99)]
    r = lin(h)
    assert_valid(r)
    assert r.keys_checked == 1 and r.keys_unknown == 0, r
    assert r.key_results["k1"]["verdict"] == "ok", r.key_results


@test
def stale_read_detected():
    # etcd #741: a follower answers a read from its old state after a
    # later write had completed
    h = [W(1, "a", 0, 10), W(1, "b", 20, 30), R(2, "a", 40, 50, node=2)]
    r = lin(h)
    assert_invalid(r, "key k1: not linearizable: stale read: client 2 (node 2) read k1 -> 'a' ok, "
                   "start=%d end=%d" % (T0 + 40000, T0 + 50000),
                   "client 1 (node 2) write k1 := 'b' ok, start=%d end=%d" % (
                       T0 + 20000, T0 + 30000))
    assert r.key_results["k1"]["verdict"] == "fail"
    # the search finds it too: once 'a' is written it cannot be
    # overwritten (by 'b') while the read of 'a' is still to come
    r = search_only(h)
    assert_invalid(r, "key k1: not linearizable: the search found no order of the ops; its "
                   "longest partial linearization orders 1 of 3 ok ops, leaves the value 'a'",
                   "can place no op that would let client 1 (node 2) write k1 := 'b'")
    # the same read with ?stale is not checked for linearizability
    assert_valid(lin([W(1, "a", 0, 10), W(1, "b", 20, 30), R(2, "a", 40, 50, mode="stale")]))
    # and overlapping the second write it is fine
    assert_valid(lin([W(1, "a", 0, 10), W(1, "b", 20, 45), R(2, "a", 40, 50)]))


@test
def lost_update_detected():
    # two CASes from the same expected value both applied
    h = [W(1, "a", 0, 10), CAS(2, "a", "b", 20, 40), CAS(3, "a", "c", 25, 45)]
    assert_invalid(lin(h), "not linearizable")
    # sequential, the second one's reader stale
    h = [W(1, "a", 0, 10), R(2, "a", 11, 12), R(3, "a", 11, 12),
         CAS(2, "a", "b", 20, 30), CAS(3, "a", "c", 40, 50)]
    assert_invalid(lin(h), "not linearizable")
    # correct: the second CAS reported not applied
    h[-1] = CAS(3, "a", "c", 40, 50, applied=False)
    assert_valid(lin(h))
    # a not-applied CAS whose expected value was certainly current is wrong
    h = [W(1, "a", 0, 10), CAS(3, "a", "c", 20, 30, applied=False), R(2, "a", 40, 50)]
    assert_invalid(lin(h), "cas k1 'a' -> 'c' (not applied) ok")


@test
def non_monotonic_read_detected():
    # client 2 reads v2, then later v1; v2's write is still running, so
    # neither read alone is stale
    h = [W(1, "v1", 0, 10), W(3, "v2", 20, 100), R(2, "v2", 30, 40), R(2, "v1", 50, 60)]
    assert_invalid(lin(h), "read k1 -> 'v1'")
    # reading them the other way round is fine
    h = [W(1, "v1", 0, 10), W(3, "v2", 20, 100), R(2, "v1", 30, 40), R(2, "v2", 50, 60)]
    assert_valid(lin(h))


@test
def never_written_value_detected():
    r = lin([W(1, "a", 0, 10), R(2, "zz", 20, 30)])
    assert_invalid(r, "key k1: read 'zz', which was never written")
    assert r.key_results["k1"]["verdict"] == "fail"
    # even a stale read must return something that was written
    assert_invalid(lin([W(1, "a", 0, 10), R(2, "zz", 20, 30, mode="stale")]), "never written")
    # an applied CAS expecting a value nobody wrote
    assert_invalid(lin([W(1, "a", 0, 10), CAS(2, "q", "b", 20, 30)]),
                   "applied cas expecting 'q', which was never written")
    # check_reads_written on its own
    r = checker.check_reads_written([W(1, "a", 0, 10), R(2, "a", 20, 30), R(2, None, 31, 32)])
    assert_valid(r)


@test
def unknown_write_explains_read():
    # the unknown write of b must have taken effect for the read
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"), R(3, "b", 40, 50), R(3, "b", 60, 70)]
    assert_valid(lin(h))
    # its end is +infinity: it may take effect long after the client gave up
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"), R(3, "a", 40, 50), R(3, "b", 60, 70)]
    assert_valid(lin(h))
    # and an unknown write that took no effect is fine too
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"), R(3, "a", 40, 50), R(3, "a", 60, 70)]
    assert_valid(lin(h))
    # "info" and a null end are accepted for unknown
    h = [W(1, "a", 0, 10), W(2, "b", 20, None, "info"), R(3, "b", 40, 50)]
    assert_valid(lin(h))


@test
def unknown_write_cannot_explain_read():
    # the unknown write started after the read had ended
    h = [W(1, "a", 0, 10), R(3, "b", 20, 30), W(2, "b", 40, 50, "unknown")]
    assert_invalid(lin(h), "read k1 -> 'b'")
    # it explains the first read but then the older value comes back
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"), R(3, "b", 40, 50), R(3, "a", 60, 70)]
    assert_invalid(lin(h), "read k1 -> 'a'")


@test
def unknown_cas_chains():
    # a read of c needs the unknown CAS b->c, which needs the unknown write b
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"), CAS(3, "b", "c", 35, 40, "unknown"),
         R(4, "c", 50, 60)]
    assert_valid(lin(h))
    # ... not if the CAS expected a value that was never current
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"), CAS(3, "x", "c", 35, 40, "unknown"),
         R(4, "c", 50, 60)]
    assert_invalid(lin(h))
    # a CAS answered "not applied" needs an unknown write to have changed
    # the value it expected
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"),
         CAS(3, "a", "c", 40, 50, applied=False), R(4, "b", 60, 70)]
    assert_valid(lin(h))
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "unknown"),
         CAS(3, "a", "c", 40, 50, applied=False), W(4, "d", 60, 70), R(4, "d", 80, 90)]
    assert_valid(lin(h))
    h = [W(1, "a", 0, 10), CAS(3, "a", "c", 40, 50, applied=False),
         W(2, "b", 60, 70, "unknown")]
    assert_invalid(lin(h), "(not applied)")


@test
def unknown_write_spent_where_needed():
    # one unknown write (v5) must make the second not-applied CAS (of
    # v2) legal; had the search spent it on the first one (of 'a'), it
    # must notice there was none left and look again
    h = [W(9, "a", 0, 3), CAS(0, "a", "x0", 13, 21, applied=False),
         CAS(1, "a", "x1", 1, 6, applied=False), W(2, "v2", 16, 16),
         CAS(3, None, "v3", 3, 6, "unknown"), CAS(4, "v2", "x4", 17, 19, applied=False),
         W(5, "v5", 4, 4, "unknown")]
    assert brute_linearizable(h)
    assert_valid(lin(h))
    # without the unknown write it cannot be explained
    assert not brute_linearizable(h[:-1])
    assert_invalid(lin(h[:-1]), "not linearizable")


@test
def failed_ops_ignored():
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "fail"),
         CAS(3, "a", "c", 21, 31, "fail"),
         R(1, "a", 40, 50), R(2, None, 41, 51, "fail"), R(3, "zz", 42, 52, "unknown"),
         CAS(3, "a", "d", 60, 70), R(1, "d", 80, 90)]
    assert_valid(lin(h))
    # a failed write is definitely not applied: reading its value is wrong
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30, "fail"), R(1, "b", 40, 50)]
    assert_invalid(lin(h), "read 'b', which only a failed or not applied op wrote")
    # likewise a CAS answered "not applied"
    h = [W(1, "a", 0, 10), CAS(2, "x", "b", 20, 30, applied=False), R(1, "b", 40, 50)]
    assert_invalid(lin(h), "read 'b', which only a failed or not applied op wrote")


@test
def duplicate_values_unknown():
    # the checker's precondition: a written value is never written again
    # (nor null); a history breaking it is not judged, and fails
    h = [W(1, "a", 0, 10), W(2, "b", 20, 30), W(3, "a", 40, 50), R(1, "a", 60, 70),
         W(1, "c", 0, 10, key="k2"), R(2, "c", 20, 30, key="k2")]
    r = lin(h)
    assert_invalid(r, "key k1: linearizability unknown: the checker needs every written value "
                   "unique and not null, but 1 value is not: 'a' by client 1")
    assert r.keys_unknown == 1 and r.key_results["k2"]["verdict"] == "ok", r.key_results
    r = lin([W(1, None, 0, 10, key="k3")])
    assert r.keys_unknown == 1, r.summary()


@test
def keys_are_independent():
    # a stale read on k2 only fails k2; an empty history is valid
    h = [W(1, "a", 0, 10, key="k1"), R(2, "a", 20, 30, key="k1"),
         W(1, "x", 0, 10, key="k2"), W(1, "y", 20, 30, key="k2"), R(2, "x", 40, 50, key="k2")]
    r = lin(h)
    assert r.keys_checked == 2, r
    assert r.key_results["k1"]["verdict"] == "ok" and r.key_results["k2"]["verdict"] == "fail", \
        r.key_results
    assert len(r.problems) == 1 and "key k2" in r.problems[0], r.problems
    r = checker.check_history([])
    assert r.valid and r.ops == 0 and r.keys_checked == 0, r


@test
def brute_force_agreement():
    # the search against the definition on small random histories,
    # with ties, unknown ops (some with null ends), not-applied CASes
    rng = random.Random(7411)
    for gen, size in ((random_small, 8), (random_small_unknowns, 9)):
        counts = {True: 0, False: 0}
        for _ in range(2500):
            h = gen(rng, rng.randrange(1, size))
            want = brute_linearizable(h)
            got = lin(h).valid
            assert got == want, "checker says %s, brute force %s:\n%s" % (
                got, want, "\n".join(json.dumps(o) for o in h))
            counts[want] += 1
        assert counts[True] > 500 and counts[False] > 500, (gen.__name__, counts)


@test
def big_random_history_valid_then_stale():
    ops = simulate(1, 1500, n_clients=6)
    assert len(ops) == 1500
    assert sum(o["result"] == "unknown" for o in ops) > 10
    assert sum(o.get("applied") is False for o in ops) > 10
    t = time.monotonic()
    r = checker.check_history(ops, timeout_per_key=20)
    took = time.monotonic() - t
    assert_valid(r)
    assert took < 5, "valid 1500-op history took %.1fs" % took
    bad, victim = make_stale(ops)
    t = time.monotonic()
    r = checker.check_history(bad, timeout_per_key=20)
    took_quick = time.monotonic() - t
    assert_invalid(r, "key k1: not linearizable: stale read: " + victim_text(victim))
    assert took_quick < 1, took_quick
    # and the search alone must rule out every order of the ops before
    # the stale read
    t = time.monotonic()
    r = search_only(bad, timeout=20)
    took_bad = time.monotonic() - t
    assert_invalid(r, "key k1: not linearizable: the search found no order")
    assert r.keys_unknown == 0, r.summary()
    assert took_bad < 8, "invalid 1500-op history took %.1fs" % took_bad
    print("  1500 ops: valid in %.2fs; stale read found in %.2fs, by the search alone in %.2fs "
          "(%d configurations)" % (took, took_quick, took_bad, r.key_results["k1"]["states"]))


@test
def random_histories_many_keys():
    # 8 clients over 5 keys, more unknown ops; and the corrupt copies
    for seed in (2, 3):
        ops = simulate(seed, 1600, n_clients=8, keys=("k1", "k2", "k3", "k4", "k5"),
                       p_unknown=0.08, p_fail=0.05)
        r = checker.check_history(ops, timeout_per_key=20)
        assert_valid(r)
        assert r.keys_checked == 5, r
        bad, victim = make_stale(ops, "k3")
        for r in (checker.check_history(bad, timeout_per_key=20), search_only(bad, 20)):
            assert_invalid(r, "key k3: not linearizable")
            assert [k for k, v in r.key_results.items() if v["verdict"] != "ok"] == ["k3"], \
                r.key_results


@test
def random_history_many_unknowns():
    # 8 clients, one key, a fifth of the ops unknown (as in a partition)
    ops = simulate(9, 2000, n_clients=8, p_unknown=0.2, p_fail=0.05, p_cas=0.4)
    assert sum(o["result"] == "unknown" for o in ops) > 300
    t = time.monotonic()
    assert_valid(checker.check_history(ops, timeout_per_key=20))
    took = time.monotonic() - t
    assert took < 3, took
    bad, victim = make_stale(ops)
    assert_invalid(checker.check_history(bad, timeout_per_key=20),
                   "key k1: not linearizable: stale read: " + victim_text(victim))


@test
def time_bound_gives_unknown():
    # a hard history: 12 writes and 12 CASes answered "not applied", one
    # expecting each written value, all concurrent, then two reads that
    # cannot both hold; the search must try nearly every order of the
    # concurrent block before giving up (the shortcuts see it at once)
    h = []
    for i in range(12):
        h.append(W(i, "w%d" % i, 0, 100))
        h.append(CAS(20 + i, "w%d" % i, "x%d" % i, 0, 100, applied=False))
    h += [R(40, "w0", 200, 210), R(41, "w1", 220, 230)]
    assert_invalid(checker.check_linearizable(h), "reads out of order: client 41 (node 3) read "
                   "k1 -> 'w1' ok, start=%d" % (T0 + 220000), "saw 'w1' after client 40")
    t = time.monotonic()
    r = search_only(h, timeout=0.3)
    took = time.monotonic() - t
    assert not r.valid and r.keys_unknown == 1, r.summary()
    assert r.key_results["k1"]["verdict"] == "unknown", r.key_results
    assert_invalid(r, "linearizability unknown: search time bound hit", "counted as a failure")
    assert took < 2, took
    # the configuration bound likewise
    r = checker.check_linearizable(h, timeout_per_key=30, max_states=20000, shortcuts=False)
    assert r.keys_unknown == 1 and "configuration bound" in r.problems[0], r.summary()
    # a tiny timeout on a big, valid history
    ops = simulate(4, 1500)
    r = checker.check_history(ops, timeout_per_key=0.0)
    assert not r.valid and r.keys_unknown == 1, r.summary()


# ---------------------------------------------------------------------------
# Set workload

def add(c, v, s, e, result="ok", key=None):
    return op("add", c, key or "set/" + v, s, e, result, v)


def final(node, elements, s, e, result="ok", prefix="set/"):
    return op("final_read", 0, prefix, s, e, result, node=node, elements=elements)


@test
def sets_valid_with_unknown_adds():
    adds = [add(1, "e1", 0, 10), add(2, "e2", 5, 15), add(1, "e3", 20, 30, "unknown"),
            add(2, "e4", 20, 30, "unknown"), add(3, "e5", 25, 35, "fail")]
    h = adds + [final(1, ["e1", "e2", "e3"], 100, 110), final(2, ["e2", "e1"], 100, 110),
                final(3, ["e1", "e2", "e4", "e3"], 100, 110)]
    r = checker.check_sets(h)
    assert_valid(r)
    assert r.details["sets"][1]["unknown_present"] == 1, r.details
    assert r.details["sets"][2]["unknown_absent"] == 2, r.details
    # an ok add still running when the final read started may be absent
    h = [add(1, "e1", 0, 10), add(2, "e2", 90, 120), final(1, ["e1"], 100, 110)]
    assert_valid(checker.check_sets(h))
    # a final read covers the adds under its prefix (all, if null)
    h = [add(1, "e1", 0, 10, key="a/e1"), add(2, "e2", 0, 10, key="b/e2"),
         final(1, ["e1"], 100, 110, prefix="a/"), final(2, ["e2"], 100, 110, prefix="b/"),
         final(3, ["e1", "e2"], 100, 110, prefix=None)]
    assert_valid(checker.check_sets(h))
    h[-1] = final(3, ["e2"], 100, 110, prefix=None)
    assert_invalid(checker.check_sets(h), "node 3: 1 acknowledged add missing", "add a/e1 'e1'")


@test
def sets_lost_add_detected():
    h = [add(1, "e1", 0, 10), add(2, "e2", 5, 15), add(3, "e3", 20, 30),
         final(1, ["e1", "e2", "e3"], 100, 110), final(2, ["e1", "e3"], 100, 110),
         final(3, ["e1", "e2", "e3"], 100, 110)]
    r = checker.check_sets(h)
    assert_invalid(r, "node 2: 1 acknowledged add missing from its final read",
                   "client 2 (node 3) add set/e2 'e2' ok")
    assert len(r.problems) == 1, r.problems
    assert r.details["sets"][2]["lost"] == 1 and r.details["sets"][1]["lost"] == 0, r.details


@test
def sets_phantom_detected():
    h = [add(1, "e1", 0, 10), add(2, "e2", 20, 30, "fail"), add(3, "e3", 200, 210, "unknown"),
         final(1, ["e1", "ghost"], 100, 110), final(2, ["e1", "e2"], 100, 110),
         final(3, ["e1", "e3"], 100, 110)]
    r = checker.check_sets(h)
    assert_invalid(r, "node 1: 1 phantom element no add ever attempted", "'ghost'",
                   "node 2: 1 element whose add definitely failed",
                   "node 3: 1 element read before their add started")
    # a final read that failed leaves its node unverified; adds with no
    # final read at all are a problem too
    assert_invalid(checker.check_sets([add(1, "e1", 0, 10), final(1, None, 100, 110, "fail")]),
                   "node 1: final read failed")
    assert_invalid(checker.check_sets([add(1, "e1", 0, 10)]), "no final_read")


# ---------------------------------------------------------------------------
# Lock workload

def acq(c, s, e, token, result="ok", key="lock"):
    return op("acquire", c, key, s, e, result, token=token)


def rel(c, s, e, result="ok", key="lock"):
    return op("release", c, key, s, e, result)


@test
def locks_valid():
    h = [acq(1, 0, 10, 5), rel(1, 20, 25), acq(2, 15, 30, 6), rel(2, 40, 45),
         acq(3, 0, 50, None, "unknown"),        # ignored: never known to hold
         acq(1, 46, 50, None, "fail"),
         acq(3, 55, 60, 7), acq(3, 61, 62, 7),    # re-entrant re-acquire
         rel(3, 70, 80, "unknown"), acq(1, 80, 90, 8)]
    r = checker.check_locks(h)
    assert_valid(r)
    assert r.details["locks"]["lock"]["holds"] == 4, r.details


@test
def locks_overlap_detected():
    # client 2 acquired while client 1 still held it (never released)
    h = [acq(1, 0, 10, 5), acq(2, 20, 30, 6), rel(2, 40, 45)]
    r = checker.check_locks(h)
    assert_invalid(r, "lock lock: clients 1 and 2 held it at once from %d to %d" % (
        T0 + 30000, T0 + 40000), "never released")
    # client 2's acquire returned before client 1 asked to release
    h = [acq(1, 0, 10, 5), rel(1, 20, 40), acq(2, 12, 15, 6)]
    assert_invalid(checker.check_locks(h), "clients 1 and 2 held it at once from %d to %d" % (
        T0 + 15000, T0 + 20000))
    # ... and after it asked: the server may have released it in between
    h = [acq(1, 0, 10, 5), rel(1, 20, 40), acq(2, 15, 30, 6)]
    assert_valid(checker.check_locks(h))
    # separate lock keys do not interfere
    h = [acq(1, 0, 10, 5, key="a"), acq(2, 0, 10, 6, key="b")]
    assert_valid(checker.check_locks(h))


@test
def locks_token_not_rising_detected():
    h = [acq(1, 0, 10, 7), rel(1, 20, 25), acq(2, 30, 40, 7), rel(2, 50, 55),
         acq(3, 60, 70, 3), rel(3, 80, 85)]
    r = checker.check_locks(h)
    assert_invalid(r, "lock lock: fencing token did not rise")
    assert len(r.problems) == 2, r.problems
    assert r.details["locks"]["lock"]["token_errors"] == 2, r.details


# ---------------------------------------------------------------------------
# Whole histories and the command

@test
def check_history_all_workloads():
    h = [W(1, "a", 0, 10), R(2, "a", 20, 30),
         add(1, "e1", 0, 10), final(1, ["e1"], 100, 110),
         acq(1, 0, 10, 1), rel(1, 20, 30)]
    r = checker.check_history(h)
    assert_valid(r)
    assert r.ops == 6 and r.keys_checked == 1 and r.keys_unknown == 0, repr(r)
    assert r.summary().startswith("VALID: 6 ops"), r.summary()
    # each workload's problem shows, as do malformed and unknown ops
    h += [R(2, "zz", 40, 50), final(2, [], 100, 110), acq(2, 12, 15, 2),
          {"op": "write", "key": "k1", "start": "soon", "result": "ok"},
          {"op": "delete", "key": "k1", "start": 1, "end": 2, "result": "ok"}]
    r = checker.check_history(h)
    assert_invalid(r, "never written", "node 2: 1 acknowledged add missing",
                   "clients 1 and 2 held it at once", "malformed op #9",
                   "op kind delete (first at op #10) is not checked")
    assert "INVALID" in r.summary() and "problems" in r.summary()


@test
def command_line():
    tmp = TmpDir("cairn-checker.")
    try:
        good = os.path.join(tmp.path, "good.jsonl")
        with open(good, "w") as f:
            for o in simulate(5, 300, keys=("k1", "k2")):
                f.write(json.dumps(o) + "\n")
            f.write("\n")
        p = subprocess.run([sys.executable, CHECKER, good, "--timeout", "10", "-v"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert "VALID: 300 ops, 2 register keys checked (0 unknown)" in p.stdout, p.stdout
        assert "key k2: ok" in p.stdout, p.stdout
        bad = os.path.join(tmp.path, "bad.jsonl")
        with open(bad, "w") as f:
            for o in [W(1, "a", 0, 10), W(1, "b", 20, 30), R(2, "a", 40, 50)]:
                f.write(json.dumps(o) + "\n")
            f.write("{not json\n")
        p = subprocess.run([sys.executable, CHECKER, bad], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert "INVALID" in p.stdout and "not linearizable" in p.stdout, p.stdout
        assert "line 4: not JSON" in p.stdout, p.stdout
        r = checker.check_file(good)
        assert r.valid and r.ops == 300, r.summary()
        p = subprocess.run([sys.executable, CHECKER, os.path.join(tmp.path, "none.jsonl")],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (p.stdout, p.stderr)
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
