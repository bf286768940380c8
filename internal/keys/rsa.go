package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // registers crypto.SHA1 for RSA-OAEP
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"math/big"
)

// rsaSigAlg describes one RSA signature algorithm. hash 0 is RSNULL.
type rsaSigAlg struct {
	hash crypto.Hash
	pss  bool
}

var rsaSigAlgs = map[string]rsaSigAlg{
	"RS256":  {crypto.SHA256, false},
	"RS384":  {crypto.SHA384, false},
	"RS512":  {crypto.SHA512, false},
	"PS256":  {crypto.SHA256, true},
	"PS384":  {crypto.SHA384, true},
	"PS512":  {crypto.SHA512, true},
	"RSNULL": {0, false},
}

// rsaEncAlgs maps the RSA encryption / key-wrap algorithms to their OAEP hash
// (used for both the label hash and MGF1); 0 means RSAES-PKCS1-v1_5.
var rsaEncAlgs = map[string]crypto.Hash{
	"RSA1_5":       0,
	"RSA-OAEP":     crypto.SHA1,
	"RSA-OAEP-256": crypto.SHA256,
}

func checkRSASize(bits int) error {
	switch bits {
	case 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("%w: RSA key size %d is not supported; use 2048, 3072 or 4096", ErrInvalidKeyParams, bits)
}

func generateRSA(bits int) (*Material, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate RSA key: %w", err)
	}
	k.Precompute()
	return &Material{kty: KtyRSA, size: bits, rsaPriv: k, rsaPub: &k.PublicKey}, nil
}

// newPublicRSA builds public-only RSA material of any size (used to verify
// test vectors; never reachable from the exported API).
func newPublicRSA(n *big.Int, e int) *Material {
	pub := &rsa.PublicKey{N: n, E: e}
	return &Material{kty: KtyRSA, size: n.BitLen(), rsaPub: pub}
}

func rsaFromJWK(j *JSONWebKey) (*Material, error) {
	if len(j.N) == 0 || len(j.E) == 0 || len(j.D) == 0 || len(j.P) == 0 || len(j.Q) == 0 {
		return nil, fmt.Errorf("%w: RSA import requires n, e, d, p and q", ErrInvalidKeyParams)
	}
	if len(j.K) > 0 || len(j.X) > 0 || len(j.Y) > 0 || j.Crv != "" {
		return nil, fmt.Errorf("%w: RSA key must not contain k, crv, x or y", ErrInvalidKeyParams)
	}
	n := new(big.Int).SetBytes(j.N)
	if err := checkRSASize(n.BitLen()); err != nil {
		return nil, err
	}
	e, err := parseExponent(j.E)
	if err != nil {
		return nil, err
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n, E: e},
		D:         new(big.Int).SetBytes(j.D),
		Primes:    []*big.Int{new(big.Int).SetBytes(j.P), new(big.Int).SetBytes(j.Q)},
	}
	k.Precompute()
	if err := k.Validate(); err != nil {
		zeroRSA(k)
		return nil, fmt.Errorf("%w: RSA private key is inconsistent (%v)", ErrInvalidKeyParams, err)
	}
	for _, c := range []struct {
		name string
		got  B64
		want *big.Int
	}{{"dp", j.DP, k.Precomputed.Dp}, {"dq", j.DQ, k.Precomputed.Dq}, {"qi", j.QI, k.Precomputed.Qinv}} {
		if len(c.got) > 0 && new(big.Int).SetBytes(c.got).Cmp(c.want) != 0 {
			zeroRSA(k)
			return nil, fmt.Errorf("%w: RSA %s does not match the other private components", ErrInvalidKeyParams, c.name)
		}
	}
	return &Material{kty: KtyRSA, size: n.BitLen(), rsaPriv: k, rsaPub: &k.PublicKey}, nil
}

// parseExponent decodes a big-endian public exponent; it must be odd, >= 3
// and fit in 31 bits.
func parseExponent(b []byte) (int, error) {
	e := new(big.Int).SetBytes(b)
	if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
		return 0, fmt.Errorf("%w: RSA public exponent must be odd, at least 3 and below 2^31", ErrInvalidKeyParams)
	}
	return int(e.Int64()), nil
}

func (m *Material) rsaPublicJWK(j *JSONWebKey) {
	j.N = m.rsaPub.N.Bytes()
	j.E = big.NewInt(int64(m.rsaPub.E)).Bytes()
}

func (m *Material) rsaPrivateJWK(j *JSONWebKey) {
	k := m.rsaPriv
	if k == nil {
		return
	}
	j.D = k.D.Bytes()
	j.P = k.Primes[0].Bytes()
	j.Q = k.Primes[1].Bytes()
	j.DP = k.Precomputed.Dp.Bytes()
	j.DQ = k.Precomputed.Dq.Bytes()
	j.QI = k.Precomputed.Qinv.Bytes()
}

func zeroRSA(k *rsa.PrivateKey) {
	zeroBig(k.D)
	for _, p := range k.Primes {
		zeroBig(p)
	}
	zeroBig(k.Precomputed.Dp)
	zeroBig(k.Precomputed.Dq)
	zeroBig(k.Precomputed.Qinv)
}

// zeroBig overwrites the limbs of x and sets it to zero.
func zeroBig(x *big.Int) {
	if x == nil {
		return
	}
	clear(x.Bits())
	x.SetInt64(0)
}

// algErr reports an algorithm that is unknown or not valid for the key type.
func algErr(alg, kty string) error {
	if alg == "" {
		return fmt.Errorf("%w: alg is required", ErrBadRequest)
	}
	return fmt.Errorf("%w: algorithm %q is not valid for %s keys", ErrBadRequest, alg, kty)
}

// rsaCheckDigest validates the digest length for a signature algorithm.
func (m *Material) rsaCheckDigest(alg string, a rsaSigAlg, digest []byte) error {
	if a.hash == 0 {
		if limit := m.rsaPub.Size() - 11; len(digest) == 0 || len(digest) > limit {
			return fmt.Errorf("%w: RSNULL with a %d-bit key takes 1 to %d bytes, got %d", ErrBadRequest, m.size, limit, len(digest))
		}
		return nil
	}
	if len(digest) != a.hash.Size() {
		return fmt.Errorf("%w: %s requires a %d-byte %s digest, got %d bytes", ErrBadRequest, alg, a.hash.Size(), a.hash, len(digest))
	}
	return nil
}

func (m *Material) rsaSign(alg string, digest []byte) ([]byte, error) {
	a, ok := rsaSigAlgs[alg]
	if !ok {
		return nil, algErr(alg, KtyRSA)
	}
	if err := m.rsaCheckDigest(alg, a, digest); err != nil {
		return nil, err
	}
	if m.rsaPriv == nil {
		return nil, fmt.Errorf("%w: key has no private part", ErrBadRequest)
	}
	var sig []byte
	var err error
	if a.pss {
		sig, err = rsa.SignPSS(rand.Reader, m.rsaPriv, a.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, m.rsaPriv, a.hash, digest)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: RSA %s sign: %w", alg, err)
	}
	return sig, nil
}

func (m *Material) rsaVerify(alg string, digest, sig []byte) (bool, error) {
	a, ok := rsaSigAlgs[alg]
	if !ok {
		return false, algErr(alg, KtyRSA)
	}
	if err := m.rsaCheckDigest(alg, a, digest); err != nil {
		return false, err
	}
	if a.pss {
		// Key Vault's PS* use salt length = hash length (RFC 7518 §3.5); a
		// signature with any other salt length does not verify.
		return verifyPSS(m.rsaPub, a.hash, digest, sig, a.hash.Size()), nil
	}
	return rsa.VerifyPKCS1v15(m.rsaPub, a.hash, digest, sig) == nil, nil
}

// verifyPSS verifies an RSASSA-PSS signature (MGF1 with the same hash) with
// an exact salt length.
func verifyPSS(pub *rsa.PublicKey, h crypto.Hash, digest, sig []byte, saltLen int) bool {
	return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: saltLen}) == nil
}

func (m *Material) rsaEncrypt(alg string, pt []byte) ([]byte, error) {
	h, ok := rsaEncAlgs[alg]
	if !ok {
		return nil, algErr(alg, KtyRSA)
	}
	k := m.rsaPub.Size()
	var ct []byte
	var err error
	if h == 0 {
		if limit := k - 11; len(pt) > limit {
			return nil, fmt.Errorf("%w: plaintext too long: RSA1_5 with a %d-bit key allows at most %d bytes, got %d", ErrBadRequest, m.size, limit, len(pt))
		}
		ct, err = rsa.EncryptPKCS1v15(rand.Reader, m.rsaPub, pt)
	} else {
		if limit := k - 2*h.Size() - 2; len(pt) > limit {
			return nil, fmt.Errorf("%w: plaintext too long: %s with a %d-bit key allows at most %d bytes, got %d", ErrBadRequest, alg, m.size, limit, len(pt))
		}
		ct, err = rsa.EncryptOAEP(h.New(), rand.Reader, m.rsaPub, pt, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: RSA %s encrypt: %w", alg, err)
	}
	return ct, nil
}

func (m *Material) rsaDecrypt(alg string, ct []byte) ([]byte, error) {
	h, ok := rsaEncAlgs[alg]
	if !ok {
		return nil, algErr(alg, KtyRSA)
	}
	if m.rsaPriv == nil {
		return nil, fmt.Errorf("%w: key has no private part", ErrBadRequest)
	}
	if h == 0 {
		return rsaDecryptPKCS1(m.rsaPriv, ct)
	}
	return rsaDecryptOAEP(m.rsaPriv, h, h, nil, ct)
}

// rsaDecryptPKCS1 performs RSAES-PKCS1-v1_5 decryption. The padding check in
// crypto/rsa is constant time; any failure becomes the detail-free ErrDecrypt.
func rsaDecryptPKCS1(k *rsa.PrivateKey, ct []byte) ([]byte, error) {
	pt, err := rsa.DecryptPKCS1v15(rand.Reader, k, ct)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// rsaDecryptOAEP performs RSAES-OAEP decryption with explicit label hash,
// MGF1 hash and label, so that every Wycheproof combination runs through the
// same code as RSA-OAEP / RSA-OAEP-256.
func rsaDecryptOAEP(k *rsa.PrivateKey, h, mgf crypto.Hash, label, ct []byte) ([]byte, error) {
	pt, err := k.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: h, MGFHash: mgf, Label: label})
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
