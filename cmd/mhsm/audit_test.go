package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/testserver"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("mhsm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestAuditAndExpiryCLI drives list-expiring and public-key against a
// running server, then verify and query on its audit directory and on the
// delivered copy, and verify again after tampering.
func TestAuditAndExpiryCLI(t *testing.T) {
	s := testserver.Start(t, nil)
	devJSON := filepath.Join(s.Config().DataDir, "dev.json")
	conn := []string{"--dev-json", devJSON, "--connect", s.Addr}
	if err := s.App.AuditDelivery().Configure("dev", "toStorage", "auditstore"); err != nil {
		t.Fatal(err)
	}
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, exp := range map[string]int64{"k-soon": now.Add(10 * 24 * time.Hour).Unix(), "k-later": now.Add(60 * 24 * time.Hour).Unix(), "k-none": 0} {
		body := map[string]any{"kty": "EC-HSM", "crv": "P-256"}
		if exp != 0 {
			body["attributes"] = map[string]any{"exp": exp}
		}
		if st, b, err := s.Call(tok, "POST", s.HSMURL("dev")+"/keys/"+name+"/create?api-version=7.6", body); err != nil || st != 200 {
			t.Fatalf("create %s: %d %s %v", name, st, b, err)
		}
	}

	out := mustCLI(t, append([]string{"keyvault", "key", "list-expiring", "--within", "30d", "--output", "json"}, conn...)...)
	var exp []expiring
	if err := json.Unmarshal([]byte(out), &exp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(exp) != 1 || exp[0].Name != "k-soon" || exp[0].Expired {
		t.Fatalf("list-expiring: %+v", exp)
	}
	if out := mustCLI(t, append([]string{"keyvault", "key", "list-expiring", "--within", "90d"}, conn...)...); !strings.Contains(out, "k-later") || strings.Contains(out, "k-none") {
		t.Fatalf("list-expiring 90d:\n%s", out)
	}
	// Durations are in days (9: ten days less the seconds since creation),
	// and -o/--query work as everywhere.
	if out := mustCLI(t, append([]string{"keyvault", "key", "list-expiring", "--within", "90d", "--query", "[?name=='k-soon'].daysLeft", "-o", "tsv"}, conn...)...); strings.TrimSpace(out) != "9" {
		t.Fatalf("list-expiring daysLeft: %q", out)
	}
	if out := mustCLI(t, append([]string{"keyvault", "key", "list-expiring", "--within", "30d"}, conn...)...); !strings.Contains(out, "DaysLeft") || strings.Contains(out, "h0m0s") {
		t.Fatalf("list-expiring table:\n%s", out)
	}

	pem := mustCLI(t, append([]string{"audit", "public-key", "--hsm-name", "dev"}, conn...)...)
	if _, err := audit.ParsePublicKey([]byte(pem)); err != nil {
		t.Fatalf("public key: %v\n%s", err, pem)
	}
	pemFile := filepath.Join(t.TempDir(), "dev.pem")
	if err := os.WriteFile(pemFile, []byte(pem), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := s.Config().DataDir
	s.Stop() // final checkpoints, final delivery
	auditDir := filepath.Join(dataDir, "audit")
	if local := mustCLI(t, "audit", "public-key", "--dir", auditDir, "--hsm-name", "dev"); local != pem {
		t.Fatal("the local copy of the public key differs from the API's")
	}

	out = mustCLI(t, "audit", "verify", "--dir", auditDir, "--hsm-name", "dev", "--public-key", pemFile)
	if !strings.Contains(out, "dev: OK") || !strings.Contains(out, "(pinned)") {
		t.Fatalf("verify:\n%s", out)
	}
	if out := mustCLI(t, "audit", "verify", "--dir", auditDir); !strings.Contains(out, "_server: OK") {
		t.Fatalf("verify all:\n%s", out)
	}
	delivered := filepath.Join(dataDir, "storage", "auditstore")
	if out := mustCLI(t, "audit", "verify", "--dir", delivered, "--public-key", pemFile); !strings.Contains(out, ": OK") || !strings.Contains(out, "delivered log") {
		t.Fatalf("verify delivered:\n%s", out)
	}

	q := func(args ...string) []string {
		out := mustCLI(t, append([]string{"audit", "query", "--dir", auditDir, "-o", "tsv", "--query", "[].id"}, args...)...)
		return strings.Fields(strings.TrimSpace(out))
	}
	if n := len(q("--hsm-name", "dev", "--operation", "KeyCreate")); n != 3 {
		t.Errorf("KeyCreate records: %d", n)
	}
	if n := len(q("--hsm-name", "dev", "--principal", s.Dev.ClientID, "--result", "Success", "--since", "1h")); n < 5 {
		t.Errorf("records of the dev principal: %d", n)
	}
	if n := len(q("--until", "1h")); n != 0 {
		t.Errorf("records older than an hour: %d", n)
	}
	if n := len(q("--hsm-name", "_server", "--operation", "TokenRequest")); n < 2 {
		t.Errorf("token requests: %d", n)
	}
	if out := mustCLI(t, "audit", "query", "--dir", delivered, "--operation", "KeyCreate"); strings.Count(out, "KeyCreate") != 3 {
		t.Errorf("delivered query:\n%s", out)
	}

	// Tamper with one record: verification fails and says where.
	segs, _ := filepath.Glob(filepath.Join(auditDir, "dev", "*.jsonl"))
	b, _ := os.ReadFile(segs[0])
	b = bytes.Replace(b, []byte(`"operationName":"KeyCreate"`), []byte(`"operationName":"KeyGet"`), 1)
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "audit", "verify", "--dir", auditDir, "--hsm-name", "dev", "--public-key", pemFile)
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "chain") {
		t.Fatalf("tampered log verified: %v\n%s", err, out)
	}
}
