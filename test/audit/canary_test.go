package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestNoSecretsInAuditOrLogs sends secrets through every channel a client
// has — plaintexts, bearer tokens, client secrets, passwords, private key
// material, query strings, headers — and then searches every audit record
// (local and delivered), every log line and every error body for them.
func TestNoSecretsInAuditOrLogs(t *testing.T) {
	logs := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)

	s := testserver.Start(t, func(c *config.Server) { c.MSIAddr = "127.0.0.1:0" })
	if err := s.App.AuditDelivery().Configure("dev", "canary", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/canarystore"); err != nil {
		t.Fatal(err)
	}
	var secrets []string // every value that must never appear
	canary := func(label string) string {
		v := "CANARY-" + label + "-" + strings.Repeat("z", 8)
		secrets = append(secrets, v, b64u([]byte(v)), base64.StdEncoding.EncodeToString([]byte(v)))
		return v
	}
	var errorBodies [][]byte
	check := func(r result) {
		if r.status >= 400 {
			errorBodies = append(errorBodies, r.body)
		}
	}

	// Client secrets and passwords, right and wrong, and a secret pasted
	// into the client id field.
	secrets = append(secrets, s.Dev.ClientSecret)
	r, tok := tokenReq(t, s, url.Values{"client_id": {s.Dev.ClientID}, "client_secret": {s.Dev.ClientSecret}})
	if r.status != 200 {
		t.Fatalf("token: %d", r.status)
	}
	secrets = append(secrets, tok)
	r, _ = tokenReq(t, s, url.Values{"client_id": {s.Dev.ClientID}, "client_secret": {canary("clientsecret")}})
	check(r)
	r, _ = tokenReq(t, s, url.Values{"client_id": {canary("secretasclientid")}, "client_secret": {"x"}})
	check(r)
	r, _ = tokenReq(t, s, url.Values{"grant_type": {"password"}, "client_id": {s.Dev.ClientID}, "username": {"someone@" + s.Config().Domain}, "password": {canary("password")}})
	check(r)
	r, _ = tokenReq(t, s, url.Values{"grant_type": {"password"}, "client_id": {s.Dev.ClientID}, "username": {canary("passwordasusername")}, "password": {"x"}})
	check(r)
	r, _ = tokenReq(t, s, url.Values{"grant_type": {"refresh_token"}, "client_id": {s.Dev.ClientID}, "refresh_token": {canary("refreshtoken")}})
	check(r)

	// Managed identity headers, right and wrong.
	_, header, err := s.App.Directory().CreateIdentity(context.Background(), s.Dev.TenantID, "mi-canary")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, header)
	msi := "http://" + s.App.MSIAddr().String() + "/msi/token?api-version=2019-08-01&resource=" + url.QueryEscape(s.URL("managedhsm"))
	r = do(t, s, "GET", msi, "", nil, map[string]string{"X-IDENTITY-HEADER": header})
	if r.status != 200 {
		t.Fatalf("msi: %d %s", r.status, r.body)
	}
	var miTok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &miTok); err != nil || miTok.AccessToken == "" {
		t.Fatalf("msi token: %v", err)
	}
	secrets = append(secrets, miTok.AccessToken)
	check(do(t, s, "GET", msi, "", nil, map[string]string{"X-IDENTITY-HEADER": canary("identityheader")}))
	check(do(t, s, "GET", msi+"&client_id="+canary("msiclientid"), "", nil, map[string]string{"X-IDENTITY-HEADER": header}))

	base, v := s.HSMURL("dev"), "?api-version=7.6"
	// Bearer tokens: a forged one, and one in the query string.
	check(do(t, s, "GET", base+"/keys"+v, canary("bearer"), nil, nil))
	check(do(t, s, "GET", base+"/keys"+v+"&access_token="+canary("querytoken"), tok, nil, map[string]string{"x-ms-client-request-id": canary("clientrequestid")}))

	// Private key material: import an RSA key.
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k.Precompute()
	jwk := map[string]any{"kty": "RSA-HSM", "key_ops": []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"},
		"n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes()), "d": b64u(k.D.Bytes()),
		"p": b64u(k.Primes[0].Bytes()), "q": b64u(k.Primes[1].Bytes()), "dp": b64u(k.Precomputed.Dp.Bytes()),
		"dq": b64u(k.Precomputed.Dq.Bytes()), "qi": b64u(k.Precomputed.Qinv.Bytes())}
	for _, f := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		secrets = append(secrets, jwk[f].(string))
	}
	if r := do(t, s, "PUT", base+"/keys/imported"+v, tok, map[string]any{"key": jwk}, nil); r.status != 200 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	// A bad import carrying key material too.
	bad := map[string]any{"kty": "RSA-HSM", "n": "AQAB", "e": "AQAB", "d": canary("badprivate")}
	check(do(t, s, "PUT", base+"/keys/imported2"+v, tok, map[string]any{"key": bad}, nil))

	// Plaintext in, ciphertext out, plaintext back.
	plain := canary("plaintext")
	r = do(t, s, "POST", base+"/keys/imported/encrypt"+v, tok, map[string]any{"alg": "RSA-OAEP-256", "value": b64u([]byte(plain))}, nil)
	if r.status != 200 {
		t.Fatalf("encrypt: %d %s", r.status, r.body)
	}
	var ct struct {
		Value string `json:"value"`
	}
	_ = json.Unmarshal(r.body, &ct)
	secrets = append(secrets, ct.Value)
	if r := do(t, s, "POST", base+"/keys/imported/decrypt"+v, tok, map[string]any{"alg": "RSA-OAEP-256", "value": ct.Value}, nil); r.status != 200 {
		t.Fatalf("decrypt: %d %s", r.status, r.body)
	}
	// A decrypt that fails, with the plaintext where ciphertext belongs.
	check(do(t, s, "POST", base+"/keys/imported/decrypt"+v, tok, map[string]any{"alg": "RSA-OAEP-256", "value": b64u([]byte(canary("notciphertext")))}, nil))
	// A signature out.
	digest := make([]byte, 32)
	r = do(t, s, "POST", base+"/keys/imported/sign"+v, tok, map[string]any{"alg": "RS256", "value": b64u(digest)}, nil)
	if r.status != 200 {
		t.Fatalf("sign: %d %s", r.status, r.body)
	}
	var sig struct {
		Value string `json:"value"`
	}
	_ = json.Unmarshal(r.body, &sig)
	secrets = append(secrets, sig.Value)
	// Malformed bodies echo nothing.
	check(do(t, s, "POST", base+"/keys/imported/sign"+v, tok, `{"alg":"RS256","value":"`+canary("badjson")+`",}`, nil))

	if err := s.App.Audit().Checkpoint("dev"); err != nil {
		t.Fatal(err)
	}
	if err := s.App.AuditDelivery().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	dataDir := s.Config().DataDir
	s.Stop() // final checkpoints and delivery; everything is on disk now

	var outputs []struct{ name, text string }
	for _, root := range []string{filepath.Join(dataDir, "audit"), filepath.Join(dataDir, "storage")} {
		n := 0
		_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				b, _ := os.ReadFile(p)
				outputs = append(outputs, struct{ name, text string }{p, string(b)})
				n++
			}
			return nil
		})
		if n == 0 {
			t.Fatalf("nothing under %s", root)
		}
	}
	outputs = append(outputs, struct{ name, text string }{"server log", logs.String()})
	for i, b := range errorBodies {
		outputs = append(outputs, struct{ name, text string }{"error body " + string(rune('0'+i)), string(b)})
	}
	delivered := false
	for _, o := range outputs {
		delivered = delivered || strings.HasSuffix(o.name, "PT1H.json")
		for _, sec := range secrets {
			if sec != "" && strings.Contains(o.text, sec) {
				t.Errorf("secret %.24q… found in %s", sec, o.name)
			}
		}
		if strings.Contains(o.text, "CANARY") {
			t.Errorf("a canary found in %s", o.name)
		}
	}
	if !delivered {
		t.Error("no delivered log was checked")
	}
}
