package hsm

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
)

// byokBlob is the .byok transfer blob (key_hsm) of Azure's BYOK scheme.
type byokBlob struct {
	SchemaVersion string `json:"schema_version"`
	Header        struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Enc string `json:"enc"`
	} `json:"header"`
	Ciphertext keys.B64 `json:"ciphertext"`
}

// unwrapBYOK opens a key_hsm blob with the key-exchange key it names: an
// RSA-HSM key of this HSM whose key_ops are exactly ["import"]. The
// ciphertext is RSA-OAEP (SHA-1 for CKM_RSA_AES_KEY_WRAP, SHA-256 for
// RSA_AES_KEY_WRAP_256) of an AES key, then AES-KWP of the target key
// (PKCS#8, or raw for oct-HSM).
func (s *Service) unwrapBYOK(ctx context.Context, h *HSM, j *keys.JSONWebKey) (*keys.Material, error) {
	var blob byokBlob
	if err := json.Unmarshal(j.KeyHSM, &blob); err != nil || blob.Header.Kid == "" || len(blob.Ciphertext) == 0 {
		return nil, badRequest("key_hsm is not a BYOK transfer blob")
	}
	alg := map[string]string{"CKM_RSA_AES_KEY_WRAP": "RSA-OAEP", "RSA_AES_KEY_WRAP_256": "RSA-OAEP-256"}[blob.Header.Enc]
	if alg == "" {
		return nil, badRequest("BYOK enc %s is not supported; use CKM_RSA_AES_KEY_WRAP or RSA_AES_KEY_WRAP_256", quoteName(blob.Header.Enc))
	}
	name, version, ok := s.ownKid(h, blob.Header.Kid)
	if !ok {
		return nil, badRequest("the key exchange key must be a key of this HSM")
	}
	kek, err := s.GetKey(ctx, h, name, version)
	if err != nil {
		return nil, err
	}
	if kek.Key.Kty != keys.KtyRSA || !slices.Equal(kek.Key.KeyOps, []string{"import"}) {
		return nil, badRequest("the key exchange key must be an RSA-HSM key whose key_ops are exactly [\"import\"]")
	}
	_, m, release, err := s.usable(ctx, h, name, version, "")
	if err != nil {
		return nil, err
	}
	defer release()
	n := (m.Size() + 7) / 8
	if len(blob.Ciphertext) <= n {
		return nil, badRequest("the BYOK ciphertext is too short")
	}
	aesKey, err := m.UnwrapKey(alg, blob.Ciphertext[:n])
	if err != nil {
		return nil, badRequest("the BYOK blob could not be unwrapped with the key exchange key")
	}
	defer clear(aesKey)
	kw, err := keys.FromJWK(&keys.JSONWebKey{Kty: keys.KtyOct, K: aesKey})
	if err != nil {
		return nil, badRequest("the BYOK blob could not be unwrapped with the key exchange key")
	}
	defer kw.Zero()
	target, err := kw.UnwrapKey("CKM_AES_KEY_WRAP_PAD", blob.Ciphertext[n:])
	if err != nil {
		return nil, badRequest("the BYOK blob could not be unwrapped with the key exchange key")
	}
	defer clear(target)
	mat, err := keys.FromPKCS8(j.Kty, target)
	if err != nil {
		return nil, invalidKey(err)
	}
	if j.Crv != "" && mat.Curve() != j.Crv {
		mat.Zero()
		return nil, badRequest("the transferred key is on %s, not %s", mat.Curve(), j.Crv)
	}
	return mat, nil
}

// ownKid parses a kid of this HSM into key name and version.
func (s *Service) ownKid(h *HSM, kid string) (string, string, bool) {
	u, err := url.Parse(kid)
	if err != nil {
		return "", "", false
	}
	base, err := url.Parse(h.BaseURL)
	if err != nil || !strings.EqualFold(u.Hostname(), base.Hostname()) {
		return "", "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "keys" || checkName(parts[1]) != nil {
		return "", "", false
	}
	version := ""
	if len(parts) == 3 {
		version = parts[2]
	}
	return parts[1], version, true
}
