package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

var rsaSigAlgs = []struct {
	alg azkeys.SignatureAlgorithm
	h   crypto.Hash
	pss bool
}{
	{azkeys.SignatureAlgorithmRS256, crypto.SHA256, false},
	{azkeys.SignatureAlgorithmRS384, crypto.SHA384, false},
	{azkeys.SignatureAlgorithmRS512, crypto.SHA512, false},
	{azkeys.SignatureAlgorithmPS256, crypto.SHA256, true},
	{azkeys.SignatureAlgorithmPS384, crypto.SHA384, true},
	{azkeys.SignatureAlgorithmPS512, crypto.SHA512, true},
}

var ecSigAlgs = []struct {
	crv azkeys.CurveName
	alg azkeys.SignatureAlgorithm
	h   crypto.Hash
}{
	{azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256, crypto.SHA256},
	{azkeys.CurveNameP256K, azkeys.SignatureAlgorithmES256K, crypto.SHA256},
	{azkeys.CurveNameP384, azkeys.SignatureAlgorithmES384, crypto.SHA384},
	{azkeys.CurveNameP521, azkeys.SignatureAlgorithmES512, crypto.SHA512},
}

func verifyRSA(pub *rsa.PublicKey, h crypto.Hash, pss bool, digest, sig []byte) error {
	if pss {
		return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	return rsa.VerifyPKCS1v15(pub, h, digest, sig)
}

func serverVerify(t testing.TB, c *azkeys.Client, n, ver string, alg azkeys.SignatureAlgorithm, digest, sig []byte) bool {
	t.Helper()
	r, err := c.Verify(ctxT(t), n, ver, azkeys.VerifyParameters{Algorithm: ptr(alg), Digest: digest, Signature: sig}, nil)
	must(t, err, "Verify "+string(alg))
	return *r.Value
}

func tamper(b []byte) []byte {
	out := append([]byte(nil), b...)
	out[len(out)/2] ^= 0x40
	return out
}

func TestSignVerifyRSA(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	gen := name("sig-rsa")
	created := createKey(t, ctx, c, gen, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM), KeySize: ptr[int32](2048)})
	pub := rsaPub(created.Key)
	imp := name("sig-rsa-imp")
	local := localRSA(t, 1)
	importKey(t, ctx, c, imp, rsaJWK(local))
	for _, a := range rsaSigAlgs {
		digest := digestOf(a.h, "message for "+string(a.alg))
		// Server signs, Go verifies.
		sr, err := c.Sign(ctx, gen, "", azkeys.SignParameters{Algorithm: ptr(a.alg), Value: digest}, nil)
		must(t, err, "Sign "+string(a.alg))
		if *sr.KID != *created.Key.KID {
			t.Errorf("%s: sign result kid %s", a.alg, *sr.KID)
		}
		if err := verifyRSA(pub, a.h, a.pss, digest, sr.Result); err != nil {
			t.Errorf("%s: server signature rejected by Go: %v", a.alg, err)
		}
		if !serverVerify(t, c, gen, created.Key.KID.Version(), a.alg, digest, sr.Result) {
			t.Errorf("%s: server rejects its own signature", a.alg)
		}
		// Go signs, server verifies.
		var sig []byte
		if a.pss {
			sig, err = rsa.SignPSS(rand.Reader, local, a.h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, local, a.h, digest)
		}
		must(t, err, "local sign")
		if !serverVerify(t, c, imp, "", a.alg, digest, sig) {
			t.Errorf("%s: server rejects a Go signature", a.alg)
		}
		if serverVerify(t, c, imp, "", a.alg, digest, tamper(sig)) {
			t.Errorf("%s: server accepts a tampered signature", a.alg)
		}
		if serverVerify(t, c, imp, "", a.alg, tamper(digest), sig) {
			t.Errorf("%s: server accepts a signature over another digest", a.alg)
		}
	}
	// Mismatched digest size.
	_, err := c.Sign(ctx, gen, "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 20)}, nil)
	wantStatus(t, err, 400)
	_, err = c.Sign(ctx, gen, "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: make([]byte, 32)}, nil)
	wantStatus(t, err, 400)
}

func TestSignVerifyEC(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	for _, a := range ecSigAlgs {
		t.Run(string(a.alg), func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			digest := digestOf(a.h, "message for "+string(a.alg))
			gen := name("sig-ec")
			created := createKey(t, ctx, c, gen, ecParams(a.crv))
			for range 3 { // ECDSA is randomised; check a few
				sr, err := c.Sign(ctx, gen, "", azkeys.SignParameters{Algorithm: ptr(a.alg), Value: digest}, nil)
				must(t, err, "Sign")
				if !verifyEC(t, created.Key, digest, sr.Result) {
					t.Fatalf("server %s signature rejected by Go", a.alg)
				}
				if !serverVerify(t, c, gen, "", a.alg, digest, sr.Result) {
					t.Fatal("server rejects its own signature")
				}
			}
			local := newECKey(t, a.crv)
			imp := name("sig-ec-imp")
			importKey(t, ctx, c, imp, local.jwk(t))
			sig := local.sign(t, digest)
			if !serverVerify(t, c, imp, "", a.alg, digest, sig) {
				t.Errorf("server rejects a Go %s signature", a.alg)
			}
			if serverVerify(t, c, imp, "", a.alg, digest, tamper(sig)) {
				t.Errorf("server accepts a tampered %s signature", a.alg)
			}
			if serverVerify(t, c, gen, "", a.alg, digest, sig) {
				t.Error("server verifies a signature made by another key")
			}
		})
	}
	t.Run("mismatch", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		n := name("sig-ec-bad")
		createKey(t, ctx, c, n, ecParams(azkeys.CurveNameP256))
		for _, p := range []azkeys.SignParameters{
			{Algorithm: ptr(azkeys.SignatureAlgorithmES384), Value: make([]byte, 48)},
			{Algorithm: ptr(azkeys.SignatureAlgorithmES256K), Value: make([]byte, 32)},
			{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: make([]byte, 20)},
			{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)},
		} {
			_, err := c.Sign(ctx, n, "", p, nil)
			wantStatus(t, err, 400)
		}
		// EC keys cannot encrypt.
		_, err := c.Encrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
		wantStatus(t, err, 400)
	})
}

func TestKeyStateGates(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	digest := digestOf(crypto.SHA256, "gates")
	sign := func(n string) ([]byte, error) {
		r, err := c.Sign(ctx, n, "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: digest}, nil)
		return r.Result, err
	}

	// Disabled: 403.
	dn := name("gate-dis")
	createKey(t, ctx, c, dn, ecParams(azkeys.CurveNameP256))
	_, err := c.UpdateKey(ctx, dn, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(false)}}, nil)
	must(t, err, "disable")
	_, err = sign(dn)
	wantStatus(t, err, 403)
	_, err = c.UpdateKey(ctx, dn, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(true)}}, nil)
	must(t, err, "enable")
	_, err = sign(dn)
	must(t, err, "sign after re-enable")

	// Expired: sign 403, verify still works.
	en := name("gate-exp")
	createKey(t, ctx, c, en, ecParams(azkeys.CurveNameP256))
	sig, err := sign(en)
	must(t, err, "sign before expiry")
	past := time.Now().Add(-time.Hour)
	_, err = c.UpdateKey(ctx, en, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Expires: &past}}, nil)
	must(t, err, "expire")
	_, err = sign(en)
	wantStatus(t, err, 403)
	if !serverVerify(t, c, en, "", azkeys.SignatureAlgorithmES256, digest, sig) {
		t.Error("verify on an expired key fails")
	}
	// Not yet valid (nbf in the future): 403.
	nn := name("gate-nbf")
	future := time.Now().Add(time.Hour)
	createKey(t, ctx, c, nn, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveNameP256),
		KeyAttributes: &azkeys.KeyAttributes{NotBefore: &future}})
	_, err = sign(nn)
	wantStatus(t, err, 403)

	// key_ops without sign: 400.
	on := name("gate-ops")
	createKey(t, ctx, c, on, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveNameP256),
		KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationVerify)}})
	_, err = sign(on)
	wantStatus(t, err, 400)
	// An oct key without encrypt.
	kn := name("gate-ops-oct")
	createKey(t, ctx, c, kn, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM), KeySize: ptr[int32](128),
		KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationWrapKey), ptr(azkeys.KeyOperationUnwrapKey)}})
	_, err = c.Encrypt(ctx, kn, "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmA128GCM), Value: []byte("x")}, nil)
	wantStatus(t, err, 400)
}
