package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// curveInfo describes one supported curve and its signature algorithm.
// std is nil for P-256K (secp256k1), which the standard library lacks and
// which is implemented with github.com/decred/dcrd/dcrec/secp256k1/v4.
type curveInfo struct {
	name      string
	bits      int
	byteLen   int // scalar / coordinate width
	alg       string
	digestLen int
	std       elliptic.Curve
}

var (
	curveP256  = &curveInfo{"P-256", 256, 32, "ES256", 32, elliptic.P256()}
	curveP256K = &curveInfo{"P-256K", 256, 32, "ES256K", 32, nil}
	curveP384  = &curveInfo{"P-384", 384, 48, "ES384", 48, elliptic.P384()}
	curveP521  = &curveInfo{"P-521", 521, 66, "ES512", 64, elliptic.P521()}
)

var ecSigAlgs = map[string]*curveInfo{
	"ES256":  curveP256,
	"ES256K": curveP256K,
	"ES384":  curveP384,
	"ES512":  curveP521,
}

// lookupCurve maps a JWK crv name to the curve. "SECP256K1" (the JOSE name)
// is accepted as an alias of P-256K.
func lookupCurve(crv string) (*curveInfo, error) {
	switch crv {
	case "P-256":
		return curveP256, nil
	case "P-256K", "SECP256K1", "secp256k1":
		return curveP256K, nil
	case "P-384":
		return curveP384, nil
	case "P-521":
		return curveP521, nil
	case "":
		return nil, fmt.Errorf("%w: crv is required for EC keys", ErrInvalidKeyParams)
	}
	return nil, fmt.Errorf("%w: curve %q is not supported; use P-256, P-256K, P-384 or P-521", ErrInvalidKeyParams, crv)
}

func generateEC(c *curveInfo) (*Material, error) {
	if c.std == nil {
		k, err := secp256k1.GeneratePrivateKeyFromRand(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate P-256K key: %w", err)
		}
		return newK1Material(k), nil
	}
	k, err := ecdsa.GenerateKey(c.std, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", c.name, err)
	}
	return newECMaterial(c, k)
}

func newECMaterial(c *curveInfo, k *ecdsa.PrivateKey) (*Material, error) {
	d, err := k.Bytes()
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s key: %w", c.name, err)
	}
	return &Material{kty: KtyEC, size: c.bits, crv: c.name, curve: c, ecPriv: k, ecPub: &k.PublicKey, ecD: d}, nil
}

func newK1Material(k *secp256k1.PrivateKey) *Material {
	d := k.Key.Bytes()
	return &Material{kty: KtyEC, size: curveP256K.bits, crv: curveP256K.name, curve: curveP256K,
		k1Priv: k, k1Pub: k.PubKey(), ecD: d[:]}
}

// leftPad returns b left-padded with zeros to n bytes, or false if longer.
func leftPad(b []byte, n int) ([]byte, bool) {
	if len(b) > n {
		return nil, false
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out, true
}

// uncompressedPoint returns 0x04 || x || y with fixed-width coordinates.
func uncompressedPoint(c *curveInfo, x, y []byte) ([]byte, error) {
	xp, okx := leftPad(x, c.byteLen)
	yp, oky := leftPad(y, c.byteLen)
	if len(x) == 0 || len(y) == 0 || !okx || !oky {
		return nil, fmt.Errorf("%w: x and y must be %d-byte %s coordinates", ErrInvalidKeyParams, c.byteLen, c.name)
	}
	return append(append([]byte{4}, xp...), yp...), nil
}

// parseECPublic parses and validates (on-curve) a public point.
func parseECPublic(c *curveInfo, x, y []byte) (*ecdsa.PublicKey, *secp256k1.PublicKey, error) {
	pt, err := uncompressedPoint(c, x, y)
	if err != nil {
		return nil, nil, err
	}
	if c.std == nil {
		pub, err := secp256k1.ParsePubKey(pt)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: point is not on curve %s", ErrInvalidKeyParams, c.name)
		}
		return nil, pub, nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c.std, pt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: point is not on curve %s", ErrInvalidKeyParams, c.name)
	}
	return pub, nil, nil
}

// newPublicEC builds public-only EC material (test vectors only).
func newPublicEC(crv string, x, y []byte) (*Material, error) {
	c, err := lookupCurve(crv)
	if err != nil {
		return nil, err
	}
	pub, k1pub, err := parseECPublic(c, x, y)
	if err != nil {
		return nil, err
	}
	return &Material{kty: KtyEC, size: c.bits, crv: c.name, curve: c, ecPub: pub, k1Pub: k1pub}, nil
}

func ecFromJWK(j *JSONWebKey) (*Material, error) {
	c, err := lookupCurve(j.Crv)
	if err != nil {
		return nil, err
	}
	if len(j.N) > 0 || len(j.E) > 0 || len(j.P) > 0 || len(j.Q) > 0 || len(j.K) > 0 {
		return nil, fmt.Errorf("%w: EC key must not contain RSA or oct members", ErrInvalidKeyParams)
	}
	if len(j.D) == 0 {
		return nil, fmt.Errorf("%w: EC import requires d", ErrInvalidKeyParams)
	}
	d, ok := leftPad(j.D, c.byteLen)
	if !ok {
		return nil, fmt.Errorf("%w: d must be at most %d bytes for %s", ErrInvalidKeyParams, c.byteLen, c.name)
	}
	pub, k1pub, err := parseECPublic(c, j.X, j.Y)
	if err != nil {
		clear(d)
		return nil, err
	}
	mismatch := fmt.Errorf("%w: public point (x, y) does not match private key d", ErrInvalidKeyParams)
	badD := fmt.Errorf("%w: d is not a valid %s private key", ErrInvalidKeyParams, c.name)
	if c.std == nil {
		var s secp256k1.ModNScalar
		overflow := s.SetByteSlice(d)
		clear(d)
		if overflow || s.IsZero() {
			return nil, badD
		}
		k := secp256k1.NewPrivateKey(&s)
		s.Zero()
		if !k.PubKey().IsEqual(k1pub) {
			k.Zero()
			return nil, mismatch
		}
		return newK1Material(k), nil
	}
	k, err := ecdsa.ParseRawPrivateKey(c.std, d)
	clear(d)
	if err != nil {
		return nil, badD
	}
	if !k.PublicKey.Equal(pub) {
		return nil, mismatch
	}
	return newECMaterial(c, k)
}

func (m *Material) ecPublicJWK(j *JSONWebKey) {
	var pt []byte
	if m.k1Pub != nil {
		pt = m.k1Pub.SerializeUncompressed()
	} else {
		var err error
		if pt, err = m.ecPub.Bytes(); err != nil {
			return // unreachable for a validated key
		}
	}
	L := m.curve.byteLen
	j.Crv = m.crv
	j.X = B64(pt[1 : 1+L])
	j.Y = B64(pt[1+L:])
}

// ecCheck validates the algorithm against the key's curve and the digest
// length.
func (m *Material) ecCheck(alg string, digest []byte) error {
	c, ok := ecSigAlgs[alg]
	if !ok {
		return algErr(alg, KtyEC)
	}
	if c != m.curve {
		return fmt.Errorf("%w: algorithm %s requires a %s key; this key is %s", ErrBadRequest, alg, c.name, m.crv)
	}
	if len(digest) != c.digestLen {
		return fmt.Errorf("%w: %s requires a %d-byte digest, got %d bytes", ErrBadRequest, alg, c.digestLen, len(digest))
	}
	return nil
}

func (m *Material) ecSign(alg string, digest []byte) ([]byte, error) {
	if err := m.ecCheck(alg, digest); err != nil {
		return nil, err
	}
	L := m.curve.byteLen
	out := make([]byte, 2*L)
	switch {
	case m.k1Priv != nil:
		// RFC 6979 deterministic, low-S signature.
		sig := k1ecdsa.Sign(m.k1Priv, digest)
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		copy(out[:L], rb[:])
		copy(out[L:], sb[:])
	case m.ecPriv != nil:
		r, s, err := ecdsa.Sign(rand.Reader, m.ecPriv, digest)
		if err != nil {
			return nil, fmt.Errorf("keys: %s sign: %w", alg, err)
		}
		r.FillBytes(out[:L])
		s.FillBytes(out[L:])
	default:
		return nil, fmt.Errorf("%w: key has no private part", ErrBadRequest)
	}
	return out, nil
}

func (m *Material) ecVerify(alg string, digest, sig []byte) (bool, error) {
	if err := m.ecCheck(alg, digest); err != nil {
		return false, err
	}
	if m.k1Pub != nil {
		return verifyK1(m.k1Pub, digest, sig), nil
	}
	return verifyECDSA(m.curve, m.ecPub, digest, sig), nil
}

// verifyECDSA verifies a raw r||s (IEEE P1363) signature on a NIST curve.
// r and s must each be exactly byteLen bytes and in [1, N-1].
func verifyECDSA(c *curveInfo, pub *ecdsa.PublicKey, digest, sig []byte) bool {
	L := c.byteLen
	if len(sig) != 2*L {
		return false
	}
	r := new(big.Int).SetBytes(sig[:L])
	s := new(big.Int).SetBytes(sig[L:])
	n := c.std.Params().N
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return false
	}
	return ecdsa.Verify(pub, digest, r, s)
}

// verifyK1 verifies a raw r||s secp256k1 signature. Any (r, s) in [1, N-1]
// is accepted, including high-S values (no BIP 62 low-S rule): ECDSA
// verification as such, which is what Wycheproof and JOSE ES256K expect.
func verifyK1(pub *secp256k1.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return false
	}
	return k1ecdsa.NewSignature(&r, &s).Verify(digest, pub)
}
