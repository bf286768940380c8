package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/mhsm/mhsm/internal/strictjson"
)

// errStrict is any failure of the pre-screen; callers map it to ErrInvalid.
var errStrict = errors.New("token: malformed")

// screen checks the shape of a compact JWS before any parser sees it:
// bounded length, exactly three base64url segments (no padding, no
// standard-alphabet characters), and a header and payload that are single
// JSON objects without duplicate or case-folded keys at any depth and
// without trailing data (strictObject). It returns the decoded header and payload.
// Encoding/json (and so go-jose) would otherwise let the last of two
// duplicate keys win, which invites parser differentials.
func screen(raw string, maxLen int) (header, payload []byte, err error) {
	if len(raw) == 0 || len(raw) > maxLen || strings.Count(raw, ".") != 2 {
		return nil, nil, errStrict
	}
	segs := strings.SplitN(raw, ".", 3)
	for _, s := range segs {
		if s == "" {
			return nil, nil, errStrict
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return nil, nil, errStrict
			}
		}
	}
	if header, err = base64.RawURLEncoding.Strict().DecodeString(segs[0]); err != nil {
		return nil, nil, errStrict
	}
	if payload, err = base64.RawURLEncoding.Strict().DecodeString(segs[1]); err != nil {
		return nil, nil, errStrict
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(segs[2]); err != nil {
		return nil, nil, errStrict
	}
	if err := strictObject(header); err != nil {
		return nil, nil, err
	}
	if err := strictObject(payload); err != nil {
		return nil, nil, err
	}
	return header, payload, nil
}

// strictObject reports whether b is exactly one JSON object in whose
// objects (at any depth) no two keys are equal as encoding/json — and so
// go-jose — matches names: under Unicode simple case folding, so "iss"
// and "iſs" (U+017F) are one key, as are "kid" and "\u212aid". It is
// strictjson.CheckObject, the one strict decoder of mhsm.
func strictObject(b []byte) error {
	if strictjson.CheckObject(b) != nil {
		return errStrict
	}
	return nil
}

// ourHeader is the only header mhsm's tokens carry.
type ourHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// decodeHeader decodes a header allowing only the given keys (exact case);
// any other key — jwk, jku, x5u, x5c, crit, zip, b64, … — is refused.
func decodeHeader(b []byte, allowed ...string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errStrict
	}
	for k := range m {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, errStrict
		}
	}
	return m, nil
}
