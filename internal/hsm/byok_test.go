package hsm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/wire"
)

// byokFor builds a .byok blob the way Azure's BYOK tooling does.
func byokFor(t *testing.T, kek *wire.KeyBundle, target []byte, enc string) []byte {
	t.Helper()
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(kek.Key.N), E: int(new(big.Int).SetBytes(kek.Key.E).Int64())}
	aesKey := make([]byte, 32)
	_, _ = rand.Read(aesKey)
	h := sha1.New()
	if enc == "RSA_AES_KEY_WRAP_256" {
		h = sha256.New()
	}
	head, err := rsa.EncryptOAEP(h, rand.Reader, pub, aesKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	kw, _ := keys.FromJWK(&keys.JSONWebKey{Kty: "oct", K: aesKey})
	tail, err := kw.WrapKey("CKM_AES_KEY_WRAP_PAD", target)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"schema_version": "1.0.0",
		"header": map[string]string{"kid": kek.Key.Kid, "alg": "dir", "enc": enc}, "ciphertext": keys.B64(append(head, tail...))})
	return b
}

func TestBYOKImport(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	kek, err := s.CreateKey(ctx, h, "kek", &wire.KeyCreateParameters{Kty: "RSA-HSM", KeyOps: []string{"import"}})
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	for _, enc := range []string{"CKM_RSA_AES_KEY_WRAP", "RSA_AES_KEY_WRAP_256"} {
		b, err := s.ImportKey(ctx, h, "imported-"+enc[:3], &wire.KeyImportParameters{Key: &keys.JSONWebKey{Kty: "EC-HSM", Crv: "P-256",
			KeyOps: []string{"sign", "verify"}, KeyHSM: byokFor(t, kek, der, enc)}})
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if new(big.Int).SetBytes(b.Key.X).Cmp(priv.X) != 0 {
			t.Fatalf("%s: imported a different key", enc)
		}
	}
	// A blob for another KEK, or tampered, or a KEK that may do more than import, is refused.
	blob := byokFor(t, kek, der, "CKM_RSA_AES_KEY_WRAP")
	var m map[string]any
	_ = json.Unmarshal(blob, &m)
	ct := []byte(m["ciphertext"].(string))
	ct[len(ct)-3] ^= 1
	m["ciphertext"] = string(ct)
	tampered, _ := json.Marshal(m)
	if _, err := s.ImportKey(ctx, h, "bad", &wire.KeyImportParameters{Key: &keys.JSONWebKey{Kty: "EC-HSM", KeyHSM: tampered}}); err == nil {
		t.Error("tampered blob imported")
	}
	general, _ := s.CreateKey(ctx, h, "general", &wire.KeyCreateParameters{Kty: "RSA-HSM"})
	if _, err := s.ImportKey(ctx, h, "bad2", &wire.KeyImportParameters{Key: &keys.JSONWebKey{Kty: "EC-HSM", KeyHSM: byokFor(t, general, der, "CKM_RSA_AES_KEY_WRAP")}}); err == nil {
		t.Error("a KEK with general key_ops was accepted")
	}
}
