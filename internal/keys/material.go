package keys

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Material is the key material of one key version: private (from Generate,
// FromJWK, Unmarshal) or, inside this package only, public-only (used to run
// verification test vectors).
//
// A Material is safe for concurrent use by multiple goroutines, except Zero,
// which must not race with other calls.
//
// It implements fmt.Stringer, fmt.GoStringer and slog.LogValuer with a
// redacted value (type and size only) so secret bytes cannot be printed or
// logged by accident.
type Material struct {
	kty  string // KtyRSA, KtyEC or KtyOct
	size int    // RSA modulus bits, EC curve bits, oct key bits
	crv  string // EC only: P-256, P-256K, P-384, P-521

	rsaPriv *rsa.PrivateKey // nil for a public-only key
	rsaPub  *rsa.PublicKey

	curve  *curveInfo
	ecPriv *ecdsa.PrivateKey // P-256/384/521
	ecPub  *ecdsa.PublicKey
	ecD    []byte                // fixed-width private scalar (both EC flavours), for export and Zero
	k1Priv *secp256k1.PrivateKey // P-256K
	k1Pub  *secp256k1.PublicKey

	oct []byte
}

// Generate creates new key material. kty is one of "RSA", "RSA-HSM", "EC",
// "EC-HSM", "oct", "oct-HSM". RSA sizes are 2048, 3072 or 4096 (0 means 2048);
// EC curves are P-256, P-256K, P-384, P-521 ("" means P-256; size may be 0 or
// the curve's size); oct sizes are 128, 192 or 256 (0 means 256). Any other
// combination returns an error wrapping ErrInvalidKeyParams.
func Generate(kty string, size int, crv string) (*Material, error) {
	nk, ok := normalizeKty(kty)
	if !ok {
		return nil, fmt.Errorf("%w: key type %q is not supported; use RSA-HSM, EC-HSM or oct-HSM", ErrInvalidKeyParams, kty)
	}
	if nk != KtyEC && crv != "" {
		return nil, fmt.Errorf("%w: crv is only valid for EC keys", ErrInvalidKeyParams)
	}
	switch nk {
	case KtyRSA:
		if size == 0 {
			size = 2048
		}
		if err := checkRSASize(size); err != nil {
			return nil, err
		}
		return generateRSA(size)
	case KtyEC:
		if crv == "" {
			crv = "P-256"
		}
		c, err := lookupCurve(crv)
		if err != nil {
			return nil, err
		}
		if size != 0 && size != c.bits {
			return nil, fmt.Errorf("%w: key size %d does not match curve %s (%d bits)", ErrInvalidKeyParams, size, c.name, c.bits)
		}
		return generateEC(c)
	default:
		if size == 0 {
			size = 256
		}
		if err := checkOctSize(size); err != nil {
			return nil, err
		}
		return generateOct(size)
	}
}

// FromJWK imports private key material from a JSON Web Key: RSA (n, e, d, p,
// q required; dp, dq, qi optional but checked when present; 2048/3072/4096
// bits), EC (crv, x, y, d; the point must be on the curve and match d) or oct
// (k of 16, 24 or 32 bytes). Kid and KeyOps are ignored. key_hsm (BYOK) blobs
// are not handled here. Errors wrap ErrInvalidKeyParams.
func FromJWK(j *JSONWebKey) (*Material, error) {
	if j == nil {
		return nil, fmt.Errorf("%w: key is required", ErrInvalidKeyParams)
	}
	nk, ok := normalizeKty(j.Kty)
	if !ok {
		return nil, fmt.Errorf("%w: key type %q is not supported; use RSA-HSM, EC-HSM or oct-HSM", ErrInvalidKeyParams, j.Kty)
	}
	if len(j.KeyHSM) > 0 {
		return nil, fmt.Errorf("%w: key_hsm (BYOK) must be unwrapped before import", ErrInvalidKeyParams)
	}
	switch nk {
	case KtyRSA:
		return rsaFromJWK(j)
	case KtyEC:
		return ecFromJWK(j)
	default:
		return octFromJWK(j)
	}
}

// Marshal serializes the private key material for storage (a private JWK in
// JSON). The result is secret: the caller must encrypt it.
func (m *Material) Marshal() ([]byte, error) {
	if !m.hasPrivate() {
		return nil, fmt.Errorf("%w: public-only key material cannot be marshaled", ErrInvalidKeyParams)
	}
	j := m.PrivateJWK()
	return json.Marshal(&j)
}

// Unmarshal is the inverse of Marshal.
func Unmarshal(b []byte) (*Material, error) {
	var j JSONWebKey
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: stored key material is not a valid JWK", ErrInvalidKeyParams)
	}
	m, err := FromJWK(&j)
	j.wipe()
	return m, err
}

// Kty returns the normalized key type: KtyRSA, KtyEC or KtyOct.
func (m *Material) Kty() string { return m.kty }

// Size returns the RSA modulus size, the EC curve size or the AES key size in
// bits.
func (m *Material) Size() int { return m.size }

// Curve returns the EC curve name (P-256, P-256K, P-384, P-521), or "" for
// non-EC keys.
func (m *Material) Curve() string { return m.crv }

// PublicJWK returns the public parts only: RSA n, e; EC crv, x, y (fixed-width
// coordinates); oct: kty only. Kid and KeyOps are left for the caller.
func (m *Material) PublicJWK() JSONWebKey {
	j := JSONWebKey{Kty: m.kty}
	switch m.kty {
	case KtyRSA:
		m.rsaPublicJWK(&j)
	case KtyEC:
		m.ecPublicJWK(&j)
	}
	return j
}

// PrivateJWK returns the full private JWK (for export / release and Marshal).
// The returned slices are copies.
func (m *Material) PrivateJWK() JSONWebKey {
	j := m.PublicJWK()
	switch m.kty {
	case KtyRSA:
		m.rsaPrivateJWK(&j)
	case KtyEC:
		if len(m.ecD) > 0 {
			j.D = append(B64(nil), m.ecD...)
		}
	case KtyOct:
		j.K = append(B64(nil), m.oct...)
	}
	return j
}

// Zero makes a best-effort attempt to wipe the secret bytes (oct key, RSA
// private exponent, primes and CRT values, EC scalar). Copies held inside the
// Go standard library's internal representations cannot be reached. The
// Material must not be used afterwards.
func (m *Material) Zero() {
	clear(m.oct)
	clear(m.ecD)
	if m.rsaPriv != nil {
		zeroRSA(m.rsaPriv)
	}
	if m.ecPriv != nil && m.ecPriv.D != nil { //nolint:staticcheck // best-effort wipe of the deprecated field
		zeroBig(m.ecPriv.D) //nolint:staticcheck
	}
	if m.k1Priv != nil {
		m.k1Priv.Zero()
	}
	m.oct, m.ecD, m.rsaPriv, m.ecPriv, m.k1Priv = nil, nil, nil, nil, nil
}

// String returns a redacted description: key type and size only.
func (m Material) String() string {
	if m.crv != "" {
		return fmt.Sprintf("keys.Material{kty: %s, crv: %s}", m.kty, m.crv)
	}
	return fmt.Sprintf("keys.Material{kty: %s, size: %d}", m.kty, m.size)
}

// GoString is the same redacted description, so %#v leaks nothing either.
func (m Material) GoString() string { return m.String() }

// LogValue implements slog.LogValuer with type and size only.
func (m Material) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kty", m.kty), slog.Int("size", m.size)}
	if m.crv != "" {
		attrs = append(attrs, slog.String("crv", m.crv))
	}
	return slog.GroupValue(attrs...)
}

// Sign signs a digest (the service does not hash). RSA: RS256/384/512,
// PS256/384/512 (salt length = hash length), RSNULL (PKCS#1 v1.5 over the raw
// bytes, no DigestInfo). EC: ES256 (P-256), ES256K (P-256K), ES384 (P-384),
// ES512 (P-521); EC signatures are raw r||s of fixed width. A wrong algorithm
// or digest length returns an error wrapping ErrBadRequest.
func (m *Material) Sign(alg string, digest []byte) ([]byte, error) {
	switch m.kty {
	case KtyRSA:
		return m.rsaSign(alg, digest)
	case KtyEC:
		return m.ecSign(alg, digest)
	}
	return nil, fmt.Errorf("%w: %s keys cannot sign (algorithm %q)", ErrBadRequest, m.kty, alg)
}

// Verify checks a signature over a digest. It returns (false, nil) for a
// well-formed request whose signature does not verify (including a signature
// of the wrong length); errors (wrapping ErrBadRequest) only for a bad
// algorithm or digest length.
func (m *Material) Verify(alg string, digest, sig []byte) (bool, error) {
	switch m.kty {
	case KtyRSA:
		return m.rsaVerify(alg, digest, sig)
	case KtyEC:
		return m.ecVerify(alg, digest, sig)
	}
	return false, fmt.Errorf("%w: %s keys cannot verify (algorithm %q)", ErrBadRequest, m.kty, alg)
}

// CipherParams are the inputs of Encrypt and Decrypt. IV, AAD and Tag are
// only meaningful for AES algorithms.
type CipherParams struct {
	Alg   string
	Value []byte
	IV    []byte
	AAD   []byte
	Tag   []byte
}

// CipherResult is the output of Encrypt and Decrypt. For AES-GCM encryption
// IV and Tag carry the generated nonce and the 16-byte tag (not appended to
// Value) and AAD echoes the input.
type CipherResult struct {
	Value []byte
	IV    []byte
	AAD   []byte
	Tag   []byte
}

// Encrypt encrypts p.Value. RSA: RSA1_5, RSA-OAEP (SHA-1), RSA-OAEP-256.
// oct: A{128,192,256}GCM (no client IV; a random 12-byte nonce is generated),
// A{128,192,256}CBC (16-byte IV required, plaintext a multiple of 16 bytes)
// and A{128,192,256}CBCPAD (PKCS#7). Parameter problems wrap ErrBadRequest.
func (m *Material) Encrypt(p CipherParams) (CipherResult, error) {
	switch m.kty {
	case KtyRSA:
		if err := noAESParams(p); err != nil {
			return CipherResult{}, err
		}
		ct, err := m.rsaEncrypt(p.Alg, p.Value)
		return CipherResult{Value: ct}, err
	case KtyOct:
		return m.aesEncrypt(p)
	}
	return CipherResult{}, fmt.Errorf("%w: %s keys cannot encrypt", ErrBadRequest, m.kty)
}

// Decrypt is the inverse of Encrypt. Every decryption failure returns exactly
// ErrDecrypt; parameter errors that do not depend on secret data (unknown
// algorithm, algorithm/key mismatch, missing or wrong-length IV or tag) wrap
// ErrBadRequest.
func (m *Material) Decrypt(p CipherParams) (CipherResult, error) {
	switch m.kty {
	case KtyRSA:
		if err := noAESParams(p); err != nil {
			return CipherResult{}, err
		}
		pt, err := m.rsaDecrypt(p.Alg, p.Value)
		return CipherResult{Value: pt}, err
	case KtyOct:
		return m.aesDecrypt(p)
	}
	return CipherResult{}, fmt.Errorf("%w: %s keys cannot decrypt", ErrBadRequest, m.kty)
}

// WrapKey wraps key material. RSA: RSA1_5, RSA-OAEP, RSA-OAEP-256. oct:
// A128KW/A192KW/A256KW and CKM_AES_KEY_WRAP (RFC 3394; input a multiple of 8
// bytes, at least 16) and CKM_AES_KEY_WRAP_PAD (RFC 5649).
func (m *Material) WrapKey(alg string, key []byte) ([]byte, error) {
	switch m.kty {
	case KtyRSA:
		return m.rsaEncrypt(alg, key)
	case KtyOct:
		return m.aesWrap(alg, key)
	}
	return nil, fmt.Errorf("%w: %s keys cannot wrap keys", ErrBadRequest, m.kty)
}

// UnwrapKey is the inverse of WrapKey; every unwrap failure returns exactly
// ErrDecrypt.
func (m *Material) UnwrapKey(alg string, wrapped []byte) ([]byte, error) {
	switch m.kty {
	case KtyRSA:
		return m.rsaDecrypt(alg, wrapped)
	case KtyOct:
		return m.aesUnwrap(alg, wrapped)
	}
	return nil, fmt.Errorf("%w: %s keys cannot unwrap keys", ErrBadRequest, m.kty)
}

func (m *Material) hasPrivate() bool {
	return m.rsaPriv != nil || m.ecPriv != nil || m.k1Priv != nil || len(m.oct) > 0
}

// noAESParams rejects IV/AAD/tag on algorithms that do not use them, so a
// caller cannot believe AAD is authenticated when it is not.
func noAESParams(p CipherParams) error {
	if len(p.IV) > 0 || len(p.AAD) > 0 || len(p.Tag) > 0 {
		return fmt.Errorf("%w: iv, aad and tag are not valid for algorithm %q", ErrBadRequest, p.Alg)
	}
	return nil
}

// wipe clears the private members of a JWK decoded only to build a Material.
func (j *JSONWebKey) wipe() {
	for _, b := range []B64{j.D, j.DP, j.DQ, j.QI, j.P, j.Q, j.K} {
		clear(b)
	}
}
