package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Local keys whose private half the test holds, imported into the server.

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// localRSA returns one of two cached 2048-bit RSA keys (i = 0 or 1).
func localRSA(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func rsaJWK(k *rsa.PrivateKey) *azkeys.JSONWebKey {
	k.Precompute()
	return &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeRSA), N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes(),
		D: k.D.Bytes(), P: k.Primes[0].Bytes(), Q: k.Primes[1].Bytes(),
		DP: k.Precomputed.Dp.Bytes(), DQ: k.Precomputed.Dq.Bytes(), QI: k.Precomputed.Qinv.Bytes()}
}

func rsaPub(k *azkeys.JSONWebKey) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(new(big.Int).SetBytes(k.E).Int64())}
}

// ecKey is a local EC key of any supported curve.
type ecKey struct {
	crv azkeys.CurveName
	std *ecdsa.PrivateKey     // NIST curves
	k1  *secp256k1.PrivateKey // P-256K
}

func newECKey(t testing.TB, crv azkeys.CurveName) *ecKey {
	t.Helper()
	if crv == azkeys.CurveNameP256K {
		k, err := secp256k1.GeneratePrivateKey()
		must(t, err, "secp256k1 key")
		return &ecKey{crv: crv, k1: k}
	}
	curves := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521()}
	k, err := ecdsa.GenerateKey(curves[crv], rand.Reader)
	must(t, err, "ecdsa key")
	return &ecKey{crv: crv, std: k}
}

func (e *ecKey) jwk(t testing.TB) *azkeys.JSONWebKey {
	t.Helper()
	n := ecCoordSize[e.crv]
	var pt, d []byte
	if e.k1 != nil {
		pt, d = e.k1.PubKey().SerializeUncompressed(), e.k1.Serialize()
	} else {
		var err error
		if pt, err = e.std.PublicKey.Bytes(); err != nil {
			t.Fatal(err)
		}
		if d, err = e.std.Bytes(); err != nil {
			t.Fatal(err)
		}
	}
	return &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeEC), Crv: ptr(e.crv), X: pt[1 : 1+n], Y: pt[1+n:], D: d}
}

// sign signs digest and returns r||s, each left-padded to the coordinate size.
func (e *ecKey) sign(t testing.TB, digest []byte) []byte {
	t.Helper()
	n := ecCoordSize[e.crv]
	if e.k1 != nil {
		sig := k1ecdsa.Sign(e.k1, digest)
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		return append(rb[:], sb[:]...)
	}
	r, s, err := ecdsa.Sign(rand.Reader, e.std, digest)
	must(t, err, "ecdsa.Sign")
	return append(r.FillBytes(make([]byte, n)), s.FillBytes(make([]byte, n))...)
}

// verifyEC checks an r||s signature of digest against the public JWK.
func verifyEC(t testing.TB, k *azkeys.JSONWebKey, digest, sig []byte) bool {
	t.Helper()
	crv := *k.Crv
	n := ecCoordSize[crv]
	if len(sig) != 2*n {
		t.Fatalf("%s signature is %d bytes, want %d", crv, len(sig), 2*n)
	}
	if crv == azkeys.CurveNameP256K {
		pub, err := secp256k1.ParsePubKey(append(append([]byte{4}, k.X...), k.Y...))
		must(t, err, "parse secp256k1 key")
		var r, s secp256k1.ModNScalar
		if r.SetByteSlice(sig[:n]) || s.SetByteSlice(sig[n:]) {
			return false
		}
		return k1ecdsa.NewSignature(&r, &s).Verify(digest, pub)
	}
	curves := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521()}
	pub, err := ecdsa.ParseUncompressedPublicKey(curves[crv], append(append([]byte{4}, k.X...), k.Y...))
	must(t, err, "parse EC key")
	return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
}

func octJWK(k []byte) *azkeys.JSONWebKey {
	return &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeOctHSM), K: k}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func digestOf(h crypto.Hash, msg string) []byte {
	w := h.New()
	w.Write([]byte(msg))
	return w.Sum(nil)
}

// importKey imports jwk under name and returns the bundle.
func importKey(t testing.TB, ctx context.Context, c *azkeys.Client, keyName string, jwk *azkeys.JSONWebKey) azkeys.ImportKeyResponse {
	t.Helper()
	r, err := c.ImportKey(ctx, keyName, azkeys.ImportKeyParameters{Key: jwk}, nil)
	must(t, err, "ImportKey "+keyName)
	return r
}

// createKey creates a key with p under name.
func createKey(t testing.TB, ctx context.Context, c *azkeys.Client, keyName string, p azkeys.CreateKeyParameters) azkeys.CreateKeyResponse {
	t.Helper()
	r, err := c.CreateKey(ctx, keyName, p, nil)
	must(t, err, "CreateKey "+keyName)
	return r
}

func ecParams(crv azkeys.CurveName) azkeys.CreateKeyParameters {
	return azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(crv)}
}

func octParams(bits int32) azkeys.CreateKeyParameters {
	return azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM), KeySize: ptr(bits)}
}
