#!/usr/bin/env bash
# Regenerates docs/reliability.md: runs the bad-input sweep, the kill -9
# harness, every fuzz target and the FIPS key generation benchmark, then
# writes the report from their outputs. The throttling section is filled
# from $OUT/throttle.md (a Markdown fragment the throttling fairness test
# writes) when that file exists.
#
# usage: scripts/reliability.sh [-fuzztime 30s] [-cycles 20] [-skip fuzz,crash,badinput,fips,throttle]
#        (nightly: -fuzztime 1h -cycles 200)
# env:   OUT=dir   intermediate results (default build/reliability)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=30s
cycles=20
skip=""
while [ $# -gt 0 ]; do
  case "${1#-}" in
    fuzztime | -fuzztime) fuzztime=$2 ;;
    cycles | -cycles) cycles=$2 ;;
    skip | -skip) skip=$2 ;;
    *) echo "usage: $0 [-fuzztime D] [-cycles N] [-skip fuzz,crash,badinput,fips,throttle]" >&2; exit 2 ;;
  esac
  shift 2
done
export OUT=${OUT:-build/reliability}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
skipped() { [[ ",$skip," == *",$1,"* ]]; }
failed=0

if ! skipped badinput; then
  echo "== bad-input sweep"
  go test ./test/badinput -count=1 -run TestBadInputSweep -args -report "$OUT/badinput.json" >"$OUT/badinput.log" 2>&1 || failed=1
  tail -1 "$OUT/badinput.log"
fi
if ! skipped throttle; then
  echo "== throttling fairness"
  MHSM_THROTTLE_REPORT="$OUT/throttle.md" go test ./test/throttle -count=1 -run TestNoisyCallerIsThrottledQuietCallerIsNot >"$OUT/throttle.log" 2>&1 || failed=1
  tail -1 "$OUT/throttle.log"
fi
if ! skipped crash; then
  echo "== kill -9 harness ($cycles cycles)"
  scripts/crash.sh -cycles "$cycles" || failed=1
fi
if ! skipped fuzz; then
  echo "== fuzzing ($fuzztime per target)"
  scripts/fuzz.sh "$fuzztime" >"$OUT/fuzz.log" 2>&1 || failed=1
  tail -n +1 "$OUT/fuzz.tsv" | column -t -s $'\t'
fi
if ! skipped fips; then
  echo "== FIPS mode"
  go test ./internal/keys -run '^$' -bench BenchmarkGenerate -benchtime 2s >"$OUT/fips-bench-off.txt" 2>&1 || failed=1
  GODEBUG=fips140=on go test ./internal/keys -run '^$' -bench BenchmarkGenerate -benchtime 2s >"$OUT/fips-bench-on.txt" 2>&1 || failed=1
  if GODEBUG=fips140=on go test ./internal/keys ./internal/token ./internal/hsm ./internal/barrier ./internal/httpapi >"$OUT/fips-tests.log" 2>&1; then
    echo "pass" >"$OUT/fips-tests.result"
  else
    echo "FAIL" >"$OUT/fips-tests.result"
    failed=1
  fi
fi

mkdir -p docs
scripts/reliability-report.sh >docs/reliability.md
echo "wrote docs/reliability.md"
exit $failed
