#!/usr/bin/env bash
# Replays Microsoft's tutorial "Secure access to your managed HSMs" on mhsm,
# step by step, with the mhsm CLI where the tutorial uses az. See README.md.
#
#   examples/contoso/run.sh            # builds mhsm, starts a fresh dev server, runs, cleans up
#
# Environment (all optional):
#   MHSM_BIN=/path/to/mhsm             use this binary instead of building one
#   CONTOSO_DEV_JSON=…/dev.json        use a running dev-mode server instead of starting one; then
#   CONTOSO_CONNECT=127.0.0.1:8443     …its HTTPS address,
#   CONTOSO_MSI=127.0.0.1:8080         …its --msi-addr,
#   CONTOSO_STORAGE_ROOT=…/storage     …and its --audit-storage-root (where logs and backups land)
#   CONTOSO_KEEP=1                     keep the work directory (printed at the end)
#
# Every attempt prints one line:
#   [ok]       <id>  <ALLOWED|DENIED> (expected <ALLOWED|DENIED>)  <actor>: <what>
#   [MISMATCH] …     when the outcome differs from the expected one
# and the script exits 1 if any line is a MISMATCH (test/contoso asserts the same table).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/contoso.XXXXXX")
SERVER_PID=""
FAILED=0

cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	if [ "${CONTOSO_KEEP:-}" = 1 ]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
die() { echo "FATAL: $*" >&2; exit 2; }

# as ACTOR CMD…: runs mhsm as ACTOR (each actor has its own profile directory).
as() {
	local who=$1; shift
	MHSM_CONFIG_DIR="$WORK/profiles/$who" "$MHSM" "$@"
}

# step ACTOR CMD…: a setup step; prints the command and stops the script on failure.
step() {
	local who=$1; shift
	printf '  %-9s $ mhsm%s\n' "$who" "$(show_args "$@")"
	if ! as "$who" "$@" >"$WORK/out" 2>"$WORK/err"; then
		cat "$WORK/err" >&2
		die "setup step failed: mhsm $*"
	fi
	cat "$WORK/out"
}

# show_args ARG…: the arguments as a shell would need them typed (passwords masked).
show_args() {
	local a prev=""
	for a in "$@"; do
		if [ "$prev" = -p ]; then
			a="…"
		elif [[ "$a" =~ [^A-Za-z0-9_./:@=,-] ]]; then
			a="'$a'"
		fi
		printf ' %s' "$a"
		prev=$a
	done
}

# attempt ID EXPECTED ACTOR WHAT CMD…: one access attempt; its outcome is
# ALLOWED (exit 0), DENIED (the server answered 403) or ERROR (anything
# else), compared with EXPECTED.
attempt() {
	local id=$1 want=$2 who=$3 what=$4 got mark
	shift 4
	if as "$who" "$@" >"$WORK/out" 2>"$WORK/err"; then
		got=ALLOWED
	elif grep -qE '403|AccessDenied|AuthorizationFailed|Forbidden' "$WORK/err"; then
		got=DENIED
	else
		got=ERROR
	fi
	mark="[ok]      "
	if [ "$got" != "$want" ]; then
		mark="[MISMATCH]"
		FAILED=1
	fi
	printf '%s %-26s %-7s (expected %-7s)  %s: %s\n' "$mark" "$id" "$got" "$want" "$who" "$what"
	if [ "$got" = ERROR ] || [ "$mark" = "[MISMATCH]" ]; then
		sed 's/^/             /' "$WORK/err"
	fi
	return 0
}

# check ID WHAT CONDITION-RESULT: a fact the story depends on (not an access decision).
check() {
	local id=$1 what=$2 ok=$3
	if [ "$ok" = true ]; then
		printf '[ok]       %-26s %s\n' "$id" "$what"
	else
		printf '[MISMATCH] %-26s %s\n' "$id" "$what"
		FAILED=1
	fi
}

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

# ---------------------------------------------------------------------------
say "Build and start"
if [ -n "${MHSM_BIN:-}" ]; then
	MHSM=$MHSM_BIN
else
	MHSM=$WORK/mhsm
	(cd "$ROOT" && go build -o "$MHSM" ./cmd/mhsm) || die "go build failed"
fi
if [ -n "${CONTOSO_DEV_JSON:-}" ]; then
	DEV_JSON=$CONTOSO_DEV_JSON
	CONNECT=${CONTOSO_CONNECT:?CONTOSO_CONNECT: host:port of the server}
	MSI=${CONTOSO_MSI:?CONTOSO_MSI: --msi-addr of the server}
	STORAGE=${CONTOSO_STORAGE_ROOT:?CONTOSO_STORAGE_ROOT: --audit-storage-root of the server}
	echo "using the server of $DEV_JSON at $CONNECT"
else
	PORT=$(free_port) MSI=127.0.0.1:$(free_port)
	CONNECT=127.0.0.1:$PORT DEV_JSON=$WORK/data/dev.json STORAGE=$WORK/data/storage
	"$MHSM" server --dev --data-dir "$WORK/data" --addr "$CONNECT" --msi-addr "$MSI" --ops-addr "" \
		--audit-checkpoint-interval 1s >"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 300); do
		[ -s "$DEV_JSON" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "server exited"; }
		sleep 0.1
	done
	[ -s "$DEV_JSON" ] || die "server not ready after 30s"
	echo "mhsm server --dev on $CONNECT (data dir $WORK/data, managed identity endpoint $MSI)"
fi
# No /etc/hosts edits: the CLI dials this address for every name and trusts the server's CA.
export MHSM_CONNECT=$CONNECT MHSM_CA_FILE
MHSM_CA_FILE=$(jq -r .caFile "$DEV_JSON")
AUTHORITY=$(jq -r .authorityHost "$DEV_JSON" | sed 's,/$,,')
export MHSM_AUTHORITY=$AUTHORITY
# The subscription the management commands work in (az account set --subscription …).
MHSM_SUBSCRIPTION=$(jq -r .subscriptionId "$DEV_JSON")
export MHSM_SUBSCRIPTION
DOMAIN=$(echo "$AUTHORITY" | sed -E 's,^https://login\.,,; s,:[0-9]+$,,')
PASSWORD="Contoso-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')-9"

# ---------------------------------------------------------------------------
say "Subscription admin: directory, resource group, management roles"
# The admin is the dev principal, Owner of the dev subscription and tenant administrator.
step admin login --dev-json "$DEV_JSON" -o none
for pair in "alice:Contoso Security Team" "dave:Contoso App Devs" "erin:Contoso App Auditors"; do
	user=${pair%%:*} group=${pair#*:}
	step admin ad group create --display-name "$group" --mail-nickname "${group// /}" -o none
	oid=$(as admin ad user create --user-principal-name "$user@$DOMAIN" --display-name "$user" \
		--password "$PASSWORD" --query id -o tsv) || die "create user $user"
	printf -v "OID_$user" %s "$oid"
	echo "  admin     $ mhsm ad user create --user-principal-name $user@$DOMAIN --display-name $user --password …   → $oid"
	step admin ad group member add -g "$group" --member-id "$oid" -o none
done
step admin group create -n ContosoAppRG -l local -o none
RG=$(as admin group show -n ContosoAppRG --query id -o tsv)
TEAM=$(as admin ad group show -g 'Contoso Security Team' --query id -o tsv)
# The tutorial's first command: Managed HSM Contributor lets the security team create HSMs
# (here in the team's resource group, as the tutorial's text says).
step admin role assignment create --assignee-object-id "$TEAM" --assignee-principal-type Group \
	--role "Managed HSM Contributor" --scope "$RG" -o none
# Not in the tutorial's commands, but needed: naming contosologstorage as the log destination is
# a write on that storage account (Microsoft.Storage/storageAccounts/write), which the
# subscription admin grants the security team with Storage Account Contributor on the group.
step admin role assignment create --assignee-object-id "$TEAM" --assignee-principal-type Group \
	--role "Storage Account Contributor" --scope "$RG" -o none
# The application's VM and the storage account have managed identities (az vm/storage
# account --assign-identity); mhsm makes them with `mhsm identity create`.
APP_HEADER=$(as admin identity create -n contoso-app-vm --query identityHeader -o tsv) || die "identity"
echo "  admin     $ mhsm identity create -n contoso-app-vm   (the VM's managed identity)"

# ---------------------------------------------------------------------------
say "Security team: create ContosoMHSM and activate it"
step alice login -u "alice@$DOMAIN" -p "$PASSWORD" -o none
step alice keyvault create --hsm-name ContosoMHSM -g ContosoAppRG -l local --retention-days 7 \
	--administrators "$OID_alice" -o none
mkdir -p "$WORK/sd"
for i in 0 1 2; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Contoso security officer $i" \
		-keyout "$WORK/sd/officer$i.key" -out "$WORK/sd/officer$i.cer" 2>/dev/null || die openssl
done
echo "  (3 officer certificates made with openssl req -x509 -newkey rsa:2048)"
step alice keyvault security-domain download --hsm-name ContosoMHSM \
	--sd-wrapping-keys "$WORK/sd/officer0.cer" "$WORK/sd/officer1.cer" "$WORK/sd/officer2.cer" \
	--sd-quorum 2 --security-domain-file "$WORK/sd/ContosoMHSM-SD.json"
check sd-file "the security domain file was written (keep it offline with the officers' keys)" \
	"$([ -s "$WORK/sd/ContosoMHSM-SD.json" ] && echo true)"
# The tutorial's second command: the whole team becomes Administrator of the HSM.
step alice keyvault role assignment create --hsm-name ContosoMHSM \
	--assignee "$(as alice ad group show -g 'Contoso Security Team' --query 'id' -o tsv)" \
	--scope / --role "Managed HSM Administrator" -o none

say "Security team: logging to contosologstorage"
hsmresource=$(as alice keyvault show --hsm-name ContosoMHSM --query id -o tsv)
# az storage account show --name contosologstorage --query id: mhsm has no storage service;
# a storage account is named by its id in the subscription (its logs land under the server's
# --audit-storage-root/contosologstorage).
storageresource=$RG/providers/Microsoft.Storage/storageAccounts/contosologstorage
step alice monitor diagnostic-settings create --name MHSM-Diagnostics --resource "$hsmresource" \
	--logs '[{"category": "AuditEvent","enabled": true}]' --storage-account "$storageresource" -o none

say "Security team: data-plane roles"
AUDITORS=$(as alice ad group show -g 'Contoso App Auditors' --query 'id' -o tsv)
step alice keyvault role assignment create --hsm-name ContosoMHSM \
	--assignee "$AUDITORS" \
	--scope / --role "Managed HSM Crypto Auditor" -o none
# DEVIATION FROM THE TUTORIAL: its command gives the VM's identity "Managed HSM Crypto
# Auditor", while its comment, its role table and the application (which signs) need
# "Managed HSM Crypto User". Crypto Auditor only reads: the application could not sign.
APP_OID=$(as admin identity show -n contoso-app-vm --query principalId -o tsv)
echo "  (the tutorial's command assigns Crypto Auditor here, a mistake: the application signs, so it needs Crypto User)"
step alice keyvault role assignment create --hsm-name ContosoMHSM \
	--assignee "$APP_OID" \
	--scope / --role "Managed HSM Crypto User" -o none
storage_account_principal=$(as admin identity show -n contosologstorage --query principalId -o tsv 2>/dev/null)
# (if no identity exists), then assign a new one
if [ -z "$storage_account_principal" ]; then
	STORAGE_HEADER=$(as admin identity create -n contosologstorage --query identityHeader -o tsv) || die identity
	storage_account_principal=$(as admin identity show -n contosologstorage --query principalId -o tsv)
	echo "  admin     $ mhsm identity create -n contosologstorage   (the storage account's identity)"
fi
step alice keyvault role assignment create --hsm-name ContosoMHSM --role "Managed HSM Crypto Service Encryption User" \
	--assignee "$storage_account_principal" -o none
# NOT IN THE TUTORIAL: Managed HSM Administrator holds no key rights, yet the security team
# "generates keys" and "rolls them periodically". A custom role gives it key management
# without key use (no sign, encrypt, wrap…), so the team still cannot use the keys it makes.
cat >"$WORK/key-officer.json" <<'JSON'
{
  "roleName": "Contoso Key Officer", "description": "Create, import, rotate, back up and delete keys; never use them",
  "dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/write/action",
    "Microsoft.KeyVault/managedHsm/keys/create", "Microsoft.KeyVault/managedHsm/keys/import/action",
    "Microsoft.KeyVault/managedHsm/keys/rotate/action", "Microsoft.KeyVault/managedHsm/keys/delete",
    "Microsoft.KeyVault/managedHsm/keys/backup/action", "Microsoft.KeyVault/managedHsm/keys/restore/action",
    "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action", "Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action"]}
JSON
step alice keyvault role definition create --hsm-name ContosoMHSM --role-definition "@$WORK/key-officer.json" -o none
step alice keyvault role assignment create --hsm-name ContosoMHSM --assignee "$TEAM" --scope /keys --role "Contoso Key Officer" -o none

say "Security team: keys with rotation policies"
EXPIRES=$(date -u -d '+365 days' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+365d +%Y-%m-%dT%H:%M:%SZ)
step alice keyvault key create --hsm-name ContosoMHSM --name contoso-app-signing --kty RSA-HSM --size 2048 \
	--ops sign verify --expires "$EXPIRES" -o none
step alice keyvault key create --hsm-name ContosoMHSM --name contosologstorage-cmk --kty RSA-HSM --size 2048 \
	--ops wrapKey unwrapKey --expires "$EXPIRES" -o none
POLICY='{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P1Y"}}'
for k in contoso-app-signing contosologstorage-cmk; do
	step alice keyvault key rotation-policy update --hsm-name ContosoMHSM -n "$k" --value "$POLICY" -o none
done
# The security team hands the developers the key's URI, and nothing else.
KEY_URI=$(as alice keyvault key show --hsm-name ContosoMHSM --name contoso-app-signing --query key.kid -o tsv)
echo "$KEY_URI" >"$WORK/handoff-key-uri.txt"
echo "  handed to the developers: $KEY_URI"

# ---------------------------------------------------------------------------
say "Each team acts"
step dave login -u "dave@$DOMAIN" -p "$PASSWORD" -o none
step erin login -u "erin@$DOMAIN" -p "$PASSWORD" -o none
# The application runs as the VM's managed identity: it gets tokens from the managed identity
# endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER, as on Azure App Service), like
# azidentity.ManagedIdentityCredential does.
IDENTITY_ENDPOINT=http://$MSI/msi/token IDENTITY_HEADER=$APP_HEADER step app login --identity -o none
if [ -z "${STORAGE_HEADER:-}" ]; then
	STORAGE_HEADER=$(as admin identity reset-header -n contosologstorage --query identityHeader -o tsv) || die reset-header
fi
IDENTITY_ENDPOINT=http://$MSI/msi/token IDENTITY_HEADER=$STORAGE_HEADER step storage login --identity -o none

DIGEST=$(printf 'order 1' | openssl dgst -sha256 -binary | base64)
# The developers configured the application with the URI they were handed: HSM and key name.
uri=${KEY_URI#https://}
HSM=${uri%%.*}
KEY=$(echo "$uri" | cut -d/ -f3)

echo
echo "-- the application (managed identity contoso-app-vm, Crypto User)"
attempt app-sign ALLOWED app "sign a SHA-256 digest with the key it was configured with" \
	keyvault key sign --hsm-name "$HSM" -n "$KEY" -a RS256 --digest "$DIGEST" -o json
SIG=$(jq -r .signature "$WORK/out" 2>/dev/null)
SIG_KID=$(jq -r .kid "$WORK/out" 2>/dev/null)
attempt app-verify ALLOWED app "verify the signature" \
	keyvault key verify --hsm-name "$HSM" -n "$KEY" -a RS256 --digest "$DIGEST" --signature "$SIG" -o json
check app-verify-true "the signature verifies" "$(jq -r .isValid "$WORK/out" 2>/dev/null)"
attempt app-purge DENIED app "purge its key (Crypto User cannot purge)" \
	keyvault key purge --hsm-name "$HSM" -n "$KEY"
attempt app-grant DENIED app "grant itself Managed HSM Administrator" \
	keyvault role assignment create --hsm-name "$HSM" --assignee-object-id "$APP_OID" \
	--role "Managed HSM Administrator" --scope /

echo
echo "-- the storage account (managed identity contosologstorage, Crypto Service Encryption User)"
CEK=$(head -c 32 /dev/urandom | base64)
attempt storage-wrap ALLOWED storage "wrap its data encryption key with contosologstorage-cmk" \
	keyvault key wrapkey --hsm-name ContosoMHSM -n contosologstorage-cmk -a RSA-OAEP-256 --value "$CEK" -o json
WRAPPED=$(jq -r '.result // .value' "$WORK/out" 2>/dev/null)
attempt storage-unwrap ALLOWED storage "unwrap it" \
	keyvault key unwrapkey --hsm-name ContosoMHSM -n contosologstorage-cmk -a RSA-OAEP-256 --value "$WRAPPED" -o json
check storage-unwrap-same "the unwrapped key is the one wrapped" \
	"$([ "$(jq -r '.result // .value' "$WORK/out" 2>/dev/null | base64 -d 2>/dev/null | base64)" = "$CEK" ] && echo true)"
attempt storage-sign DENIED storage "sign with the application's key" \
	keyvault key sign --hsm-name ContosoMHSM -n contoso-app-signing -a RS256 --digest "$DIGEST"

echo
echo "-- the developers (Contoso App Devs: no data-plane role)"
echo "   the key URI they were handed: $(cat "$WORK/handoff-key-uri.txt")"
check dev-key-uri "the developers hold the key URI (all the application needs)" \
	"$(grep -qE '^https://contosomhsm\.managedhsm\..+/keys/contoso-app-signing/[0-9a-f]{32}$' "$WORK/handoff-key-uri.txt" && echo true)"
attempt dev-key-show DENIED dave "read the key" keyvault key show --hsm-name ContosoMHSM -n contoso-app-signing
attempt dev-key-list DENIED dave "list keys" keyvault key list --hsm-name ContosoMHSM
attempt dev-sign DENIED dave "sign with the key" \
	keyvault key sign --hsm-name ContosoMHSM -n contoso-app-signing -a RS256 --digest "$DIGEST"
attempt dev-hsm-show DENIED dave "read the HSM resource (management plane)" keyvault show --hsm-name ContosoMHSM -g ContosoAppRG

echo
echo "-- the auditors (Contoso App Auditors: Crypto Auditor; read access to contosologstorage)"
attempt audit-expiring ALLOWED erin "list keys with their expiry dates" \
	keyvault key list-expiring --hsm-name ContosoMHSM --within 400d
sed 's/^/   /' "$WORK/out"
attempt audit-roles ALLOWED erin "list role assignments" \
	keyvault role assignment list --hsm-name ContosoMHSM \
	--query "sort_by([], &principalName)[].{Principal:principalName, Type:principalType, Role:roleDefinitionName, Scope:scope}" -o table
sed 's/^/   /' "$WORK/out"
attempt audit-roles-keys ALLOWED erin "list role assignments at /keys (all keys)" \
	keyvault role assignment list --hsm-name ContosoMHSM --scope /keys \
	--query "sort_by([], &principalName)[].{Principal:principalName, Type:principalType, Role:roleDefinitionName, Scope:scope}" -o table
sed 's/^/   /' "$WORK/out"
attempt audit-who-can ALLOWED erin "who can sign with contoso-app-signing" \
	keyvault role who-can --hsm-name ContosoMHSM --action sign --scope /keys/contoso-app-signing -o json
check audit-who-can-app "only the application's identity can sign" \
	"$(jq -e --arg o "$APP_OID" '[.. | objects | select(has("principalId")) | .principalId] | unique == [$o]' "$WORK/out" >/dev/null && echo true)"
attempt audit-sign DENIED erin "sign" keyvault key sign --hsm-name ContosoMHSM -n contoso-app-signing -a RS256 --digest "$DIGEST"
attempt audit-export DENIED erin "export the key (key backup)" \
	keyvault key backup --hsm-name ContosoMHSM -n contoso-app-signing -f "$WORK/stolen.blob"
attempt audit-grant DENIED erin "grant the auditors Crypto User" \
	keyvault role assignment create --hsm-name ContosoMHSM --assignee "$OID_erin" --role "Managed HSM Crypto User" --scope /
attempt audit-unassign DENIED erin "remove the application's role" \
	keyvault role assignment delete --hsm-name ContosoMHSM --assignee "$APP_OID" --role "Managed HSM Crypto User" --scope /

echo
echo "-- the security team (Administrator + Contoso Key Officer: manages keys, never uses them)"
attempt team-sign DENIED alice "sign" keyvault key sign --hsm-name ContosoMHSM -n contoso-app-signing -a RS256 --digest "$DIGEST"
attempt team-rotate ALLOWED alice "rotate the signing key" keyvault key rotate --hsm-name ContosoMHSM -n contoso-app-signing -o json
NEW_KID=$(jq -r .key.kid "$WORK/out" 2>/dev/null)
attempt app-sign-rotated ALLOWED app "sign again after the rotation (same configuration)" \
	keyvault key sign --hsm-name "$HSM" -n "$KEY" -a RS256 --digest "$DIGEST" -o json
SIG2=$(jq -r .signature "$WORK/out" 2>/dev/null)
check app-new-version "the signature is made with the new version" \
	"$([ "$(jq -r .kid "$WORK/out" 2>/dev/null)" = "$NEW_KID" ] && [ "$NEW_KID" != "$SIG_KID" ] && echo true)"
attempt app-verify-rotated ALLOWED app "verify the new signature" \
	keyvault key verify --hsm-name "$HSM" -n "$KEY" -a RS256 --digest "$DIGEST" --signature "$SIG2" -o json
check app-verify-rotated-true "it verifies" "$(jq -r .isValid "$WORK/out" 2>/dev/null)"
OLD_VERSION=${SIG_KID##*/}
attempt app-verify-old ALLOWED app "verify the old signature with the old version" \
	keyvault key verify --hsm-name "$HSM" -n "$KEY" --version "$OLD_VERSION" -a RS256 --digest "$DIGEST" --signature "$SIG" -o json
check app-verify-old-true "it still verifies" "$(jq -r .isValid "$WORK/out" 2>/dev/null)"

echo
echo "-- the security team takes a full backup (for disaster recovery)"
# The backup goes to storage account contosobackup, container mhsm-backups; the HSM reaches
# it with its own identity (--use-managed-identity true), as the tutorial's security team
# would. Only the security domain's holders can read it back (docs/backup.md).
attempt team-backup ALLOWED alice "full backup of ContosoMHSM" \
	keyvault backup start --hsm-name ContosoMHSM --storage-account-name contosobackup \
	--blob-container-name mhsm-backups --use-managed-identity true -o json
FOLDER=$(jq -r .folderName "$WORK/out" 2>/dev/null)
echo "   $(jq -r '.status + ": " + .statusDetails' "$WORK/out" 2>/dev/null)"
check team-backup-folder "the backup is in contosobackup/mhsm-backups/$FOLDER" \
	"$([ -n "$FOLDER" ] && [ -s "$STORAGE/contosobackup/mhsm-backups/$FOLDER/manifest.json" ] && echo true)"
attempt audit-backup DENIED erin "take a full backup" \
	keyvault backup start --hsm-name ContosoMHSM --storage-account-name contosobackup \
	--blob-container-name mhsm-backups --use-managed-identity true
attempt app-backup DENIED app "take a full backup" \
	keyvault backup start --hsm-name "$HSM" --storage-account-name contosobackup \
	--blob-container-name mhsm-backups --use-managed-identity true

echo
echo "-- the auditors read the delivered log (contosologstorage)"
LOGS=$STORAGE/contosologstorage
for _ in $(seq 100); do
	grep -rqs '"KeyRotate"' "$LOGS" && break
	sleep 0.1
done
attempt audit-public-key ALLOWED erin "fetch the HSM's audit signing key" audit public-key --hsm-name ContosoMHSM
cp "$WORK/out" "$WORK/contoso-audit.pem"
sleep 1.2 # a checkpoint covers the last records (--audit-checkpoint-interval 1s here)
attempt audit-query ALLOWED erin "query the log: who signed, who was refused" \
	audit query --dir "$LOGS" --hsm-name ContosoMHSM --operation KeySign
sed 's/^/   /' "$WORK/out"
check audit-query-denials "the log shows the refused signatures (403) and the application's" \
	"$(grep -q 403 "$WORK/out" && grep -q "$APP_OID" "$WORK/out" && echo true)"
attempt audit-verify ALLOWED erin "verify the log's hash chain and signed checkpoints" \
	audit verify --dir "$LOGS" --hsm-name ContosoMHSM --public-key "$WORK/contoso-audit.pem" --allow-unverified-tail
sed 's/^/   /' "$WORK/out"

echo
if [ "$FAILED" != 0 ]; then
	echo "FAIL: some outcomes differ from the expected ones (lines marked MISMATCH)"
	exit 1
fi
echo "PASS: every outcome is the expected one"
