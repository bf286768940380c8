package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"testing"
)

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
