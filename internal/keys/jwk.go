package keys

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
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
//
// It encodes through MarshalText, not MarshalJSON: encoding/json re-scans
// and compacts whatever a MarshalJSON returns, byte by byte, while the text
// of a TextMarshaler is only checked for characters to escape (base64url
// has none), which halves the cost of encoding a 1 KiB field. It decodes
// through UnmarshalJSON, which keeps the error texts and abort-on-error
// behaviour of a json.Unmarshaler, and reads an unescaped string (every
// real client's) in place. FuzzB64 holds both to the former encoding.
type B64 []byte

// MarshalText returns b as base64url without padding; encoding/json
// writes it as a JSON string.
func (b B64) MarshalText() ([]byte, error) {
	out := make([]byte, base64.RawURLEncoding.EncodedLen(len(b)))
	base64.RawURLEncoding.Encode(out, b)
	return out, nil
}

// UnmarshalJSON decodes a base64url or standard base64 JSON string, padded or
// unpadded.
func (b *B64) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	s, ok := plainJSONString(data)
	if !ok {
		var str string
		if json.Unmarshal(data, &str) != nil {
			return errors.New("keys: base64 value must be a JSON string")
		}
		s = []byte(str)
	}
	v, err := decodeB64(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// plainJSONString returns the contents of data when data is a JSON string
// with nothing to unescape — printable ASCII, no escape — so its value is
// its bytes, in place. Anything else (escapes, not a string) is left to
// encoding/json (ok false).
func plainJSONString(data []byte) (s []byte, ok bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return nil, false
	}
	s = data[1 : len(data)-1]
	return s, b64Scan(s)&b64Escaped == 0
}

// What b64Scan reports about the bytes of a base64 value.
const (
	b64URLSafe = 1 << iota // '-' or '_'
	b64Std                 // '+' or '/'
	// b64Escaped: a byte that a JSON string holds only escaped (control
	// characters), that ends or escapes one ('"', '\\'), or non-ASCII —
	// none is base64, but unquoting is left to encoding/json.
	b64Escaped
)

var b64Class = func() (t [256]uint8) {
	t['-'], t['_'], t['+'], t['/'] = b64URLSafe, b64URLSafe, b64Std, b64Std
	for c := range 256 {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			t[c] = b64Escaped
		}
	}
	return t
}()

// b64Scan ORs the b64Class of every byte of s (one pass, no branches).
func b64Scan(s []byte) uint8 {
	var f uint8
	for _, c := range s {
		f |= b64Class[c]
	}
	return f
}

// DecodeB64 decodes s as base64url or standard base64, with or without
// padding. Mixing the two alphabets is an error.
func DecodeB64(s string) ([]byte, error) { return decodeB64([]byte(s)) }

// decodeB64 is DecodeB64 on bytes; it does not modify s. Any number of
// trailing "=" is ignored, and so are CR and LF (as encoding/base64 does).
// The result is never nil on success.
func decodeB64(s []byte) ([]byte, error) {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	// Unpadded base64url, what clients send, decodes at the first try:
	// that it does proves s holds neither '+' nor '/', so it is not mixed.
	v := make([]byte, base64.RawURLEncoding.DecodedLen(len(s)))
	if n, err := base64.RawURLEncoding.Decode(v, s); err == nil {
		return v[:n], nil
	}
	f := b64Scan(s)
	if f&b64URLSafe != 0 && f&b64Std != 0 {
		return nil, errors.New("keys: base64 value mixes URL-safe and standard alphabets")
	}
	if f&b64Std != 0 {
		if n, err := base64.RawStdEncoding.Decode(v, s); err == nil {
			return v[:n], nil
		}
	}
	return nil, errors.New("keys: invalid base64 value")
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
