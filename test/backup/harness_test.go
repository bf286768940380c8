// Package backup_test drives full HSM backup, full restore and selective
// key restore through the real HTTP server (internal/testserver): a round
// trip through Azurite onto an HSM recovered from its security domain on
// another, empty server; refused archives; the roles that may start what;
// and the Python KeyVaultBackupClient (python_test.go).
package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

const api = "?api-version=7.6"

// azuriteKey is the emulator's well-known development account key (public).
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// azurite returns the emulator's account URL (path style), from
// MHSM_TEST_AZURITE as scripts/test.sh exports it; without it the test is
// skipped, or fails when MHSM_REQUIRE_AZURITE is set.
func azurite(t *testing.T) string {
	t.Helper()
	acct := os.Getenv("MHSM_TEST_AZURITE")
	if acct == "" {
		if os.Getenv("MHSM_REQUIRE_AZURITE") != "" {
			t.Fatal("MHSM_REQUIRE_AZURITE is set but MHSM_TEST_AZURITE is not")
		}
		t.Skip("MHSM_TEST_AZURITE not set (scripts/test.sh starts Azurite)")
	}
	return strings.TrimRight(acct, "/")
}

// startWithAccount starts a server on which storage account "bkacct" is the
// Azurite account (the --audit-destination mapping, shared key from the
// environment).
func startWithAccount(t *testing.T, acctURL string) *testserver.Server {
	t.Helper()
	t.Setenv("MHSM_TEST_AZURITE_KEY", azuriteKey)
	return testserver.Start(t, func(c *config.Server) {
		c.Audit.Destinations = []string{"bkacct=azblob:" + acctURL + "/auditlogs;account-key-env=MHSM_TEST_AZURITE_KEY"}
	})
}

// client calls one server with one token.
type client struct {
	t   *testing.T
	s   *testserver.Server
	tok string
}

func (c *client) call(method, url string, body any) (int, []byte) {
	c.t.Helper()
	st, b, err := c.s.Call(c.tok, method, url+api, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return st, b
}

func (c *client) must(want int, method, url string, body, out any) {
	c.t.Helper()
	st, b := c.call(method, url, body)
	if st != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, url, st, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, url, err, b)
		}
	}
}

// job starts a job at path of HSM base (want 202), checks the
// Azure-AsyncOperation shape, and polls the job to its end.
func (c *client) job(base, method, path string, body any) wire.BackupOperation {
	c.t.Helper()
	st, b, hdr, err := c.callHeader(method, base+path+api, body)
	if err != nil || st != 202 {
		c.t.Fatalf("%s %s = %d %s %v, want 202", method, path, st, b, err)
	}
	var op wire.BackupOperation
	if err := json.Unmarshal(b, &op); err != nil || op.Status != wire.JobInProgress || len(op.JobID) != 32 {
		c.t.Fatalf("%s %s: started %s (%v)", method, path, b, err)
	}
	kind := "backup"
	if method == "PUT" {
		kind = "restore"
	}
	status := base + "/" + kind + "/" + op.JobID + "/pending"
	if hdr.Get("Azure-AsyncOperation") != status || hdr.Get("Retry-After") == "" {
		c.t.Fatalf("%s %s: Azure-AsyncOperation %q Retry-After %q, want %q", method, path, hdr.Get("Azure-AsyncOperation"), hdr.Get("Retry-After"), status)
	}
	return c.poll(status, op.JobID)
}

// callHeader is testserver's Call, also returning the response headers.
func (c *client) callHeader(method, url string, body any) (int, []byte, http.Header, error) {
	j, err := json.Marshal(body)
	if err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(j))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.s.Client().Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

func (c *client) poll(url, id string) wire.BackupOperation {
	c.t.Helper()
	var st wire.BackupOperation
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c.must(200, "GET", url, nil, &st)
		if st.JobID != id {
			c.t.Fatalf("status of job %s names job %s", id, st.JobID)
		}
		if st.Status != wire.JobInProgress {
			return st
		}
	}
	c.t.Fatalf("job %s did not finish", id)
	return st
}

func tokenOID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		OID string `json:"oid"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.OID
}

func newOfficer(t *testing.T) securitydomain.Officer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "officer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return securitydomain.Officer{Key: k, Cert: c}
}

// activate makes HSM name on s (administrator: the dev principal) and
// activates it by a security-domain download through the API; it returns
// the officers and the security-domain file.
func activate(t *testing.T, c *client, name string) ([]securitydomain.Officer, []byte) {
	t.Helper()
	oid := tokenOID(t, c.tok)
	if _, err := c.s.App.HSMs().Create(context.Background(), hsm.CreateParams{Name: name, TenantID: c.s.Dev.TenantID, Admins: []string{oid}}); err != nil {
		t.Fatal(err)
	}
	officers := []securitydomain.Officer{newOfficer(t), newOfficer(t), newOfficer(t)}
	required := 2
	ci := wire.CertificateInfo{Required: &required}
	for _, o := range officers {
		j, err := securitydomain.WrappingKeyJWK(o.Cert)
		if err != nil {
			t.Fatal(err)
		}
		ci.Certificates = append(ci.Certificates, j)
	}
	var sd wire.SecurityDomainObject
	c.must(202, "POST", c.s.HSMURL(name)+"/securitydomain/download", ci, &sd)
	return officers, []byte(sd.Value)
}

// recoverHSM makes HSM name on c's (empty) server in recovery mode and
// uploads the security domain through the API.
func recoverHSM(t *testing.T, c *client, name string, officers []securitydomain.Officer, sdFile []byte) {
	t.Helper()
	oid := tokenOID(t, c.tok)
	if _, err := c.s.App.HSMs().Create(context.Background(), hsm.CreateParams{Name: name, TenantID: c.s.Dev.TenantID, Admins: []string{oid}, Recovery: true}); err != nil {
		t.Fatal(err)
	}
	u := c.s.HSMURL(name)
	var tk struct {
		TransferKey json.RawMessage `json:"transfer_key"`
	}
	c.must(200, "GET", u+"/securitydomain/upload", nil, &tk)
	exchange, err := securitydomain.ParseTransferKey(tk.TransferKey)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := securitydomain.MakeRestoreBlob(sdFile, officers[:2], exchange)
	if err != nil {
		t.Fatal(err)
	}
	c.must(202, "POST", u+"/securitydomain/upload", wire.SecurityDomainObject{Value: string(blob)}, nil)
}

// grant gives principal oid role at scope on HSM name, below the API (the
// test's own setup, not what is being tested).
func grant(t *testing.T, s *testserver.Server, name, role, scope, oid string) {
	t.Helper()
	h, ok := s.App.HSMs().Get(name)
	if !ok {
		t.Fatalf("no HSM %s", name)
	}
	if _, err := s.App.HSMs().Assign(context.Background(), h, rbac.RoleAssignment{ID: uuid.NewString(), Scope: scope, RoleDefinitionID: role, PrincipalID: oid}); err != nil {
		t.Fatal(err)
	}
}

func dump(t *testing.T, s *testserver.Server, name string) map[string]string {
	t.Helper()
	d, err := s.App.HSMs().CanonicalDump(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dumpDiff lists the records that differ ("" when the dumps are equal).
func dumpDiff(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "- "+k)
		} else if w != v {
			d = append(d, "~ "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "+ "+k)
		}
	}
	if len(d) > 20 {
		d = append(d[:20], "…")
	}
	return strings.Join(d, "\n")
}

func sasParams(uri, token string) map[string]any {
	return map[string]any{"storageResourceUri": uri, "token": token}
}
