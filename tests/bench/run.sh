#!/bin/sh
# run.sh BUILDDIR - run every benchmark; each prints "name value unit"
# lines.  BENCH_SECONDS sets the time per point (default 3).
b=${1:-build}
for x in "$b"/tests/bench/bench_*; do
	[ -x "$x" ] || continue
	case "$x" in *.o|*.d) continue ;; esac
	echo "== ${x##*/}"
	"$x" "${BENCH_SECONDS:-3}" || exit 1
done
for x in tests/bench/bench_*.py; do
	[ -f "$x" ] || continue
	echo "== ${x##*/}"
	CAIRN_BUILD="$(pwd)/$b" python3 "$x" || exit 1
done
