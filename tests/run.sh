#!/bin/sh
# run.sh [--unit-only] BUILDDIR... - run every test against each build dir:
# cmocka unit binaries, libFuzzer corpus replay (build-fuzz), then the
# integration tests.  Ends with the line "N passed, N failed".
# Environment: TEST_FILTER=substring runs only matching test files.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
unit_only=0
if [ "$1" = "--unit-only" ]; then unit_only=1; shift; fi
[ $# -gt 0 ] || set -- build
passed=0
failed=0
failures=""
log=$(mktemp -d /tmp/cairn-test.XXXXXX)

note_fail() {
	failed=$((failed + $1))
	failures="$failures
  $2"
}

# unit_one BUILD TEST - run one cmocka binary; prints its line and leaves
# "passed failed" in $out.res
unit_one() {
	b=$1 t=$2
	name="$b/${t##*/}"
	out="$log/$(echo "$name" | tr / _).log"
	timeout 600 "$t" >"$out" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	echo "$p $f $name (see $out)" >"$out.res"
	if [ "$f" -gt 0 ]; then
		echo "FAIL $name: $f failed"
		sed -n '/FAILED\|ERROR\|Assert\|runtime error\|Sanitizer/p' "$out" | head -n 20
	else
		echo "ok   $name: $p passed"
	fi
}

# fuzz_one TARGET - replay its corpus, then a short bounded fuzz run from
# it; leaves "passed failed" in $out.res
fuzz_one() {
	f=$1
	n=${f##*/fuzz_}
	c=tests/fuzz/corpus/$n
	out="$log/fuzz_$n.log"
	if [ ! -d "$c" ]; then
		echo "0 1 fuzz_$n: no corpus at $c" >"$out.res"
		echo "FAIL fuzz_$n: no corpus"
		return
	fi
	if timeout 300 "$f" -runs=0 "$c" >"$out" 2>&1 &&
	   mkdir -p "$log/corpus_$n" &&
	   timeout 300 "$f" -max_total_time=${FUZZ_SMOKE_SECONDS:-5} -rss_limit_mb=2048 \
		-timeout=5 -artifact_prefix="$log/" "$log/corpus_$n" "$c" >>"$out" 2>&1; then
		echo "1 0 fuzz_$n" >"$out.res"
		echo "ok   fuzz_$n: corpus of $(ls "$c" | wc -l) + ${FUZZ_SMOKE_SECONDS:-5}s"
	else
		echo "0 1 fuzz_$n (see $out)" >"$out.res"
		echo "FAIL fuzz_$n"
		grep -E 'ERROR|SUMMARY|crash-|timeout-' "$out" | head -n 10
	fi
}

# in_parallel CMD ARG... - CMD on each ARG, JOBS (default: the cores) at a
# time; the *.res files they leave are added up afterwards (tally)
in_parallel() {
	cmd=$1; shift
	jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
	started=0
	rm -f "$log"/.done.*
	for a in "$@"; do
		while [ $((started - $(ls "$log" -a | grep -c '^\.done\.'))) -ge "$jobs" ]; do
			sleep 0.05
		done
		started=$((started + 1))
		( "$cmd" "$a"; : >"$log/.done.$started" ) &
	done
	wait
	rm -f "$log"/.done.*
}

# tally - add up the *.res files: "passed failed what"
tally() {
	for r in "$log"/*.res; do
		[ -f "$r" ] || continue
		read -r p f what <"$r"
		passed=$((passed + p))
		if [ "$f" -gt 0 ]; then note_fail "$f" "$what"; fi
		rm -f "$r"
	done
}

# run_integration - every build's integration files, the builds' lanes
# side by side (tests/run_integration.py says which files may overlap)
run_integration() {
	python3 tests/run_integration.py "$log" "$@" | tee "$log/integration.txt" |
	    grep --line-buffered -v '^RESULT '
	set -- $(sed -n 's/^RESULT \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$log/integration.txt")
	if [ $# -ne 2 ]; then
		note_fail 1 "integration runner (see $log/integration.txt)"
		return
	fi
	passed=$((passed + $1))
	if [ "$2" -gt 0 ]; then
		failed=$((failed + $2))
		failures="$failures
$(sed -n 's/^FAILURE /  /p' "$log/integration.txt")"
	fi
}

# the unit binaries of every build, then the fuzz targets, each a few at
# a time (most are CPU-bound and independent)
units=""
for b in "$@"; do
	for t in "$b"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.o|*.d) continue ;; esac
		[ -z "$TEST_FILTER" ] || case "$t" in *"$TEST_FILTER"*) ;; *) continue ;; esac
		units="$units $b:$t"
	done
done
unit_pair() { unit_one "${1%%:*}" "${1#*:}"; }
echo "== unit tests ($*)"
in_parallel unit_pair $units
tally
if [ $unit_only -eq 0 ]; then
	echo "== lint"
	if make -s lint >"$log/lint.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   lint: the Raft core calls no clock or random source"
	else
		note_fail 1 "lint (see $log/lint.log)"
		echo "FAIL lint"
		cat "$log/lint.log"
	fi
	echo "== fuzz corpora"
	fuzzers=""
	for f in build-fuzz/tests/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		case "$f" in *.o|*.d) continue ;; esac
		[ -z "$TEST_FILTER" ] || case "$f" in *"$TEST_FILTER"*) ;; *) continue ;; esac
		fuzzers="$fuzzers $f"
	done
	in_parallel fuzz_one $fuzzers
	tally
	echo "== integration tests ($*)"
	t0=$(date +%s)
	run_integration "$@"
	echo "   (integration: $(($(date +%s) - t0))s)"
fi
if [ $failed -gt 0 ]; then
	echo "failures:$failures"
fi
echo "logs in $log"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
