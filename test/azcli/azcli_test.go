// Package azcli_test drives the real Azure CLI (Debian's azure-cli 2.45)
// against a running dev-mode server: login with a service principal, key
// commands, local RBAC commands and a security domain download that
// activates a new HSM. az runs with the test-only shim in
// testdata/azshim on PYTHONPATH (Debian's package is broken as shipped:
// its python3-azure does not match azure-cli 2.45), which also resolves
// every host under the test domain to 127.0.0.1 (MHSM_AZ_RESOLVE), so no
// /etc/hosts entry is needed. `key list/list-deleted/delete/recover` need
// the track-1 azure-keyvault 1.x client, which Debian does not ship; the
// shim bridges them to the track-2 KeyClient that az already uses for
// `key create/show` (azure/keyvault/v7_0/key_vault_client.py).
//
// The test is skipped only when az is not installed and MHSM_REQUIRE_AZ is
// unset (scripts/test.sh installs az where it can and then sets it).
package azcli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/testserver"
)

// azPath finds az, or skips (fails with MHSM_REQUIRE_AZ set).
func azPath(t *testing.T) string {
	t.Helper()
	az, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("MHSM_REQUIRE_AZ") != "" {
			t.Fatalf("MHSM_REQUIRE_AZ is set but az is not installed: %v", err)
		}
		t.Skip("az is not installed (apt-get install azure-cli); set MHSM_REQUIRE_AZ=1 to make this a failure")
	}
	return az
}

// azRunner runs az with an isolated profile against the test server.
type azRunner struct {
	t   *testing.T
	az  string
	env []string
	dir string
}

func (r *azRunner) run(args ...string) ([]byte, []byte, error) {
	cmd := exec.Command(r.az, append(args, "--only-show-errors")...)
	cmd.Env, cmd.Dir = r.env, r.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.t.Logf("az %s (%.1fs)", strings.Join(redact(args), " "), time.Since(start).Seconds())
	return stdout.Bytes(), stderr.Bytes(), err
}

// redact hides the value of -p (the client secret) in logs.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "-p" || out[i-1] == "--password" {
			out[i] = "***"
		}
	}
	return out
}

// must runs az and fails the test if it fails; out, if non-nil, receives
// az's JSON output.
func (r *azRunner) must(out any, args ...string) []byte {
	r.t.Helper()
	stdout, stderr, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("az %s: %v\nstdout: %s\nstderr: %s", strings.Join(redact(args), " "), err, stdout, stderr)
	}
	if out != nil {
		if err := json.Unmarshal(stdout, out); err != nil {
			r.t.Fatalf("az %s: output is not the JSON expected: %v\n%s", strings.Join(redact(args), " "), err, stdout)
		}
	}
	return stdout
}

func newRunner(t *testing.T, s *testserver.Server, az string) *azRunner {
	dir := t.TempDir()
	shim, err := filepath.Abs(filepath.Join("testdata", "azshim"))
	if err != nil {
		t.Fatal(err)
	}
	// Everything the environment says about Python, az or proxies is
	// replaced: the run must not depend on the caller's profile.
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
	env = append(env,
		"AZURE_CONFIG_DIR="+filepath.Join(dir, "azconfig"),
		"AZURE_CORE_COLLECT_TELEMETRY=no",
		"AZURE_CORE_OUTPUT=json",
		"AZURE_CORE_NO_COLOR=true",
		"AZURE_CORE_SURVEY_MESSAGE=no",
		"REQUESTS_CA_BUNDLE="+s.Dev.CAFile,
		"PYTHONPATH="+shim,
		"PYTHONDONTWRITEBYTECODE=1",
		"MHSM_AZ_RESOLVE="+s.Config().Domain,
		"NO_PROXY=*", "no_proxy=*",
	)
	return &azRunner{t: t, az: az, env: env, dir: dir}
}

// TestAzureCLI runs the az commands in sequence against one server.
func TestAzureCLI(t *testing.T) {
	azBin := azPath(t)
	start := time.Now()
	s := testserver.Start(t, nil)
	az := newRunner(t, s, azBin)
	ctx := context.Background()
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	devOID := claim(t, tok, "oid")

	// 1. Cloud and login.
	mgmt, login, graph := s.URL("management"), s.URL("login"), s.URL("graph")
	cloud := map[string]any{
		"endpoints": map[string]string{
			"activeDirectory":                login + "/adfs", // ADFS mode: MSAL skips instance discovery
			"activeDirectoryResourceId":      mgmt + "/",
			"resourceManager":                mgmt + "/",
			"management":                     mgmt + "/",
			"activeDirectoryGraphResourceId": graph + "/",
			"microsoftGraphResourceId":       graph + "/",
		},
		"suffixes": map[string]string{
			// --hsm-name X becomes https://X + mhsmDns: leading dot, port included.
			"mhsmDns":     "." + strings.TrimPrefix(s.URL("managedhsm"), "https://"),
			"keyvaultDns": "." + strings.TrimPrefix(s.URL("vault"), "https://"),
		},
	}
	cloudFile := writeJSON(t, az.dir, "cloud.json", cloud)
	az.must(nil, "cloud", "register", "--name", "MHSMTest", "--cloud-config", "@"+cloudFile)
	az.must(nil, "cloud", "set", "--name", "MHSMTest")
	var accounts []struct {
		TenantID string `json:"tenantId"`
		User     struct {
			Name, Type string
		} `json:"user"`
	}
	az.must(&accounts, "login", "--service-principal", "-u", s.Dev.ClientID, "-p", s.Dev.ClientSecret,
		"--tenant", s.Dev.TenantID, "--allow-no-subscriptions")
	if len(accounts) == 0 || !strings.EqualFold(accounts[0].TenantID, s.Dev.TenantID) || accounts[0].User.Name != s.Dev.ClientID ||
		accounts[0].User.Type != "servicePrincipal" {
		t.Fatalf("az login: %+v", accounts)
	}

	// 2. Keys on the dev HSM.
	dev, ok := s.App.HSMs().Get("dev")
	if !ok {
		t.Fatal("no dev HSM")
	}
	type keyBundle struct {
		Key struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			N   string `json:"n"`
		} `json:"key"`
		Attributes struct {
			Enabled       bool   `json:"enabled"`
			RecoveryLevel string `json:"recoveryLevel"`
		} `json:"attributes"`
	}
	hsmPrefix := s.HSMURL("dev") + "/keys/"
	var k1, k2, shown keyBundle
	az.must(&k1, "keyvault", "key", "create", "--hsm-name", "dev", "--name", "k1", "--kty", "RSA-HSM", "--size", "2048")
	if k1.Key.Kty != "RSA-HSM" || !strings.HasPrefix(k1.Key.Kid, hsmPrefix+"k1/") || k1.Key.N == "" || !k1.Attributes.Enabled {
		t.Fatalf("key create RSA-HSM: %+v", k1)
	}
	az.must(&k2, "keyvault", "key", "create", "--hsm-name", "dev", "--name", "k2", "--kty", "EC-HSM", "--curve", "P-256")
	if k2.Key.Kty != "EC-HSM" || k2.Key.Crv != "P-256" || !strings.HasPrefix(k2.Key.Kid, hsmPrefix+"k2/") {
		t.Fatalf("key create EC-HSM: %+v", k2)
	}
	for _, n := range []string{"k1", "k2"} {
		if _, err := s.App.HSMs().GetKey(ctx, dev, n, ""); err != nil {
			t.Fatalf("key %s not on the server after az key create: %v", n, err)
		}
	}
	az.must(&shown, "keyvault", "key", "show", "--hsm-name", "dev", "--name", "k1")
	if shown.Key.Kid != k1.Key.Kid || shown.Key.N != k1.Key.N {
		t.Fatalf("key show = %+v, want %+v", shown, k1)
	}
	var listed []struct {
		Kid  string `json:"kid"`
		Name string `json:"name"`
	}
	az.must(&listed, "keyvault", "key", "list", "--hsm-name", "dev")
	names := map[string]bool{}
	for _, k := range listed {
		names[k.Name] = true
	}
	if !names["k1"] || !names["k2"] {
		t.Fatalf("key list = %+v, want k1 and k2", listed)
	}
	var deleted struct {
		RecoveryID string `json:"recoveryId"`
		Key        struct {
			Kid string `json:"kid"`
		} `json:"key"`
	}
	az.must(&deleted, "keyvault", "key", "delete", "--hsm-name", "dev", "--name", "k2")
	if deleted.Key.Kid != k2.Key.Kid || !strings.HasSuffix(deleted.RecoveryID, "/deletedkeys/k2") {
		t.Fatalf("key delete = %+v", deleted)
	}
	if _, err := s.App.HSMs().GetKey(ctx, dev, "k2", ""); err == nil {
		t.Fatal("k2 is still live after az key delete")
	}
	var deletedList []struct {
		Kid        string `json:"kid"`
		Name       string `json:"name"`
		RecoveryID string `json:"recoveryId"`
	}
	az.must(&deletedList, "keyvault", "key", "list-deleted", "--hsm-name", "dev")
	if len(deletedList) != 1 || deletedList[0].Name != "k2" || deletedList[0].RecoveryID != deleted.RecoveryID {
		t.Fatalf("key list-deleted = %+v", deletedList)
	}
	var recovered keyBundle
	az.must(&recovered, "keyvault", "key", "recover", "--hsm-name", "dev", "--name", "k2")
	if recovered.Key.Kid != k2.Key.Kid {
		t.Fatalf("key recover = %+v", recovered)
	}
	if _, err := s.App.HSMs().GetKey(ctx, dev, "k2", ""); err != nil {
		t.Fatalf("k2 not live after az key recover: %v", err)
	}

	// 3. Local RBAC.
	var defs []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		RoleName string `json:"roleName"`
	}
	az.must(&defs, "keyvault", "role", "definition", "list", "--hsm-name", "dev")
	roleNames := map[string]string{}
	for _, d := range defs {
		roleNames[d.RoleName] = d.Name
	}
	if roleNames["Managed HSM Crypto User"] != rbac.RoleCryptoUser || roleNames["Managed HSM Administrator"] != rbac.RoleAdministrator {
		t.Fatalf("role definition list = %+v", defs)
	}
	assignee, err := s.App.Directory().CreateServicePrincipal(ctx, s.Dev.TenantID, "az-assignee")
	if err != nil {
		t.Fatal(err)
	}
	type assignment struct {
		ID               string `json:"id"`
		Name             string `json:"name"`
		PrincipalID      string `json:"principalId"`
		PrincipalName    string `json:"principalName"`
		PrincipalType    string `json:"principalType"`
		RoleDefinitionID string `json:"roleDefinitionId"`
		RoleName         string `json:"roleName"`
		Scope            string `json:"scope"`
	}
	var created assignment
	az.must(&created, "keyvault", "role", "assignment", "create", "--hsm-name", "dev",
		"--assignee-object-id", assignee.ObjectID, "--role", "Managed HSM Crypto User", "--scope", "/keys/k1")
	if created.PrincipalID != assignee.ObjectID || created.RoleName != "Managed HSM Crypto User" || created.Scope != "/keys/k1" ||
		created.PrincipalName != assignee.AppID || created.PrincipalType != "ServicePrincipal" { // names from Graph getByIds (servicePrincipalNames[0])
		t.Fatalf("role assignment create = %+v", created)
	}
	all, err := s.App.HSMs().Assignments(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range all {
		if a.ID == created.Name {
			found = a.Scope == "/keys/k1" && a.PrincipalID == assignee.ObjectID && a.RoleDefinitionID == rbac.RoleCryptoUser
		}
	}
	if !found {
		t.Fatalf("assignment %s not on the server as created: %+v", created.Name, all)
	}
	var assignments []assignment
	az.must(&assignments, "keyvault", "role", "assignment", "list", "--hsm-name", "dev", "--scope", "/keys/k1")
	if len(assignments) != 1 || assignments[0].Name != created.Name || assignments[0].PrincipalName != assignee.AppID {
		t.Fatalf("role assignment list --scope /keys/k1 = %+v", assignments)
	}
	assignments = nil
	az.must(&assignments, "keyvault", "role", "assignment", "list", "--hsm-name", "dev")
	admin := false
	for _, a := range assignments {
		if a.PrincipalID == devOID && a.RoleName == "Managed HSM Administrator" && a.Scope == "/" {
			admin = true
		}
	}
	if !admin {
		t.Fatalf("role assignment list = %+v, want the dev principal's Administrator at /", assignments)
	}

	// 4. Security domain download activates a new HSM.
	if _, err := s.App.HSMs().Create(ctx, hsm.CreateParams{Name: "azsd", TenantID: s.Dev.TenantID, Admins: []string{devOID}}); err != nil {
		t.Fatal(err)
	}
	var certs []string
	for i := range 3 {
		certs = append(certs, writeCert(t, az.dir, i))
	}
	sdFile := filepath.Join(az.dir, "sd.json")
	az.must(nil, append(append([]string{"keyvault", "security-domain", "download", "--hsm-name", "azsd", "--sd-wrapping-keys"}, certs...),
		"--sd-quorum", "2", "--security-domain-file", sdFile)...)
	if h, _ := s.App.HSMs().Get("azsd"); h == nil || !h.Activated {
		t.Fatal("HSM azsd not activated after az security-domain download")
	}
	b, err := os.ReadFile(sdFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := securitydomain.ParseFile(b)
	if err != nil || f.SharedKeys.Required != 2 || len(f.SharedKeys.EncShares) != 3 {
		t.Fatalf("security domain file az wrote: %v", err)
	}
	t.Logf("az suite took %s", time.Since(start).Round(100*time.Millisecond))
}

func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCert writes a self-signed RSA-2048 certificate (PEM) as c<i>.cer.
func writeCert(t *testing.T, dir string, i int) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "officer " + string(rune('0'+i))},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "c"+string(rune('0'+i))+".cer")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// claim reads one string claim of a JWT without verifying it.
func claim(t *testing.T, tok, name string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	v, _ := c[name].(string)
	if v == "" {
		t.Fatalf("token has no %s", name)
	}
	return v
}
