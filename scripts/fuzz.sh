#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a given time each and writes
# a summary. Targets are discovered with `go test -list '^Fuzz'` in every
# package that has a Fuzz function. A target that fails leaves its
# crasher in <package>/testdata/fuzz/<Target>/, where the normal test run
# replays it from then on: fix the bug and keep the file.
#
# usage: scripts/fuzz.sh [duration]       (default 30s per target)
# env:   OUT=dir      where logs and fuzz.tsv go (default build/reliability)
#        PROMOTE=n    copy up to n small inputs the fuzzer found interesting
#                     into testdata/fuzz as seeds (default 0)
#        ONLY=regexp  run only targets whose "package/Target" matches
set -euo pipefail
cd "$(dirname "$0")/.."

dur=${1:-30s}
out=${OUT:-build/reliability}
promote=${PROMOTE:-0}
mkdir -p "$out"
summary=$out/fuzz.tsv
printf 'package\ttarget\tfuzztime\tseconds\texecs\tnew_inputs\tresult\n' >"$summary"
cache=$(go env GOCACHE)/fuzz
module=$(go list -m)
failed=0

pkgs=$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
for dir in $pkgs; do
  pkg=$module/${dir#./}
  for target in $(go test -list '^Fuzz' "$dir" | grep '^Fuzz' || true); do
    if [ -n "${ONLY:-}" ] && ! [[ "${dir#./}/$target" =~ $ONLY ]]; then
      continue
    fi
    log=$out/fuzz-$(echo "${dir#./}" | tr / -)-$target.log
    echo "== $pkg $target ($dur)"
    start=$(date +%s)
    if go test "$dir" -run '^$' -fuzz "^$target\$" -fuzztime "$dur" -fuzzminimizetime 10s >"$log" 2>&1; then
      result=ok
    else
      result=FAIL
      failed=1
      grep -E 'Failing input written|panic:|--- FAIL' "$log" | head -5 || true
    fi
    secs=$(($(date +%s) - start))
    execs=$( (grep -o 'execs: [0-9]*' "$log" || true) | tail -1 | awk '{print $2}')
    newin=$( (grep -o 'new interesting: [0-9]*' "$log" || true) | tail -1 | awk '{print $3}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${dir#./}" "$target" "$dur" "$secs" "${execs:-0}" "${newin:-0}" "$result" >>"$summary"
    if [ "$promote" -gt 0 ] && [ -d "$cache/$pkg/$target" ]; then
      mkdir -p "$dir/testdata/fuzz/$target"
      find "$cache/$pkg/$target" -type f -size -4k | sort | head -n "$promote" |
        while read -r f; do [ -e "$dir/testdata/fuzz/$target/${f##*/}" ] || cp "$f" "$dir/testdata/fuzz/$target/"; done
    fi
  done
done

echo
column -t -s $'\t' "$summary"
exit $failed
