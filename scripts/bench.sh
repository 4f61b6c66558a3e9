#!/bin/sh
# bench.sh runs writ's comparison benchmarks (internal/bench) several times,
# summarises them with benchstat (medians, with the floor as the base
# column), and redraws the verification-cost chart.
#
#   scripts/bench.sh                 # COUNT=10 BENCHTIME=1s
#   COUNT=6 BENCHTIME=0.5s BENCH=Verify scripts/bench.sh
#
# Results go to docs/bench/: raw.txt (go test output), benchstat.txt, and
# docs/verify-cost.svg. On a shared machine, compare medians, never one run.
set -eu
cd "$(dirname "$0")/.."

count=${COUNT:-10}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-.}
out=docs/bench
mkdir -p "$out"

{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) count=$count benchtime=$benchtime"
	echo "# nproc: $(nproc)"
	echo "# $(go version)"
} >"$out/raw.txt"
# One pass per count rather than -count: go test repeats each benchmark
# back to back, so load from other processes would fall on one
# implementation; interleaved passes spread it over all of them.
go test -c -o "$out/bench.test" ./internal/bench
i=0
while [ "$i" -lt "$count" ]; do
	"$out/bench.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime" | tee -a "$out/raw.txt"
	i=$((i + 1))
done
rm -f "$out/bench.test"

# One table per benchmark and algorithm, one column per implementation,
# each compared with the first column: the floor.
go run golang.org/x/perf/cmd/benchstat@latest -row .name,/alg -col /impl "$out/raw.txt" >"$out/benchstat.txt"
cat "$out/benchstat.txt"

go run scripts/chart.go -in "$out/raw.txt" -out docs/verify-cost.svg -table "$out/table.md"
