package securitydomain

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits of the scheme and of the file format.
const (
	// MaxShareIndex is the largest share index x the uint16 packing allows
	// ((x<<9)|v must fit 16 bits), and the CLI's own limit.
	MaxShareIndex = 126
	// MaxSecretLen bounds the secret a share may carry (the master key is 32
	// bytes; the bound keeps parsers' memory small).
	MaxSecretLen = 64
)

// Share is one officer's share of a secret: for each secret byte, the value
// at X of that byte's random polynomial. Values are field elements 0..256.
type Share struct {
	X      int
	Values []uint16
}

// Errors of Combine and ParseShare.
var (
	// ErrTooFewShares means fewer distinct shares than the quorum.
	ErrTooFewShares = errors.New("securitydomain: fewer distinct shares than the quorum")
	// ErrInconsistentShares means the shares do not lie on one polynomial of
	// the quorum's degree: one is from another domain or was altered.
	ErrInconsistentShares = errors.New("securitydomain: shares are inconsistent (from another security domain, or altered)")
	// ErrMalformedShare means a share's encoding is invalid.
	ErrMalformedShare = errors.New("securitydomain: malformed share")
)

// Split splits secret into n shares (indices 1..n), any required of which
// rebuild it and fewer of which say nothing about it.
func Split(secret []byte, n, required int) ([]Share, error) {
	if required < 2 || required > n || n > MaxShareIndex {
		return nil, fmt.Errorf("securitydomain: cannot split into %d shares with quorum %d", n, required)
	}
	if len(secret) == 0 || len(secret) > MaxSecretLen {
		return nil, fmt.Errorf("securitydomain: secret must be 1..%d bytes", MaxSecretLen)
	}
	shares := make([]Share, n)
	for i := range shares {
		shares[i] = Share{X: i + 1, Values: make([]uint16, len(secret))}
	}
	// coef[0] is the secret byte; coef[1..required-1] are random.
	coef := make([]uint32, required)
	defer clear(coef)
	for j, b := range secret {
		gfRandom(coef[1:])
		coef[0] = uint32(b)
		for i := range shares {
			x := uint32(shares[i].X)
			// Horner from the highest coefficient; x is public.
			v := coef[required-1]
			for k := required - 2; k >= 0; k-- {
				v = gfAdd(gfMul(v, x), coef[k])
			}
			shares[i].Values[j] = uint16(v)
		}
	}
	return shares, nil
}

// Combine rebuilds the secret from shares. A share given twice counts once;
// two different shares with one index, fewer than required distinct
// indices, or (when more than required are given) shares that disagree with
// the polynomial the first required define, are errors. Combine cannot tell
// a wrong secret from exactly required shares of which one is foreign: the
// caller authenticates what the secret decrypts.
func Combine(shares []Share, required int) ([]byte, error) {
	if required < 2 || required > MaxShareIndex {
		return nil, fmt.Errorf("securitydomain: invalid quorum %d", required)
	}
	var distinct []Share
	length := -1
	for _, s := range shares {
		if s.X < 1 || s.X > MaxShareIndex || len(s.Values) == 0 || len(s.Values) > MaxSecretLen {
			return nil, ErrMalformedShare
		}
		if length >= 0 && len(s.Values) != length {
			return nil, ErrInconsistentShares
		}
		length = len(s.Values)
		for _, v := range s.Values {
			if v > 256 {
				return nil, ErrMalformedShare
			}
		}
		dup := false
		for _, d := range distinct {
			if d.X == s.X {
				if !equalValues(d.Values, s.Values) {
					return nil, ErrInconsistentShares
				}
				dup = true
				break
			}
		}
		if !dup {
			distinct = append(distinct, s)
		}
	}
	if len(distinct) < required {
		return nil, ErrTooFewShares
	}
	base := distinct[:required]
	xs := make([]uint32, required)
	for i, s := range base {
		xs[i] = uint32(s.X)
	}
	// Lagrange weights at 0 (public: they depend on the indices only).
	w0 := lagrangeWeights(xs, 0)
	secret := make([]byte, length)
	var bad uint32
	for j := range length {
		var acc uint32
		for i, s := range base {
			acc = gfAdd(acc, gfMul(w0[i], uint32(s.Values[j])))
		}
		bad |= acc >> 8 // a byte secret is never 256
		secret[j] = byte(acc)
	}
	// Every further share must lie on the same polynomials.
	for _, e := range distinct[required:] {
		we := lagrangeWeights(xs, uint32(e.X))
		for j := range length {
			var acc uint32
			for i, s := range base {
				acc = gfAdd(acc, gfMul(we[i], uint32(s.Values[j])))
			}
			bad |= acc ^ uint32(e.Values[j])
		}
	}
	if bad != 0 {
		clear(secret)
		return nil, ErrInconsistentShares
	}
	return secret, nil
}

// lagrangeWeights returns, for each xs[i], Π_{j≠i} (at - x_j) / (x_i - x_j).
func lagrangeWeights(xs []uint32, at uint32) []uint32 {
	w := make([]uint32, len(xs))
	for i := range xs {
		num, den := uint32(1), uint32(1)
		for j := range xs {
			if i == j {
				continue
			}
			num = gfMul(num, gfSub(at, xs[j]))
			den = gfMul(den, gfSub(xs[i], xs[j]))
		}
		w[i] = gfMul(num, gfInv(den))
	}
	return w
}

func equalValues(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	var d uint16
	for i := range a {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

// MarshalShare encodes a share as the file format does: one little-endian
// uint16 (x<<9)|v per secret byte.
func MarshalShare(s Share) []byte {
	out := make([]byte, 2*len(s.Values))
	for j, v := range s.Values {
		binary.LittleEndian.PutUint16(out[2*j:], uint16(s.X)<<9|v)
	}
	return out
}

// ParseShare decodes MarshalShare's encoding; every word must carry the
// same index x in 1..MaxShareIndex and a value in 0..256.
func ParseShare(b []byte) (Share, error) {
	if len(b) == 0 || len(b)%2 != 0 || len(b) > 2*MaxSecretLen {
		return Share{}, ErrMalformedShare
	}
	s := Share{Values: make([]uint16, len(b)/2)}
	for j := range s.Values {
		w := binary.LittleEndian.Uint16(b[2*j:])
		x, v := int(w>>9), w&0x1ff
		if j == 0 {
			s.X = x
		}
		if x != s.X || x < 1 || x > MaxShareIndex || v > 256 {
			return Share{}, ErrMalformedShare
		}
		s.Values[j] = v
	}
	return s, nil
}
