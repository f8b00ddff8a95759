#!/usr/bin/env python3
"""checker.py - history checkers for Cairn's fault-test suite (Python 3
standard library only; see spec/reliability.md sections 8-10).

A history is a list of completed client operations, one JSON object per
line in a .jsonl file:

  {"client": 3, "node": 1, "op": "read", "key": "k1", "value": "v7",
   "expect": null, "start": 123, "end": 456, "result": "ok",
   "index": 17, "mode": "default", "token": null, "elements": null}

Times are integer nanoseconds of CLOCK_MONOTONIC on one host.  "result"
is "ok", "fail" (definitely did not take effect) or "unknown" (may or may
not have taken effect, at any point after its start; "info" is accepted
as a synonym).  Three workloads share the format:

register  ("read", "write", "cas" on keys; every written value unique
    and not null) check_linearizable(): a Wing & Gong / Porcupine search
    per key (P-compositionality: a history is linearizable iff every
    key's is).  A register whose state is the key's value (None = absent):
      read ok            value == state (mode "stale" reads are skipped)
      write ok/unknown   state := value
      cas ok, applied    state == expect, then state := value
      cas ok, applied:false   state != expect, state unchanged
      cas unknown        if it took effect: state == expect, := value
    Fail ops and unknown reads are dropped.  Every ok read, stale or not,
    must also return null or a value some write or CAS attempted.  The
    "index" field is not used.

set       ("add" of unique elements, one "final_read" per node after the
    run listing the elements it read) check_sets(): every ok add that
    completed before a final read started is in it; unknown adds may or
    may not be; nothing appears that no add attempted, whose every add
    failed, or whose every add started after the read ended.

lock      ("acquire" / "release") check_locks(): holding intervals of
    different clients never overlap and fencing tokens strictly rise in
    acquisition order (see check_locks for the intervals).

check_history(ops) runs all three and returns one Report; check_file()
reads a .jsonl first.  Run as a program:

  python3 tests/fault/checker.py HISTORY.jsonl [--timeout S] [-v]

prints the report and exits 0 if the history is valid, 1 if not (2 on a
usage error).

The linearizability search
--------------------------
First, two shortcuts that need no search, each certain (_stale_reads):
an op that saw a value after another write had certainly replaced it
(the stale read of etcd #741), and an op that saw v2 after an op that saw
v1 had ended although v2's write had ended before that began (reads out
of order).  A key with either fails at once, with that op named.

Otherwise, Porcupine's form of WGL (_wgl): the ok ops of one key become
call and return entries in a doubly linked list sorted by time (a call
sorts before a return at the same time, so touching intervals count as
concurrent).  A depth-first search walks the list from its head: a call
entry whose op is legal in the current state is linearized (its two
entries are lifted out of the list and a frame pushed); reaching a return
entry means that op should already have been linearized, so the search
backtracks (pops a frame, unlifts, tries the next entry).  A cache of the
configurations (linearized ops as bitsets, state) already explored cuts
repeated work.  The search is iterative; a wall-clock bound and a bound on
the number of cached configurations make a key's verdict "unknown" (a
failure) instead of running forever.  On top of plain WGL, all relying
on unique values:

- A value is never overwritten while an ok read or applied CAS of it is
  still to be linearized: it could never come back for that op.  This
  cuts most of the search on real histories (about one configuration per
  op when valid).

- Unknown ops end at +infinity, which in plain WGL leaves them pending
  for the rest of the history, each doubling the work.  Here they are
  lazy: they have no entries and are only ever linearized immediately
  before an ok op that cannot be linearized without them (a read of the
  value an unknown write or CAS wrote, or an applied CAS expecting it,
  possibly through a chain of unknown CASes; or a not-applied CAS whose
  expected value is the current one).  That loses nothing: in any valid
  linearization an unknown op not immediately followed by an op that
  needs it can be moved later (its end is +infinity) until it is, or
  dropped when nothing after it needs it.

- A value is dead once every op that compares the state with it is
  linearized.  Dead values are indistinguishable, so the cache folds
  them into one, and unknown writes of dead values are interchangeable:
  a not-applied CAS is offered only one, and the cache forgets which
  ones were spent (counting how many when that matters; see _search).

tests/integration/test_checker.py checks the search, with and without the
shortcuts, against a brute-force enumeration of the definition on
thousands of small random histories.
"""
import argparse
import bisect
import json
import sys
import time

__all__ = ["Report", "check_history", "check_file", "check_linearizable",
           "check_sets", "check_locks", "check_reads_written", "load_history",
           "DEFAULT_TIMEOUT", "DEFAULT_MAX_STATES"]

DEFAULT_TIMEOUT = 60.0          # seconds of search per key
DEFAULT_MAX_STATES = 2000000    # cached configurations per key (memory bound)
MAX_CHAIN = 64                  # unknown CASes chained before one op

REGISTER_OPS = ("read", "write", "cas")
SET_OPS = ("add", "final_read")
LOCK_OPS = ("acquire", "release")
ALL_OPS = REGISTER_OPS + SET_OPS + LOCK_OPS
RESULTS = ("ok", "fail", "unknown")

INF = float("inf")
LIST_MAX = 10                   # items listed in one problem line

# register op kinds inside the search
READ, WRITE, CAS, CASF = 0, 1, 2, 3


class _Unread:
    """The state 'some value no op (still to be linearized) compares
    against', in cache keys."""

    def __repr__(self):
        return "<a value never read>"


UNREAD = _Unread()


class Report:
    """The outcome of one or more checks.

    valid         True iff there are no problems
    problems      human-readable strings, each naming key/client/op times
    keys_checked  number of register keys searched for linearizability
    keys_unknown  number of those whose search hit a bound (a failure)
    ops           number of ops in the history given
    key_results   {key: {"verdict": "ok"|"fail"|"unknown", "ops": n,
                   "seconds": s, "states": n}} for register keys
    details       per-workload facts, e.g. details["sets"][node] and
                  details["locks"][key]
    """

    def __init__(self, ops=0):
        self.problems = []
        self.keys_checked = 0
        self.keys_unknown = 0
        self.ops = ops
        self.key_results = {}
        self.details = {}

    @property
    def valid(self):
        return not self.problems

    def problem(self, text):
        self.problems.append(text)

    def merge(self, other):
        """Fold another report (of the same history) into this one."""
        self.problems.extend(other.problems)
        self.keys_checked += other.keys_checked
        self.keys_unknown += other.keys_unknown
        self.key_results.update(other.key_results)
        for k, v in other.details.items():
            self.details.setdefault(k, {}).update(v)
        return self

    def summary(self, max_problems=20):
        """A headline plus the first max_problems problems."""
        parts = ["%d ops" % self.ops,
                 "%d register keys checked (%d unknown)" % (self.keys_checked, self.keys_unknown)]
        sets = self.details.get("sets")
        if sets:
            parts.append("%d final reads checked" % len(sets))
        locks = self.details.get("locks")
        if locks:
            parts.append("%d lock keys checked" % len(locks))
        head = "%s: %s; %d problem%s" % ("VALID" if self.valid else "INVALID", ", ".join(parts),
                                         len(self.problems), "" if len(self.problems) == 1 else "s")
        lines = [head]
        for p in self.problems[:max_problems]:
            lines.append("  - " + p)
        if len(self.problems) > max_problems:
            lines.append("  ... and %d more" % (len(self.problems) - max_problems))
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return "<Report valid=%s problems=%d keys_checked=%d keys_unknown=%d ops=%d>" % (
            self.valid, len(self.problems), self.keys_checked, self.keys_unknown, self.ops)


# ---------------------------------------------------------------------------
# Reading and validating ops

def load_history(path):
    """(ops, problems): the JSON objects of a .jsonl file ("-" = stdin);
    a line that is not a JSON object becomes a problem."""
    ops, problems = [], []
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    try:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                op = json.loads(line)
            except ValueError as e:
                problems.append("%s line %d: not JSON (%s)" % (path, n, e))
                continue
            if not isinstance(op, dict):
                problems.append("%s line %d: not a JSON object" % (path, n))
                continue
            ops.append(op)
    finally:
        if f is not sys.stdin:
            f.close()
    return ops, problems


def _hashable(v):
    try:
        hash(v)
        return True
    except TypeError:
        return False


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _validate(ops, kinds, report):
    """The ops whose "op" is in kinds, normalised: a copy of each with
    "result" in RESULTS ("info" -> "unknown"), "end" = INF for unknown
    ops, "mode" defaulted, "_n" = position in ops.  A malformed op is a
    problem (the recorder is broken) and is left out."""
    out = []
    for n, op in enumerate(ops):
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in kinds:
            continue
        o = dict(op)
        o["_n"] = n
        res = o.get("result")
        if res == "info":
            res = o["result"] = "unknown"
        why = None
        if res not in RESULTS:
            why = "result %r is not ok/fail/unknown" % (res,)
        elif not _is_int(o.get("start")):
            why = "start %r is not an integer" % (o.get("start"),)
        elif res == "unknown":
            o["end"] = INF
        elif not _is_int(o.get("end")) or o["end"] < o["start"]:
            why = "end %r is not an integer >= start" % (o.get("end"),)
        if why is None:
            if kind == "final_read":
                if res == "ok" and not isinstance(o.get("elements"), list):
                    why = "elements is not a list"
                elif res == "ok" and not all(_hashable(e) for e in o["elements"]):
                    why = "elements are not all strings/numbers"
            elif not isinstance(o.get("key"), str):
                why = "key %r is not a string" % (o.get("key"),)
            elif not _hashable(o.get("value")) or not _hashable(o.get("expect")):
                why = "value or expect is not a string/number/null"
            elif kind == "acquire" and o.get("token") is not None and not _is_int(o["token"]):
                why = "token %r is not an integer" % (o["token"],)
        if why is None and kind == "read":
            o["mode"] = o.get("mode") or "default"
        if why is not None:
            report.problem("malformed op #%d (%s): %s" % (
                n, why, json.dumps(op, default=str)[:300]))
            continue
        out.append(o)
    return out


def _t0(ops):
    starts = [o["start"] for o in ops if isinstance(o, dict) and _is_int(o.get("start"))]
    return min(starts) if starts else 0


def _describe(o, t0):
    """One op for a problem line: who, what, result and times."""
    kind = o["op"]
    who = "client %s" % (o.get("client"),)
    if o.get("node") is not None:
        who += " (node %s)" % (o.get("node"),)
    if kind == "read":
        what = "read %s -> %r" % (o["key"], o.get("value"))
        if o.get("mode") not in (None, "default"):
            what += " [%s]" % o["mode"]
    elif kind == "write":
        what = "write %s := %r" % (o["key"], o.get("value"))
    elif kind == "cas":
        what = "cas %s %r -> %r" % (o["key"], o.get("expect"), o.get("value"))
        if o.get("result") == "ok" and o.get("applied") is False:
            what += " (not applied)"
    elif kind in ("add", "acquire", "release"):
        what = "%s %s" % (kind, o["key"])
        if o.get("value") is not None:
            what += " %r" % (o["value"],)
        if kind == "acquire" and o.get("token") is not None:
            what += " token %s" % (o["token"],)
    else:
        what = "%s %s" % (kind, o.get("key"))
    if o.get("end", INF) == INF:
        times = "start=%d end=inf (+%.6fs..)" % (o["start"], (o["start"] - t0) / 1e9)
    else:
        times = "start=%d end=%d (+%.6fs..+%.6fs)" % (o["start"], o["end"], (o["start"] - t0) / 1e9,
                                                     (o["end"] - t0) / 1e9)
    return "%s %s %s, %s" % (who, what, o.get("result"), times)


def _listing(items, fmt):
    shown = [fmt(x) for x in items[:LIST_MAX]]
    if len(items) > LIST_MAX:
        shown.append("and %d more" % (len(items) - LIST_MAX))
    return "; ".join(shown)


# ---------------------------------------------------------------------------
# Register workload

def check_reads_written(ops):
    """Every ok read (any mode) returns null or a value that some write or
    CAS attempted, and not only failed ones; every applied CAS expected
    null or such a value.  Returns a Report."""
    report = Report(len(ops))
    _reads_written(_validate(ops, REGISTER_OPS, report), report, _t0(ops))
    return report


def _reads_written(ops, report, t0):
    """The check behind check_reads_written; returns the keys whose
    non-stale history is already known to be non-linearizable."""
    attempted, failed_only = {}, {}
    for o in ops:
        if o["op"] in ("write", "cas"):
            k = (o["key"], o.get("value"))
            if o["result"] == "fail" or (o["op"] == "cas" and o["result"] == "ok"
                                         and o.get("applied") is False):
                failed_only.setdefault(k, o)
            else:
                attempted[k] = o
    doomed = set()
    for o in ops:
        if o["result"] != "ok":
            continue
        if o["op"] == "read":
            v, what = o.get("value"), "read"
        elif o["op"] == "cas" and o.get("applied", True) is not False:
            v, what = o.get("expect"), "applied cas expecting"
        else:
            continue
        if v is None or (o["key"], v) in attempted:
            continue
        if (o["key"], v) in failed_only:
            report.problem("key %s: %s %r, which only a failed or not applied op wrote "
                           "(%s): %s" % (
                o["key"], what, v, _describe(failed_only[(o["key"], v)], t0), _describe(o, t0)))
        else:
            report.problem("key %s: %s %r, which was never written: %s" % (
                o["key"], what, v, _describe(o, t0)))
        if o.get("mode") != "stale":
            doomed.add(o["key"])
    return doomed


_NOTHING = object()


def _observed(o):
    """The value op o saw as current (ok non-stale read, ok applied CAS's
    expect), else _NOTHING."""
    if o["result"] != "ok":
        return _NOTHING
    if o["op"] == "read":
        return o.get("value") if o.get("mode") != "stale" else _NOTHING
    if o["op"] == "cas" and o.get("applied", True) is not False:
        return o.get("expect")
    return _NOTHING


def _stale_reads(key, kops, t0):
    """Certain violations found without a search, on a key whose written
    values are unique: an op (ok read, not stale, or applied CAS) that
    saw value v, written by P, ended before P began; or began after some
    other write X had certainly taken effect (X ended, or an op that saw
    X's value ended) when X certainly came after P (X began after P
    ended, or after an op that saw v ended).  v cannot come back after X,
    so the op saw an overwritten value: the stale read of etcd #741, and
    a client's non-monotonic reads.  And reads out of order: an op that
    saw v2 after another op that saw v1 had ended, when v2's write had
    ended before that op began.  Returns problem strings."""
    producers = {}
    for o in kops:
        if o["op"] in ("write", "cas"):
            if o.get("value") in producers:
                return []               # values not unique: no shortcut
            producers[o.get("value")] = o
    seen_by = {}                        # value -> the op that saw it earliest-ending
    for o in kops:
        v = _observed(o)
        if v is not _NOTHING and (v not in seen_by or o["end"] < seen_by[v]["end"]):
            seen_by[v] = o

    def took_effect_by(p):
        """(time by which producer p had certainly taken effect, witness)"""
        w = seen_by.get(p.get("value"))
        if w is not None and w["end"] < p["end"]:
            return w["end"], w
        return p["end"], None

    xs = []                             # (start, effect-by, op, witness)
    for p in producers.values():
        if p["result"] == "fail" or (p["op"] == "cas" and p["result"] == "ok"
                                     and p.get("applied") is False):
            continue
        by, w = took_effect_by(p)
        if by < INF:
            xs.append((p["start"], by, p, w))
    xs.sort(key=lambda x: x[0])
    starts = [x[0] for x in xs]
    sufmin = [None] * (len(xs) + 1)     # index of the least effect-by from i on
    for i in range(len(xs) - 1, -1, -1):
        j = sufmin[i + 1]
        sufmin[i] = i if j is None or xs[i][1] <= xs[j][1] else j

    found = []
    for o in sorted(kops, key=lambda o: o["start"]):
        v = _observed(o)
        if v is _NOTHING:
            continue
        p = producers.get(v)
        if p is None and v is not None:
            continue                    # never written: _reads_written's
        if p is not None and p["result"] == "fail":
            continue                    # likewise
        what = "saw %r" % (v,) if o["op"] == "read" else "expected %r" % (v,)
        if p is not None and o["end"] < p["start"]:
            found.append("key %s: not linearizable: %s %s, whose write began only after it "
                         "ended: %s" % (key, _describe(o, t0), what, _describe(p, t0)))
            continue
        bound = -INF if p is None else max(p["start"], took_effect_by(p)[0])
        i = bisect.bisect_right(starts, bound)
        if i < len(xs) and xs[sufmin[i]][1] < o["start"]:
            _, by, x, w = xs[sufmin[i]]
            how = "ended" if w is None else "was seen by %s" % _describe(w, t0)
            after = "the key was created" if p is None else \
                "%r was written (%s)" % (v, _describe(p, t0))
            found.append("key %s: not linearizable: %s: %s %s, but %s began after %s and %s "
                         "before it began" % (
                             key, "stale read" if o["op"] == "read" else "CAS on a stale value",
                             _describe(o, t0), what, _describe(x, t0), after, how))

    # an op R2 that saw v2 after an op R1 that saw another value v1 had
    # ended: v2 was written after R1 (before it, v2 would have had to be
    # written again after v1), so not by an op that ended before R1 began
    obsv = sorted(((o, _observed(o)) for o in kops if _observed(o) is not _NOTHING),
                  key=lambda x: x[0]["start"])
    ostarts = [o["start"] for o, _ in obsv]
    best = [(None, None)] * (len(obsv) + 1)   # from i on: earliest-ending, and of another value
    for i in range(len(obsv) - 1, -1, -1):
        o, v = obsv[i]
        b1, b2 = best[i + 1]
        if b1 is None or o["end"] < b1[0]["end"]:
            b1, b2 = (o, v), (b1 if b1 is not None and b1[1] != v else b2)
        elif v != b1[1] and (b2 is None or o["end"] < b2[0]["end"]):
            b2 = (o, v)
        best[i] = (b1, b2)
    for o2, v2 in obsv:
        p = producers.get(v2)
        if p is None or p["result"] == "fail" or p["end"] == INF:
            continue
        b1, b2 = best[bisect.bisect_right(ostarts, p["end"])]
        r1 = b1 if b1 is not None and b1[1] != v2 else b2
        if r1 is not None and r1[0]["end"] < o2["start"]:
            found.append("key %s: not linearizable: reads out of order: %s saw %r after %s saw "
                         "%r, but %r was written by %s, which ended before that began" % (
                             key, _describe(o2, t0), v2, _describe(r1[0], t0), r1[1], v2,
                             _describe(p, t0)))
    if len(found) > 5:
        found[5:] = ["key %s: %d more reads or CASes of overwritten values" % (
            key, len(found) - 5)]
    return found


def check_linearizable(ops, timeout_per_key=DEFAULT_TIMEOUT, max_states=DEFAULT_MAX_STATES,
                       shortcuts=True):
    """Check the register ops ("read"/"write"/"cas") of every key for
    linearizability, each key on its own with a wall-clock bound of
    timeout_per_key seconds and at most max_states cached
    configurations.  A key that hits a bound is "unknown" and counts as
    a problem.  Also runs check_reads_written.  Keys with a read of a
    value never written or certainly overwritten (_stale_reads) fail
    without a search unless shortcuts is False (for tests of the
    search).  Returns a Report."""
    report = Report(len(ops))
    _linearizable(_validate(ops, REGISTER_OPS, report), report, _t0(ops), timeout_per_key,
                  max_states, shortcuts)
    return report


def _duplicates(kops):
    """The ops of one key that write a value another op (of any result)
    also writes, or null (the initial value)."""
    by_value = {}
    for o in kops:
        if o["op"] in ("write", "cas"):
            by_value.setdefault(o.get("value"), []).append(o)
    return [os_ for v, os_ in by_value.items() if v is None or len(os_) > 1]


def _linearizable(ops, report, t0, timeout, max_states, shortcuts=True):
    doomed = _reads_written(ops, report, t0)
    by_key = {}
    for o in ops:
        by_key.setdefault(o["key"], []).append(o)
    for key in sorted(by_key):
        report.keys_checked += 1
        kops = by_key[key]
        t = time.monotonic()
        dups = _duplicates(kops)
        if dups:
            # the search's pruning and its handling of unknown ops rely
            # on unique values: the driver broke its promise
            report.keys_unknown += 1
            report.key_results[key] = {"verdict": "unknown", "ops": len(kops), "seconds": 0.0,
                                       "states": 0}
            report.problem("key %s: linearizability unknown: the checker needs every written "
                           "value unique and not null, but %d value%s %s: %s" % (
                               key, len(dups), "" if len(dups) == 1 else "s",
                               "is not" if len(dups) == 1 else "are not",
                               _listing(dups, lambda os_: "%r by %s" % (
                                   os_[0].get("value"),
                                   " and ".join(_describe(o, t0) for o in os_[:3])))))
            continue
        stale = _stale_reads(key, kops, t0) if shortcuts and key not in doomed else []
        if shortcuts and (key in doomed or stale):
            # a non-stale read of a value nobody wrote (reported above) or
            # of one certainly overwritten: no search needed
            for p in stale:
                report.problem(p)
            report.key_results[key] = {"verdict": "fail", "ops": len(kops),
                                       "seconds": time.monotonic() - t, "states": 0}
            continue
        verdict, info = _check_key(kops, timeout, max_states)
        took = time.monotonic() - t
        report.key_results[key] = {"verdict": verdict, "ops": len(kops), "seconds": took,
                                   "states": info.get("states", 0)}
        if verdict == "unknown":
            report.keys_unknown += 1
            report.problem("key %s: linearizability unknown: %s after %.1fs and %d configurations "
                           "(%d ops); counted as a failure" % (key, info["why"], took,
                                                              info.get("states", 0), len(kops)))
        elif verdict == "fail":
            report.problem(_explain(key, info, t0))


def _explain(key, info, t0):
    """The problem line for a key the search found not linearizable:
    where its longest partial linearization got stuck."""
    msg = "key %s: not linearizable: the search found no order of the ops" % key
    blocked = info.get("blocked")
    if blocked is not None:
        msg += "; its longest partial linearization orders %d of %d ok ops, leaves the value " \
               "%r" % (info["depth"], info["n_ok"], info["state"])
        if info.get("tail"):
            msg += ", ends ... " + " | ".join(_describe(o, t0) for o in info["tail"])
        msg += ", and can place no op that would let %s come next" % _describe(blocked, t0)
    return msg


def _check_key(kops, timeout, max_states):
    """Build the search's input from one key's ops and run it."""
    oks, lazies = [], []
    for o in kops:
        res, kind = o["result"], o["op"]
        if res == "fail":
            continue                    # definitely did not take effect
        if kind == "read":
            if res != "ok" or o.get("mode") == "stale":
                continue                # constrains nothing / not checked
            oks.append((o, READ, o.get("value"), None))
        elif kind == "write":
            (oks if res == "ok" else lazies).append((o, WRITE, o.get("value"), None))
        elif kind == "cas":
            if res == "ok":
                if o.get("applied", True) is False:
                    oks.append((o, CASF, o.get("expect"), None))
                else:
                    oks.append((o, CAS, o.get("expect"), o.get("value")))
            elif o.get("applied") is not False:
                lazies.append((o, CAS, o.get("expect"), o.get("value")))
    # the values some op compares the state with
    seen = set()
    for _, kind, a, _b in oks + lazies:
        if kind != WRITE:
            seen.add(a)
    return _wgl(oks, lazies, seen, time.monotonic() + timeout, max_states)


def _wgl(oks, lazies, seen, deadline, max_states):
    """The search (see the module docstring).  oks: (op, kind, a, b) of
    ok ops with a = value (READ, WRITE) or expect (CAS, CASF) and b = the
    new value (CAS); lazies: (op, WRITE|CAS, a, b) of unknown ops; seen:
    the values some op compares the state with.  Returns (verdict, info)
    with verdict "ok", "fail" or "unknown".  Runs _search without and,
    if need be, with counting spent writes.
    """
    oks.sort(key=lambda x: (x[0]["start"], x[0]["end"]))
    lazies.sort(key=lambda x: x[0]["start"])
    verdict, info = _search(oks, lazies, seen, deadline, max_states, False)
    if verdict == "fail" and info["ran_out"]:
        verdict, info = _search(oks, lazies, seen, deadline, max_states, True)
    return verdict, info


def _search(oks, lazies, seen, deadline, max_states, count_spent):
    """One search; see _wgl for the arguments.

    Ok ops are entries in the list; unknown ops are lazy, linearized
    only in a chain right before an ok op that needs them.  A
    configuration is the set of linearized ops and the state; the cache
    holds a canonical form of it.  A value is dead once every op that
    compares the state with it (ok reads and CASes, unknown CASes) is
    linearized: nothing can tell it from any other dead value, so a dead
    state is cached as UNREAD, and the unknown writes of dead values
    (never read, or no longer) are interchangeable.  A not-applied CAS
    needing the value changed is offered only one of those, and the
    cache key leaves out which of them were spent.  Without count_spent
    it leaves out how many, too: exact unless such a CAS ever finds none
    left while some were spent (then info["ran_out"] is set).  With it,
    the cache keeps the smallest number spent with each key: a
    configuration that has spent as many or more than one already
    explored can do nothing that one could not (fewer left to spend), so
    it is cut; one that spent fewer is explored again."""
    n = len(oks)

    kind = [x[1] for x in oks]
    A = [x[2] for x in oks]
    B = [x[3] if x[1] == CAS else None for x in oks]
    end = [x[0]["end"] for x in oks]

    m = len(lazies)
    lkind = [x[1] for x in lazies]
    lexp = [x[2] if x[1] == CAS else None for x in lazies]
    lval = [x[3] if x[1] == CAS else x[2] for x in lazies]
    lstart = [x[0]["start"] for x in lazies]
    lbit = [1 << j for j in range(m)]
    ldone = bytearray(m)
    by_val = {}                 # seen value -> unknown ops writing it
    lw = {}                     # seen value -> unknown writes writing it
    for j in range(m):
        if lval[j] in seen:
            by_val.setdefault(lval[j], []).append(j)
            if lkind[j] == WRITE:
                lw.setdefault(lval[j], []).append(j)
    obs = dict.fromkeys(seen, 0)    # value -> ops not yet linearized comparing with it
    reads = dict.fromkeys(seen, 0)  # value -> ok reads and applied CASes of it not yet linearized
    for i in range(n):
        if kind[i] != WRITE:
            obs[A[i]] += 1
            if kind[i] != CASF:
                reads[A[i]] += 1
    cas_by_exp = {}             # expected value -> unknown CASes
    for j in range(m):
        if lkind[j] == CAS:
            obs[lexp[j]] += 1
            cas_by_exp.setdefault(lexp[j], []).append(j)
    lwr = [j for j in range(m) if lkind[j] == WRITE]           # by start
    live = set(j for j in lwr if obs.get(lval[j]))  # unspent writes of live values
    # may op i be illegal alone but legal after unknown ops?
    p2 = [(kind[i] in (READ, CAS) and A[i] in by_val) or (kind[i] == CASF and m > 0)
          for i in range(n)]

    # entry ids: call of op i = i, its return = n + i, HEAD, TAIL
    HEAD, TAIL = 2 * n, 2 * n + 1
    ent = [(x[0]["start"], 0, i) for i, x in enumerate(oks)] + \
          [(x[0]["end"], 1, n + i) for i, x in enumerate(oks)]
    ent.sort()
    order = [HEAD] + [e[2] for e in ent] + [TAIL]
    nxt = [0] * (2 * n + 2)
    prv = [0] * (2 * n + 2)
    for a, b in zip(order, order[1:]):
        nxt[a] = b
        prv[b] = a

    info = {"n_ok": n, "depth": -1, "blocked": None, "state": None, "tail": [], "states": 0,
            "ran_out": False}
    flags = {"cut": False, "ran_out": False}

    def chains(need, s, bound, used, depth):
        """Sequences of pending, invokable unknown ops that take state s
        to state need (a seen value)."""
        out = []
        for j in by_val.get(need, ()):
            if ldone[j] or lstart[j] > bound or j in used:
                continue
            if lkind[j] == WRITE or lexp[j] == s:
                out.append((j,))
            elif depth >= MAX_CHAIN:
                flags["cut"] = True
            else:
                for c in chains(lexp[j], s, bound, used + (j,), depth + 1):
                    out.append(c + (j,))
        return out

    def candidates(i, s, bound, spent):
        """The chains of unknown ops after which ok op i, illegal in
        state s, becomes legal; bound: the latest start of an unknown op
        that can take effect now."""
        if kind[i] != CASF:
            out = []
            for c in chains(A[i], s, bound, (), 0):
                # no value may be overwritten while an ok op still has
                # to see it (values are unique: it never comes back)
                t = s
                for j in c:
                    if reads.get(t):
                        break
                    t = lval[j]
                else:
                    if kind[i] != CAS or reads[t] == 1:
                        out.append(c)
            return out
        if reads.get(s):
            return []           # (as above)
        # a not-applied CAS: any unknown op that changes the value
        out = []
        for j in lwr:           # one write of a dead value (the earliest)
            if lstart[j] > bound:
                break
            if not ldone[j] and not obs.get(lval[j]) and lval[j] != s:
                out.append((j,))
                break
        if not out and spent and not count_spent:
            flags["ran_out"] = True         # had other ones been spent...
        for j in sorted(live):  # every write of a live value
            if lstart[j] <= bound and lval[j] != s:
                out.append((j,))
        for j in cas_by_exp.get(s, ()):
            if not ldone[j] and lstart[j] <= bound and lval[j] != s:
                out.append((j,))
        return out

    def unspend(i, chain):
        """Undo the counts of linearizing ok op i after chain."""
        if kind[i] != WRITE:
            v = A[i]
            c = obs[v]
            if not c:
                for jj in lw.get(v, ()):
                    if not ldone[jj]:
                        live.add(jj)
            obs[v] = c + 1
            if kind[i] != CASF:
                reads[v] += 1
        for j in reversed(chain):
            ldone[j] = 0
            if lkind[j] == CAS:
                v = lexp[j]
                c = obs[v]
                if not c:
                    for jj in lw.get(v, ()):
                        if not ldone[jj]:
                            live.add(jj)
                obs[v] = c + 1
            elif obs.get(lval[j]):
                live.add(j)

    # The linearized set is kept as the ok ops (numbered by start) before
    # the first one not linearized, a bitset of the ok ops from there on
    # (small: the ops well before the current point are all linearized)
    # and a bitset of the unknown ops, less spent writes of dead values.
    cache = {}                  # canonical configuration -> fewest dead writes spent
    # frames: (op, chain, state, first, win, lazybits, spent, phase,
    #          cands, ci, first_ret)
    frames = []
    first, win, lazybits, spent, s, nlin = 0, 0, 0, 0, None, 0
    phase, entry, cands, ci, first_ret = 1, nxt[HEAD], None, 0, -1
    iters = 0
    monotonic = time.monotonic

    while True:
        if nlin == n:
            info["states"] = len(cache)
            return "ok", info
        iters += 1
        if not iters & 1023:
            if monotonic() > deadline:
                info.update(states=len(cache), why="search time bound hit")
                return "unknown", info
            if len(cache) > max_states:
                info.update(states=len(cache), why="configuration bound (%d) hit" % max_states)
                return "unknown", info
        i = entry
        if phase == 1 and i < n:
            # phase 1: each op whose call precedes the first return
            # entry, on its own, in list order
            k = kind[i]
            if k == READ:
                ok, ns = s == A[i], s
            elif k == WRITE:
                # no value may be overwritten while an ok op still has to
                # see it (values are unique: it never comes back)
                ok, ns = not reads.get(s), A[i]
            elif k == CAS:
                ok, ns = s == A[i] and reads[s] == 1, B[i]
            else:
                ok, ns = s != A[i], s
            if not ok:
                entry = nxt[i]
                continue
            chain, lb, sp = (), lazybits, spent
        elif phase == 1:
            # a return entry: its op had to be linearized by now
            if i != TAIL:       # (TAIL: unreachable while ok ops remain)
                if nlin > info["depth"]:
                    info.update(depth=nlin, blocked=oks[i - n][0], state=s,
                                tail=[oks[f[0]][0] for f in frames[-3:]])
                if m and lstart[0] <= end[i - n]:
                    # phase 2: the ops again, now after unknown ops
                    first_ret, phase, entry, cands = i, 2, nxt[HEAD], None
                    continue
            ns = None           # backtrack below
        elif i < n:
            # phase 2: an op illegal on its own, after a chain of unknown
            # ops that makes it legal
            if cands is None:
                if not p2[i] or (s == A[i]) != (kind[i] == CASF):
                    entry = nxt[i]
                    continue
                cands, ci = candidates(i, s, end[first_ret - n], spent), 0
            if ci >= len(cands):
                entry, cands = nxt[i], None
                continue
            chain = cands[ci]
            ci += 1
            lb, sp = lazybits, spent
            for j in chain:
                ldone[j] = 1
                if lkind[j] == CAS:
                    lb ^= lbit[j]
                    v = lexp[j]
                    c = obs[v] - 1
                    obs[v] = c
                    if not c:
                        for jj in lw.get(v, ()):
                            if ldone[jj]:
                                lb ^= lbit[jj]  # spent write of a now-dead value
                                sp += 1
                            else:
                                live.discard(jj)
                elif obs.get(lval[j]):
                    lb ^= lbit[j]
                    live.discard(j)
                else:
                    sp += 1
            ns = B[i] if kind[i] == CAS else lval[chain[-1]]
        else:
            ns = None           # phase 2 exhausted: backtrack below

        if i < n:
            # linearize op i (after chain): canonical key, then push
            if kind[i] != WRITE:
                v = A[i]
                c = obs[v] - 1
                obs[v] = c
                if kind[i] != CASF:
                    reads[v] -= 1
                if not c:
                    for jj in lw.get(v, ()):
                        if ldone[jj]:
                            lb ^= lbit[jj]
                            sp += 1
                        else:
                            live.discard(jj)
            f = first
            w = win | (1 << (i - f))
            if i == f:
                t = ((w + 1) & ~w).bit_length() - 1     # trailing ones
                w >>= t
                f += t
            cs = ns if obs.get(ns) else UNREAD
            key = (f, w, lb, cs)
            if (cache.get(key, sp + 1) > sp) if count_spent else (key not in cache):
                cache[key] = sp
                frames.append((i, chain, s, first, win, lazybits, spent, phase, cands, ci,
                               first_ret))
                first, win, lazybits, spent, s, nlin = f, w, lb, sp, ns, nlin + 1
                p, q = prv[i], nxt[i]       # lift call and return
                nxt[p] = q
                prv[q] = p
                r = n + i
                p, q = prv[r], nxt[r]
                nxt[p] = q
                prv[q] = p
                phase, entry, cands = 1, nxt[HEAD], None
                continue
            # seen before: undo the counts and try the next choice
            if chain or (kind[i] != WRITE and not obs[A[i]]):
                unspend(i, chain)       # the general case
            elif kind[i] != WRITE:
                obs[A[i]] += 1          # the common one, inline
                if kind[i] != CASF:
                    reads[A[i]] += 1
            if phase == 1:
                entry = nxt[i]
            continue

        # every choice here is exhausted: backtrack
        if not frames:
            info["states"] = len(cache)
            info["ran_out"] = flags["ran_out"]
            if flags["cut"]:
                info["why"] = "a chain of more than %d unknown CAS ops was cut" % MAX_CHAIN
                return "unknown", info
            return "fail", info
        i, chain, s, first, win, lazybits, spent, phase, cands, ci, first_ret = frames.pop()
        r = n + i                                   # unlift return, then call
        nxt[prv[r]] = r
        prv[nxt[r]] = r
        nxt[prv[i]] = i
        prv[nxt[i]] = i
        nlin -= 1
        unspend(i, chain)
        entry = nxt[i] if phase == 1 else i


# ---------------------------------------------------------------------------
# Set workload

def check_sets(ops):
    """Lost and phantom elements: for each ok "final_read" (one per node,
    "key" = the prefix read, or null for all), every ok "add" under that
    prefix that completed before the read started must be among its
    "elements"; unknown adds, and ok adds concurrent with the read, may or
    may not be; every element must come from an add that was attempted,
    did not definitely fail and started before the read ended.  A final
    read that did not succeed is a problem (that node went unverified),
    and so are adds with no final read at all.  Returns a Report with
    details["sets"][node] = counts."""
    report = Report(len(ops))
    _sets(_validate(ops, SET_OPS, report), report, _t0(ops))
    return report


def _sets(ops, report, t0):
    adds = [o for o in ops if o["op"] == "add"]
    finals = sorted((o for o in ops if o["op"] == "final_read"),
                    key=lambda o: (str(o.get("node")), o["start"]))
    if not adds and not finals:
        return
    if not finals:
        report.problem("set workload: %d adds but no final_read to check them against" % len(adds))
        return
    by_value = {}
    for a in adds:
        by_value.setdefault(a.get("value"), []).append(a)
    details = report.details.setdefault("sets", {})
    for fr in finals:
        node = fr.get("node")
        where = "node %s" % (node,)
        if fr["result"] != "ok":
            report.problem("%s: final read %s, so its elements went unchecked: %s" % (
                where, "failed" if fr["result"] == "fail" else "has an unknown result",
                _describe(fr, t0)))
            continue
        prefix = fr.get("key")
        mine = [a for a in adds if not isinstance(prefix, str) or a["key"].startswith(prefix)]
        present = set(fr["elements"])
        lost = [a for a in mine if a["result"] == "ok" and a["end"] < fr["start"]
                and a.get("value") not in present]
        never, failed, future = [], [], []
        for el in sorted(present, key=str):
            tries = by_value.get(el)
            if not tries:
                never.append(el)
            elif all(a["result"] == "fail" for a in tries):
                failed.append((el, tries[0]))
            elif all(a["start"] > fr["end"] for a in tries if a["result"] != "fail"):
                future.append((el, min((a for a in tries if a["result"] != "fail"),
                                       key=lambda a: a["start"])))
        unknown = [a for a in mine if a["result"] == "unknown"]
        details[node if node is not None else "?"] = {
            "elements": len(present), "ok_adds": sum(a["result"] == "ok" for a in mine),
            "lost": len(lost), "phantom": len(never) + len(failed) + len(future),
            "unknown_present": sum(a.get("value") in present for a in unknown),
            "unknown_absent": sum(a.get("value") not in present for a in unknown)}
        if lost:
            report.problem("%s: %d acknowledged add%s missing from its final read (%s): %s" % (
                where, len(lost), "" if len(lost) == 1 else "s", _describe(fr, t0),
                _listing(lost, lambda a: _describe(a, t0))))
        if never:
            report.problem("%s: %d phantom element%s no add ever attempted in its final read "
                           "(%s): %s" % (where, len(never), "" if len(never) == 1 else "s",
                                         _describe(fr, t0), _listing(never, repr)))
        if failed:
            report.problem("%s: %d element%s whose add definitely failed in its final read "
                           "(%s): %s" % (where, len(failed), "" if len(failed) == 1 else "s",
                                         _describe(fr, t0),
                                         _listing(failed, lambda x: "%r from %s" % (
                                             x[0], _describe(x[1], t0)))))
        if future:
            report.problem("%s: %d element%s read before their add started (%s): %s" % (
                where, len(future), "" if len(future) == 1 else "s", _describe(fr, t0),
                _listing(future, lambda x: "%r from %s" % (x[0], _describe(x[1], t0)))))


# ---------------------------------------------------------------------------
# Lock workload

def check_locks(ops):
    """Mutual exclusion and fencing for "acquire"/"release" ops.

    An ok acquire (unless it carries "applied": false) starts a holding
    interval at its end; the interval ends at the start of the same
    client's next release of that key, whatever that release's result
    (the client stops acting as holder when it asks to release), or never
    if there is none.  An acquire while already holding is a re-entrant
    re-acquire and extends nothing.  These are the shortest intervals the
    client could act in, so an overlap between two clients' intervals is
    a real violation.  Acquires that failed, or whose result is unknown,
    start no interval: the client never learned it held the lock and must
    not act as holder, and if such an acquire took effect, no later op
    in the history bounds when, so no interval can be drawn for it
    without guessing (it would only ever raise the next holder's token,
    which the token check allows).  Tokens (the LockIndex)
    of the acquires that start intervals must strictly rise in order of
    acquire end time.  Returns a Report with details["locks"][key]."""
    report = Report(len(ops))
    _locks(_validate(ops, LOCK_OPS, report), report, _t0(ops))
    return report


def _locks(ops, report, t0):
    by_key = {}
    for o in ops:
        by_key.setdefault(o["key"], {}).setdefault(o.get("client"), []).append(o)
    details = report.details.setdefault("locks", {}) if by_key else {}
    for key in sorted(by_key):
        holds = []              # (from, to, client, acquire op, release op or None)
        for client, cops in by_key[key].items():
            cops.sort(key=lambda o: (o["start"], o["end"]))
            held = None
            for o in cops:
                if o["op"] == "acquire":
                    if held is None and o["result"] == "ok" and o.get("applied", True) is not False:
                        held = o
                elif held is not None and o["start"] >= held["start"]:
                    holds.append((held["end"], o["start"], client, held, o))
                    held = None
            if held is not None:
                holds.append((held["end"], INF, client, held, None))
        holds.sort(key=lambda h: (h[0], h[1]))
        overlaps = []
        active = []             # holds whose interval may still overlap a later one
        for h in holds:
            if h[1] <= h[0]:
                continue        # released before the acquire returned: empty
            active = [a for a in active if a[1] > h[0]]
            for a in active:
                if a[2] != h[2]:
                    overlaps.append((a, h))
            active.append(h)
        for a, h in overlaps[:LIST_MAX]:
            until = min(a[1], h[1])
            report.problem("lock %s: clients %s and %s held it at once from %d %s: %s%s; %s%s" % (
                key, a[2], h[2], h[0],
                "to %d (%.6fs)" % (until, (until - h[0]) / 1e9) if until < INF
                else "to the end of the history",
                _describe(a[3], t0),
                ", released by " + _describe(a[4], t0) if a[4] else ", never released",
                _describe(h[3], t0),
                ", released by " + _describe(h[4], t0) if h[4] else ", never released"))
        if len(overlaps) > LIST_MAX:
            report.problem("lock %s: %d more overlapping holds" % (key, len(overlaps) - LIST_MAX))
        tokened = sorted((h for h in holds if h[3].get("token") is not None),
                         key=lambda h: (h[3]["end"], h[3]["start"]))
        bad_tokens = 0
        for a, b in zip(tokened, tokened[1:]):
            if not b[3]["token"] > a[3]["token"]:
                bad_tokens += 1
                report.problem("lock %s: fencing token did not rise: %s, then %s" % (
                    key, _describe(a[3], t0), _describe(b[3], t0)))
        details[key] = {"holds": len(holds), "overlaps": len(overlaps),
                        "tokens": len(tokened), "token_errors": bad_tokens}


# ---------------------------------------------------------------------------
# Entry points

def check_history(ops, timeout_per_key=DEFAULT_TIMEOUT, max_states=DEFAULT_MAX_STATES):
    """All checks on one history (a list of op dicts); returns a Report.
    An op of a kind no checker knows is a problem: it cannot be
    accounted for."""
    report = Report(len(ops))
    t0 = _t0(ops)
    unknown_kinds = {}
    for n, op in enumerate(ops):
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in ALL_OPS:
            unknown_kinds.setdefault(str(kind), n)
    for kind, n in sorted(unknown_kinds.items()):
        report.problem("op kind %s (first at op #%d) is not checked by any checker" % (kind, n))
    good = _validate(ops, ALL_OPS, report)
    _linearizable([o for o in good if o["op"] in REGISTER_OPS], report, t0, timeout_per_key,
                  max_states)
    _sets([o for o in good if o["op"] in SET_OPS], report, t0)
    _locks([o for o in good if o["op"] in LOCK_OPS], report, t0)
    return report


def check_file(path, timeout_per_key=DEFAULT_TIMEOUT, max_states=DEFAULT_MAX_STATES):
    """check_history() on a .jsonl file; unparsable lines are problems."""
    ops, problems = load_history(path)
    report = check_history(ops, timeout_per_key, max_states)
    report.problems[:0] = problems
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check a Cairn fault-test history (JSON lines).")
    ap.add_argument("history", help="the .jsonl history, or - for stdin")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds of linearizability search per key (default %(default)s)")
    ap.add_argument("--max-states", type=int, default=DEFAULT_MAX_STATES,
                    help="cached search configurations per key (default %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print every key's verdict")
    args = ap.parse_args(argv)
    try:
        report = check_file(args.history, args.timeout, args.max_states)
    except OSError as e:
        print("checker: %s" % e, file=sys.stderr)
        return 2
    if args.verbose:
        for key, r in sorted(report.key_results.items()):
            print("key %s: %s, %d ops, %.3fs, %d configurations" % (
                key, r["verdict"], r["ops"], r["seconds"], r["states"]))
    print(report.summary(max_problems=len(report.problems)))
    return 0 if report.valid else 1


if __name__ == "__main__":
    sys.exit(main())
