#!/usr/bin/env bash
# The whole test suite: formatting, vet, and every Go test with the race
# detector. It installs what the tests need first. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain: $(go version)"
echo "== jq, xxd, curl, openssl (the README examples and examples/contoso, run by TestReadmeExamples and TestContosoExample)"
# Installed when missing and running as root; missing afterwards, the
# README test fails (MHSM_REQUIRE_README_TOOLS).
for tool in jq xxd curl openssl; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq "$tool" >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null)) \
      || echo "warning: could not install $tool; TestReadmeExamples will fail"
  fi
done
export MHSM_REQUIRE_README_TOOLS=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== azurite (blob storage emulator for the audit delivery and backup tests)"
# npm-installed into a cache dir outside the tree; started on a free port;
# stopped on exit. Without it TestDeliveryAzurite and TestRoundTripAzurite fail (MHSM_REQUIRE_AZURITE).
export MHSM_REQUIRE_AZURITE=1
azurite_dir="${MHSM_AZURITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mhsm-azurite}"
azurite_bin="$azurite_dir/node_modules/.bin/azurite-blob"
if [ ! -x "$azurite_bin" ]; then
  mkdir -p "$azurite_dir"
  npm install --prefix "$azurite_dir" --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null \
    || echo "warning: npm install azurite failed; TestDeliveryAzurite will fail"
fi
if [ -x "$azurite_bin" ]; then
  azurite_data=$(mktemp -d)
  "$azurite_bin" --blobHost 127.0.0.1 --blobPort 0 --location "$azurite_data" \
    --skipApiVersionCheck --loose --disableTelemetry >"$azurite_data/azurite.log" 2>&1 &
  azurite_pid=$!
  stop_azurite() {
    kill "$azurite_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$azurite_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$azurite_pid" 2>/dev/null || true
    rm -rf "$azurite_data"
  }
  trap stop_azurite EXIT
  for _ in $(seq 1 120); do
    grep -q "listens on" "$azurite_data/azurite.log" 2>/dev/null && break
    sleep 0.5
  done
  azurite_url=$(grep -o 'http://127.0.0.1:[0-9]*' "$azurite_data/azurite.log" | head -1 || true)
  if [ -n "$azurite_url" ]; then
    export MHSM_TEST_AZURITE="$azurite_url/devstoreaccount1"
    echo "azurite at $MHSM_TEST_AZURITE"
  else
    echo "warning: azurite did not start:"; cat "$azurite_data/azurite.log"
  fi
fi

echo "== node (the real Azure JavaScript SDK in test/jsclient)"
# With node and npm present, TestAzureJSSDK must run (it skips only when
# they are missing and MHSM_REQUIRE_NODE is unset).
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  export MHSM_REQUIRE_NODE=1
  echo "node $(node --version), npm $(npm --version)"
else
  echo "warning: node/npm not found; TestAzureJSSDK will skip"
fi

echo "== az (Debian azure-cli, for test/azcli and TestAzureCLIRestoreBlob)"
# Installed when missing and running as root. Where az is present after
# this step the az tests must run (they skip only when az is missing and
# MHSM_REQUIRE_AZ is unset).
if ! command -v az >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq azure-cli >/dev/null 2>&1 \
    || (apt-get update -qq && apt-get install -y -qq azure-cli >/dev/null) \
    || echo "warning: could not install azure-cli"
fi
if command -v az >/dev/null 2>&1; then
  export MHSM_REQUIRE_AZ=1
  echo "az at $(command -v az)"
else
  echo "warning: az not found; TestAzureCLI and TestAzureCLIRestoreBlob will skip"
fi

echo "== chromium (Debian, for the web console tests in test/console)"
# Installed when missing and running as root. Where chromium is present
# after this step the console tests must run (they skip only when it is
# missing and MHSM_REQUIRE_CHROMIUM is unset).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq chromium >/dev/null 2>&1 \
    || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium"
fi
if command -v chromium >/dev/null 2>&1; then
  export MHSM_REQUIRE_CHROMIUM=1
  echo "chromium at $(command -v chromium)"
else
  echo "warning: chromium not found; the console browser tests will skip"
fi

echo "== Python SDK and compatibility suite (Debian python3-azure for test/backup and test/compat; root for /etc/hosts and :443)"
# python3-azure (keys, administration, identity) is installed when missing and
# running as root; where it imports, TestPythonBackupClient and TestPythonSDK
# must run. The compatibility suite needs root; as root it must run
# (MHSM_REQUIRE_COMPAT), and it restores /etc/hosts when done.
if ! /usr/bin/python3 -c "import azure.keyvault.keys, azure.keyvault.administration, azure.identity" 2>/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq python3-azure >/dev/null 2>&1 \
    || (apt-get update -qq && apt-get install -y -qq python3-azure >/dev/null) \
    || echo "warning: could not install python3-azure"
fi
if /usr/bin/python3 -c "import azure.keyvault.keys, azure.keyvault.administration, azure.identity" 2>/dev/null; then
  export MHSM_REQUIRE_PYTHON_AZURE=1
  echo "python3-azure present"
else
  echo "warning: python3-azure not importable; TestPythonBackupClient and TestPythonSDK will skip"
fi
if [ "$(id -u)" = 0 ]; then
  export MHSM_REQUIRE_COMPAT=1
else
  echo "warning: not root; test/compat will skip"
fi

# The Wycheproof vectors (../shared/testdata/wycheproof) must be present:
# without them the keys tests fail instead of skipping. The keys tests write
# how many vectors ran to MHSM_WYCHEPROOF_REPORT, printed after the run.
export MHSM_REQUIRE_WYCHEPROOF=1
export MHSM_WYCHEPROOF_REPORT=$(mktemp "${TMPDIR:-/tmp}/mhsm-wycheproof.XXXXXX")

echo "== go test -race"
# The log of this run goes to a path of its own (several runs may share the
# machine); it is kept after the run and its path printed.
log=$(mktemp "${TMPDIR:-/tmp}/mhsm-test.XXXXXX.log")
echo "log: $log"
set +e
go test -race -count=1 -timeout 30m ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
cat "$MHSM_WYCHEPROOF_REPORT"
rm -f "$MHSM_WYCHEPROOF_REPORT"
echo "packages: $(grep -cE '^ok[[:space:]]' "$log") passed, $(grep -cE '^FAIL[[:space:]]+github.com/' "$log") failed"
exit "$status"
