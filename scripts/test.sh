#!/usr/bin/env bash
# The whole test suite: formatting, vet, and every Go test with the race
# detector. It installs what the tests need first. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain: $(go version)"
if ! command -v jq >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq jq >/dev/null) || echo "warning: could not install jq (only scripts use it)"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 30m ./... 2>&1 | tee /tmp/mhsm-test.log
