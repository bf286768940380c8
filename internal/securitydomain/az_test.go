package securitydomain

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAzureCLIRestoreBlob is the interop check with the Azure CLI's own
// offline tool: `az keyvault security-domain restore-blob` reads a file this
// package built (GF(257) shares, JWEs, SP800-108) with two of the three
// officers' keys, and the blob it writes
// opens with OpenRestoreBlob. It runs where az is installed (Debian's
// azure-cli package) and is skipped only where it is not and
// MHSM_REQUIRE_AZ is unset (scripts/test.sh sets it when az is present,
// so CI cannot skip it silently). (az 2.45's --passwords passes a str
// where cryptography wants bytes and crashes, so encrypted keys are left
// to our own CLI's tests.)
func TestAzureCLIRestoreBlob(t *testing.T) {
	az, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("MHSM_REQUIRE_AZ") != "" {
			t.Fatalf("MHSM_REQUIRE_AZ is set but az is not installed: %v", err)
		}
		t.Skip("az is not installed (apt-get install azure-cli); set MHSM_REQUIRE_AZ=1 to make this a failure")
	}
	dir := t.TempDir()
	cp := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	o := fixtureOfficers(t)
	f, err := Build([]Item{mustItem(t)}, certsOf(o), 2)
	if err != nil {
		t.Fatal(err)
	}
	sdFile := filepath.Join(dir, "sd.json")
	if err := os.WriteFile(sdFile, f, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"officer-0.pem", "officer-0.cer", "officer-2.pem", "officer-2.cer"} {
		cp(n)
	}
	blobFile := filepath.Join(dir, "blob.json")
	cmd := exec.Command(az, "keyvault", "security-domain", "restore-blob", "--sd-file", sdFile,
		"--sd-exchange-key", cp("transfer.cer"),
		"--sd-wrapping-keys", filepath.Join(dir, "officer-2.pem"), filepath.Join(dir, "officer-0.pem"),
		"--sd-file-restore-blob", blobFile)
	cmd.Env = append(os.Environ(), "AZURE_CONFIG_DIR="+filepath.Join(dir, "azconfig"), "AZURE_CORE_COLLECT_TELEMETRY=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("az restore-blob: %v\n%s", err, out)
	}
	blob, err := os.ReadFile(blobFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := fixtureOfficer(t, "transfer")
	items, err := OpenRestoreBlob(blob, tr.Key, tr.Cert)
	if err != nil {
		t.Fatalf("the blob az wrote does not open: %v", err)
	}
	r, err := RootFromItems(items)
	if err != nil || !bytes.Equal(r.Key, testRoot(t).Key) {
		t.Fatalf("root from az's blob: %v", err)
	}
}

func mustItem(t *testing.T) Item {
	t.Helper()
	it, err := testRoot(t).Item()
	if err != nil {
		t.Fatal(err)
	}
	return it
}
