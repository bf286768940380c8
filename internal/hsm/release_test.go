package hsm

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// fakeAttest trusts tokens that are JSON claim sets with an "iss" field
// (the test stands in for signature verification, which app tests cover).
type fakeAttest struct{}

func (fakeAttest) VerifyAttestation(_ context.Context, tok string) (string, map[string]any, error) {
	c := map[string]any{}
	if err := json.Unmarshal([]byte(tok), &c); err != nil {
		return "", nil, err
	}
	iss, _ := c["iss"].(string)
	if iss == "" {
		return "", nil, errors.New("untrusted")
	}
	return iss, c, nil
}

func (fakeAttest) SignRelease(_ context.Context, _ string, payload []byte) (string, error) {
	return base64.RawURLEncoding.EncodeToString(payload), nil
}

func newTestService(t *testing.T, o Options) (*Service, *HSM) {
	t.Helper()
	root := make([]byte, 32)
	_, _ = rand.Read(root)
	ring, err := barrier.NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	if o.BaseURL == nil {
		o.BaseURL = func(n string) string { return "https://" + n + ".managedhsm.test" }
	}
	s, err := NewService(context.Background(), store.NewMemory(), ring, o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Create(context.Background(), CreateParams{Name: "h", TenantID: "00000000-0000-0000-0000-000000000001", Activated: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

func TestReleaseKey(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{Attestation: fakeAttest{}})
	policy := `{"version":"1.0.0","anyOf":[{"authority":"https://attest.example/","allOf":[{"claim":"x-ms-isolation","equals":"sevsnp"}]}]}`
	yes := true
	b, err := s.CreateKey(ctx, h, "exp", &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256",
		Attributes: &wire.KeyAttributes{Exportable: &yes}, ReleasePolicy: &wire.KeyReleasePolicy{Data: []byte(policy)}})
	if err != nil {
		t.Fatal(err)
	}
	runtime, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk := map[string]any{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(runtime.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(runtime.E)).Bytes())}
	target := func(iss, iso string) string {
		b, _ := json.Marshal(map[string]any{"iss": iss, "x-ms-isolation": iso, "x-ms-runtime": map[string]any{"keys": []any{rk}}})
		return string(b)
	}
	for name, tgt := range map[string]string{
		"wrong authority": target("https://other.example", "sevsnp"),
		"wrong claim":     target("https://attest.example", "none"),
	} {
		if _, err := s.ReleaseKey(ctx, h, "exp", "", &wire.KeyReleaseParameters{Target: tgt}); err == nil {
			t.Errorf("%s: released", name)
		}
	}
	res, err := s.ReleaseKey(ctx, h, "exp", "", &wire.KeyReleaseParameters{Target: target("https://attest.example", "sevsnp"), Enc: "RSA_AES_KEY_WRAP_256"})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(res.Value)
	var out struct {
		Response struct {
			Key wire.KeyBundle `json:"key"`
		} `json:"response"`
	}
	if err := json.Unmarshal(payload, &out); err != nil {
		t.Fatal(err)
	}
	var blob struct {
		Ciphertext string `json:"ciphertext"`
	}
	if err := json.Unmarshal(out.Response.Key.Key.KeyHSM, &blob); err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.RawURLEncoding.DecodeString(blob.Ciphertext)
	aesKey, err := rsa.DecryptOAEP(sha256.New(), nil, runtime, ct[:256], nil)
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := keys.FromJWK(&keys.JSONWebKey{Kty: "oct", K: aesKey})
	der, err := kek.UnwrapKey("CKM_AES_KEY_WRAP_PAD", ct[256:])
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	ec := priv.(*ecdsa.PrivateKey)
	if x := ec.PublicKey.X.FillBytes(make([]byte, 32)); string(x) != string(b.Key.X) {
		t.Fatal("released key is not the HSM key")
	}
	// Not exportable: refused.
	if _, err := s.CreateKey(ctx, h, "plain", &wire.KeyCreateParameters{Kty: "EC-HSM"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseKey(ctx, h, "plain", "", &wire.KeyReleaseParameters{Target: target("https://attest.example", "sevsnp")}); err == nil {
		t.Error("a non-exportable key was released")
	}
	// No attestation authority configured: refused.
	s2, h2 := newTestService(t, Options{})
	if _, err := s2.ReleaseKey(ctx, h2, "exp", "", &wire.KeyReleaseParameters{Target: "x"}); err == nil {
		t.Error("release without a trusted authority")
	}
}
