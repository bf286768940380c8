package securitydomain

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mhsm/mhsm/internal/strictjson"
)

// The JSON documents of the format (managed-hsm.md §5.3). Field names are
// the ones the Azure CLI reads and writes.

// File is a security-domain file: the "value" a download returns, which az
// writes verbatim to --security-domain-file.
type File struct {
	EncData    EncData    `json:"EncData"`
	SharedKeys SharedKeys `json:"SharedKeys"`
}

// EncData is the data protected by the master key: each item is a "dir"
// JWE under KDF(master, tag).
type EncData struct {
	Data []Datum `json:"data"`
	KDF  string  `json:"kdf"`
}

// Datum is one EncData item.
type Datum struct {
	CompactJWE string `json:"compact_jwe"`
	Tag        string `json:"tag"`
}

// SharedKeys holds the master key's shares, each encrypted to one
// certificate.
type SharedKeys struct {
	KeyAlgorithm string     `json:"key_algorithm"`
	Required     int        `json:"required"`
	EncShares    []EncShare `json:"enc_shares"`
}

// EncShare is one encrypted share and the SHA-256 thumbprint (base64url) of
// the certificate it is encrypted to.
type EncShare struct {
	X5t256 string `json:"x5t_256"`
	EncKey string `json:"enc_key"`
}

// RestoreBlob is what an operator uploads to an HSM in recovery: the
// EncData re-encrypted under a new master key, and that key wrapped to the
// HSM's transfer key.
type RestoreBlob struct {
	EncData    EncData    `json:"EncData"`
	WrappedKey WrappedKey `json:"WrappedKey"`
}

// WrappedKey is the restore blob's master key, an RSA-OAEP-256 JWE to the
// transfer key whose certificate thumbprint is X5t256.
type WrappedKey struct {
	EncKey string `json:"enc_key"`
	X5t256 string `json:"x5t_256"`
}

// Format constants.
const (
	KDFName            = "sp108_kdf"
	KeyAlgorithmShamir = "shamir_share"
	// MaxDocumentBytes bounds a security-domain file or restore blob.
	MaxDocumentBytes = 1 << 20
	// maxData bounds EncData items; maxTag bounds a tag.
	maxData = 16
	maxTag  = 128
)

// ErrMalformed is wrapped by every error about the shape of a document;
// the messages say what is wrong, never echo secrets.
var ErrMalformed = errors.New("securitydomain: malformed document")

func errMalformed(msg string) error { return fmt.Errorf("%w: %s", ErrMalformed, msg) }

func quote(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Thumbprint is base64url(SHA-256(DER)) of a certificate, the x5t_256 and
// x5t#S256 value.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// decodeStrict decodes one JSON document from b with strictjson (no
// duplicate or case-folded keys, bounded nesting, no trailing data).
func decodeStrict(b []byte, v any) error {
	if len(b) > MaxDocumentBytes {
		return errMalformed(fmt.Sprintf("the document exceeds %d bytes", MaxDocumentBytes))
	}
	if err := strictjson.Decode(b, v); err != nil {
		return errMalformed("the document is not the expected JSON")
	}
	return nil
}

// ParseFile decodes and checks a security-domain file.
func ParseFile(b []byte) (*File, error) {
	var f File
	if err := decodeStrict(b, &f); err != nil {
		return nil, err
	}
	if err := checkEncData(&f.EncData); err != nil {
		return nil, err
	}
	sk := &f.SharedKeys
	if sk.KeyAlgorithm != KeyAlgorithmShamir {
		return nil, errMalformed("SharedKeys.key_algorithm is " + quote(sk.KeyAlgorithm) + ", want shamir_share")
	}
	if len(sk.EncShares) == 0 || len(sk.EncShares) > MaxShareIndex {
		return nil, errMalformed(fmt.Sprintf("SharedKeys has %d shares", len(sk.EncShares)))
	}
	if sk.Required < MinQuorum || sk.Required > len(sk.EncShares) {
		return nil, errMalformed(fmt.Sprintf("SharedKeys.required is %d with %d shares", sk.Required, len(sk.EncShares)))
	}
	for i := range sk.EncShares {
		s := &sk.EncShares[i]
		t, ok := normalizeThumbprint(s.X5t256)
		if !ok {
			return nil, errMalformed(fmt.Sprintf("enc_shares[%d].x5t_256 is not a SHA-256 thumbprint", i))
		}
		s.X5t256 = t
		if s.EncKey, ok = normalizeCompact(s.EncKey); !ok {
			return nil, errMalformed(fmt.Sprintf("enc_shares[%d].enc_key is not a compact JWE", i))
		}
	}
	return &f, nil
}

// ParseRestoreBlob decodes and checks a restore blob. It accepts the
// encodings of both CLI generations: older ones base64url-encoded the compact
// JWEs and the thumbprint a second time.
func ParseRestoreBlob(b []byte) (*RestoreBlob, error) {
	var r RestoreBlob
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	if err := checkEncData(&r.EncData); err != nil {
		return nil, err
	}
	var ok bool
	if r.WrappedKey.X5t256, ok = normalizeThumbprint(r.WrappedKey.X5t256); !ok {
		return nil, errMalformed("WrappedKey.x5t_256 is not a SHA-256 thumbprint")
	}
	if r.WrappedKey.EncKey, ok = normalizeCompact(r.WrappedKey.EncKey); !ok {
		return nil, errMalformed("WrappedKey.enc_key is not a compact JWE")
	}
	return &r, nil
}

func checkEncData(e *EncData) error {
	if e.KDF != KDFName {
		return errMalformed("EncData.kdf is " + quote(e.KDF) + ", want sp108_kdf")
	}
	if len(e.Data) == 0 || len(e.Data) > maxData {
		return errMalformed(fmt.Sprintf("EncData has %d items", len(e.Data)))
	}
	seen := map[string]bool{}
	for i := range e.Data {
		d := &e.Data[i]
		if d.Tag == "" || len(d.Tag) > maxTag || seen[d.Tag] {
			return errMalformed(fmt.Sprintf("EncData.data[%d].tag is empty, too long or repeated", i))
		}
		seen[d.Tag] = true
		var ok bool
		if d.CompactJWE, ok = normalizeCompact(d.CompactJWE); !ok {
			return errMalformed(fmt.Sprintf("EncData.data[%d].compact_jwe is not a compact JWE", i))
		}
	}
	return nil
}

// normalizeCompact returns s if it looks like a compact JWE, or what s
// base64url-decodes to if that does.
func normalizeCompact(s string) (string, bool) {
	if len(s) > maxCompactJWE*2 {
		return "", false
	}
	if strings.Count(s, ".") == 4 {
		return s, true
	}
	d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err == nil && strings.Count(string(d), ".") == 4 {
		return string(d), true
	}
	return "", false
}

// normalizeThumbprint returns the base64url SHA-256 thumbprint in s, which
// may itself be base64url-encoded once more.
func normalizeThumbprint(s string) (string, bool) {
	for range 2 {
		s = strings.TrimRight(s, "=")
		d, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return "", false
		}
		if len(d) == sha256.Size {
			return s, true
		}
		s = string(d)
	}
	return "", false
}

// marshal encodes a document as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
