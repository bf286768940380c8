package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func encParams(alg azkeys.EncryptionAlgorithm, v []byte) azkeys.KeyOperationParameters {
	return azkeys.KeyOperationParameters{Algorithm: ptr(alg), Value: v}
}

// allowRSA15 turns on the HSM setting AllowRSA1_5Decryption (an mhsm
// extension, off by default) after checking RSA1_5 decryption is refused
// while it is off; it turns it off again at cleanup. If the server has no
// such setting, RSA1_5 decryption is simply expected to work.
func allowRSA15(t *testing.T, s *server, c *azkeys.Client, n string, ct []byte) {
	t.Helper()
	tok := s.token(t, "https://"+s.host("managedhsm"))
	const path = "/settings/AllowRSA1_5Decryption?api-version=7.6"
	code, _, body := rawDo(t, s, "GET", path, tok, "")
	if code == http.StatusNotFound {
		t.Log("server has no AllowRSA1_5Decryption setting; RSA1_5 decryption is always on")
		return
	}
	if code != http.StatusOK || !strings.Contains(string(body), `"false"`) {
		t.Fatalf("GET setting: %d %s (want 200, value false)", code, body)
	}
	_, err := c.Decrypt(ctxT(t), n, "", encParams(azkeys.EncryptionAlgorithmRSA15, ct), nil)
	wantStatus(t, err, 400)
	_, err = c.UnwrapKey(ctxT(t), n, "", encParams(azkeys.EncryptionAlgorithmRSA15, ct), nil)
	wantStatus(t, err, 400)
	set := func(v string) {
		if code, _, body := rawDo(t, s, "PATCH", path, tok, `{"value":"`+v+`"}`); code != http.StatusOK {
			t.Fatalf("PATCH setting to %s: %d %s", v, code, body)
		}
	}
	set("true")
	t.Cleanup(func() { set("false") })
}

func TestEncryptDecryptRSA(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	local := localRSA(t, 0)
	n := name("enc-rsa")
	importKey(t, ctx, c, n, rsaJWK(local))
	msg := []byte("a secret of thirty-two bytes....")
	ct15, err := rsa.EncryptPKCS1v15(rand.Reader, &local.PublicKey, msg)
	must(t, err, "local RSA1_5 encrypt")
	allowRSA15(t, s, c, n, ct15)

	type localDec func(ct []byte) ([]byte, error)
	type localEnc func(pt []byte) ([]byte, error)
	algs := []struct {
		alg azkeys.EncryptionAlgorithm
		dec localDec
		enc localEnc
	}{
		{azkeys.EncryptionAlgorithmRSAOAEP,
			func(ct []byte) ([]byte, error) { return rsa.DecryptOAEP(sha1.New(), nil, local, ct, nil) },
			func(pt []byte) ([]byte, error) {
				return rsa.EncryptOAEP(sha1.New(), rand.Reader, &local.PublicKey, pt, nil)
			}},
		{azkeys.EncryptionAlgorithmRSAOAEP256,
			func(ct []byte) ([]byte, error) { return rsa.DecryptOAEP(sha256.New(), nil, local, ct, nil) },
			func(pt []byte) ([]byte, error) {
				return rsa.EncryptOAEP(sha256.New(), rand.Reader, &local.PublicKey, pt, nil)
			}},
		{azkeys.EncryptionAlgorithmRSA15,
			func(ct []byte) ([]byte, error) { return rsa.DecryptPKCS1v15(nil, local, ct) },
			func(pt []byte) ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, &local.PublicKey, pt) }},
	}
	for _, a := range algs {
		// Server round trip.
		e, err := c.Encrypt(ctx, n, "", encParams(a.alg, msg), nil)
		must(t, err, "Encrypt "+string(a.alg))
		if len(e.Result) != 256 {
			t.Errorf("%s ciphertext is %d bytes", a.alg, len(e.Result))
		}
		d, err := c.Decrypt(ctx, n, "", encParams(a.alg, e.Result), nil)
		must(t, err, "Decrypt "+string(a.alg))
		if !bytes.Equal(d.Result, msg) {
			t.Errorf("%s round trip gave %q", a.alg, d.Result)
		}
		// Server encrypts, Go decrypts.
		pt, err := a.dec(e.Result)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Errorf("%s: Go cannot decrypt the server's ciphertext: %v", a.alg, err)
		}
		// Go encrypts, server decrypts.
		ct, err := a.enc(msg)
		must(t, err, "local encrypt")
		d, err = c.Decrypt(ctx, n, "", encParams(a.alg, ct), nil)
		must(t, err, "Decrypt local ciphertext "+string(a.alg))
		if !bytes.Equal(d.Result, msg) {
			t.Errorf("%s: server decrypts Go's ciphertext to %q", a.alg, d.Result)
		}
		// Wrap / unwrap.
		cek := randBytes(32)
		w, err := c.WrapKey(ctx, n, "", encParams(a.alg, cek), nil)
		must(t, err, "WrapKey "+string(a.alg))
		if pt, err := a.dec(w.Result); err != nil || !bytes.Equal(pt, cek) {
			t.Errorf("%s: Go cannot unwrap the server's wrapped key: %v", a.alg, err)
		}
		u, err := c.UnwrapKey(ctx, n, "", encParams(a.alg, w.Result), nil)
		must(t, err, "UnwrapKey "+string(a.alg))
		if !bytes.Equal(u.Result, cek) {
			t.Errorf("%s unwrap gave another key", a.alg)
		}
	}
	// OAEP ciphertext with the wrong hash / tampered: 400.
	e, err := c.Encrypt(ctx, n, "", encParams(azkeys.EncryptionAlgorithmRSAOAEP, msg), nil)
	must(t, err, "Encrypt")
	_, err = c.Decrypt(ctx, n, "", encParams(azkeys.EncryptionAlgorithmRSAOAEP256, e.Result), nil)
	wantStatus(t, err, 400)
	_, err = c.Decrypt(ctx, n, "", encParams(azkeys.EncryptionAlgorithmRSAOAEP, tamper(e.Result)), nil)
	wantStatus(t, err, 400)
	_, err = c.Encrypt(ctx, n, "", encParams(azkeys.EncryptionAlgorithmA128GCM, msg), nil)
	wantStatus(t, err, 400)
}

func TestEncryptDecryptAES(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	for _, bits := range []int{128, 192, 256} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			raw := randBytes(bits / 8)
			n := name("enc-aes")
			importKey(t, ctx, c, n, octJWK(raw))
			block, err := aes.NewCipher(raw)
			must(t, err, "aes")
			alg := func(suffix string) azkeys.EncryptionAlgorithm {
				return azkeys.EncryptionAlgorithm(fmt.Sprintf("A%d%s", bits, suffix))
			}

			// GCM: the server makes the IV.
			msg, aad := []byte("gcm plaintext of any length"), []byte("header")
			p := encParams(alg("GCM"), msg)
			p.AdditionalAuthenticatedData = aad
			e, err := c.Encrypt(ctx, n, "", p, nil)
			must(t, err, "Encrypt GCM")
			if len(e.IV) != 12 || len(e.AuthenticationTag) != 16 {
				t.Fatalf("GCM iv/tag are %d/%d bytes", len(e.IV), len(e.AuthenticationTag))
			}
			gcm, _ := cipher.NewGCM(block)
			if pt, err := gcm.Open(nil, e.IV, append(append([]byte(nil), e.Result...), e.AuthenticationTag...), aad); err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("Go cannot open the server's GCM ciphertext: %v", err)
			}
			dp := azkeys.KeyOperationParameters{Algorithm: ptr(alg("GCM")), Value: e.Result, IV: e.IV, AuthenticationTag: e.AuthenticationTag, AdditionalAuthenticatedData: aad}
			d, err := c.Decrypt(ctx, n, "", dp, nil)
			must(t, err, "Decrypt GCM")
			if !bytes.Equal(d.Result, msg) {
				t.Errorf("GCM round trip gave %q", d.Result)
			}
			// Go seals, server opens.
			iv := randBytes(12)
			sealed := gcm.Seal(nil, iv, msg, aad)
			dp2 := azkeys.KeyOperationParameters{Algorithm: ptr(alg("GCM")), Value: sealed[:len(msg)], IV: iv, AuthenticationTag: sealed[len(msg):], AdditionalAuthenticatedData: aad}
			d, err = c.Decrypt(ctx, n, "", dp2, nil)
			must(t, err, "Decrypt Go GCM")
			if !bytes.Equal(d.Result, msg) {
				t.Errorf("server opens Go's GCM ciphertext to %q", d.Result)
			}
			dp.AdditionalAuthenticatedData = []byte("other")
			_, err = c.Decrypt(ctx, n, "", dp, nil)
			wantStatus(t, err, 400)
			dp.AdditionalAuthenticatedData, dp.AuthenticationTag = aad, tamper(e.AuthenticationTag)
			_, err = c.Decrypt(ctx, n, "", dp, nil)
			wantStatus(t, err, 400)
			p.IV = randBytes(12) // a client GCM nonce is refused
			_, err = c.Encrypt(ctx, n, "", p, nil)
			wantStatus(t, err, 400)

			// CBC (block multiple) and CBCPAD, client IV.
			for _, tc := range []struct {
				suffix string
				msg    []byte
			}{{"CBC", randBytes(32)}, {"CBCPAD", []byte("twenty bytes of data")}, {"CBCPAD", randBytes(16)}} {
				iv := randBytes(16)
				p := encParams(alg(tc.suffix), tc.msg)
				p.IV = iv
				e, err := c.Encrypt(ctx, n, "", p, nil)
				must(t, err, "Encrypt "+tc.suffix)
				want := append([]byte(nil), tc.msg...)
				if tc.suffix == "CBCPAD" {
					pad := 16 - len(want)%16
					want = append(want, bytes.Repeat([]byte{byte(pad)}, pad)...)
				}
				local := make([]byte, len(want))
				cipher.NewCBCEncrypter(block, iv).CryptBlocks(local, want)
				if !bytes.Equal(e.Result, local) {
					t.Errorf("%s ciphertext differs from Go's", tc.suffix)
				}
				dp := encParams(alg(tc.suffix), e.Result)
				dp.IV = iv
				d, err := c.Decrypt(ctx, n, "", dp, nil)
				must(t, err, "Decrypt "+tc.suffix)
				if !bytes.Equal(d.Result, tc.msg) {
					t.Errorf("%s round trip gave %x", tc.suffix, d.Result)
				}
			}
			pc := encParams(alg("CBC"), randBytes(20)) // not a block multiple
			pc.IV = randBytes(16)
			_, err = c.Encrypt(ctx, n, "", pc, nil)
			wantStatus(t, err, 400)

			// Key wrap round trip.
			cek := randBytes(32)
			w, err := c.WrapKey(ctx, n, "", encParams(alg("KW"), cek), nil)
			must(t, err, "WrapKey")
			if len(w.Result) != 40 {
				t.Errorf("wrapped 32-byte key is %d bytes", len(w.Result))
			}
			u, err := c.UnwrapKey(ctx, n, "", encParams(alg("KW"), w.Result), nil)
			must(t, err, "UnwrapKey")
			if !bytes.Equal(u.Result, cek) {
				t.Error("KW round trip gave another key")
			}
			_, err = c.UnwrapKey(ctx, n, "", encParams(alg("KW"), tamper(w.Result)), nil)
			wantStatus(t, err, 400)

			// Algorithms for another key size.
			other := 256
			if bits == 256 {
				other = 128
			}
			_, err = c.Encrypt(ctx, n, "", encParams(azkeys.EncryptionAlgorithm(fmt.Sprintf("A%dGCM", other)), msg), nil)
			wantStatus(t, err, 400)
			_, err = c.WrapKey(ctx, n, "", encParams(azkeys.EncryptionAlgorithm(fmt.Sprintf("A%dKW", other)), cek), nil)
			wantStatus(t, err, 400)
			_, err = c.Encrypt(ctx, n, "", encParams(azkeys.EncryptionAlgorithmRSAOAEP, msg), nil)
			wantStatus(t, err, 400)
		})
	}
}

// TestAESKeyWrapVectors checks A128/192/256KW against RFC 3394 §4.1-4.3.
func TestAESKeyWrapVectors(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	data, _ := hex.DecodeString("00112233445566778899AABBCCDDEEFF")
	for _, v := range []struct {
		alg  azkeys.EncryptionAlgorithm
		kek  int
		want string
	}{
		{azkeys.EncryptionAlgorithmA128KW, 16, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{azkeys.EncryptionAlgorithmA192KW, 24, "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
		{azkeys.EncryptionAlgorithmA256KW, 32, "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
	} {
		kek := make([]byte, v.kek)
		for i := range kek {
			kek[i] = byte(i)
		}
		n := name("kw-vec")
		importKey(t, ctx, c, n, octJWK(kek))
		w, err := c.WrapKey(ctx, n, "", encParams(v.alg, data), nil)
		must(t, err, "WrapKey "+string(v.alg))
		if got := hex.EncodeToString(w.Result); got != lower(v.want) {
			t.Errorf("%s wrap = %s, want %s", v.alg, got, lower(v.want))
		}
		want, _ := hex.DecodeString(v.want)
		u, err := c.UnwrapKey(ctx, n, "", encParams(v.alg, want), nil)
		must(t, err, "UnwrapKey "+string(v.alg))
		if !bytes.Equal(u.Result, data) {
			t.Errorf("%s unwrap of the RFC vector = %x", v.alg, u.Result)
		}
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }
