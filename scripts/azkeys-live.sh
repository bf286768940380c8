#!/usr/bin/env bash
# azkeys-live.sh: the Azure SDK for Go's own azkeys test suite, in live mode,
# against a fresh mhsm server in Azure-hostnames mode (not part of
# scripts/test.sh: it downloads the module's test dependencies and takes
# minutes).
#
# It downloads the azkeys module of the version in go.mod, copies it to a
# temp dir, starts `mhsm server --dev --azure-hostnames` on 127.0.0.1:443,
# maps login.microsoftonline.com, management.azure.com, graph.microsoft.com
# and dev.managedhsm.azure.net to 127.0.0.1 in /etc/hosts (removed on
# exit), points AZURE_MANAGEDHSM_URL and AZURE_KEYVAULT_URL at the HSM (mhsm
# has no vault; TestListDeletedKeys/MHSM runs alone on a second fresh server
# because its KV half's keys would be counted too) and
# the credential variables at the dev service principal, runs
# `go test` with AZURE_RECORD_MODE=live, and lists every test that was
# skipped or failed with its reason. Needs root (/etc/hosts, port 443).
#
# Usage: scripts/azkeys-live.sh [extra go test flags, e.g. -run TestCreateKey]
# Env: AZKEYS_LIVE_KEEP=1 keeps the work dir; AZKEYS_LIVE_OUT names the
# report file (default /tmp/azkeys-live-report.txt; the full log is
# <report>.log).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "azkeys-live.sh needs root (/etc/hosts, port 443)" >&2; exit 2; }

mod=github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys
ver=$(go list -m -f '{{.Version}}' "$mod")
src=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "could not download $mod@$ver" >&2; exit 1; }

work=$(mktemp -d /tmp/azkeys-live.XXXXXX)
marker="# mhsm-azkeys-live"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
  # Rewrite in place (/etc/hosts may be a bind mount).
  grep -v -- "$marker" /etc/hosts > "$work/hosts.new" || true
  cat "$work/hosts.new" > /etc/hosts
  [ -n "${AZKEYS_LIVE_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

cp -r "$src" "$work/azkeys"
chmod -R u+w "$work/azkeys"
echo "== $mod@$ver copied to $work/azkeys"

go build -o "$work/mhsm" ./cmd/mhsm
grep -v -- "$marker" /etc/hosts > "$work/hosts.new" || true
cat "$work/hosts.new" > /etc/hosts
for n in login.microsoftonline.com management.azure.com graph.microsoft.com dev.managedhsm.azure.net; do
  echo "127.0.0.1 $n $marker" >> /etc/hosts
done
start_server() { # $1: data dir
  "$work/mhsm" server --dev --azure-hostnames --addr 127.0.0.1:443 --ops-addr "" --data-dir "$1" \
    --throttle-hsm-rate 0 --throttle-principal-rate 0 > "$1.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do [ -s "$1/dev.json" ] && break; sleep 0.1; done
  [ -s "$1/dev.json" ] || { echo "server did not start:" >&2; cat "$1.log" >&2; exit 1; }
}
stop_server() { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
dev() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$data/dev.json"; }

# run_suite: the module's tests in live mode; both URLs name the one HSM
# (mhsm has no vault), with the dev service principal's credentials.
run_suite() {
  (
    cd "$work/azkeys"
    env -u AZURE_SERVICE_DIRECTORY -u SYSTEM_ACCESSTOKEN \
      AZURE_RECORD_MODE=live \
      AZURE_MANAGEDHSM_URL=https://dev.managedhsm.azure.net/ \
      AZURE_KEYVAULT_URL=https://dev.managedhsm.azure.net/ \
      AZURE_CLIENT_ID="$(dev clientId)" AZURE_CLIENT_SECRET="$(dev clientSecret)" AZURE_TENANT_ID="$(dev tenantId)" \
      SSL_CERT_FILE="$(dev caFile)" \
      go test -count=1 -timeout 20m -v "$@" .
  )
}

out=${AZKEYS_LIVE_OUT:-/tmp/azkeys-live-report.txt}
echo "== go test (AZURE_RECORD_MODE=live) against https://dev.managedhsm.azure.net/"
# TestListDeletedKeys counts every deleted key named listdeletedkeys* on its
# server: its KV and MHSM halves would count each other's keys on the one
# HSM, so its MHSM half runs alone against a second fresh server.
set +e
data=$work/data1; start_server "$data"
run_suite -skip '^TestListDeletedKeys$/^MHSM$' "$@" > "$work/test.log" 2>&1
rc=$?
stop_server
data=$work/data2; start_server "$data"
run_suite -run '^TestListDeletedKeys$/^MHSM$' "$@" >> "$work/test.log" 2>&1
rc2=$?
stop_server
[ "$rc" = 0 ] && rc=$rc2
set -e

# Report: every skipped or failed test with the lines that explain it.
awk '
  /^=== RUN/ { name=$3; buf[name]=""; next }
  /^[[:space:]]*--- (SKIP|FAIL):/ { st=$2; sub(":", "", st); n=$3; status[n]=st; order[++k]=n; next }
  /^[[:space:]]*--- PASS:/ { pass++; next }
  { if (name != "") buf[name]=buf[name] $0 "\n" }
  END {
    for (i=1; i<=k; i++) { n=order[i]; if (status[n]=="SKIP") skip++; else fail++ }
    printf "passed: %d, skipped: %d, failed: %d\n\n", pass, skip, fail
    for (i=1; i<=k; i++) {
      n=order[i]; printf "%s %s\n", status[n], n
      m=split(buf[n], lines, "\n"); c=0
      for (j=1; j<=m && c<12; j++) if (lines[j] ~ /[^[:space:]]/ && lines[j] !~ /^=== (PAUSE|CONT)/) { print "    " lines[j]; c++ }
    }
  }' "$work/test.log" > "$out"
grep -E '^(ok|FAIL|PASS)' "$work/test.log" >> "$out" || true
cat "$out"
cp "$work/test.log" "$out.log"
echo "(report: $out; full log: $out.log; go test exit status $rc)"
exit "$rc"
