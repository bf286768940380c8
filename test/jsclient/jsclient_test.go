// Package jsclient runs the real Azure JavaScript SDK (@azure/keyvault-keys
// and @azure/identity, pinned in package-lock.json) unchanged against an
// in-process dev server: keys.mjs does the work and prints a JSON summary,
// this test installs the packages when needed, runs it and checks the
// summary. resolve.mjs (preloaded) resolves *.<domain> to the listener, so no
// /etc/hosts entry is needed while TLS still verifies the real names.
//
// Without node or npm the test skips, unless MHSM_REQUIRE_NODE is set
// (scripts/test.sh sets it when both exist), where it fails instead.
//
// @azure/keyvault-admin (role assignments) is not in the npm registry this
// project reaches, so the RBAC API is not driven from JavaScript here.
package jsclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

// steps keys.mjs must report as "ok".
var steps = []string{
	"token", "createRsaKey", "createEcKey", "getKey", "listPropertiesOfKeys", "updateKeyProperties",
	"signVerifyRS256", "signVerifyES256", "encryptDecryptRSAOAEP256", "wrapUnwrapRSAOAEP256",
	"octKeyWrapA256KW", "ecCurvesES384ES512ES256K", "rsa3072PS512", "aesGcmCbcPad", "importKey",
	"deletePollerGetDeletedPurge", "recoverPoller", "backupRestore",
	"rotationPolicyRotate", "releasePolicy", "defaultRotationPolicy", "errors", "getRandomBytes",
	"clientCertificateCredential", "managedIdentityCredential",
}

type summary struct {
	OK         bool              `json:"ok"`
	Node       string            `json:"node"`
	SDK        map[string]string `json:"sdk"`
	Steps      map[string]string `json:"steps"`
	Facts      map[string]any    `json:"facts"`
	DurationMs int64             `json:"durationMs"`
}

func TestAzureJSSDK(t *testing.T) {
	t.Parallel()
	node, npm := tools(t)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	npmCI(t, npm, node, dir)

	s := testserver.Start(t, func(c *config.Server) { c.MSIAddr = "127.0.0.1:0" })
	extra := otherCredentials(t, s)
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--import", "./resolve.mjs", "keys.mjs")
	cmd.Dir = dir
	cmd.Env = append(nodeEnv(),
		"MHSM_TEST_DOMAIN="+s.Config().Domain,
		"MHSM_TEST_ADDR="+host,
		"NODE_EXTRA_CA_CERTS="+s.Dev.CAFile,
		"MHSM_TENANT_ID="+s.Dev.TenantID,
		"MHSM_CLIENT_ID="+s.Dev.ClientID,
		"MHSM_CLIENT_SECRET="+s.Dev.ClientSecret,
		"MHSM_HSM_URL="+s.Dev.HSMURL,
		"MHSM_AUTHORITY_HOST="+s.Dev.AuthorityHost,
	)
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("node keys.mjs: %v in %v", runErr, time.Since(start).Round(time.Millisecond))
	t.Logf("stderr:\n%s", stderr.String())
	t.Logf("summary:\n%s", stdout.String())

	var sum summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("keys.mjs printed no JSON summary (%v); run error: %v", err, runErr)
	}
	for _, name := range steps {
		if got := sum.Steps[name]; got != "ok" {
			t.Errorf("step %s: %q", name, got)
		}
	}
	for name, got := range sum.Steps {
		if got != "ok" && !slices.Contains(steps, name) {
			t.Errorf("step %s: %q", name, got)
		}
	}
	if !sum.OK || runErr != nil {
		t.Errorf("keys.mjs: ok=%v, exit: %v", sum.OK, runErr)
	}
	if !strings.HasPrefix(sum.SDK["@azure/keyvault-keys"], "4.10.") || !strings.HasPrefix(sum.SDK["@azure/identity"], "4.13.") {
		t.Errorf("SDK versions %v, want @azure/keyvault-keys 4.10.x and @azure/identity 4.13.x", sum.SDK)
	}
}

// otherCredentials registers, through Graph, an application with a
// certificate and a managed identity, gives both Crypto User on the dev HSM,
// and returns the environment keys.mjs needs to sign in as them
// (ClientCertificateCredential and ManagedIdentityCredential).
func otherCredentials(t *testing.T, s *testserver.Server) []string {
	t.Helper()
	tok, err := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "graph")
	if err != nil {
		t.Fatal(err)
	}
	graph := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		st, b, err := s.Call(tok, method, s.URL("graph")+path, body)
		if err != nil || st != want {
			t.Fatalf("%s %s: %d %v %s", method, path, st, err, b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	str := func(m map[string]any, k string) string {
		v, _ := m[k].(string)
		if v == "" {
			t.Fatalf("no %s in %v", k, m)
		}
		return v
	}
	h, ok := s.App.HSMs().Get("dev")
	if !ok {
		t.Fatal("no dev HSM")
	}
	assign := func(oid string) {
		if _, err := s.App.HSMs().Assign(context.Background(), h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: oid}); err != nil {
			t.Fatal(err)
		}
	}

	app := graph("POST", "/v1.0/applications", map[string]any{"displayName": "jsclient-cert"}, 201)
	sp := graph("POST", "/v1.0/servicePrincipals", map[string]any{"appId": str(app, "appId")}, 201)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "jsclient"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	graph("PATCH", "/v1.0/applications/"+str(app, "id"), map[string]any{"keyCredentials": []any{map[string]any{
		"type": "AsymmetricX509Cert", "usage": "Verify", "key": der, "displayName": "jsclient"}}}, 204)
	assign(str(sp, "id"))
	pemFile := filepath.Join(t.TempDir(), "cert.pem")
	pemBytes := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(pemFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	mi := graph("POST", "/mhsm/managedIdentities", map[string]any{"name": "jsclient-identity"}, 201)
	assign(str(mi, "principalId"))
	return []string{
		"MHSM_CERT_CLIENT_ID=" + str(app, "appId"), "MHSM_CERT_PATH=" + pemFile,
		"IDENTITY_ENDPOINT=http://" + s.App.MSIAddr().String() + "/msi/token",
		"IDENTITY_HEADER=" + str(mi, "identityHeader"), "MHSM_MI_PRINCIPAL_ID=" + str(mi, "principalId"),
	}
}

// tools finds node and npm, or skips (fails with MHSM_REQUIRE_NODE set).
func tools(t *testing.T) (node, npm string) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("MHSM_REQUIRE_NODE") != "" {
			t.Fatalf("MHSM_REQUIRE_NODE is set but node/npm are missing: %v %v", errNode, errNpm)
		}
		t.Skip("node or npm not found (set MHSM_REQUIRE_NODE=1 to make this a failure)")
	}
	return node, npm
}

// npmCI installs node_modules from package-lock.json unless the last
// install was of the same lock file by the same node.
func npmCI(t *testing.T, npm, node, dir string) {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(lock, v...))
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", ".mhsm-lock-sha256")
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	cmd.Dir = dir
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	t.Logf("npm ci: %v", time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nodeEnv is the environment without proxies or Azure settings that would
// send the SDK elsewhere (the test talks to loopback only).
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(k)
		if u == "AZURE_LOG_LEVEL" { // for debugging: AZURE_LOG_LEVEL=verbose
			env = append(env, kv)
			continue
		}
		if strings.HasSuffix(u, "_PROXY") || strings.HasPrefix(u, "AZURE_") || strings.HasPrefix(u, "MSAL_") ||
			strings.HasPrefix(u, "IDENTITY_") || strings.HasPrefix(u, "MSI_") || u == "NODE_OPTIONS" || u == "NODE_EXTRA_CA_CERTS" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
