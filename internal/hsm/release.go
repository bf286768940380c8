package hsm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/wire"
)

// Attestation verifies attestation tokens and signs release results. The
// server trusts an authority only if this says so: deny by default.
type Attestation interface {
	// VerifyAttestation checks token's signature, issuer and lifetime
	// against a trusted authority and returns the issuer and claims.
	VerifyAttestation(ctx context.Context, token string) (issuer string, claims map[string]any, err error)
	// SignRelease signs a release payload for the HSM's tenant and returns
	// a compact JWS that callers verify with the tenant's published keys.
	SignRelease(ctx context.Context, tenantID string, payload []byte) (string, error)
}

// ReleaseKey is secure key release: an exportable key with a release
// policy leaves the HSM only wrapped to the public key carried by an
// attestation token that (1) verifies against a trusted authority named by
// the policy and (2) satisfies the policy's claim conditions. The key is
// wrapped with CKM_RSA_AES_KEY_WRAP (RSA-OAEP-SHA1 of an ephemeral AES-256
// key, then AES-KWP of the PKCS#8 key) or RSA_AES_KEY_WRAP_256/384.
func (s *Service) ReleaseKey(ctx context.Context, h *HSM, name, version string, p *wire.KeyReleaseParameters) (*wire.KeyReleaseResult, error) {
	if s.attest == nil {
		return nil, badRequest("secure key release needs a trusted attestation authority, and none is configured")
	}
	if p.Target == "" {
		return nil, badRequest("target (an attestation token) is required")
	}
	enc := p.Enc
	if enc == "" {
		enc = "CKM_RSA_AES_KEY_WRAP"
	}
	var oaepHash hash.Hash
	switch enc {
	case "CKM_RSA_AES_KEY_WRAP":
		oaepHash = sha1.New()
	case "RSA_AES_KEY_WRAP_256":
		oaepHash = sha256.New()
	case "RSA_AES_KEY_WRAP_384":
		oaepHash = sha512.New384()
	default:
		return nil, badRequest("enc %s is not supported; use CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384", quoteName(enc))
	}
	k, v, err := s.readKeyVersion(ctx, h, name, version, false)
	if err != nil {
		return nil, err
	}
	if !v.Exportable || v.ReleasePolicy == nil {
		return nil, badRequest("the key is not exportable or has no release policy")
	}
	if !v.Enabled {
		return nil, forbidden("Operation release is not allowed on a disabled key.")
	}
	now := s.now().Unix()
	if (v.NotBefore != nil && now < *v.NotBefore) || (v.Expires != nil && now >= *v.Expires) {
		return nil, forbidden("Operation release is not allowed outside the key's validity period.")
	}
	issuer, claims, err := s.attest.VerifyAttestation(ctx, p.Target)
	if err != nil {
		return nil, badRequest("the attestation token is not valid or its authority is not trusted")
	}
	if !policyAllows(v.ReleasePolicy.Data, issuer, claims) {
		return nil, forbidden("The attestation does not satisfy the key's release policy.")
	}
	pub, err := runtimeKey(claims)
	if err != nil {
		return nil, err
	}
	_, m, release, err := s.usable(ctx, h, name, v.Version, "")
	if err != nil {
		return nil, err
	}
	defer release()
	der, err := m.ExportPKCS8()
	if err != nil {
		return nil, cryptoErr(err)
	}
	defer clear(der)
	wrapped, err := rsaAESKeyWrap(pub, oaepHash, der)
	if err != nil {
		return nil, err
	}
	kid := h.kid(k.Name, v.Version)
	blob, _ := json.Marshal(map[string]any{"schema_version": "1.0.0", "header": map[string]string{"kid": "runtime", "alg": "dir", "enc": enc},
		"ciphertext": base64.RawURLEncoding.EncodeToString(wrapped), "generator": "mhsm"})
	out := h.bundle(k, v) // v is shared (record cache): build on a copy
	out.Key.KeyHSM = blob
	payload, _ := json.Marshal(map[string]any{
		"request":  map[string]any{"enc": enc, "kid": kid, "nonce": p.Nonce},
		"response": map[string]any{"key": out},
	})
	jws, err := s.attest.SignRelease(ctx, h.TenantID, payload)
	if err != nil {
		return nil, err
	}
	return &wire.KeyReleaseResult{Value: jws}, nil
}

// rsaAESKeyWrap is CKM_RSA_AES_KEY_WRAP: RSA-OAEP of a fresh AES-256 key,
// followed by the key material wrapped with AES-KWP (RFC 5649).
func rsaAESKeyWrap(pub *rsa.PublicKey, h hash.Hash, material []byte) ([]byte, error) {
	aesKey := make([]byte, 32)
	if _, err := rand.Read(aesKey); err != nil {
		return nil, err
	}
	defer clear(aesKey)
	head, err := rsa.EncryptOAEP(h, rand.Reader, pub, aesKey, nil)
	if err != nil {
		return nil, err
	}
	kek, err := keys.FromJWK(&keys.JSONWebKey{Kty: "oct", K: aesKey})
	if err != nil {
		return nil, err
	}
	defer kek.Zero()
	tail, err := kek.WrapKey("CKM_AES_KEY_WRAP_PAD", material)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}

// runtimeKey returns the RSA public key an attestation token carries for
// key release (x-ms-runtime.keys[0], as Azure Attestation puts it).
func runtimeKey(claims map[string]any) (*rsa.PublicKey, error) {
	rt, _ := claims["x-ms-runtime"].(map[string]any)
	ks, _ := rt["keys"].([]any)
	for _, k := range ks {
		b, _ := json.Marshal(k)
		var j keys.JSONWebKey
		if json.Unmarshal(b, &j) != nil || !strings.HasPrefix(j.Kty, "RSA") || len(j.N) == 0 {
			continue
		}
		e := new(big.Int).SetBytes(j.E)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || len(j.N) < 256 {
			continue
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(e.Int64())}, nil
	}
	return nil, badRequest("the attestation token carries no RSA key (x-ms-runtime.keys) to release the key to")
}

// policyAllows evaluates a release policy:
// {"version":"1.0.0","anyOf":[{"authority":"…","allOf"|"anyOf":[{"claim":"c","equals":v}]}]}.
// The issuer must equal an entry's authority, and that entry's conditions
// must hold on the verified claims.
func policyAllows(data []byte, issuer string, claims map[string]any) bool {
	var pol struct {
		AnyOf []struct {
			Authority string      `json:"authority"`
			AllOf     []condition `json:"allOf"`
			AnyOf     []condition `json:"anyOf"`
		} `json:"anyOf"`
	}
	if json.Unmarshal(data, &pol) != nil {
		return false
	}
	norm := func(s string) string { return strings.TrimRight(strings.ToLower(s), "/") }
	for _, e := range pol.AnyOf {
		if norm(e.Authority) != norm(issuer) {
			continue
		}
		if len(e.AllOf) > 0 {
			ok := true
			for _, c := range e.AllOf {
				ok = ok && c.holds(claims)
			}
			if ok {
				return true
			}
		}
		for _, c := range e.AnyOf {
			if c.holds(claims) {
				return true
			}
		}
	}
	return false
}

type condition struct {
	Claim     string `json:"claim"`
	Equals    any    `json:"equals"`
	Condition string `json:"condition"`
	Value     any    `json:"value"`
}

func (c condition) holds(claims map[string]any) bool {
	want := c.Equals
	if want == nil && strings.EqualFold(c.Condition, "equals") {
		want = c.Value
	}
	if want == nil || c.Claim == "" {
		return false
	}
	var cur any = claims
	for _, part := range strings.Split(c.Claim, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return strings.EqualFold(toString(cur), toString(want))
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
