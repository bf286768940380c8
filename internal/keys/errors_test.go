package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestSignVerifyBadRequests(t *testing.T) {
	t.Parallel()
	rsaKey := testKey(t, "RSA", 2048, "")
	p256 := testKey(t, "EC", 0, "P-256")
	k1 := testKey(t, "EC", 0, "P-256K")
	p521 := testKey(t, "EC", 0, "P-521")
	oct := testKey(t, "oct", 256, "")
	cases := []struct {
		name   string
		m      *Material
		alg    string
		digest []byte
	}{
		{"rsa unknown alg", rsaKey, "RS1", make([]byte, 32)},
		{"rsa empty alg", rsaKey, "", make([]byte, 32)},
		{"rsa with EC alg", rsaKey, "ES256", make([]byte, 32)},
		{"RS256 short digest", rsaKey, "RS256", make([]byte, 31)},
		{"RS256 with sha384 digest", rsaKey, "RS256", make([]byte, 48)},
		{"RS384 wrong digest", rsaKey, "RS384", make([]byte, 32)},
		{"RS512 wrong digest", rsaKey, "RS512", make([]byte, 48)},
		{"PS256 wrong digest", rsaKey, "PS256", make([]byte, 64)},
		{"PS512 wrong digest", rsaKey, "PS512", nil},
		{"RSNULL empty", rsaKey, "RSNULL", nil},
		{"RSNULL too long", rsaKey, "RSNULL", make([]byte, 256-10)},
		{"EC with RSA alg", p256, "RS256", make([]byte, 32)},
		{"P-256 with ES384", p256, "ES384", make([]byte, 48)},
		{"P-256 with ES256K", p256, "ES256K", make([]byte, 32)},
		{"P-256K with ES256", k1, "ES256", make([]byte, 32)},
		{"ES256 wrong digest", p256, "ES256", make([]byte, 48)},
		{"ES256K wrong digest", k1, "ES256K", make([]byte, 33)},
		{"ES512 with 66-byte digest", p521, "ES512", make([]byte, 66)},
		{"oct sign", oct, "HS256", make([]byte, 32)},
		{"oct sign ES256", oct, "ES256", make([]byte, 32)},
	}
	for _, c := range cases {
		if sig, err := c.m.Sign(c.alg, c.digest); !errors.Is(err, ErrBadRequest) || sig != nil {
			t.Errorf("%s: Sign = %x, %v; want ErrBadRequest", c.name, sig, err)
		}
		if ok, err := c.m.Verify(c.alg, c.digest, make([]byte, 64)); !errors.Is(err, ErrBadRequest) || ok {
			t.Errorf("%s: Verify = %v, %v; want ErrBadRequest", c.name, ok, err)
		}
	}
	// Messages name the problem.
	_, err := p256.Sign("ES384", make([]byte, 48))
	if err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("curve mismatch message: %v", err)
	}
	_, err = rsaKey.Sign("RS256", make([]byte, 20))
	if err == nil || !strings.Contains(err.Error(), "32-byte") {
		t.Errorf("digest length message: %v", err)
	}
}

func TestCipherBadRequests(t *testing.T) {
	t.Parallel()
	rsaKey := testKey(t, "RSA", 2048, "")
	ec := testKey(t, "EC", 0, "P-256")
	o128 := testKey(t, "oct", 128, "")
	iv16, iv12, tag := make([]byte, 16), make([]byte, 12), make([]byte, 16)
	type op func(*Material, CipherParams) (CipherResult, error)
	enc, dec := (*Material).Encrypt, (*Material).Decrypt
	cases := []struct {
		name string
		f    op
		m    *Material
		p    CipherParams
	}{
		{"EC encrypt", enc, ec, CipherParams{Alg: "RSA-OAEP", Value: []byte("x")}},
		{"EC decrypt", dec, ec, CipherParams{Alg: "RSA-OAEP", Value: []byte("x")}},
		{"RSA unknown alg", enc, rsaKey, CipherParams{Alg: "RSA-OAEP-512", Value: []byte("x")}},
		{"RSA with AES alg", enc, rsaKey, CipherParams{Alg: "A128GCM", Value: []byte("x")}},
		{"RSA with aad", enc, rsaKey, CipherParams{Alg: "RSA-OAEP", Value: []byte("x"), AAD: []byte("a")}},
		{"RSA decrypt with iv", dec, rsaKey, CipherParams{Alg: "RSA-OAEP", Value: make([]byte, 256), IV: iv16}},
		{"RSA decrypt unknown alg", dec, rsaKey, CipherParams{Alg: "RSA-OAEP-384", Value: make([]byte, 256)}},
		{"oct with RSA alg", enc, o128, CipherParams{Alg: "RSA-OAEP", Value: []byte("x")}},
		{"oct key-size mismatch GCM", enc, o128, CipherParams{Alg: "A256GCM", Value: []byte("x")}},
		{"oct key-size mismatch CBC", enc, o128, CipherParams{Alg: "A192CBC", Value: make([]byte, 16), IV: iv16}},
		{"oct decrypt size mismatch", dec, o128, CipherParams{Alg: "A256GCM", Value: []byte("x"), IV: iv12, Tag: tag}},
		{"oct wrap alg on encrypt", enc, o128, CipherParams{Alg: "A128KW", Value: make([]byte, 16)}},
		{"GCM client IV", enc, o128, CipherParams{Alg: "A128GCM", Value: []byte("x"), IV: iv12}},
		{"GCM client tag", enc, o128, CipherParams{Alg: "A128GCM", Value: []byte("x"), Tag: tag}},
		{"GCM decrypt no IV", dec, o128, CipherParams{Alg: "A128GCM", Value: []byte("x"), Tag: tag}},
		{"GCM decrypt 16-byte IV", dec, o128, CipherParams{Alg: "A128GCM", Value: []byte("x"), IV: iv16, Tag: tag}},
		{"GCM decrypt no tag", dec, o128, CipherParams{Alg: "A128GCM", Value: []byte("x"), IV: iv12}},
		{"GCM decrypt short tag", dec, o128, CipherParams{Alg: "A128GCM", Value: []byte("x"), IV: iv12, Tag: tag[:12]}},
		{"CBC no IV", enc, o128, CipherParams{Alg: "A128CBC", Value: make([]byte, 16)}},
		{"CBC short IV", enc, o128, CipherParams{Alg: "A128CBC", Value: make([]byte, 16), IV: iv12}},
		{"CBC not block multiple", enc, o128, CipherParams{Alg: "A128CBC", Value: make([]byte, 17), IV: iv16}},
		{"CBC empty", enc, o128, CipherParams{Alg: "A128CBC", Value: nil, IV: iv16}},
		{"CBC with aad", enc, o128, CipherParams{Alg: "A128CBC", Value: make([]byte, 16), IV: iv16, AAD: []byte("a")}},
		{"CBCPAD no IV", enc, o128, CipherParams{Alg: "A128CBCPAD", Value: []byte("x")}},
		{"CBCPAD decrypt no IV", dec, o128, CipherParams{Alg: "A128CBCPAD", Value: make([]byte, 16)}},
		{"CBCPAD decrypt long IV", dec, o128, CipherParams{Alg: "A128CBCPAD", Value: make([]byte, 16), IV: make([]byte, 17)}},
		{"CBC decrypt with tag", dec, o128, CipherParams{Alg: "A128CBC", Value: make([]byte, 16), IV: iv16, Tag: tag}},
	}
	for _, c := range cases {
		res, err := c.f(c.m, c.p)
		if !errors.Is(err, ErrBadRequest) || res.Value != nil {
			t.Errorf("%s: %v; want ErrBadRequest", c.name, err)
		}
		if errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: parameter error reported as ErrDecrypt", c.name)
		}
	}
	wrapCases := []struct {
		name string
		m    *Material
		alg  string
	}{
		{"EC wrap", ec, "RSA-OAEP"}, {"oct with RSA alg", o128, "RSA-OAEP"}, {"KW size mismatch", o128, "A256KW"},
		{"unknown", o128, "A128GCMKW"}, {"encrypt alg", o128, "A128GCM"}, {"RSA with KW", rsaKey, "A128KW"},
	}
	for _, c := range wrapCases {
		if _, err := c.m.WrapKey(c.alg, make([]byte, 16)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: WrapKey %v; want ErrBadRequest", c.name, err)
		}
		if _, err := c.m.UnwrapKey(c.alg, make([]byte, 24)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: UnwrapKey %v; want ErrBadRequest", c.name, err)
		}
	}
}

func TestSentinelsDistinct(t *testing.T) {
	all := []error{ErrInvalidKeyParams, ErrBadRequest, ErrDecrypt}
	for i, a := range all {
		for j, b := range all {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, errors.Is(a, b))
			}
		}
	}
}

func TestFromJWKInvalid(t *testing.T) {
	t.Parallel()
	rsaKey := testKey(t, "RSA", 2048, "")
	good := rsaKey.PrivateJWK()
	p256 := testKey(t, "EC", 0, "P-256").PrivateJWK()
	p384 := testKey(t, "EC", 0, "P-384").PrivateJWK()
	k1 := testKey(t, "EC", 0, "P-256K").PrivateJWK()
	other256M, err := Generate("EC", 0, "P-256")
	if err != nil {
		t.Fatal(err)
	}
	other256 := other256M.PrivateJWK()
	k1Other, err := Generate("EC", 0, "P-256K")
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(base JSONWebKey, f func(*JSONWebKey)) *JSONWebKey {
		j := base
		f(&j)
		return &j
	}
	inc := func(b B64) B64 {
		x := new(big.Int).SetBytes(b)
		return x.Add(x, big.NewInt(2)).Bytes()
	}
	cases := map[string]*JSONWebKey{
		"nil":              nil,
		"no kty":           mod(good, func(j *JSONWebKey) { j.Kty = "" }),
		"bad kty":          mod(good, func(j *JSONWebKey) { j.Kty = "RSA-PSS" }),
		"rsa public only":  &JSONWebKey{Kty: "RSA", N: good.N, E: good.E},
		"rsa missing p":    mod(good, func(j *JSONWebKey) { j.P = nil }),
		"rsa missing d":    mod(good, func(j *JSONWebKey) { j.D = nil }),
		"rsa 1024":         jwkFromGoRSA(small),
		"rsa wrong d":      mod(good, func(j *JSONWebKey) { j.D = inc(j.D) }),
		"rsa wrong p":      mod(good, func(j *JSONWebKey) { j.P = inc(j.P) }),
		"rsa swapped p q":  mod(good, func(j *JSONWebKey) { j.P, j.Q = j.Q, j.P }),
		"rsa wrong dp":     mod(good, func(j *JSONWebKey) { j.DP = inc(j.DP) }),
		"rsa wrong qi":     mod(good, func(j *JSONWebKey) { j.QI = inc(j.QI) }),
		"rsa even e":       mod(good, func(j *JSONWebKey) { j.E = B64{1, 0, 0} }),
		"rsa e=1":          mod(good, func(j *JSONWebKey) { j.E = B64{1} }),
		"rsa huge e":       mod(good, func(j *JSONWebKey) { j.E = B64{1, 0, 0, 0, 1} }),
		"rsa with k":       mod(good, func(j *JSONWebKey) { j.K = B64{1} }),
		"rsa key_hsm":      mod(good, func(j *JSONWebKey) { j.KeyHSM = B64{1} }),
		"ec no crv":        mod(p256, func(j *JSONWebKey) { j.Crv = "" }),
		"ec bad crv":       mod(p256, func(j *JSONWebKey) { j.Crv = "P-192" }),
		"ec no d":          mod(p256, func(j *JSONWebKey) { j.D = nil }),
		"ec no x":          mod(p256, func(j *JSONWebKey) { j.X = nil }),
		"ec long d":        mod(p256, func(j *JSONWebKey) { j.D = append(B64{1}, j.D...) }),
		"ec off-curve":     mod(p256, func(j *JSONWebKey) { j.Y = inc(j.Y) }),
		"ec x too long":    mod(p256, func(j *JSONWebKey) { j.X = append(B64{1}, j.X...) }),
		"ec d mismatch":    mod(p256, func(j *JSONWebKey) { j.D = other256.D }),
		"ec wrong curve":   mod(p256, func(j *JSONWebKey) { j.Crv = "P-256K" }),
		"ec p384 as p256":  mod(p384, func(j *JSONWebKey) { j.Crv = "P-256" }),
		"ec d zero":        mod(p256, func(j *JSONWebKey) { j.D = make(B64, 32) }),
		"ec d = n":         mod(p256, func(j *JSONWebKey) { j.D = curveP256.std.Params().N.Bytes() }),
		"k1 off-curve":     mod(k1, func(j *JSONWebKey) { j.Y = inc(j.Y) }),
		"k1 d mismatch":    mod(k1, func(j *JSONWebKey) { j.D = k1Other.PrivateJWK().D }),
		"k1 d zero":        mod(k1, func(j *JSONWebKey) { j.D = make(B64, 32) }),
		"k1 d >= n":        mod(k1, func(j *JSONWebKey) { j.D = bytes.Repeat([]byte{0xff}, 32) }),
		"ec with n":        mod(p256, func(j *JSONWebKey) { j.N = good.N }),
		"oct no k":         &JSONWebKey{Kty: "oct"},
		"oct 15 bytes":     &JSONWebKey{Kty: "oct", K: make(B64, 15)},
		"oct 64 bytes":     &JSONWebKey{Kty: "oct-HSM", K: make(B64, 64)},
		"oct with crv":     &JSONWebKey{Kty: "oct", K: make(B64, 32), Crv: "P-256"},
		"oct with d":       &JSONWebKey{Kty: "oct", K: make(B64, 32), D: B64{1}},
		"oct key_hsm only": &JSONWebKey{Kty: "oct-HSM", KeyHSM: B64{1, 2, 3}},
		"ec public only":   &JSONWebKey{Kty: "EC", Crv: "P-256", X: p256.X, Y: p256.Y},
	}
	for name, j := range cases {
		m, err := FromJWK(j)
		if !errors.Is(err, ErrInvalidKeyParams) || m != nil {
			t.Errorf("%s: FromJWK = %v, %v; want ErrInvalidKeyParams", name, m, err)
		}
	}
	if _, err := Unmarshal([]byte("not json")); !errors.Is(err, ErrInvalidKeyParams) {
		t.Errorf("Unmarshal garbage: %v", err)
	}
	if _, err := Unmarshal([]byte(`{"kty":"oct-HSM","k":"AAAA"}`)); !errors.Is(err, ErrInvalidKeyParams) {
		t.Errorf("Unmarshal short oct: %v", err)
	}
}
