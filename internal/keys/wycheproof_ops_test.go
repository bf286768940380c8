package keys

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"errors"
	"testing"
)

func TestWycheproofRSAOAEP(t *testing.T) {
	t.Parallel()
	for _, name := range wpOAEPFiles {
		f := wpLoad(t, name, "rsaes_oaep_decrypt_schema_v1.json")
		keys := make([]*Material, len(f.TestGroups))
		for i := range f.TestGroups {
			keys[i] = wpRSAPrivate(t, &f.TestGroups[i])
		}
		wpRun(t, name, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
			m := keys[groupIndex(f, g)]
			h, mgf := hashByName(t, g.Sha), hashByName(t, g.MgfSha)
			if g.Mgf != "MGF1" {
				t.Fatalf("mgf %s", g.Mgf)
			}
			pt, err := rsaDecryptOAEP(m.rsaPriv, h, mgf, tc.Label, tc.Ct)
			if err != nil && err != ErrDecrypt {
				t.Fatalf("decrypt error is not exactly ErrDecrypt: %v", err)
			}
			ok := err == nil && bytes.Equal(pt, tc.Msg)
			wpCheck(t, tc, ok, "rsaDecryptOAEP")
			alg := map[[2]crypto.Hash]string{{crypto.SHA1, crypto.SHA1}: "RSA-OAEP", {crypto.SHA256, crypto.SHA256}: "RSA-OAEP-256"}[[2]crypto.Hash{h, mgf}]
			if alg == "" || len(tc.Label) != 0 {
				return false // not a Key Vault algorithm (hash pair or label)
			}
			for _, op := range []func() ([]byte, error){
				func() ([]byte, error) { r, err := m.Decrypt(CipherParams{Alg: alg, Value: tc.Ct}); return r.Value, err },
				func() ([]byte, error) { return m.UnwrapKey(alg, tc.Ct) },
			} {
				pt, err := op()
				if err != nil && err != ErrDecrypt {
					t.Fatalf("%s error is not exactly ErrDecrypt: %v", alg, err)
				}
				wpCheck(t, tc, err == nil && bytes.Equal(pt, tc.Msg), alg)
			}
			return true
		})
	}
}

func groupIndex(f *wpFile, g *wpGroup) int {
	for i := range f.TestGroups {
		if &f.TestGroups[i] == g {
			return i
		}
	}
	panic("group not in file")
}

func TestWycheproofRSAPKCS1Decrypt(t *testing.T) {
	t.Parallel()
	for _, name := range wpPKCS1DecFiles {
		f := wpLoad(t, name, "rsaes_pkcs1_decrypt_schema_v1.json")
		keys := make([]*Material, len(f.TestGroups))
		for i := range f.TestGroups {
			keys[i] = wpRSAPrivate(t, &f.TestGroups[i])
		}
		wpRun(t, name, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
			m := keys[groupIndex(f, g)]
			res, err := m.Decrypt(CipherParams{Alg: "RSA1_5", Value: tc.Ct})
			if err != nil && err != ErrDecrypt {
				t.Fatalf("error is not exactly ErrDecrypt: %v", err)
			}
			wpCheck(t, tc, err == nil && bytes.Equal(res.Value, tc.Msg), "Decrypt RSA1_5")
			pt, err := m.UnwrapKey("RSA1_5", tc.Ct)
			if err != nil && err != ErrDecrypt {
				t.Fatalf("unwrap error is not exactly ErrDecrypt: %v", err)
			}
			wpCheck(t, tc, err == nil && bytes.Equal(pt, tc.Msg), "UnwrapKey RSA1_5")
			return true
		})
	}
}

func TestWycheproofECDSA(t *testing.T) {
	t.Parallel()
	curveNames := map[string]string{"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "P-256K"}
	for _, name := range wpECDSAFiles {
		f := wpLoad(t, name, "ecdsa_p1363_verify_schema_v1.json")
		wpRun(t, name, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
			crv := curveNames[g.PublicKey.Curve]
			c, err := lookupCurve(crv)
			if err != nil {
				t.Fatalf("curve %q: %v", g.PublicKey.Curve, err)
			}
			u := g.PublicKey.Uncompressed
			if len(u) != 1+2*c.byteLen || u[0] != 4 {
				t.Fatalf("unexpected public key encoding (%d bytes)", len(u))
			}
			m, err := newPublicEC(crv, u[1:1+c.byteLen], u[1+c.byteLen:])
			if err != nil {
				t.Fatalf("public key: %v", err)
			}
			ok, err := m.Verify(c.alg, digestOf(hashByName(t, g.Sha), tc.Msg), tc.Sig)
			if err != nil {
				t.Fatalf("Verify returned error: %v", err)
			}
			wpCheck(t, tc, ok, "Material.Verify "+c.alg)
			return true
		})
	}
}

// octKey imports an AES key through FromJWK (only 128/192/256-bit keys).
func octKey(t *testing.T, k []byte) *Material {
	m, err := FromJWK(&JSONWebKey{Kty: "oct-HSM", K: k})
	if err != nil {
		t.Fatalf("FromJWK oct (%d bytes): %v", len(k), err)
	}
	return m
}

func TestWycheproofAESGCM(t *testing.T) {
	t.Parallel()
	f := wpLoad(t, wpGCMFile, "aead_test_schema_v1.json")
	wpRun(t, wpGCMFile, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
		block, err := aes.NewCipher(tc.Key)
		if err != nil {
			t.Fatal(err)
		}
		// Internal GCM functions: every IV length.
		pt, err := gcmOpen(block, tc.IV, tc.Ct, tc.Tag, tc.AAD)
		if err != nil && err != ErrDecrypt {
			t.Fatalf("gcmOpen error is not exactly ErrDecrypt: %v", err)
		}
		wpCheck(t, tc, err == nil && bytes.Equal(pt, tc.Msg), "gcmOpen")
		if tc.Result == "valid" {
			ct, tag, err := gcmSeal(block, tc.IV, tc.Msg, tc.AAD)
			if err != nil || !bytes.Equal(ct, tc.Ct) || !bytes.Equal(tag, tc.Tag) {
				t.Errorf("gcmSeal mismatch: %v", err)
			}
		}
		if len(tc.IV) != gcmNonceSize || len(tc.Tag) != gcmTagSize {
			return false // the API only takes 12-byte IVs and 16-byte tags
		}
		m := octKey(t, tc.Key)
		res, err := m.Decrypt(CipherParams{Alg: octAlg(8*len(tc.Key), "GCM"), Value: tc.Ct, IV: tc.IV, AAD: tc.AAD, Tag: tc.Tag})
		if err != nil && err != ErrDecrypt {
			t.Fatalf("Decrypt error is not exactly ErrDecrypt: %v", err)
		}
		wpCheck(t, tc, err == nil && bytes.Equal(res.Value, tc.Msg), "Material.Decrypt")
		return true
	})
}

func TestWycheproofAESCBCPAD(t *testing.T) {
	t.Parallel()
	f := wpLoad(t, wpCBCFile, "ind_cpa_test_schema_v1.json")
	wpRun(t, wpCBCFile, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
		m := octKey(t, tc.Key)
		alg := octAlg(8*len(tc.Key), "CBCPAD")
		res, err := m.Decrypt(CipherParams{Alg: alg, Value: tc.Ct, IV: tc.IV})
		if err != nil && err != ErrDecrypt {
			t.Fatalf("Decrypt error is not exactly ErrDecrypt: %v", err)
		}
		wpCheck(t, tc, err == nil && bytes.Equal(res.Value, tc.Msg), "Decrypt "+alg)
		if tc.Result == "valid" {
			enc, err := m.Encrypt(CipherParams{Alg: alg, Value: tc.Msg, IV: tc.IV})
			if err != nil || !bytes.Equal(enc.Value, tc.Ct) {
				t.Errorf("Encrypt %s mismatch: %v", alg, err)
			}
		}
		return true
	})
}

// wpKeyWrap runs a key-wrap vector through WrapKey / UnwrapKey.
func wpKeyWrap(t *testing.T, tc *wpTest, algs []string) {
	m := octKey(t, tc.Key)
	for _, alg := range algs {
		w, werr := m.WrapKey(alg, tc.Msg)
		if werr != nil && !errors.Is(werr, ErrBadRequest) {
			t.Fatalf("%s WrapKey error does not wrap ErrBadRequest: %v", alg, werr)
		}
		k, uerr := m.UnwrapKey(alg, tc.Ct)
		if uerr != nil && uerr != ErrDecrypt {
			t.Fatalf("%s UnwrapKey error is not exactly ErrDecrypt: %v", alg, uerr)
		}
		wrapOK := werr == nil && bytes.Equal(w, tc.Ct)
		unwrapOK := uerr == nil && bytes.Equal(k, tc.Msg)
		switch tc.Result {
		case "valid":
			if !wrapOK || !unwrapOK {
				t.Errorf("%s valid vector: wrap ok=%v (%v), unwrap ok=%v (%v)", alg, wrapOK, werr, unwrapOK, uerr)
			}
		case "invalid":
			if uerr == nil || wrapOK {
				t.Errorf("%s invalid vector accepted: unwrap err=%v, wrap reproduced ct=%v (%s %v)", alg, uerr, wrapOK, tc.Comment, tc.Flags)
			}
		case "acceptable":
			if (werr == nil && !wrapOK) || (uerr == nil && !unwrapOK) {
				t.Errorf("%s acceptable vector produced a wrong result", alg)
			}
			t.Logf("%s acceptable (%s): wrap err=%v, unwrap err=%v", alg, tc.Comment, werr, uerr)
		}
	}
}

func TestWycheproofAESKeyWrap(t *testing.T) {
	t.Parallel()
	f := wpLoad(t, wpWrapFile, "keywrap_test_schema_v1.json")
	wpRun(t, wpWrapFile, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
		wpKeyWrap(t, tc, []string{octAlg(8*len(tc.Key), "KW"), "CKM_AES_KEY_WRAP"})
		return true
	})
}

func TestWycheproofAESKeyWrapPad(t *testing.T) {
	t.Parallel()
	f := wpLoad(t, wpKWPFile, "keywrap_test_schema_v1.json")
	wpRun(t, wpKWPFile, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
		wpKeyWrap(t, tc, []string{"CKM_AES_KEY_WRAP_PAD"})
		return true
	})
}
