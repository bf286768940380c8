package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAzureCLIDefaultCloud runs Debian's az 2.45 in its default cloud
// (AzureCloud: login.microsoftonline.com, MSAL instance discovery on,
// management.azure.com, *.managedhsm.azure.net): service-principal login,
// key create/show/rotate, role assignment list. az runs with
// test/azcli/testdata/azshim on PYTHONPATH only because Debian's package is
// broken as shipped (see that package); nothing points az at mhsm but
// /etc/hosts and REQUESTS_CA_BUNDLE.
func TestAzureCLIDefaultCloud(t *testing.T) {
	s := server(t)
	rec.setFamily(t, "az")
	az, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("MHSM_REQUIRE_AZ") != "" {
			t.Fatalf("MHSM_REQUIRE_AZ is set but az is not installed: %v", err)
		}
		t.Skip("az is not installed; set MHSM_REQUIRE_AZ=1 to make this a failure")
	}
	shim, err := filepath.Abs(filepath.Join("..", "azcli", "testdata", "azshim"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{}
	for _, kv := range clientEnv(s) {
		k, _, _ := strings.Cut(kv, "=")
		if ku := strings.ToUpper(k); strings.HasPrefix(ku, "PYTHON") || strings.HasPrefix(ku, "AZURE_CONFIG") || strings.HasPrefix(ku, "AZURE_CORE") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AZURE_CONFIG_DIR="+filepath.Join(t.TempDir(), "azconfig"), "AZURE_CORE_COLLECT_TELEMETRY=no",
		"AZURE_CORE_OUTPUT=json", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=no", "PYTHONPATH="+shim, "PYTHONDONTWRITEBYTECODE=1")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, az, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			shown := strings.ReplaceAll(strings.Join(args, " "), s.Dev.ClientSecret, "<secret>")
			t.Fatalf("az %s: %v\nstdout: %s\nstderr: %s", shown, err, out.String(), errb.String())
		}
		return out.String()
	}
	run("login", "--service-principal", "-u", s.Dev.ClientID, "-p", s.Dev.ClientSecret, "--tenant", s.Dev.TenantID, "--allow-no-subscriptions")
	var k struct {
		Key struct {
			Kid string `json:"kid"`
		} `json:"key"`
	}
	if err := json.Unmarshal([]byte(run("keyvault", "key", "create", "--hsm-name", hsmName, "--name", "az-key", "--kty", "EC-HSM", "--curve", "P-256")), &k); err != nil ||
		!strings.HasPrefix(k.Key.Kid, "https://dev.managedhsm.azure.net/keys/az-key/") {
		t.Fatalf("key create: %v %+v", err, k)
	}
	if !strings.Contains(run("keyvault", "key", "show", "--hsm-name", hsmName, "--name", "az-key"), k.Key.Kid) {
		t.Fatal("key show does not show the key")
	}
	var rot struct {
		Key struct {
			Kid string `json:"kid"`
		} `json:"key"`
	}
	if err := json.Unmarshal([]byte(run("keyvault", "key", "rotate", "--hsm-name", hsmName, "--name", "az-key")), &rot); err != nil || rot.Key.Kid == k.Key.Kid {
		t.Fatalf("key rotate without a policy: %v %+v", err, rot)
	}
	if !strings.Contains(run("keyvault", "role", "assignment", "list", "--hsm-name", hsmName, "--scope", "/keys"), "[") {
		t.Fatal("role assignment list")
	}
	clientsRun.Store("az", true)
}
