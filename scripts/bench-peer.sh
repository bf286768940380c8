#!/usr/bin/env bash
# mhsm against its peer, OpenBao Transit, in one run: both driven by the
# same load generator (`mhsm bench`, net/http client with JSON bodies, 16
# keep-alive connections) with the same operations — RSA-2048 PKCS#1 sign
# of a prehashed digest, P-256 sign, AES-256-GCM encrypt of 32 bytes, an
# authenticated read without crypto — alternating round by round.
#
# mhsm runs as its own process with `mhsm server --dev` and its default
# flags (durable audit on). OpenBao runs in dev mode: TLS, in-memory
# storage, no audit device.
#
#   BAO=/path/to/bao scripts/bench-peer.sh     # side by side
#   scripts/bench-peer.sh                      # mhsm alone, against the
#       recorded peer figures scaled by this run's raw Go ceiling
#
# CONNS (16), DURATION (24s per operation and side), ROUNDS (3).
# Not part of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16}
DURATION=${DURATION:-24s}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d)
bao_pid=""
cleanup() {
  [ -n "$bao_pid" ] && kill "$bao_pid" 2>/dev/null && wait "$bao_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/mhsm" ./cmd/mhsm

peer_args=()
if [ -n "${BAO:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  token="bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
  mkdir -p "$work/bao-tls"
  "$BAO" server -dev -dev-tls -dev-tls-cert-dir="$work/bao-tls" -dev-root-token-id="$token" \
    -dev-listen-address="127.0.0.1:$port" >"$work/bao.log" 2>&1 &
  bao_pid=$!
  for _ in $(seq 1 100); do
    [ -f "$work/bao-tls/vault-ca.pem" ] && grep -q "Development mode" "$work/bao.log" 2>/dev/null && break
    sleep 0.2
  done
  [ -f "$work/bao-tls/vault-ca.pem" ] || { echo "OpenBao did not start:"; cat "$work/bao.log"; exit 1; }
  echo "== OpenBao $("$BAO" version | head -1) at https://127.0.0.1:$port (dev, TLS, in memory, no audit device)" >&2
  peer_args=(--peer-url "https://127.0.0.1:$port" --peer-token "$token" --peer-ca "$work/bao-tls/vault-ca.pem")
else
  echo "== no BAO binary given: mhsm alone, against the recorded OpenBao figures scaled by this run's raw ceiling" >&2
fi
echo "== load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$work/mhsm" bench --spawn --peer -c "$CONNS" -d "$DURATION" --rounds "$ROUNDS" "${peer_args[@]}"
