package securitydomain

import (
	"crypto/rand"
	"encoding/binary"
)

// Field elements of GF(257) are uint32 values in 0..256. Every function here
// runs in time independent of the values of its arguments.

// prime is the field order.
const prime = 257

// ctSub257 subtracts 257 from t when t >= 257, with a mask instead of a
// branch; for t < 2*257 the result is t mod 257.
func ctSub257(t uint32) uint32 {
	u := t - prime
	// mask is all ones when t < 257 (u wrapped around), else zero.
	mask := uint32(int32(u) >> 31)
	return (t & mask) | (u &^ mask)
}

// gfAdd returns a+b mod 257.
func gfAdd(a, b uint32) uint32 { return ctSub257(a + b) }

// gfSub returns a-b mod 257.
func gfSub(a, b uint32) uint32 { return ctSub257(a + prime - b) }

// gfMul returns a*b mod 257. With a, b <= 256 the product is at most 65536 =
// 256*256+0; writing it as hi*256+lo, 256 ≡ -1 gives lo-hi, in -256..255.
func gfMul(a, b uint32) uint32 {
	p := a * b
	lo, hi := p&0xff, p>>8
	return ctSub257(lo + prime - hi) // 1..512 → 0..256
}

// gfInv returns a^255 = a^-1 mod 257 (0 for 0) with a fixed ladder:
// 255 = 0b11111111, seven square-and-multiply steps after the first bit.
func gfInv(a uint32) uint32 {
	r := a
	for range 7 {
		r = gfMul(r, r)
		r = gfMul(r, a)
	}
	return r
}

// gfFold reduces any uint32 modulo 257 without division: with 2^8 ≡ -1,
// b0 + b1·2^8 + b2·2^16 + b3·2^24 ≡ b0 - b1 + b2 - b3.
func gfFold(x uint32) uint32 {
	b0, b1, b2, b3 := x&0xff, (x>>8)&0xff, (x>>16)&0xff, x>>24
	t := b0 + b2 + 2*prime - b1 - b3       // 4..1024
	return ctSub257(ctSub257(ctSub257(t))) // 1024 - 3*257 = 253
}

// gfRandom fills out with uniformly distributed (bias < 2^-23) field
// elements read from crypto/rand.
func gfRandom(out []uint32) {
	buf := make([]byte, 4*len(out))
	// crypto/rand.Read never returns an error.
	_, _ = rand.Read(buf)
	for i := range out {
		out[i] = gfFold(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	clear(buf)
}
