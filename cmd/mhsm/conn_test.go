package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/testserver"
)

// TestDevJSONHonoursConnect: every kind of command given --dev-json (data
// plane, Graph, management plane) reaches the server through MHSM_CONNECT
// alone — no /etc/hosts entries, no login — and writes nothing into the
// configuration directory (issue 21: "lookup login.mhsm.localhost: no such
// host").
func TestDevJSONHonoursConnect(t *testing.T) {
	s := testserver.Start(t, nil)
	cfgDir := filepath.Join(t.TempDir(), "config")
	t.Setenv("MHSM_CONFIG_DIR", cfgDir)
	t.Setenv("MHSM_CONNECT", s.Addr)
	t.Setenv("MHSM_CA_FILE", "")
	t.Setenv("MHSM_DEV_JSON", "")
	t.Setenv("MHSM_SUBSCRIPTION", "")
	dev := filepath.Join(s.Config().DataDir, "dev.json")

	if out := mustCLI(t, "audit", "public-key", "--hsm-name", "dev", "--dev-json", dev); !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("audit public-key: %q", out)
	}
	mustCLI(t, "keyvault", "key", "create", "--dev-json", dev, "--name", "k", "--kty", "EC-HSM", "--curve", "P-256")
	if out := mustCLI(t, "keyvault", "key", "show", "--dev-json", dev, "--name", "k", "-o", "table"); !strings.Contains(out, "k     EC-HSM  True") {
		t.Fatalf("key show -o table prints no row:\n%s", out)
	}
	if out := mustCLI(t, "ad", "sp", "list", "--dev-json", dev, "--query", "[].displayName", "-o", "tsv"); !strings.Contains(out, "mhsm-dev") {
		t.Fatalf("ad sp list: %q", out)
	}
	if out := mustCLI(t, "group", "list", "--dev-json", dev, "--query", "[].name", "-o", "tsv"); strings.TrimSpace(out) != s.Dev.ResourceGroup {
		t.Fatalf("group list: %q", out)
	}
	// --connect overrides MHSM_CONNECT: a dead address fails.
	if _, err := runCLI(t, "keyvault", "key", "list", "--dev-json", dev, "--connect", "127.0.0.1:1"); err == nil {
		t.Fatal("--connect 127.0.0.1:1 reached the server")
	}
	if _, err := os.Stat(cfgDir); !os.IsNotExist(err) {
		t.Fatalf("--dev-json commands wrote the configuration directory: %v", err)
	}
	// Without --dev-json and without a login the error says what to do.
	if _, err := runCLI(t, "keyvault", "key", "list", "--hsm-name", "dev"); err == nil || !strings.Contains(err.Error(), "mhsm login") {
		t.Fatalf("no login: %v", err)
	}
}
