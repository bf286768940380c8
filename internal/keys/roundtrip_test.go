package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
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

func TestRSAEncryptRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range rsaSizes {
		for _, alg := range rsaEncList {
			t.Run(fmt.Sprintf("%d/%s", size, alg), func(t *testing.T) {
				t.Parallel()
				m := testKey(t, "RSA", size, "")
				h := rsaEncAlgs[alg]
				limit := size/8 - 11
				if h != 0 {
					limit = size/8 - 2*h.Size() - 2
				}
				for _, n := range []int{0, 1, 32, limit} {
					pt := randBytes(t, n)
					res, err := m.Encrypt(CipherParams{Alg: alg, Value: pt})
					if err != nil {
						t.Fatalf("Encrypt %d bytes: %v", n, err)
					}
					dec, err := m.Decrypt(CipherParams{Alg: alg, Value: res.Value})
					if err != nil || !bytes.Equal(dec.Value, pt) {
						t.Fatalf("Decrypt: %v", err)
					}
					// Decrypt with Go crypto directly.
					var gpt []byte
					if h == 0 {
						gpt, err = rsa.DecryptPKCS1v15(nil, m.rsaPriv, res.Value)
					} else {
						gpt, err = rsa.DecryptOAEP(h.New(), nil, m.rsaPriv, res.Value, nil)
					}
					if err != nil || !bytes.Equal(gpt, pt) {
						t.Fatalf("crypto/rsa decrypt of our ciphertext: %v", err)
					}
					w, err := m.WrapKey(alg, pt)
					if err != nil {
						t.Fatal(err)
					}
					if uw, err := m.UnwrapKey(alg, w); err != nil || !bytes.Equal(uw, pt) {
						t.Fatalf("UnwrapKey: %v", err)
					}
				}
				// Go-encrypted -> Material.Decrypt.
				pub := rsaPublicFromJWK(t, m.PublicJWK())
				pt := randBytes(t, 32)
				var ct []byte
				var err error
				if h == 0 {
					ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, pt)
				} else {
					ct, err = rsa.EncryptOAEP(h.New(), rand.Reader, pub, pt, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				if dec, err := m.Decrypt(CipherParams{Alg: alg, Value: ct}); err != nil || !bytes.Equal(dec.Value, pt) {
					t.Fatalf("Decrypt Go ciphertext: %v", err)
				}
				// Too long -> ErrBadRequest.
				if _, err := m.Encrypt(CipherParams{Alg: alg, Value: make([]byte, limit+1)}); !errors.Is(err, ErrBadRequest) {
					t.Fatalf("oversized plaintext: %v", err)
				}
				if _, err := m.WrapKey(alg, make([]byte, limit+1)); !errors.Is(err, ErrBadRequest) {
					t.Fatalf("oversized key: %v", err)
				}
				// Tampered / wrong-length ciphertext -> exactly ErrDecrypt.
				for name, bad := range map[string][]byte{
					"flipped":   flip(ct, len(ct)/2),
					"short":     ct[:len(ct)-1],
					"long":      append(bytes.Clone(ct), 0),
					"empty":     nil,
					"modulus":   pub.N.Bytes(),
					"all-zeros": make([]byte, len(ct)),
				} {
					if _, err := m.Decrypt(CipherParams{Alg: alg, Value: bad}); err != ErrDecrypt {
						t.Errorf("Decrypt %s ciphertext: %v, want ErrDecrypt", name, err)
					}
					if _, err := m.UnwrapKey(alg, bad); err != ErrDecrypt {
						t.Errorf("UnwrapKey %s: %v, want ErrDecrypt", name, err)
					}
				}
			})
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func octAlg(bits int, suffix string) string { return fmt.Sprintf("A%d%s", bits, suffix) }

func TestAESEncryptRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range octSizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			m := testKey(t, "oct", size, "")
			key := m.PrivateJWK().K
			block, err := aes.NewCipher(key)
			if err != nil {
				t.Fatal(err)
			}

			// GCM.
			gcmAlg := octAlg(size, "GCM")
			for _, n := range []int{0, 1, 16, 100} {
				pt, aad := randBytes(t, n), randBytes(t, n/2)
				res, err := m.Encrypt(CipherParams{Alg: gcmAlg, Value: pt, AAD: aad})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.IV) != 12 || len(res.Tag) != 16 || len(res.Value) != n || !bytes.Equal(res.AAD, aad) {
					t.Fatalf("GCM result shape: iv=%d tag=%d ct=%d aad echoed=%v", len(res.IV), len(res.Tag), len(res.Value), bytes.Equal(res.AAD, aad))
				}
				g, _ := cipher.NewGCM(block)
				if gpt, err := g.Open(nil, res.IV, append(bytes.Clone(res.Value), res.Tag...), aad); err != nil || !bytes.Equal(gpt, pt) {
					t.Fatalf("crypto/cipher GCM open of our ciphertext: %v", err)
				}
				dec, err := m.Decrypt(CipherParams{Alg: gcmAlg, Value: res.Value, IV: res.IV, Tag: res.Tag, AAD: aad})
				if err != nil || !bytes.Equal(dec.Value, pt) {
					t.Fatalf("GCM decrypt: %v", err)
				}
				tampered := []CipherParams{
					{Alg: gcmAlg, Value: res.Value, IV: res.IV, Tag: flip(res.Tag, 15), AAD: aad},
					{Alg: gcmAlg, Value: res.Value, IV: flip(res.IV, 0), Tag: res.Tag, AAD: aad},
					{Alg: gcmAlg, Value: res.Value, IV: res.IV, Tag: res.Tag, AAD: append(bytes.Clone(aad), 1)},
					{Alg: gcmAlg, Value: append(bytes.Clone(res.Value), 0), IV: res.IV, Tag: res.Tag, AAD: aad},
				}
				if n > 0 {
					tampered = append(tampered, CipherParams{Alg: gcmAlg, Value: flip(res.Value, 0), IV: res.IV, Tag: res.Tag, AAD: aad})
				}
				for i, p := range tampered {
					if _, err := m.Decrypt(p); err != ErrDecrypt {
						t.Fatalf("tampered GCM case %d: %v, want ErrDecrypt", i, err)
					}
				}
			}
			// Two encryptions use different nonces.
			r1, _ := m.Encrypt(CipherParams{Alg: gcmAlg, Value: []byte("x")})
			r2, _ := m.Encrypt(CipherParams{Alg: gcmAlg, Value: []byte("x")})
			if bytes.Equal(r1.IV, r2.IV) {
				t.Fatal("GCM nonce reused")
			}

			// CBC (no padding) and CBCPAD.
			for _, suffix := range []string{"CBC", "CBCPAD"} {
				alg := octAlg(size, suffix)
				lens := []int{16, 32, 160}
				if suffix == "CBCPAD" {
					lens = []int{0, 1, 15, 16, 17, 100}
				}
				for _, n := range lens {
					pt, iv := randBytes(t, n), randBytes(t, 16)
					res, err := m.Encrypt(CipherParams{Alg: alg, Value: pt, IV: iv})
					if err != nil {
						t.Fatalf("%s encrypt %d bytes: %v", alg, n, err)
					}
					gp := pt
					if suffix == "CBCPAD" {
						gp = pkcs7Pad(pt)
						if len(res.Value) != (n/16+1)*16 {
							t.Fatalf("CBCPAD ciphertext length %d for %d bytes", len(res.Value), n)
						}
					}
					want := make([]byte, len(gp))
					cipher.NewCBCEncrypter(block, iv).CryptBlocks(want, gp)
					if !bytes.Equal(res.Value, want) {
						t.Fatalf("%s ciphertext differs from crypto/cipher", alg)
					}
					dec, err := m.Decrypt(CipherParams{Alg: alg, Value: res.Value, IV: iv})
					if err != nil || !bytes.Equal(dec.Value, pt) {
						t.Fatalf("%s decrypt: %v", alg, err)
					}
					for name, bad := range map[string][]byte{"short": res.Value[:len(res.Value)-1], "empty": nil} {
						if _, err := m.Decrypt(CipherParams{Alg: alg, Value: bad, IV: iv}); err != ErrDecrypt {
							t.Fatalf("%s %s ciphertext: %v, want ErrDecrypt", alg, name, err)
						}
					}
				}
			}
			// Deterministic bad paddings for CBCPAD: encrypt crafted final
			// blocks with CBC (no padding) and decrypt them as CBCPAD.
			iv := randBytes(t, 16)
			for name, last := range map[string][]byte{
				"zero":     make([]byte, 16),
				"17":       bytes.Repeat([]byte{17}, 16),
				"255":      append(bytes.Repeat([]byte{0}, 15), 255),
				"mismatch": append(bytes.Repeat([]byte{9}, 14), 3, 3),
				"inner":    append(append(bytes.Repeat([]byte{0}, 8), 7), bytes.Repeat([]byte{8}, 7)...),
			} {
				ct, err := m.Encrypt(CipherParams{Alg: octAlg(size, "CBC"), Value: last, IV: iv})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Decrypt(CipherParams{Alg: octAlg(size, "CBCPAD"), Value: ct.Value, IV: iv}); err != ErrDecrypt {
					t.Fatalf("bad padding %s: %v, want ErrDecrypt", name, err)
				}
			}
			full := bytes.Repeat([]byte{16}, 16)
			ct, _ := m.Encrypt(CipherParams{Alg: octAlg(size, "CBC"), Value: full, IV: iv})
			if dec, err := m.Decrypt(CipherParams{Alg: octAlg(size, "CBCPAD"), Value: ct.Value, IV: iv}); err != nil || len(dec.Value) != 0 {
				t.Fatalf("full padding block: %v %d", err, len(dec.Value))
			}
		})
	}
}

func TestAESWrapRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range octSizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			m := testKey(t, "oct", size, "")
			for _, alg := range []string{octAlg(size, "KW"), "CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"} {
				lens := []int{16, 24, 32, 64}
				if alg == "CKM_AES_KEY_WRAP_PAD" {
					lens = []int{1, 7, 8, 9, 16, 20, 31, 32, 1000}
				}
				for _, n := range lens {
					k := randBytes(t, n)
					w, err := m.WrapKey(alg, k)
					if err != nil {
						t.Fatalf("%s wrap %d: %v", alg, n, err)
					}
					wantLen := n + 8
					if alg == "CKM_AES_KEY_WRAP_PAD" {
						wantLen = (n+7)/8*8 + 8
					}
					if len(w) != wantLen {
						t.Fatalf("%s wrapped %d bytes to %d, want %d", alg, n, len(w), wantLen)
					}
					uw, err := m.UnwrapKey(alg, w)
					if err != nil || !bytes.Equal(uw, k) {
						t.Fatalf("%s unwrap: %v", alg, err)
					}
					for i := range w {
						if _, err := m.UnwrapKey(alg, flip(w, i)); err != ErrDecrypt {
							t.Fatalf("%s unwrap with byte %d flipped: %v, want ErrDecrypt", alg, i, err)
						}
					}
					for _, bad := range [][]byte{w[:len(w)-8], w[:len(w)-1], append(bytes.Clone(w), make([]byte, 8)...), nil} {
						if _, err := m.UnwrapKey(alg, bad); err != ErrDecrypt {
							t.Fatalf("%s unwrap of %d bytes: %v, want ErrDecrypt", alg, len(bad), err)
						}
					}
				}
			}
			// RFC 3394 input rules.
			for _, n := range []int{0, 8, 15, 17} {
				if _, err := m.WrapKey(octAlg(size, "KW"), make([]byte, n)); !errors.Is(err, ErrBadRequest) {
					t.Fatalf("KW wrap of %d bytes: %v", n, err)
				}
			}
			if _, err := m.WrapKey("CKM_AES_KEY_WRAP_PAD", nil); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("KWP wrap of empty key: %v", err)
			}
			// KW and KWP outputs are not interchangeable.
			w, _ := m.WrapKey("CKM_AES_KEY_WRAP", make([]byte, 16))
			if _, err := m.UnwrapKey("CKM_AES_KEY_WRAP_PAD", w); err != ErrDecrypt {
				t.Fatalf("KWP unwrap of KW output: %v", err)
			}
		})
	}
}

// Known-answer tests from RFC 3394 §4 and RFC 5649 §6.
func TestKeyWrapKnownAnswers(t *testing.T) {
	t.Parallel()
	h := func(s string) []byte {
		var b hexBytes
		if err := b.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct{ alg, kek, key, wrapped string }{
		{"A128KW", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"A192KW", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
		{"A256KW", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
		{"A256KW", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
		{"CKM_AES_KEY_WRAP_PAD", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"CKM_AES_KEY_WRAP_PAD", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	}
	for _, c := range cases {
		m, err := FromJWK(&JSONWebKey{Kty: "oct-HSM", K: h(c.kek)})
		if err != nil {
			t.Fatal(err)
		}
		w, err := m.WrapKey(c.alg, h(c.key))
		if err != nil || !bytes.Equal(w, h(c.wrapped)) {
			t.Errorf("%s wrap = %x, %v; want %s", c.alg, w, err, c.wrapped)
		}
		k, err := m.UnwrapKey(c.alg, h(c.wrapped))
		if err != nil || !bytes.Equal(k, h(c.key)) {
			t.Errorf("%s unwrap = %x, %v", c.alg, k, err)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	type keyCase struct {
		kty  string
		size int
		crv  string
	}
	var cases []keyCase
	for _, s := range rsaSizes {
		cases = append(cases, keyCase{"RSA", s, ""})
	}
	for _, c := range ecCurves {
		cases = append(cases, keyCase{"EC", 0, c})
	}
	for _, s := range octSizes {
		cases = append(cases, keyCase{"oct", s, ""})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%d_%s", c.kty, c.size, c.crv), func(t *testing.T) {
			t.Parallel()
			m := testKey(t, c.kty, c.size, c.crv)
			blob, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Unmarshal(blob)
			if err != nil {
				t.Fatal(err)
			}
			priv := m.PrivateJWK()
			m3, err := FromJWK(&priv)
			if err != nil {
				t.Fatalf("FromJWK(PrivateJWK()): %v", err)
			}
			for name, other := range map[string]*Material{"Unmarshal": m2, "FromJWK": m3} {
				if other.Kty() != m.Kty() || other.Size() != m.Size() || other.Curve() != m.Curve() {
					t.Fatalf("%s: shape changed", name)
				}
				if !jwkEqual(other.PublicJWK(), m.PublicJWK()) || !jwkEqual(other.PrivateJWK(), priv) {
					t.Fatalf("%s: JWK changed", name)
				}
				switch m.Kty() {
				case KtyRSA, KtyEC:
					alg := "PS256"
					if m.Kty() == KtyEC {
						alg = m.curve.alg
					}
					d := sigDigest(t, alg)
					sig, err := other.Sign(alg, d)
					if err != nil {
						t.Fatal(err)
					}
					if ok, err := m.Verify(alg, d, sig); !ok || err != nil {
						t.Fatalf("%s: signature by restored key does not verify with original: %v", name, err)
					}
				case KtyOct:
					alg := octAlg(m.Size(), "GCM")
					res, err := m.Encrypt(CipherParams{Alg: alg, Value: []byte("hello")})
					if err != nil {
						t.Fatal(err)
					}
					dec, err := other.Decrypt(CipherParams{Alg: alg, Value: res.Value, IV: res.IV, Tag: res.Tag})
					if err != nil || string(dec.Value) != "hello" {
						t.Fatalf("%s: restored oct key cannot decrypt: %v", name, err)
					}
				}
			}
		})
	}
}

func jwkEqual(a, b JSONWebKey) bool {
	eq := bytes.Equal
	return a.Kid == b.Kid && a.Kty == b.Kty && a.Crv == b.Crv &&
		eq(a.N, b.N) && eq(a.E, b.E) && eq(a.D, b.D) && eq(a.DP, b.DP) && eq(a.DQ, b.DQ) &&
		eq(a.QI, b.QI) && eq(a.P, b.P) && eq(a.Q, b.Q) && eq(a.K, b.K) && eq(a.X, b.X) && eq(a.Y, b.Y)
}

// TestConcurrentUse exercises one Material from many goroutines (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	keys := []*Material{testKey(t, "RSA", 2048, ""), testKey(t, "EC", 0, "P-256K"), testKey(t, "EC", 0, "P-384"), testKey(t, "oct", 256, "")}
	done := make(chan error)
	for _, m := range keys {
		for range 4 {
			go func() {
				var err error
				for range 5 {
					switch m.Kty() {
					case KtyOct:
						var res CipherResult
						res, err = m.Encrypt(CipherParams{Alg: "A256GCM", Value: []byte("x")})
						if err == nil {
							_, err = m.Decrypt(CipherParams{Alg: "A256GCM", Value: res.Value, IV: res.IV, Tag: res.Tag})
						}
					default:
						alg := "RS256"
						if m.Kty() == KtyEC {
							alg = m.curve.alg
						}
						d := sigDigest(t, alg)
						var sig []byte
						if sig, err = m.Sign(alg, d); err == nil {
							var ok bool
							if ok, err = m.Verify(alg, d, sig); err == nil && !ok {
								err = errors.New("verify failed")
							}
						}
					}
					if err != nil {
						break
					}
				}
				done <- err
			}()
		}
	}
	for range 4 * len(keys) {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
