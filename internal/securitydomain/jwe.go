package securitydomain

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mhsm/mhsm/internal/strictjson"
)

// The JWEs of the format are compact JWEs with enc A256CBC-HS512 (AES-256-CBC
// with HMAC-SHA-512/256, RFC 7518 §5.2.5): shares and the restore blob's
// wrapped key use alg RSA-OAEP-256 to a certificate's key; EncData items use
// alg "dir" with a key from KDF and the item's tag as kid. go-jose implements
// all of this; this file only pins the algorithms, refuses compression and
// critical headers, and bounds sizes before go-jose sees the input.

// maxCompactJWE bounds one compact JWE (a share is ~600 bytes with a 4096-bit
// key; the root payload is well under 1 KiB).
const maxCompactJWE = 64 << 10

// ErrDecrypt is returned for every JWE that does not decrypt and verify.
var ErrDecrypt = errors.New("securitydomain: decryption failed (wrong key, another security domain, or altered data)")

// jweHeader is the part of a protected header this package checks.
type jweHeader struct {
	Alg  string          `json:"alg"`
	Enc  string          `json:"enc"`
	Kid  string          `json:"kid"`
	Zip  string          `json:"zip"`
	Crit json.RawMessage `json:"crit"`
}

// peekHeader decodes and checks a compact JWE's protected header.
func peekHeader(compact string, algs []jose.KeyAlgorithm) (*jweHeader, error) {
	if len(compact) > maxCompactJWE || strings.Count(compact, ".") != 4 {
		return nil, errMalformed("a JWE is not in compact form")
	}
	raw, err := base64.RawURLEncoding.DecodeString(compact[:strings.IndexByte(compact, '.')])
	if err != nil {
		return nil, errMalformed("a JWE header is not base64url")
	}
	var h jweHeader
	if err := strictjson.Decode(raw, &h); err != nil {
		return nil, errMalformed("a JWE header is not JSON")
	}
	if h.Zip != "" || len(h.Crit) != 0 {
		return nil, errMalformed("a JWE uses compression or critical headers")
	}
	if h.Enc != string(jose.A256CBC_HS512) {
		return nil, errMalformed("a JWE has enc " + quote(h.Enc) + ", want A256CBC-HS512")
	}
	for _, a := range algs {
		if h.Alg == string(a) {
			return &h, nil
		}
	}
	return nil, errMalformed("a JWE has alg " + quote(h.Alg))
}

// encryptRSA encrypts plaintext to pub with RSA-OAEP-256 + A256CBC-HS512.
func encryptRSA(pub *rsa.PublicKey, kid string, plaintext []byte) (string, error) {
	e, err := jose.NewEncrypter(jose.A256CBC_HS512, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: pub, KeyID: kid}, nil)
	if err != nil {
		return "", err
	}
	obj, err := e.Encrypt(plaintext)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// decryptRSA decrypts a compact JWE whose alg is one of algs with priv.
func decryptRSA(compact string, priv *rsa.PrivateKey, algs []jose.KeyAlgorithm) ([]byte, error) {
	if _, err := peekHeader(compact, algs); err != nil {
		return nil, err
	}
	obj, err := jose.ParseEncryptedCompact(compact, algs, []jose.ContentEncryption{jose.A256CBC_HS512})
	if err != nil {
		return nil, errMalformed("a JWE does not parse")
	}
	pt, err := obj.Decrypt(priv)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// encryptDirect encrypts plaintext under the 64-byte cek ("dir"), kid = tag.
func encryptDirect(cek []byte, tag string, plaintext []byte) (string, error) {
	e, err := jose.NewEncrypter(jose.A256CBC_HS512, jose.Recipient{Algorithm: jose.DIRECT, Key: cek, KeyID: tag}, nil)
	if err != nil {
		return "", err
	}
	obj, err := e.Encrypt(plaintext)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// decryptDirect decrypts a "dir" compact JWE under cek.
func decryptDirect(compact string, cek []byte) ([]byte, error) {
	if _, err := peekHeader(compact, []jose.KeyAlgorithm{jose.DIRECT}); err != nil {
		return nil, err
	}
	obj, err := jose.ParseEncryptedCompact(compact, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256CBC_HS512})
	if err != nil {
		return nil, errMalformed("a JWE does not parse")
	}
	pt, err := obj.Decrypt(cek)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
