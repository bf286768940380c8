package keys

import (
	"crypto"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"sync"
	"testing"
)

// keyCache shares generated keys between tests: RSA generation (4096 bits in
// particular) dominates the run time otherwise.
var keyCache struct {
	sync.Mutex
	m map[string]*keyOnce
}

type keyOnce struct {
	once sync.Once
	m    *Material
	err  error
}

// testKey returns a shared generated key. Callers must not Zero it.
func testKey(t testing.TB, kty string, size int, crv string) *Material {
	t.Helper()
	id := fmt.Sprintf("%s/%d/%s", kty, size, crv)
	keyCache.Lock()
	if keyCache.m == nil {
		keyCache.m = map[string]*keyOnce{}
	}
	k := keyCache.m[id]
	if k == nil {
		k = &keyOnce{}
		keyCache.m[id] = k
	}
	keyCache.Unlock()
	k.once.Do(func() { k.m, k.err = Generate(kty, size, crv) })
	if k.err != nil {
		t.Fatalf("Generate(%q, %d, %q): %v", kty, size, crv, k.err)
	}
	return k.m
}

// hexBytes decodes a hex JSON string (the Wycheproof encoding).
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// hashByName maps a Wycheproof hash name to crypto.Hash.
func hashByName(t testing.TB, name string) crypto.Hash {
	t.Helper()
	switch name {
	case "SHA-1":
		return crypto.SHA1
	case "SHA-256":
		return crypto.SHA256
	case "SHA-384":
		return crypto.SHA384
	case "SHA-512":
		return crypto.SHA512
	}
	t.Fatalf("unsupported hash %q", name)
	return 0
}

func digestOf(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// rsaPublicFromJWK builds a Go RSA public key from a JWK (independent of the
// package's own parsing, for cross-checks).
func rsaPublicFromJWK(t testing.TB, j JSONWebKey) *rsa.PublicKey {
	t.Helper()
	if len(j.N) == 0 || len(j.E) == 0 {
		t.Fatalf("public JWK lacks n/e: %+v", j)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(new(big.Int).SetBytes(j.E).Int64())}
}

// jwkFromGoRSA builds a private JWK from a Go RSA key.
func jwkFromGoRSA(k *rsa.PrivateKey) *JSONWebKey {
	k.Precompute()
	return &JSONWebKey{
		Kty: "RSA",
		N:   k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes(), D: k.D.Bytes(),
		P: k.Primes[0].Bytes(), Q: k.Primes[1].Bytes(),
		DP: k.Precomputed.Dp.Bytes(), DQ: k.Precomputed.Dq.Bytes(), QI: k.Precomputed.Qinv.Bytes(),
	}
}
