package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// cli runs the mhsm command line in-process and returns stdout.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := Run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("mhsm %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func cliErr(t *testing.T, args ...string) error {
	t.Helper()
	var out, errb bytes.Buffer
	return Run(context.Background(), args, &out, &errb)
}

func jsonOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %q", s)
	}
	return m
}

// TestADAndIdentityCommands drives login, ad and identity against a real
// server, with the environment a user would set: MHSM_CONFIG_DIR,
// MHSM_CA_FILE and MHSM_CONNECT (no /etc/hosts entries).
func TestADAndIdentityCommands(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.MSIAddr = "127.0.0.1:0" })
	t.Setenv("MHSM_CONFIG_DIR", t.TempDir())
	t.Setenv("MHSM_CA_FILE", s.Dev.CAFile)
	t.Setenv("MHSM_CONNECT", s.Addr)

	cli(t, "login", "--dev-json", filepath.Join(s.Config().DataDir, "dev.json"))
	if got := strings.TrimSpace(cli(t, "account", "show", "--query", "tenantId", "-o", "tsv")); got != s.Dev.TenantID {
		t.Fatalf("account show: %q", got)
	}
	domain := s.Config().Domain
	u := jsonOf(t, cli(t, "ad", "user", "create", "--display-name", "Ada Lovelace", "--user-principal-name", "ada@"+domain, "--password", "Analytical-Engine-1843"))
	g := jsonOf(t, cli(t, "ad", "group", "create", "--display-name", "Contoso Security Team", "--mail-nickname", "sec"))
	cli(t, "ad", "group", "member", "add", "-g", "Contoso Security Team", "--member-id", u["id"].(string))
	if got := strings.TrimSpace(cli(t, "ad", "group", "show", "-g", "Contoso Security Team", "--query", "id", "-o", "tsv")); got != g["id"] {
		t.Fatalf("group show --query id -o tsv = %q, want %v", got, g["id"])
	}
	if got := strings.TrimSpace(cli(t, "ad", "group", "member", "list", "-g", g["id"].(string), "--query", "[].userPrincipalName", "-o", "tsv")); got != "ada@"+domain {
		t.Fatalf("member list: %q", got)
	}
	table := cli(t, "ad", "user", "list", "-o", "table")
	if !strings.Contains(table, "DisplayName") || !strings.Contains(table, "Ada Lovelace") {
		t.Fatalf("table: %q", table)
	}
	sp := jsonOf(t, cli(t, "ad", "sp", "create-for-rbac", "-n", "deployer"))
	if sp["password"] == "" || sp["appId"] == "" {
		t.Fatalf("create-for-rbac: %v", sp)
	}
	if got := strings.TrimSpace(cli(t, "ad", "sp", "show", "--id", sp["appId"].(string), "--query", "servicePrincipalType", "-o", "tsv")); got != "Application" {
		t.Fatalf("sp show: %q", got)
	}
	app := jsonOf(t, cli(t, "ad", "app", "create", "--display-name", "cli-public", "--is-fallback-public-client"))
	if app["isFallbackPublicClient"] != true {
		t.Fatal(app)
	}
	mi := jsonOf(t, cli(t, "identity", "create", "-n", "payments"))
	if mi["identityHeader"] == "" || mi["principalId"] == "" {
		t.Fatal(mi)
	}
	if got := cli(t, "identity", "list", "--query", "[].name", "-o", "tsv"); strings.TrimSpace(got) != "payments" {
		t.Fatalf("identity list: %q", got)
	}
	if strings.Contains(cli(t, "identity", "show", "-n", "payments"), "identityHeader") {
		t.Fatal("identity show prints the header")
	}

	// Sign in as the new service principal, the user and the identity.
	cli(t, "login", "--service-principal", "-u", sp["appId"].(string), "-p", sp["password"].(string), "--tenant", s.Dev.TenantID,
		"--authority", s.URL("login"))
	if got := strings.TrimSpace(cli(t, "ad", "user", "show", "--id", "ada@"+domain, "--query", "displayName", "-o", "tsv")); got != "Ada Lovelace" {
		t.Fatalf("read as a plain SP: %q", got)
	}
	if err := cliErr(t, "ad", "group", "create", "--display-name", "x"); err == nil || !strings.Contains(err.Error(), "Authorization_RequestDenied") {
		t.Fatalf("non-admin write: %v", err)
	}
	// Certificate login (the certificate registered through the directory).
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "deployer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if _, err := s.App.Directory().AddCertificate(context.Background(), s.Dev.TenantID, sp["appId"].(string), "c", der); err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	_ = os.WriteFile(certFile, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})...), 0o600)
	out := cli(t, "login", "--service-principal", "-u", sp["appId"].(string), "--certificate", certFile, "--tenant", s.Dev.TenantID,
		"--authority", s.URL("login"), "--query", "[0].objectId", "-o", "tsv")
	if strings.TrimSpace(out) != sp["objectId"] {
		t.Fatalf("certificate login: %q", out)
	}
	cli(t, "login", "-u", "ada@"+domain, "-p", "Analytical-Engine-1843", "--authority", s.URL("login"))
	acct := jsonOf(t, cli(t, "account", "show"))
	if acct["tenantId"] != s.Dev.TenantID {
		t.Fatalf("user login tenant: %v", acct)
	}
	tok := jsonOf(t, cli(t, "account", "get-access-token", "--resource-type", "managedhsm"))
	if tok["accessToken"] == "" {
		t.Fatal(tok)
	}
	if err := cliErr(t, "login", "-u", "ada@"+domain, "-p", "wrong-password", "--authority", s.URL("login")); err == nil {
		t.Fatal("wrong password logged in")
	}
	t.Setenv("IDENTITY_ENDPOINT", "http://"+s.App.MSIAddr().String()+"/msi/token")
	t.Setenv("IDENTITY_HEADER", mi["identityHeader"].(string))
	out = cli(t, "login", "--identity", "--authority", s.URL("login"), "--query", "[0].objectId", "-o", "tsv")
	if strings.TrimSpace(out) != mi["principalId"] {
		t.Fatalf("identity login: %q", out)
	}
	cli(t, "logout")
	if err := cliErr(t, "ad", "user", "list"); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("after logout: %v", err)
	}
}

func TestOutputFormats(t *testing.T) {
	data := []map[string]any{{"id": "1", "displayName": "A", "enabled": true, "n": 2.5}, {"id": "2", "displayName": "B", "enabled": false}}
	for _, c := range []struct {
		o    output
		want string
	}{
		{output{format: "tsv", query: "[].id"}, "1\n2\n"},
		{output{format: "tsv", query: "[0].displayName"}, "A\n"},
		{output{format: "tsv"}, "A\t1\tTrue\t2.5\nB\t2\tFalse\n"},
		{output{format: "json", query: "length(@)"}, "2\n"},
		{output{format: "none"}, ""},
		{output{format: "table", query: "[].{Name: displayName}"}, "Name\n----\nA\nB\n"},
	} {
		var b bytes.Buffer
		if err := c.o.print(&b, data); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%+v: %q, want %q", c.o, b.String(), c.want)
		}
	}
	var b bytes.Buffer
	if err := (&output{format: "xml"}).print(&b, data); err == nil {
		t.Error("unknown format accepted")
	}
	if err := (&output{format: "json", query: "[["}).print(&b, data); err == nil {
		t.Error("bad query accepted")
	}
}
