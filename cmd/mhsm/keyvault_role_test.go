package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/testserver"
)

// cliRun runs the mhsm command line and returns stdout, failing the test
// on error.
func cliRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := Run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("mhsm %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// TestKeyvaultRoleAndKeyCLI drives the local RBAC and key commands as az
// users would: names resolved through the directory, role by name, and
// access review.
func TestKeyvaultRoleAndKeyCLI(t *testing.T) {
	s := testserver.Start(t, nil)
	dir := t.TempDir()
	t.Setenv("MHSM_CONFIG_DIR", filepath.Join(dir, "config"))
	t.Setenv("MHSM_CONNECT", s.Addr)
	cliRun(t, "login", "--dev-json", filepath.Join(s.Config().DataDir, "dev.json"))
	upn := "carol@" + s.Config().Domain
	cliRun(t, "ad", "user", "create", "--user-principal-name", upn, "--display-name", "Carol", "--password", "Correct-Horse-Battery-9")
	cliRun(t, "ad", "group", "create", "--display-name", "Contoso App Auditors", "--mail-nickname", "auditors")
	cliRun(t, "ad", "group", "member", "add", "--group", "Contoso App Auditors", "--member-id",
		strings.TrimSpace(cliRun(t, "ad", "user", "show", "--id", upn, "--query", "id", "-o", "tsv")))

	hsm := []string{"--hsm-name", "dev"}
	kv := func(args ...string) string {
		return cliRun(t, append(append([]string{"keyvault"}, args...), hsm...)...)
	}
	kv("key", "create", "--name", "payments", "--kty", "EC-HSM", "--curve", "P-256")
	kv("role", "assignment", "create", "--assignee", "Contoso App Auditors", "--role", "Managed HSM Crypto Auditor", "--scope", "/")
	kv("role", "assignment", "create", "--assignee", upn, "--role", "Managed HSM Crypto User", "--scope", "/keys/payments")

	var list []map[string]string
	if err := json.Unmarshal([]byte(kv("role", "assignment", "list", "--scope", "/keys/payments")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["roleDefinitionName"] != "Managed HSM Crypto User" || list[0]["principalName"] != upn ||
		list[0]["principalType"] != "User" || list[0]["scope"] != "/keys/payments" {
		t.Fatalf("assignments at /keys/payments: %v", list)
	}
	var check struct {
		Allowed   bool
		GrantedBy struct{ RoleName, Scope string }
	}
	if err := json.Unmarshal([]byte(kv("role", "check", "--assignee", upn, "--action", "sign", "--scope", "/keys/payments")), &check); err != nil {
		t.Fatal(err)
	}
	if !check.Allowed || check.GrantedBy.RoleName != "Managed HSM Crypto User" || check.GrantedBy.Scope != "/keys/payments" {
		t.Fatalf("check sign: %+v", check)
	}
	if err := json.Unmarshal([]byte(kv("role", "check", "--assignee", upn, "--action", "sign", "--scope", "/keys/other")), &check); err != nil || check.Allowed {
		t.Fatalf("check sign on another key: %+v %v", check, err)
	}
	// Carol reads keys through her group: who-can expands it.
	whoCanRead := kv("role", "who-can", "--action", "keys/read/action", "--scope", "/keys/payments", "--query", "[?via!=null].principalId", "-o", "tsv")
	carol := strings.TrimSpace(cliRun(t, "ad", "user", "show", "--id", upn, "--query", "id", "-o", "tsv"))
	if !strings.Contains(whoCanRead, carol) {
		t.Fatalf("who-can read does not list carol (via her group): %q", whoCanRead)
	}
	// A custom role, then deletion by filter.
	kv("role", "definition", "create", "--role-definition", `{"roleName":"Signer","description":"sign only","dataActions":["Microsoft.KeyVault/managedHsm/keys/sign/action"]}`)
	if got := kv("role", "definition", "show", "--role-name", "Signer", "--query", "properties.type", "-o", "tsv"); strings.TrimSpace(got) != "CustomRole" {
		t.Fatalf("custom role type %q", got)
	}
	kv("role", "assignment", "delete", "--assignee", upn, "--role", "Managed HSM Crypto User", "--scope", "/keys/payments")
	if got := kv("role", "assignment", "list", "--scope", "/keys/payments", "--query", "length(@)", "-o", "tsv"); strings.TrimSpace(got) != "0" {
		t.Fatalf("after delete: %q assignments", got)
	}
	kv("role", "definition", "delete", "--role-name", "Signer")

	// Key commands: sign and verify round trip, list, delete, recover.
	digest := sha256.Sum256([]byte("hello"))
	d64 := base64.StdEncoding.EncodeToString(digest[:])
	sig := strings.TrimSpace(kv("key", "sign", "--name", "payments", "--algorithm", "ES256", "--digest", d64, "--query", "signature", "-o", "tsv"))
	if v := kv("key", "verify", "--name", "payments", "--algorithm", "ES256", "--digest", d64, "--signature", sig, "--query", "isValid", "-o", "tsv"); strings.TrimSpace(v) != "True" { // tsv prints booleans as az does
		t.Fatalf("verify: %q", v)
	}
	if n := kv("key", "list", "--query", "length(@)", "-o", "tsv"); strings.TrimSpace(n) != "1" {
		t.Fatalf("key list: %q", n)
	}
	kv("key", "delete", "--name", "payments")
	if n := kv("key", "list-deleted", "--query", "length(@)", "-o", "tsv"); strings.TrimSpace(n) != "1" {
		t.Fatalf("list-deleted: %q", n)
	}
	kv("key", "recover", "--name", "payments")
	if kty := kv("key", "show", "--name", "payments", "--query", "key.kty", "-o", "tsv"); strings.TrimSpace(kty) != "EC-HSM" {
		t.Fatalf("show after recover: %q", kty)
	}
}
