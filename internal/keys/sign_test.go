package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

var (
	rsaSizes    = []int{2048, 3072, 4096}
	rsaSignAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "RSNULL"}
	rsaEncList  = []string{"RSA1_5", "RSA-OAEP", "RSA-OAEP-256"}
	ecCurves    = []string{"P-256", "P-256K", "P-384", "P-521"}
	octSizes    = []int{128, 192, 256}
)

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sigDigest returns a random digest of the right length for alg.
func sigDigest(t testing.TB, alg string) []byte {
	switch alg {
	case "RS256", "PS256", "ES256", "ES256K":
		return randBytes(t, 32)
	case "RS384", "PS384", "ES384":
		return randBytes(t, 48)
	case "RS512", "PS512", "ES512":
		return randBytes(t, 64)
	case "RSNULL":
		return randBytes(t, 35) // e.g. a caller-built DigestInfo
	}
	t.Fatalf("no digest for %s", alg)
	return nil
}

func TestGenerateShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kty, crv       string
		size           int
		wantKty        string
		wantSize       int
		wantCrv        string
		wantPublicJWKs []string // members that must be present
	}{
		{"RSA", "", 0, KtyRSA, 2048, "", []string{"n", "e"}},
		{"RSA-HSM", "", 3072, KtyRSA, 3072, "", []string{"n", "e"}},
		{"EC", "", 0, KtyEC, 256, "P-256", []string{"crv", "x", "y"}},
		{"EC-HSM", "P-256K", 0, KtyEC, 256, "P-256K", []string{"crv", "x", "y"}},
		{"EC-HSM", "P-384", 384, KtyEC, 384, "P-384", []string{"crv", "x", "y"}},
		{"EC-HSM", "P-521", 0, KtyEC, 521, "P-521", []string{"crv", "x", "y"}},
		{"oct", "", 0, KtyOct, 256, "", nil},
		{"oct-HSM", "", 128, KtyOct, 128, "", nil},
		{"oct-HSM", "", 192, KtyOct, 192, "", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%d_%s", c.kty, c.size, c.crv), func(t *testing.T) {
			t.Parallel()
			m := testKey(t, c.kty, c.size, c.crv)
			if m.Kty() != c.wantKty || m.Size() != c.wantSize || m.Curve() != c.wantCrv {
				t.Fatalf("got kty=%s size=%d crv=%q, want %s %d %q", m.Kty(), m.Size(), m.Curve(), c.wantKty, c.wantSize, c.wantCrv)
			}
			pub := m.PublicJWK()
			if pub.Kty != c.wantKty || pub.Kid != "" || pub.KeyOps != nil {
				t.Fatalf("public JWK header: %+v", pub)
			}
			if pub.HasPrivate() {
				t.Fatal("public JWK contains private members")
			}
			if c.wantCrv != "" {
				L := map[string]int{"P-256": 32, "P-256K": 32, "P-384": 48, "P-521": 66}[c.wantCrv]
				if pub.Crv != c.wantCrv || len(pub.X) != L || len(pub.Y) != L {
					t.Fatalf("EC public JWK: crv=%s len(x)=%d len(y)=%d, want %s %d", pub.Crv, len(pub.X), len(pub.Y), c.wantCrv, L)
				}
				if len(m.PrivateJWK().D) != L {
					t.Fatalf("EC d is %d bytes, want %d", len(m.PrivateJWK().D), L)
				}
			}
			if c.wantKty == KtyRSA && new(big.Int).SetBytes(pub.N).BitLen() != c.wantSize {
				t.Fatalf("modulus has %d bits", new(big.Int).SetBytes(pub.N).BitLen())
			}
			if c.wantKty == KtyOct {
				if len(pub.K) != 0 || len(m.PrivateJWK().K) != c.wantSize/8 {
					t.Fatalf("oct JWK: public k=%d bytes, private k=%d bytes", len(pub.K), len(m.PrivateJWK().K))
				}
			}
		})
	}
}

func TestGenerateInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kty  string
		size int
		crv  string
	}{
		{"RSA", 1024, ""}, {"RSA-HSM", 2049, ""}, {"RSA", 8192, ""}, {"RSA", 2048, "P-256"},
		{"EC", 0, "P-192"}, {"EC", 0, "secp224r1"}, {"EC", 384, "P-256"},
		{"oct", 512, ""}, {"oct", 64, ""}, {"oct", 128, "P-256"},
		{"foo", 0, ""}, {"", 0, ""}, {"rsa", 2048, ""}, {"OKP", 0, "Ed25519"},
	}
	for _, c := range cases {
		m, err := Generate(c.kty, c.size, c.crv)
		if !errors.Is(err, ErrInvalidKeyParams) || m != nil {
			t.Errorf("Generate(%q, %d, %q) = %v, %v; want ErrInvalidKeyParams", c.kty, c.size, c.crv, m, err)
		}
	}
	_, err := Generate("RSA", 1024, "")
	if want := "RSA key size 1024 is not supported"; err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not mention %q", err, want)
	}
}

// TestRSASignRoundTrip: Material.Sign -> Material.Verify and Go crypto verify
// on the public JWK; Go crypto sign -> Material.Verify.
func TestRSASignRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range rsaSizes {
		for _, alg := range rsaSignAlgs {
			t.Run(fmt.Sprintf("%d/%s", size, alg), func(t *testing.T) {
				t.Parallel()
				m := testKey(t, "RSA", size, "")
				a := rsaSigAlgs[alg]
				digest := sigDigest(t, alg)
				sig, err := m.Sign(alg, digest)
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != size/8 {
					t.Fatalf("signature is %d bytes", len(sig))
				}
				ok, err := m.Verify(alg, digest, sig)
				if err != nil || !ok {
					t.Fatalf("Verify own signature: %v %v", ok, err)
				}
				pub := rsaPublicFromJWK(t, m.PublicJWK())
				if a.pss {
					if err := rsa.VerifyPSS(pub, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: a.hash.Size()}); err != nil {
						t.Fatalf("crypto/rsa VerifyPSS(saltLen=hash): %v", err)
					}
				} else if err := rsa.VerifyPKCS1v15(pub, a.hash, digest, sig); err != nil {
					t.Fatalf("crypto/rsa VerifyPKCS1v15: %v", err)
				}
				// Flipped bit -> (false, nil).
				bad := bytes.Clone(sig)
				bad[len(bad)/2] ^= 1
				if ok, err := m.Verify(alg, digest, bad); ok || err != nil {
					t.Fatalf("tampered signature: %v %v", ok, err)
				}
				otherDigest := bytes.Clone(digest)
				otherDigest[0] ^= 0x80
				if ok, err := m.Verify(alg, otherDigest, sig); ok || err != nil {
					t.Fatalf("other digest: %v %v", ok, err)
				}
				// Go-signed -> Material.Verify.
				var gsig []byte
				if a.pss {
					gsig, err = rsa.SignPSS(rand.Reader, m.rsaPriv, a.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
				} else {
					gsig, err = rsa.SignPKCS1v15(rand.Reader, m.rsaPriv, a.hash, digest)
				}
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := m.Verify(alg, digest, gsig); !ok || err != nil {
					t.Fatalf("Verify Go-signed: %v %v", ok, err)
				}
				if a.pss {
					// A PSS signature with a salt length other than the hash
					// length must not verify under PSxxx.
					gsig, err = rsa.SignPSS(rand.Reader, m.rsaPriv, a.hash, digest, &rsa.PSSOptions{SaltLength: a.hash.Size() - 1})
					if err != nil {
						t.Fatal(err)
					}
					if ok, err := m.Verify(alg, digest, gsig); ok || err != nil {
						t.Fatalf("PSS with salt length hash-1 verified: %v %v", ok, err)
					}
				}
			})
		}
	}
}

func TestECSignRoundTrip(t *testing.T) {
	t.Parallel()
	for _, crv := range ecCurves {
		t.Run(crv, func(t *testing.T) {
			t.Parallel()
			m := testKey(t, "EC", 0, crv)
			alg := m.curve.alg
			L := m.curve.byteLen
			for range 8 {
				digest := sigDigest(t, alg)
				sig, err := m.Sign(alg, digest)
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != 2*L {
					t.Fatalf("signature is %d bytes, want %d", len(sig), 2*L)
				}
				if ok, err := m.Verify(alg, digest, sig); !ok || err != nil {
					t.Fatalf("Verify own signature: %v %v", ok, err)
				}
				pubJWK := m.PublicJWK()
				r, s := new(big.Int).SetBytes(sig[:L]), new(big.Int).SetBytes(sig[L:])
				if crv == "P-256K" {
					pub, err := secp256k1.ParsePubKey(append(append([]byte{4}, pubJWK.X...), pubJWK.Y...))
					if err != nil {
						t.Fatal(err)
					}
					var rs, ss secp256k1.ModNScalar
					rs.SetByteSlice(sig[:L])
					ss.SetByteSlice(sig[L:])
					if !k1ecdsa.NewSignature(&rs, &ss).Verify(digest, pub) {
						t.Fatal("decred verify of our signature failed")
					}
					// Library-signed signature, and its high-S twin: both valid ECDSA.
					ls := k1ecdsa.Sign(m.k1Priv, digest)
					lr, lss := ls.R(), ls.S()
					lrb, lsb := lr.Bytes(), lss.Bytes()
					lib := append(lrb[:], lsb[:]...)
					if ok, err := m.Verify(alg, digest, lib); !ok || err != nil {
						t.Fatalf("Verify library-signed: %v %v", ok, err)
					}
					hs := new(big.Int).Sub(secp256k1.S256().N, new(big.Int).SetBytes(lsb[:]))
					high := append(bytes.Clone(lrb[:]), hs.FillBytes(make([]byte, 32))...)
					if ok, err := m.Verify(alg, digest, high); !ok || err != nil {
						t.Fatalf("Verify high-S twin: %v %v", ok, err)
					}
				} else {
					c := m.curve.std
					pt := append(append([]byte{4}, pubJWK.X...), pubJWK.Y...)
					pub, err := ecdsa.ParseUncompressedPublicKey(c, pt)
					if err != nil {
						t.Fatal(err)
					}
					if !ecdsa.Verify(pub, digest, r, s) {
						t.Fatal("crypto/ecdsa Verify of our signature failed")
					}
					gr, gs, err := ecdsa.Sign(rand.Reader, m.ecPriv, digest)
					if err != nil {
						t.Fatal(err)
					}
					gsig := append(gr.FillBytes(make([]byte, L)), gs.FillBytes(make([]byte, L))...)
					if ok, err := m.Verify(alg, digest, gsig); !ok || err != nil {
						t.Fatalf("Verify Go-signed: %v %v", ok, err)
					}
				}
				bad := bytes.Clone(sig)
				bad[3] ^= 4
				if ok, err := m.Verify(alg, digest, bad); ok || err != nil {
					t.Fatalf("tampered: %v %v", ok, err)
				}
				if ok, err := m.Verify(alg, digest, sig[:len(sig)-1]); ok || err != nil {
					t.Fatalf("short signature: %v %v", ok, err)
				}
				if ok, err := m.Verify(alg, digest, make([]byte, 2*L)); ok || err != nil {
					t.Fatalf("zero signature: %v %v", ok, err)
				}
			}
		})
	}
}
