package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

func TestAzListArgs(t *testing.T) {
	in := []string{"keyvault", "security-domain", "upload", "--sd-wrapping-keys", "a.pem", "b.pem", "--passwords", "x", "--hsm-name", "h", "--sd-wrapping-keys", "c.pem"}
	want := "keyvault security-domain upload --sd-wrapping-keys a.pem --sd-wrapping-keys b.pem --passwords x --hsm-name h --sd-wrapping-keys c.pem"
	if got := strings.Join(azListArgs(in), " "); got != want {
		t.Fatalf("azListArgs = %s", got)
	}
}

// drill holds one disaster-recovery drill's server, credentials and files.
type drill struct {
	t        *testing.T
	s        *testserver.Server
	dir      string
	devJSON  string
	sub, oid string
	dataTok  string
	mgmtTok  string
}

// cli runs mhsm as the signed-in profile (MHSM_CONFIG_DIR, MHSM_CONNECT
// are set by the test).
func (d *drill) cli(args ...string) string {
	d.t.Helper()
	var out, errb bytes.Buffer
	if err := Run(context.Background(), args, &out, &errb); err != nil {
		d.t.Fatalf("mhsm %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func (d *drill) offline(args ...string) {
	d.t.Helper()
	var out, errb bytes.Buffer
	if err := Run(context.Background(), args, &out, &errb); err != nil {
		d.t.Fatalf("mhsm %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
}

func (d *drill) call(tok, method, url string, body any, want int, out any) []byte {
	d.t.Helper()
	st, b, err := d.s.Call(tok, method, url, body)
	if err != nil {
		d.t.Fatal(err)
	}
	if st != want {
		d.t.Fatalf("%s %s = %d %s, want %d", method, url, st, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return b
}

func (d *drill) arm(path string) string {
	return d.s.URL("management") + "/subscriptions/" + d.sub + path
}

// waitFor polls f until it is true.
func (d *drill) waitFor(what string, f func() bool) {
	d.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !f(); {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type armHSM struct {
	Properties struct {
		ProvisioningState        string `json:"provisioningState"`
		SecurityDomainProperties struct {
			ActivationStatus string `json:"activationStatus"`
		} `json:"securityDomainProperties"`
	} `json:"properties"`
}

func (d *drill) armGet(name string) (int, *armHSM) {
	st, b, err := d.s.Call(d.mgmtTok, "GET", d.arm("/resourceGroups/mhsm-dev/providers/Microsoft.KeyVault/managedHSMs/"+name+"?api-version=2023-07-01"), nil)
	if err != nil {
		d.t.Fatal(err)
	}
	var h armHSM
	_ = json.Unmarshal(b, &h)
	return st, &h
}

func (d *drill) createHSM(name string) {
	d.t.Helper()
	d.cli("keyvault", "create", "--hsm-name", name, "-g", "mhsm-dev", "--administrators", d.oid, "--retention-days", "7")
	d.waitFor(name+" provisioned", func() bool {
		st, h := d.armGet(name)
		return st == 200 && h.Properties.ProvisioningState == "Succeeded"
	})
	if _, h := d.armGet(name); h.Properties.SecurityDomainProperties.ActivationStatus != "NotActivated" {
		d.t.Fatalf("new HSM activation status = %q", h.Properties.SecurityDomainProperties.ActivationStatus)
	}
}

func (d *drill) destroyHSM(name string) {
	d.t.Helper()
	d.cli("keyvault", "delete", "--hsm-name", name, "-g", "mhsm-dev")
	d.waitFor(name+" deleted", func() bool { st, _ := d.armGet(name); return st == 404 || st == 204 })
	del := d.arm("/providers/Microsoft.KeyVault/locations/local/deletedManagedHSMs/" + name)
	d.cli("keyvault", "purge", "--hsm-name", name, "--location", "local")
	d.waitFor(name+" purged", func() bool {
		st, _, _ := d.s.Call(d.mgmtTok, "GET", del+"?api-version=2023-07-01", nil)
		return st == 404
	})
}

// writeOfficer writes dir/name.pem (PKCS#8) and dir/name.cer.
func writeOfficer(t *testing.T, dir, name string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	must(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, name+".cer"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o600))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestDisasterRecoveryDrill is the drill end to end through the
// CLI (signed in with `mhsm login`): create an HSM (keyvault create),
// download its security domain with the CLI
// (3 officers, quorum 2; one officer's key is password-protected), create
// keys, sign and back one up (keyvault key create, sign, backup), destroy and purge the HSM (keyvault delete, purge), create a new one
// with the same name, recover it with the CLI from 2 of the 3 private keys
// (init-recovery, offline restore-blob, upload), restore the backup, verify
// the signature made before the disaster and sign anew.
func TestDisasterRecoveryDrill(t *testing.T) {
	sdPoll.interval = 20 * time.Millisecond
	s := testserver.Start(t, nil)
	d := &drill{t: t, s: s, dir: t.TempDir(), devJSON: filepath.Join(s.Config().DataDir, "dev.json"), sub: s.Dev.SubscriptionID}
	var err error
	if d.dataTok, err = s.DevToken(); err != nil {
		t.Fatal(err)
	}
	if d.mgmtTok, err = s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "management"); err != nil {
		t.Fatal(err)
	}
	d.oid = claimOID(t, d.dataTok)
	if d.sub == "" {
		t.Fatal("dev.json has no subscriptionId")
	}
	file := func(n string) string { return filepath.Join(d.dir, n) }
	// The CLI signs in as the dev service principal and dials the listener.
	t.Setenv("MHSM_CONFIG_DIR", filepath.Join(d.dir, "config"))
	t.Setenv("MHSM_CONNECT", s.Addr)
	t.Setenv("MHSM_SUBSCRIPTION", d.sub)
	d.offline("login", "--dev-json", d.devJSON)
	// Officer 0's key is encrypted (OpenSSL 3 PBES2, password correct-horse).
	copyFile(t, "../../internal/securitydomain/testdata/officer-enc.pem", file("k0.pem"))
	copyFile(t, "../../internal/securitydomain/testdata/officer-enc.cer", file("k0.cer"))
	writeOfficer(t, d.dir, "k1")
	writeOfficer(t, d.dir, "k2")

	// 1. Create and activate.
	d.createHSM("drill")
	hsmURL := s.HSMURL("drill")
	out := d.cli("keyvault", "security-domain", "download", "--hsm-name", "drill",
		"--sd-wrapping-keys", file("k0.cer"), file("k1.cer"), file("k2.cer"), "--sd-quorum", "2",
		"--security-domain-file", file("drill-SD.json"))
	if !strings.Contains(out, `"Success"`) {
		t.Fatalf("download printed %q", out)
	}
	if _, h := d.armGet("drill"); h.Properties.SecurityDomainProperties.ActivationStatus != "Active" {
		t.Fatalf("activation status after download = %q", h.Properties.SecurityDomainProperties.ActivationStatus)
	}

	// 2. Keys, a signature and a backup, all through the CLI.
	assign := func() {
		d.cli("keyvault", "role", "assignment", "create", "--hsm-name", "drill", "--assignee", d.oid,
			"--role", "Managed HSM Crypto User", "--scope", "/")
	}
	assign()
	d.cli("keyvault", "key", "create", "--hsm-name", "drill", "--name", "payments", "--kty", "RSA-HSM", "--size", "3072")
	d.cli("keyvault", "key", "create", "--hsm-name", "drill", "--name", "ledger", "--kty", "EC-HSM", "--curve", "P-256")
	digest := sha256.Sum256([]byte("invoice 42, signed before the disaster"))
	var signed struct{ Signature string }
	must(t, json.Unmarshal([]byte(d.cli("keyvault", "key", "sign", "--hsm-name", "drill", "--name", "payments",
		"--algorithm", "PS256", "--digest", base64.StdEncoding.EncodeToString(digest[:]))), &signed))
	sigValue, err := base64.StdEncoding.DecodeString(signed.Signature)
	must(t, err)
	d.cli("keyvault", "key", "backup", "--hsm-name", "drill", "--name", "payments", "--file", file("payments.backup"))

	// 3. The disaster: delete and purge.
	d.destroyHSM("drill")
	if st, _, _ := s.Call(d.dataTok, "GET", hsmURL+"/keys?api-version=7.6", nil); st != 404 {
		t.Fatalf("purged HSM answers %d", st)
	}

	// 4. A new HSM, recovered with officers 0 (encrypted key) and 2.
	d.createHSM("drill")
	d.cli("keyvault", "security-domain", "init-recovery", "--hsm-name", "drill", "--sd-exchange-key", file("drill-exchange.cer"))
	d.offline("keyvault", "security-domain", "restore-blob", "--sd-file", file("drill-SD.json"),
		"--sd-exchange-key", file("drill-exchange.cer"), "--sd-wrapping-keys", file("k0.pem"), file("k2.pem"),
		"--passwords", "correct-horse", "--sd-file-restore-blob", file("drill-blob.json"))
	// A quorum of one is refused offline.
	var errb bytes.Buffer
	if err := Run(context.Background(), []string{"keyvault", "security-domain", "restore-blob", "--sd-file", file("drill-SD.json"),
		"--sd-exchange-key", file("drill-exchange.cer"), "--sd-wrapping-keys", file("k2.pem"),
		"--sd-file-restore-blob", file("one.json")}, &errb, &errb); err == nil {
		t.Fatal("restore-blob with one officer succeeded")
	}
	out = d.cli("keyvault", "security-domain", "upload", "--hsm-name", "drill", "--sd-file", file("drill-blob.json"), "--restore-blob")
	if !strings.Contains(out, `"Success"`) {
		t.Fatalf("upload printed %q", out)
	}
	d.cli("keyvault", "security-domain", "wait", "--hsm-name", "drill", "--target-operation", "upload")
	if _, h := d.armGet("drill"); h.Properties.SecurityDomainProperties.ActivationStatus != "Active" {
		t.Fatalf("activation status after recovery = %q", h.Properties.SecurityDomainProperties.ActivationStatus)
	}

	// 5. Restore the backup, verify the old signature, sign anew (CLI).
	assign()
	var kb wire.KeyBundle
	must(t, json.Unmarshal([]byte(d.cli("keyvault", "key", "restore", "--hsm-name", "drill", "--file", file("payments.backup"))), &kb))
	var ver struct{ IsValid bool }
	must(t, json.Unmarshal([]byte(d.cli("keyvault", "key", "verify", "--hsm-name", "drill", "--name", "payments", "--algorithm", "PS256",
		"--digest", base64.StdEncoding.EncodeToString(digest[:]), "--signature", signed.Signature)), &ver))
	if !ver.IsValid {
		t.Fatal("the signature made before the disaster does not verify after recovery")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(kb.Key.N), E: int(new(big.Int).SetBytes(kb.Key.E).Int64())}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sigValue, nil); err != nil {
		t.Fatalf("old signature, verified locally: %v", err)
	}
	digest2 := sha256.Sum256([]byte("invoice 43, signed after recovery"))
	var signed2 struct{ Signature string }
	must(t, json.Unmarshal([]byte(d.cli("keyvault", "key", "sign", "--hsm-name", "drill", "--name", "payments",
		"--algorithm", "PS256", "--digest", base64.StdEncoding.EncodeToString(digest2[:]))), &signed2))
	sig2, err := base64.StdEncoding.DecodeString(signed2.Signature)
	must(t, err)
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest2[:], sig2, nil); err != nil {
		t.Fatalf("new signature: %v", err)
	}

	// The downloaded file is the documented format, readable offline.
	sdFile, err := os.ReadFile(file("drill-SD.json"))
	must(t, err)
	if _, err := securitydomain.ParseFile(sdFile); err != nil {
		t.Fatal(err)
	}
}

func claimOID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var c struct {
		OID string `json:"oid"`
	}
	must(t, json.Unmarshal(p, &c))
	return c.OID
}

var guidSeq int

func newGUID() string {
	guidSeq++
	s := big.NewInt(int64(guidSeq)).String()
	return "00000000-0000-4000-8000-" + strings.Repeat("0", 12-len(s)) + s
}
