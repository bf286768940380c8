#!/usr/bin/env bash
# The kill -9 harness at nightly size: builds mhsm, runs it as a child
# process under a write load with a client-side oracle, SIGKILLs it at
# random points and restarts it N times (test/crash TestKillRestart), then
# kills it during N/10 first starts (TestKillDuringFirstStart). It fails on
# any acknowledged write lost, any half-applied write, any bbolt check
# failure, any start that does not come back. Reports go to OUT.
#
# usage: scripts/crash.sh [-cycles N] [-workers N] [-seed S] [-max-load D]
#        (default 200 cycles)
# env:   OUT=dir   where crash.json, first-start.json and crash.log go
#                  (default build/reliability)
set -euo pipefail
cd "$(dirname "$0")/.."

cycles=200
args=()
while [ $# -gt 0 ]; do
  flag=${1#-}
  flag=${flag#-}
  case "$flag" in
    cycles) cycles=$2 ;;
    workers | seed | max-load) args+=("-$flag" "$2") ;;
    *) echo "usage: $0 [-cycles N] [-workers N] [-seed S] [-max-load D]" >&2; exit 2 ;;
  esac
  shift 2
done
out=${OUT:-build/reliability}
mkdir -p "$out"
out=$(cd "$out" && pwd)
first=$((cycles / 10 > 3 ? cycles / 10 : 3))

set +e
go test ./test/crash -count=1 -timeout 0 -v -run 'TestKillRestart|TestKillDuringFirstStart' \
  -args -cycles "$cycles" -first-starts "$first" -report-dir "$out" "${args[@]}" >"$out/crash.log" 2>&1
status=$?
set -e
grep -E 'report:|LOST|UNEXPECTED|HALF|store check|first start|^(--- |ok|FAIL|PASS)' "$out/crash.log" || true
echo "reports: $out/crash.json $out/first-start.json (log: $out/crash.log)"
exit $status
