package keys

// AES key wrap, RFC 3394 (A*KW, CKM_AES_KEY_WRAP) and RFC 5649 with padding
// (CKM_AES_KEY_WRAP_PAD).
//
// These are hand-rolled: neither the Go standard library nor golang.org/x/crypto
// implements them, and no maintained Go module we trust more than ~100 lines
// checked against the Wycheproof aes_wrap / aes_kwp vectors offers them.
// The integrity checks on unwrap use crypto/subtle so that the result of the
// comparison does not depend on where the first mismatching byte is.

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math"
)

// kwDefaultIV is the RFC 3394 §2.2.3.1 default initial value.
var kwDefaultIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// kwpMagic is the RFC 5649 §3 alternative initial value prefix.
var kwpMagic = [4]byte{0xA6, 0x59, 0x59, 0xA6}

// kwWrapCore is the wrapping process W (RFC 3394 §2.2.1, index-based form)
// with initial value a over the 64-bit blocks of r (len(r) = 8n, n >= 2).
// It returns A || R[1..n].
func kwWrapCore(b cipher.Block, a [8]byte, r []byte) []byte {
	n := len(r) / 8
	out := make([]byte, 8+len(r))
	copy(out[8:], r)
	var buf [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], a[:])
			copy(buf[8:], out[8*i:8*i+8])
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:8*i+8], buf[8:])
		}
	}
	copy(out[:8], a[:])
	clear(buf[:])
	return out
}

// kwUnwrapCore is the unwrapping process W^-1 (RFC 3394 §2.2.2) over
// c = A || R[1..n] (len(c) = 8(n+1), n >= 2). It returns the recovered
// initial value and plaintext; the caller checks the initial value.
func kwUnwrapCore(b cipher.Block, c []byte) (a [8]byte, p []byte) {
	n := len(c)/8 - 1
	p = make([]byte, 8*n)
	copy(p, c[8:])
	copy(a[:], c[:8])
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(buf[8:], p[8*(i-1):8*i])
			b.Decrypt(buf[:], buf[:])
			copy(a[:], buf[:8])
			copy(p[8*(i-1):8*i], buf[8:])
		}
	}
	clear(buf[:])
	return a, p
}

// keyWrap is RFC 3394 key wrap with the default IV. The key data must be a
// multiple of 8 bytes and at least 16 bytes.
func keyWrap(b cipher.Block, key []byte) ([]byte, error) {
	if len(key) < 16 || len(key)%8 != 0 {
		return nil, fmt.Errorf("%w: AES key wrap (RFC 3394) input must be a multiple of 8 bytes and at least 16 bytes, got %d; use CKM_AES_KEY_WRAP_PAD for other lengths", ErrBadRequest, len(key))
	}
	return kwWrapCore(b, kwDefaultIV, key), nil
}

// keyUnwrap is RFC 3394 key unwrap; every failure is ErrDecrypt.
func keyUnwrap(b cipher.Block, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, ErrDecrypt
	}
	a, p := kwUnwrapCore(b, wrapped)
	if subtle.ConstantTimeCompare(a[:], kwDefaultIV[:]) != 1 {
		clear(p)
		return nil, ErrDecrypt
	}
	return p, nil
}

// keyWrapPad is RFC 5649 key wrap with padding (1 to 2^32-1 bytes).
func keyWrapPad(b cipher.Block, key []byte) ([]byte, error) {
	if len(key) == 0 || uint64(len(key)) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: AES key wrap with padding (RFC 5649) input must be 1 to 2^32-1 bytes, got %d", ErrBadRequest, len(key))
	}
	var aiv [8]byte
	copy(aiv[:4], kwpMagic[:])
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(key)))
	padded := make([]byte, (len(key)+7)/8*8)
	copy(padded, key)
	defer clear(padded)
	if len(padded) == 8 {
		// RFC 5649 §4.1: a single block is encrypted directly in ECB mode.
		out := make([]byte, 16)
		copy(out, aiv[:])
		copy(out[8:], padded)
		b.Encrypt(out, out)
		return out, nil
	}
	return kwWrapCore(b, aiv, padded), nil
}

// keyUnwrapPad is RFC 5649 key unwrap with padding; every failure is
// ErrDecrypt. The magic, the message length indicator range and the zero
// padding are checked together without data-dependent branches.
func keyUnwrapPad(b cipher.Block, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 16 || len(wrapped)%8 != 0 {
		return nil, ErrDecrypt
	}
	var a [8]byte
	var p []byte
	if len(wrapped) == 16 {
		buf := make([]byte, 16)
		b.Decrypt(buf, wrapped)
		copy(a[:], buf[:8])
		p = buf[8:]
	} else {
		a, p = kwUnwrapCore(b, wrapped)
	}
	plen := uint64(len(p)) // 8n, n >= 1
	mli := uint64(binary.BigEndian.Uint32(a[4:]))
	good := subtle.ConstantTimeCompare(a[:4], kwpMagic[:])
	// 8(n-1) < MLI <= 8n
	good &= ctLessOrEq(mli, plen) & ctLessOrEq(plen-7, mli)
	// The bytes of the last block at index >= MLI must be zero.
	for i := plen - 8; i < plen; i++ {
		inPad := ctLessOrEq(mli, i)
		good &= (inPad ^ 1) | subtle.ConstantTimeByteEq(p[i], 0)
	}
	if good != 1 {
		clear(p)
		return nil, ErrDecrypt
	}
	return p[:mli:mli], nil
}

// ctLessOrEq returns 1 if x <= y and 0 otherwise, in constant time, for
// x, y < 2^63.
func ctLessOrEq(x, y uint64) int {
	return int(((y - x) >> 63) ^ 1)
}
