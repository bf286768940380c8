package keys

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
)

// Key types as Managed HSM names them. Generate and FromJWK also accept the
// software names "RSA", "EC" and "oct" and normalize them to these.
const (
	KtyRSA = "RSA-HSM"
	KtyEC  = "EC-HSM"
	KtyOct = "oct-HSM"
)

// B64 is a byte slice that JSON-encodes as base64url without padding (the Key
// Vault wire format). When decoding it accepts base64url or standard base64,
// padded or not. JSON null decodes to nil.
type B64 []byte

// MarshalJSON encodes b as a base64url (no padding) JSON string.
func (b B64) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.RawURLEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

// UnmarshalJSON decodes a base64url or standard base64 JSON string, padded or
// unpadded.
func (b *B64) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("keys: base64 value must be a JSON string")
	}
	v, err := DecodeB64(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// DecodeB64 decodes s as base64url or standard base64, with or without
// padding. Mixing the two alphabets is an error.
func DecodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	urlChars := strings.ContainsAny(s, "-_")
	stdChars := strings.ContainsAny(s, "+/")
	if urlChars && stdChars {
		return nil, errors.New("keys: base64 value mixes URL-safe and standard alphabets")
	}
	enc := base64.RawURLEncoding
	if stdChars {
		enc = base64.RawStdEncoding
	}
	v, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("keys: invalid base64 value")
	}
	return v, nil
}

// JSONWebKey is the Key Vault JsonWebKey wire model. Private members (d, dp,
// dq, qi, p, q, k) are only filled by [Material.PrivateJWK].
type JSONWebKey struct {
	Kid    string   `json:"kid,omitempty"`
	Kty    string   `json:"kty,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	N      B64      `json:"n,omitempty"`
	E      B64      `json:"e,omitempty"`
	D      B64      `json:"d,omitempty"`
	DP     B64      `json:"dp,omitempty"`
	DQ     B64      `json:"dq,omitempty"`
	QI     B64      `json:"qi,omitempty"`
	P      B64      `json:"p,omitempty"`
	Q      B64      `json:"q,omitempty"`
	K      B64      `json:"k,omitempty"`
	KeyHSM B64      `json:"key_hsm,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      B64      `json:"x,omitempty"`
	Y      B64      `json:"y,omitempty"`
}

// HasPrivate reports whether any private member (d, dp, dq, qi, p, q, k) is
// present.
func (j *JSONWebKey) HasPrivate() bool {
	return len(j.D) > 0 || len(j.DP) > 0 || len(j.DQ) > 0 || len(j.QI) > 0 ||
		len(j.P) > 0 || len(j.Q) > 0 || len(j.K) > 0
}

// LogValue implements slog.LogValuer. Only kid, kty and crv are logged, never
// key bytes, so a private JWK handed to a logger by mistake leaks nothing.
func (j JSONWebKey) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kid", j.Kid), slog.String("kty", j.Kty)}
	if j.Crv != "" {
		attrs = append(attrs, slog.String("crv", j.Crv))
	}
	if j.HasPrivate() {
		attrs = append(attrs, slog.Bool("private", true))
	}
	return slog.GroupValue(attrs...)
}

// normalizeKty maps the accepted key type names to the Managed HSM names.
func normalizeKty(kty string) (string, bool) {
	switch kty {
	case "RSA", KtyRSA:
		return KtyRSA, true
	case "EC", KtyEC:
		return KtyEC, true
	case "oct", KtyOct:
		return KtyOct, true
	}
	return "", false
}

// DefaultKeyOps returns the key_ops a new key of type kty gets when the
// caller specifies none. It returns nil for an unknown key type.
func DefaultKeyOps(kty string) []string {
	nk, _ := normalizeKty(kty)
	switch nk {
	case KtyRSA:
		return []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
	case KtyEC:
		return []string{"sign", "verify"}
	case KtyOct:
		return []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"}
	}
	return nil
}
