package backup_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// TestAzureCLIBackup runs Debian's az 2.45 `keyvault backup start` and
// `keyvault restore start` (full restore: 2.45 has no --key-name and no
// --use-managed-identity) against the server, with test/azcli's shim on
// PYTHONPATH (clients.md §1.1). Skipped when az is missing unless
// MHSM_REQUIRE_AZ is set.
func TestAzureCLIBackup(t *testing.T) {
	azBin, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("MHSM_REQUIRE_AZ") != "" {
			t.Fatalf("MHSM_REQUIRE_AZ is set but az is not installed: %v", err)
		}
		t.Skip("az is not installed; set MHSM_REQUIRE_AZ=1 to make this a failure")
	}
	s := testserver.Start(t, nil)
	dir := t.TempDir()
	shim, _ := filepath.Abs(filepath.Join("..", "azcli", "testdata", "azshim"))
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch ku := strings.ToUpper(k); {
		case strings.HasPrefix(ku, "AZURE_"), strings.HasPrefix(ku, "PYTHON"), strings.HasSuffix(ku, "_PROXY"),
			ku == "REQUESTS_CA_BUNDLE", ku == "MSI_ENDPOINT", ku == "IDENTITY_ENDPOINT":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AZURE_CONFIG_DIR="+filepath.Join(dir, "azconfig"), "AZURE_CORE_COLLECT_TELEMETRY=no",
		"AZURE_CORE_OUTPUT=json", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=no",
		"REQUESTS_CA_BUNDLE="+s.Dev.CAFile, "PYTHONPATH="+shim, "PYTHONDONTWRITEBYTECODE=1",
		"MHSM_AZ_RESOLVE="+s.Config().Domain, "NO_PROXY=*", "no_proxy=*")
	az := func(out any, args ...string) {
		t.Helper()
		cmd := exec.Command(azBin, append(args, "--only-show-errors")...)
		cmd.Env, cmd.Dir = env, dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("az %s: %v\n%s\n%s", args[0]+" "+args[1], err, stdout.String(), stderr.String())
		}
		if out != nil {
			if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
				t.Fatalf("az %s: %v\n%s", strings.Join(args[:2], " "), err, stdout.String())
			}
		}
	}
	mgmt, login, graph := s.URL("management"), s.URL("login"), s.URL("graph")
	cloud, _ := json.Marshal(map[string]any{
		"endpoints": map[string]string{"activeDirectory": login + "/adfs", "activeDirectoryResourceId": mgmt + "/",
			"resourceManager": mgmt + "/", "management": mgmt + "/", "activeDirectoryGraphResourceId": graph + "/",
			"microsoftGraphResourceId": graph + "/"},
		"suffixes": map[string]string{"mhsmDns": "." + strings.TrimPrefix(s.URL("managedhsm"), "https://"),
			"keyvaultDns": "." + strings.TrimPrefix(s.URL("vault"), "https://"), "storageEndpoint": "core.windows.net"},
	})
	cloudFile := filepath.Join(dir, "cloud.json")
	if err := os.WriteFile(cloudFile, cloud, 0o600); err != nil {
		t.Fatal(err)
	}
	az(nil, "cloud", "register", "--name", "MHSMBackup", "--cloud-config", "@"+cloudFile)
	az(nil, "cloud", "set", "--name", "MHSMBackup")
	az(nil, "login", "--service-principal", "-u", s.Dev.ClientID, "-p", s.Dev.ClientSecret, "--tenant", s.Dev.TenantID, "--allow-no-subscriptions")

	c := &client{t: t, s: s, tok: mustDevToken(t, s)}
	dev := s.HSMURL("dev")
	c.must(200, "POST", dev+"/keys/k1/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	var done struct {
		FolderURL string `json:"folderUrl"` // az prints the SDK's KeyVaultBackupResult
	}
	az(&done, "keyvault", "backup", "start", "--hsm-name", "dev", "--storage-account-name", "azacct",
		"--blob-container-name", "backups", "--storage-container-SAS-token", "sv=2022-11-02&sig=unused")
	t.Logf("az keyvault backup start: %+v", done)
	folderURL := done.FolderURL
	prefix := "https://azacct.blob.core.windows.net/backups/"
	if !strings.HasPrefix(folderURL, prefix+"mhsm-dev-") {
		t.Fatalf("az backup result %+v", done)
	}
	before := dump(t, s, "dev")
	c.must(200, "POST", dev+"/keys/k2/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	az(nil, "keyvault", "restore", "start", "--hsm-name", "dev", "--storage-account-name", "azacct",
		"--blob-container-name", "backups", "--storage-container-SAS-token", "sv=2022-11-02&sig=unused",
		"--backup-folder", strings.TrimPrefix(folderURL, prefix))
	if d := dumpDiff(before, dump(t, s, "dev")); d != "" {
		t.Fatalf("after az keyvault restore start the HSM differs from the backup:\n%s", d)
	}
	var e wire.Error
	if st, b := c.call("GET", dev+"/keys/k2", nil); st != 404 || json.Unmarshal(b, &e) != nil {
		t.Fatalf("k2 after the restore = %d %s", st, b)
	}
}
