package backup_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// debianPython is the interpreter of Debian's python3-azure (not a pyenv
// one, which lacks the package).
const debianPython = "/usr/bin/python3"

// pythonAdmin returns debianPython when it imports
// azure.keyvault.administration; otherwise the test is skipped, or fails
// when MHSM_REQUIRE_PYTHON_AZURE is set (scripts/test.sh sets it after
// installing python3-azure).
func pythonAdmin(t *testing.T) string {
	t.Helper()
	err := exec.Command(debianPython, "-c", "import azure.keyvault.administration").Run()
	if err != nil {
		if os.Getenv("MHSM_REQUIRE_PYTHON_AZURE") != "" {
			t.Fatalf("MHSM_REQUIRE_PYTHON_AZURE is set but %s cannot import azure.keyvault.administration (apt-get install python3-azure): %v", debianPython, err)
		}
		t.Skip("python3-azure is not installed (apt-get install python3-azure); set MHSM_REQUIRE_PYTHON_AZURE=1 to make this a failure")
	}
	return debianPython
}

type pyResult struct {
	SDK       string `json:"sdk"`
	Client    string `json:"client"`
	Status    string `json:"status"`
	FolderURL string `json:"folder_url"`
	Error     string `json:"error"`
}

// runPy runs testdata/backup_client.py with args against HSM url.
func runPy(t *testing.T, py string, s *testserver.Server, tok, hsmURL, containerURL, sas string, args ...string) pyResult {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("testdata", "backup_client.py"))
	cmd := exec.Command(py, append([]string{script}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch ku := strings.ToUpper(k); {
		case strings.HasPrefix(ku, "AZURE_"), strings.HasPrefix(ku, "PYTHON"), strings.HasSuffix(ku, "_PROXY"), ku == "REQUESTS_CA_BUNDLE":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "MHSM_HSM_URL="+hsmURL, "MHSM_TOKEN="+tok, "MHSM_CONTAINER_URL="+containerURL, "MHSM_SAS="+sas,
		"MHSM_RESOLVE="+s.Config().Domain, "REQUESTS_CA_BUNDLE="+s.Dev.CAFile, "PYTHONDONTWRITEBYTECODE=1", "NO_PROXY=*", "no_proxy=*")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("backup_client.py %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var r pyResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("backup_client.py %s: output %q: %v", strings.Join(args, " "), stdout.String(), err)
	}
	t.Logf("python %s %s (%.1fs): %+v", r.Client, strings.Join(args, " "), time.Since(start).Seconds(), r)
	return r
}

// TestPythonBackupClient: the unmodified Python KeyVaultBackupClient
// (azure-keyvault-administration from Debian's python3-azure) starts a
// backup and polls it, restores one key, and restores the whole HSM — to a
// storage account kept as a local directory (the default mapping) and, with
// Azurite, to blob storage authorized by a real container SAS.
func TestPythonBackupClient(t *testing.T) {
	py := pythonAdmin(t)
	t.Run("local", func(t *testing.T) {
		s := testserver.Start(t, nil)
		pythonRoundTrip(t, py, s, "https://pyacct.blob.core.windows.net/backups", "sv=2022-11-02&sp=rwl&sig=not-checked-for-local-accounts")
	})
	t.Run("azurite", func(t *testing.T) {
		acct := azurite(t)
		s := startWithAccount(t, acct)
		cont := fmt.Sprintf("py%d", time.Now().UnixNano())
		makeContainer(t, acct, cont)
		pythonRoundTrip(t, py, s, "https://bkacct.blob.core.windows.net/"+cont, containerSAS(t, cont))
	})
}

func pythonRoundTrip(t *testing.T, py string, s *testserver.Server, containerURL, sas string) {
	tok := mustDevToken(t, s)
	c := &client{t: t, s: s, tok: tok}
	dev := s.HSMURL("dev")
	var k1 wire.KeyBundle
	c.must(200, "POST", dev+"/keys/k1/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	c.must(200, "POST", dev+"/keys/k1/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, &k1)

	r := runPy(t, py, s, tok, dev, containerURL, sas, "backup")
	if r.Status != "Succeeded" || !strings.HasPrefix(r.FolderURL, containerURL+"/mhsm-dev-") {
		t.Fatalf("backup: %+v", r)
	}
	before := dump(t, s, "dev")

	// Selective restore of a deleted and purged key.
	c.must(200, "DELETE", dev+"/keys/k1", nil, nil)
	c.must(204, "DELETE", dev+"/deletedkeys/k1", nil, nil)
	if st, _ := c.call("GET", dev+"/keys/k1", nil); st != 404 {
		t.Fatalf("k1 after purge = %d", st)
	}
	if r := runPy(t, py, s, tok, dev, containerURL, sas, "restore-key", "k1", r.FolderURL); r.Status != "Succeeded" {
		t.Fatalf("selective restore: %+v", r)
	}
	var got wire.KeyBundle
	c.must(200, "GET", dev+"/keys/k1", nil, &got)
	if got.Key.Kid != k1.Key.Kid || !bytes.Equal(got.Key.X, k1.Key.X) {
		t.Fatalf("restored k1 %s, want %s", got.Key.Kid, k1.Key.Kid)
	}
	var versions struct {
		Value []json.RawMessage `json:"value"`
	}
	c.must(200, "GET", dev+"/keys/k1/versions", nil, &versions)
	if len(versions.Value) != 2 {
		t.Fatalf("k1 has %d versions after the selective restore, want 2", len(versions.Value))
	}

	// Full restore: a key made after the backup disappears.
	c.must(200, "POST", dev+"/keys/k2/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	if r := runPy(t, py, s, tok, dev, containerURL, sas, "restore", r.FolderURL); r.Status != "Succeeded" {
		t.Fatalf("full restore: %+v", r)
	}
	if d := dumpDiff(before, dump(t, s, "dev")); d != "" {
		t.Fatalf("after the full restore the HSM differs from the backup:\n%s", d)
	}

	// A folder without a backup: the job fails and the client reports the
	// service's error.
	missing := containerURL + "/mhsm-dev-2000010100000000"
	if r := runPy(t, py, s, tok, dev, containerURL, sas, "restore-expect-failure", missing); r.Status != "Failed" ||
		!strings.Contains(r.Error, "InvalidBackup") || !strings.Contains(r.Error, "no backup") {
		t.Fatalf("restore of a missing backup: %+v", r)
	}
}
