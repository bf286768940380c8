package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestBadInputs sends malformed operation parameters: each must be a 400
// (never a 500, which the SDK would also retry).
func TestBadInputs(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	rn, en, on := name("bad-rsa"), name("bad-ec"), name("bad-oct")
	importKey(t, ctx, c, rn, rsaJWK(localRSA(t, 1)))
	createKey(t, ctx, c, en, ecParams(azkeys.CurveNameP256))
	createKey(t, ctx, c, on, octParams(128))
	d32 := digestOf(crypto.SHA256, "x")
	alg := func(a string) *azkeys.EncryptionAlgorithm { return ptr(azkeys.EncryptionAlgorithm(a)) }
	sig := func(a string) *azkeys.SignatureAlgorithm { return ptr(azkeys.SignatureAlgorithm(a)) }
	checks := map[string]func() error{
		"sign no alg": func() error { _, err := c.Sign(ctx, en, "", azkeys.SignParameters{Value: d32}, nil); return err },
		"sign unknown alg": func() error {
			_, err := c.Sign(ctx, en, "", azkeys.SignParameters{Algorithm: sig("ES999"), Value: d32}, nil)
			return err
		},
		"sign HS256 on EC": func() error {
			_, err := c.Sign(ctx, en, "", azkeys.SignParameters{Algorithm: sig("HS256"), Value: d32}, nil)
			return err
		},
		"sign on oct": func() error {
			_, err := c.Sign(ctx, on, "", azkeys.SignParameters{Algorithm: sig("RS256"), Value: d32}, nil)
			return err
		},
		"sign empty digest": func() error {
			_, err := c.Sign(ctx, rn, "", azkeys.SignParameters{Algorithm: sig("PS256")}, nil)
			return err
		},
		"verify no digest": func() error {
			_, err := c.Verify(ctx, en, "", azkeys.VerifyParameters{Algorithm: sig("ES256"), Signature: make([]byte, 64)}, nil)
			return err
		},
		"encrypt unknown alg": func() error { _, err := c.Encrypt(ctx, rn, "", encParams("RSA-OAEP-999", d32), nil); return err },
		"encrypt too long": func() error {
			_, err := c.Encrypt(ctx, rn, "", encParams(azkeys.EncryptionAlgorithmRSAOAEP256, make([]byte, 300)), nil)
			return err
		},
		"decrypt empty": func() error {
			_, err := c.Decrypt(ctx, rn, "", encParams(azkeys.EncryptionAlgorithmRSAOAEP, nil), nil)
			return err
		},
		"decrypt short": func() error {
			_, err := c.Decrypt(ctx, rn, "", encParams(azkeys.EncryptionAlgorithmRSA15, []byte{1, 2, 3}), nil)
			return err
		},
		"unwrap short KW": func() error {
			_, err := c.UnwrapKey(ctx, on, "", encParams(azkeys.EncryptionAlgorithmA128KW, make([]byte, 7)), nil)
			return err
		},
		"wrap 7 bytes KW": func() error {
			_, err := c.WrapKey(ctx, on, "", encParams(azkeys.EncryptionAlgorithmA128KW, make([]byte, 7)), nil)
			return err
		},
		"wrap GCM alg": func() error {
			_, err := c.WrapKey(ctx, on, "", encParams(azkeys.EncryptionAlgorithmA128GCM, make([]byte, 16)), nil)
			return err
		},
		"CBC no IV": func() error {
			_, err := c.Encrypt(ctx, on, "", encParams(azkeys.EncryptionAlgorithmA128CBC, make([]byte, 16)), nil)
			return err
		},
		"CBC short IV": func() error {
			p := encParams(azkeys.EncryptionAlgorithmA128CBCPAD, make([]byte, 16))
			p.IV = make([]byte, 8)
			_, err := c.Encrypt(ctx, on, "", p, nil)
			return err
		},
		"CBCPAD bad padding": func() error {
			// A block that decrypts to zeros: a final padding byte of 0 is
			// never valid (random ciphertext would be valid 1 time in 256).
			e := encParams(azkeys.EncryptionAlgorithmA128CBC, make([]byte, 16))
			e.IV = make([]byte, 16)
			ct, err := c.Encrypt(ctx, on, "", e, nil)
			if err != nil {
				t.Fatalf("A128CBC encrypt: %v", err)
			}
			p := encParams(azkeys.EncryptionAlgorithmA128CBCPAD, ct.Result)
			p.IV = make([]byte, 16)
			_, err = c.Decrypt(ctx, on, "", p, nil)
			return err
		},
		"GCM decrypt no tag": func() error {
			p := encParams(azkeys.EncryptionAlgorithmA128GCM, make([]byte, 16))
			p.IV = make([]byte, 12)
			_, err := c.Decrypt(ctx, on, "", p, nil)
			return err
		},
		"encrypt alg missing": func() error {
			_, err := c.Encrypt(ctx, on, "", azkeys.KeyOperationParameters{Value: d32, Algorithm: alg("")}, nil)
			return err
		},
		"create exponent 3": func() error {
			_, err := c.CreateKey(ctx, name("bad"), azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM), PublicExponent: ptr[int32](3)}, nil)
			return err
		},
		"create no kty": func() error { _, err := c.CreateKey(ctx, name("bad"), azkeys.CreateKeyParameters{}, nil); return err },
		"create 16 tags": func() error {
			tags := map[string]*string{}
			for i := range 16 {
				tags[string(rune('a'+i))] = ptr("v")
			}
			_, err := c.CreateKey(ctx, name("bad"), azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM), Tags: tags}, nil)
			return err
		},
		"create exportable without policy": func() error {
			_, err := c.CreateKey(ctx, name("bad"), azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM),
				KeyAttributes: &azkeys.KeyAttributes{Exportable: ptr(true)}}, nil)
			return err
		},
		"import RSA-1024": func() error {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			must(t, err, "rsa 1024")
			_, err = c.ImportKey(ctx, name("bad"), azkeys.ImportKeyParameters{Key: rsaJWK(k)}, nil)
			return err
		},
		"import RSA wrong d": func() error {
			j := rsaJWK(localRSA(t, 0))
			j.D = localRSA(t, 1).D.Bytes()
			_, err := c.ImportKey(ctx, name("bad"), azkeys.ImportKeyParameters{Key: j}, nil)
			return err
		},
		"import EC mismatched d": func() error {
			j := newECKey(t, azkeys.CurveNameP256).jwk(t)
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			j.D, _ = other.Bytes()
			_, err := c.ImportKey(ctx, name("bad"), azkeys.ImportKeyParameters{Key: j}, nil)
			return err
		},
		"import EC off curve": func() error {
			j := newECKey(t, azkeys.CurveNameP384).jwk(t)
			j.Y[len(j.Y)-1] ^= 1
			_, err := c.ImportKey(ctx, name("bad"), azkeys.ImportKeyParameters{Key: j}, nil)
			return err
		},
		"import oct 20 bytes": func() error {
			_, err := c.ImportKey(ctx, name("bad"), azkeys.ImportKeyParameters{Key: octJWK(make([]byte, 20))}, nil)
			return err
		},
		"import no key": func() error { _, err := c.ImportKey(ctx, name("bad"), azkeys.ImportKeyParameters{}, nil); return err },
		"update exportable": func() error {
			_, err := c.UpdateKey(ctx, on, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Exportable: ptr(true)}}, nil)
			return err
		},
		"restore empty": func() error { _, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{}, nil); return err },
		"restore garbage": func() error {
			_, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: []byte("garbage")}, nil)
			return err
		},
		"rng zero": func() error {
			_, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: ptr[int32](0)}, nil)
			return err
		},
		"notify policy": func() error {
			_, err := c.UpdateKeyRotationPolicy(ctx, on, azkeys.KeyRotationPolicy{LifetimeActions: []*azkeys.LifetimeAction{{
				Action:  &azkeys.LifetimeActionType{Type: ptr(azkeys.KeyRotationPolicyActionNotify)},
				Trigger: &azkeys.LifetimeActionTrigger{TimeBeforeExpiry: ptr("P30D")}}},
				Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: ptr("P90D")}}, nil)
			return err
		},
		"bad duration": func() error {
			_, err := c.UpdateKeyRotationPolicy(ctx, on, azkeys.KeyRotationPolicy{Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: ptr("90 days")}}, nil)
			return err
		},
	}
	for label, f := range checks {
		err := f()
		if err == nil {
			t.Errorf("%s: accepted", label)
			continue
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 400 {
			t.Errorf("%s: want 400, got %v", label, err)
		}
	}
	// Unknown keys: 404 with Azure's KeyNotFound code.
	_, err := c.GetKey(ctx, name("nokey"), "", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != "KeyNotFound" {
		t.Errorf("missing key: %v", err)
	}
}
