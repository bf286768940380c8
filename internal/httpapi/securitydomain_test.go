package httpapi_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

const api = "?api-version=7.6"

// sdClient is a data-plane caller of one test server.
type sdClient struct {
	t   *testing.T
	s   *testserver.Server
	tok string
}

func (c *sdClient) call(method, url string, body any) (int, []byte) {
	c.t.Helper()
	if !strings.Contains(url, "?") {
		url += api
	}
	st, b, err := c.s.Call(c.tok, method, url, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return st, b
}

// must calls and requires status want, decoding the body into out.
func (c *sdClient) must(want int, method, url string, body, out any) []byte {
	c.t.Helper()
	st, b := c.call(method, url, body)
	if st != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, url, st, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return b
}

func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var e wire.Error
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	return e.Error.Code
}

// tokenOID reads the oid claim of a JWT (no verification: our own token).
func tokenOID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		OID string `json:"oid"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.OID == "" {
		t.Fatalf("token has no oid: %v", err)
	}
	return c.OID
}

func newOfficer(t *testing.T, cn string) securitydomain.Officer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return securitydomain.Officer{Key: k, Cert: c}
}

func certificateInfo(t *testing.T, officers []securitydomain.Officer, required int) wire.CertificateInfo {
	t.Helper()
	ci := wire.CertificateInfo{Required: &required}
	for _, o := range officers {
		j, err := securitydomain.WrappingKeyJWK(o.Cert)
		if err != nil {
			t.Fatal(err)
		}
		ci.Certificates = append(ci.Certificates, j)
	}
	return ci
}

// assignCryptoUser gives oid Crypto User at "/" through the API (a role
// write, refused before activation).
func assignCryptoUser(c *sdClient, base, oid string) (int, []byte) {
	body := map[string]any{"properties": map[string]string{
		"roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b",
		"principalId":      oid}}
	return c.call("PUT", base+"/providers/Microsoft.Authorization/roleAssignments/"+newName(), body)
}

var nameSeq int

func newName() string {
	nameSeq++
	return "00000000-0000-4000-8000-" + strings.Repeat("0", 12-len(itoa(nameSeq))) + itoa(nameSeq)
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// TestSecurityDomainActivationAndRecovery drives activation and disaster
// recovery through the real server: an HSM answers nothing but security
// domain routes and role reads until a download with 3 certificates and
// quorum 2 activates it; a recovery-mode HSM hands out a transfer key and
// takes a restore blob built offline from 2 of the 3 private keys, after
// which a key backup of the original restores on it and a signature made
// before the disaster verifies.
func TestSecurityDomainActivationAndRecovery(t *testing.T) {
	s := testserver.Start(t, nil)
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	c := &sdClient{t: t, s: s, tok: tok}
	oid := tokenOID(t, tok)
	ctx := context.Background()
	if _, err := s.App.HSMs().Create(ctx, hsm.CreateParams{Name: "orig", TenantID: s.Dev.TenantID, Admins: []string{oid}}); err != nil {
		t.Fatal(err)
	}
	orig := s.HSMURL("orig")

	// Not activated: only security domain routes and role reads.
	for _, r := range []struct{ method, path string }{
		{"POST", "/keys/k1/create"}, {"GET", "/keys"}, {"POST", "/keys/restore"}, {"GET", "/settings"},
		{"PUT", "/providers/Microsoft.Authorization/roleAssignments/" + newName()},
	} {
		st, b := c.call(r.method, orig+r.path, map[string]any{"kty": "RSA"})
		if st != 403 || errorCode(t, b) != "HSMNotActivated" {
			t.Fatalf("%s %s before activation = %d %s, want 403 HSMNotActivated", r.method, r.path, st, b)
		}
	}
	c.must(200, "GET", orig+"/providers/Microsoft.Authorization/roleAssignments", nil, nil)
	c.must(200, "GET", orig+"/providers/Microsoft.Authorization/roleDefinitions", nil, nil)
	st, b := c.call("GET", orig+"/securitydomain/download/pending", nil)
	if st != 404 {
		t.Fatalf("download/pending before any download = %d %s", st, b)
	}
	// Unauthenticated callers still get the challenge, not the gate.
	if st, _, _ := s.Call("", "GET", orig+"/keys"+api, nil); st != 401 {
		t.Fatalf("unauthenticated = %d, want 401", st)
	}

	officers := []securitydomain.Officer{newOfficer(t, "o0"), newOfficer(t, "o1"), newOfficer(t, "o2")}
	// Bad requests do not activate.
	for name, ci := range map[string]wire.CertificateInfo{
		"two certificates": certificateInfo(t, officers[:2], 2),
		"quorum 4 of 3":    certificateInfo(t, officers, 4),
		"quorum 1":         certificateInfo(t, officers, 1),
	} {
		if st, b := c.call("POST", orig+"/securitydomain/download", ci); st != 400 {
			t.Fatalf("%s: %d %s, want 400", name, st, b)
		}
	}
	if st, _ := c.call("GET", orig+"/keys", nil); st != 403 {
		t.Fatal("a failed download activated the HSM")
	}

	// Download: 3 certificates, quorum 2.
	st, b, err = s.Call(tok, "POST", orig+"/securitydomain/download"+api, certificateInfo(t, officers, 2))
	if err != nil || st != 202 {
		t.Fatalf("download = %d %s %v", st, b, err)
	}
	var sdObj wire.SecurityDomainObject
	if err := json.Unmarshal(b, &sdObj); err != nil {
		t.Fatal(err)
	}
	file := []byte(sdObj.Value)
	f, err := securitydomain.ParseFile(file)
	if err != nil || f.SharedKeys.Required != 2 || len(f.SharedKeys.EncShares) != 3 {
		t.Fatalf("downloaded file: %v", err)
	}
	for _, op := range []string{"download", "upload"} { // upload/pending: az 2.45 polls it after a download
		var ps wire.SecurityDomainOperationStatus
		c.must(200, "GET", orig+"/securitydomain/"+op+"/pending", nil, &ps)
		if ps.Status != "Success" {
			t.Fatalf("%s/pending = %+v", op, ps)
		}
	}
	if h, _ := s.App.HSMs().Get("orig"); !h.Activated {
		t.Fatal("HSM not activated after download")
	}
	// Activated: no transfer key, no upload.
	if st, b := c.call("GET", orig+"/securitydomain/upload", nil); st != 409 || errorCode(t, b) != "HSMAlreadyActivated" {
		t.Fatalf("transfer key after activation = %d %s", st, b)
	}

	// Keys, a signature and a backup on the original.
	if st, b := assignCryptoUser(c, orig, oid); st != 201 && st != 200 {
		t.Fatalf("role assignment after activation = %d %s", st, b)
	}
	var kb wire.KeyBundle
	c.must(200, "POST", orig+"/keys/signer/create", map[string]any{"kty": "RSA-HSM", "key_size": 2048}, &kb)
	digest := sha256.Sum256([]byte("signed before the disaster"))
	var sig wire.KeyOperationResult
	c.must(200, "POST", orig+"/keys/signer/sign", map[string]any{"alg": "RS256", "value": base64.RawURLEncoding.EncodeToString(digest[:])}, &sig)
	var backup wire.BackupKeyResult
	c.must(200, "POST", orig+"/keys/signer/backup", nil, &backup)
	// A second download is refused once activated (issue #14.5; the server
	// setting AllowSecurityDomainRedownload allows it, test/rbac).
	if st, b := c.call("POST", orig+"/securitydomain/download", certificateInfo(t, officers, 3)); st != 409 || errorCode(t, b) != "SecurityDomainAlreadyDownloaded" {
		t.Fatalf("second download = %d %s", st, b)
	}

	// The disaster: a new HSM in recovery mode.
	if _, err := s.App.HSMs().Create(ctx, hsm.CreateParams{Name: "recov", TenantID: s.Dev.TenantID, Admins: []string{oid}, Recovery: true}); err != nil {
		t.Fatal(err)
	}
	recov := s.HSMURL("recov")
	if st, b := c.call("POST", recov+"/securitydomain/download", certificateInfo(t, officers, 2)); st != 409 || errorCode(t, b) != "SecurityDomainRecoveryPending" {
		t.Fatalf("download on a recovery HSM = %d %s", st, b)
	}
	if st, b := c.call("POST", recov+"/keys/restore", backup); st != 403 || errorCode(t, b) != "HSMNotActivated" {
		t.Fatalf("restore before recovery = %d %s", st, b)
	}
	// Upload before the transfer key exists.
	if st, b := c.call("POST", recov+"/securitydomain/upload", map[string]string{"value": "{}"}); st != 409 || errorCode(t, b) != "TransferKeyNotFound" {
		t.Fatalf("upload without transfer key = %d %s", st, b)
	}
	var tk struct {
		KeyFormat   string          `json:"key_format"`
		TransferKey json.RawMessage `json:"transfer_key"`
	}
	c.must(200, "GET", recov+"/securitydomain/upload", nil, &tk)
	if tk.KeyFormat != "jwk" || tk.TransferKey[0] != '"' {
		t.Fatalf("transfer key = %s %.40s (want key_format jwk and a JSON string)", tk.KeyFormat, tk.TransferKey)
	}
	exchange, err := securitydomain.ParseTransferKey(tk.TransferKey)
	if err != nil {
		t.Fatal(err)
	}
	var tk2 wire.TransferKey
	c.must(200, "GET", recov+"/securitydomain/upload", nil, &tk2)
	if again, _ := securitydomain.ParseTransferKey(json.RawMessage(`"` + strings.ReplaceAll(tk2.TransferKey, `"`, `\"`) + `"`)); again == nil || !again.Equal(exchange) {
		t.Fatal("the transfer key changed between two reads")
	}

	// Offline: officers 0 and 2 build the restore blob.
	blob, err := securitydomain.MakeRestoreBlob(file, []securitydomain.Officer{officers[0], officers[2]}, exchange)
	if err != nil {
		t.Fatal(err)
	}
	// A blob for another transfer key, and a tampered blob, are refused and
	// reported as failed.
	other := newOfficer(t, "not the transfer key")
	wrong, err := securitydomain.MakeRestoreBlob(file, officers[:2], other.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if st, b := c.call("POST", recov+"/securitydomain/upload", wire.SecurityDomainObject{Value: string(wrong)}); st != 400 {
		t.Fatalf("blob for another transfer key = %d %s", st, b)
	}
	var rb securitydomain.RestoreBlob
	_ = json.Unmarshal(blob, &rb)
	parts := strings.Split(rb.EncData.Data[0].CompactJWE, ".")
	parts[3] = "A" + parts[3][1:]
	if parts[3] == strings.Split(rb.EncData.Data[0].CompactJWE, ".")[3] {
		parts[3] = "B" + parts[3][1:]
	}
	rb.EncData.Data[0].CompactJWE = strings.Join(parts, ".")
	tampered, _ := json.Marshal(rb)
	if st, b := c.call("POST", recov+"/securitydomain/upload", wire.SecurityDomainObject{Value: string(tampered)}); st != 400 {
		t.Fatalf("tampered blob = %d %s", st, b)
	}
	var ps wire.SecurityDomainOperationStatus
	c.must(200, "GET", recov+"/securitydomain/upload/pending", nil, &ps)
	if ps.Status != "Failed" {
		t.Fatalf("upload/pending after a refused blob = %+v", ps)
	}
	if st, _ := c.call("GET", recov+"/keys", nil); st != 403 {
		t.Fatal("a refused upload activated the HSM")
	}

	// The upload.
	st, b, err = s.Call(tok, "POST", recov+"/securitydomain/upload"+api, wire.SecurityDomainObject{Value: string(blob)})
	if err != nil || st != 202 {
		t.Fatalf("upload = %d %s %v", st, b, err)
	}
	c.must(200, "GET", recov+"/securitydomain/upload/pending", nil, &ps)
	if ps.Status != "Success" {
		t.Fatalf("upload/pending = %+v", ps)
	}
	if st, b := c.call("POST", recov+"/securitydomain/upload", wire.SecurityDomainObject{Value: string(blob)}); st != 409 || errorCode(t, b) != "HSMAlreadyActivated" {
		t.Fatalf("second upload = %d %s", st, b)
	}

	// The recovered HSM restores the original's backup; the old signature
	// verifies and the key signs anew.
	if st, b := assignCryptoUser(c, recov, oid); st != 201 && st != 200 {
		t.Fatalf("role assignment after recovery = %d %s", st, b)
	}
	var restored wire.KeyBundle
	c.must(200, "POST", recov+"/keys/restore", backup, &restored)
	if restored.Key.Kid == "" || !strings.HasPrefix(restored.Key.Kid, recov+"/keys/signer/") {
		t.Fatalf("restored kid = %q", restored.Key.Kid)
	}
	var ver wire.KeyVerifyResult
	c.must(200, "POST", recov+"/keys/signer/verify", map[string]any{"alg": "RS256",
		"digest": base64.RawURLEncoding.EncodeToString(digest[:]), "value": base64.RawURLEncoding.EncodeToString(sig.Value)}, &ver)
	if !ver.Value {
		t.Fatal("the signature made before the disaster does not verify on the recovered HSM")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(restored.Key.N), E: int(new(big.Int).SetBytes(restored.Key.E).Int64())}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig.Value); err != nil {
		t.Fatalf("old signature, verified locally with the restored key: %v", err)
	}
	digest2 := sha256.Sum256([]byte("signed after recovery"))
	var sig2 wire.KeyOperationResult
	c.must(200, "POST", recov+"/keys/signer/sign", map[string]any{"alg": "RS256", "value": base64.RawURLEncoding.EncodeToString(digest2[:])}, &sig2)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest2[:], sig2.Value); err != nil {
		t.Fatalf("new signature: %v", err)
	}

	// A backup from another security domain (the dev HSM) does not restore.
	dev := s.HSMURL("dev")
	c.must(200, "POST", dev+"/keys/other/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	var foreign wire.BackupKeyResult
	c.must(200, "POST", dev+"/keys/other/backup", nil, &foreign)
	if st, b := c.call("POST", recov+"/keys/restore", foreign); st != 400 {
		t.Fatalf("restore of another domain's backup = %d %s", st, b)
	}
}
