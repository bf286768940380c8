package securitydomain

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
)

// KDF is NIST SP 800-108 key derivation in counter mode with HMAC-SHA512, as
// the security-domain format uses it: block i is
//
//	HMAC-SHA512(key, BE32(i) ‖ label ‖ 0x00 ‖ context ‖ BE32(bits))
//
// for i = 1, 2, …, and the result is the first bits/8 bytes. bits must be a
// positive multiple of 8.
func KDF(key []byte, label, context string, bits int) []byte {
	if bits <= 0 || bits%8 != 0 {
		panic("securitydomain: KDF length must be a positive multiple of 8 bits")
	}
	n := bits / 8
	out := make([]byte, 0, n+sha512.Size)
	var ctr, length [4]byte
	binary.BigEndian.PutUint32(length[:], uint32(bits))
	for i := uint32(1); len(out) < n; i++ {
		m := hmac.New(sha512.New, key)
		binary.BigEndian.PutUint32(ctr[:], i)
		m.Write(ctr[:])
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(context))
		m.Write(length[:])
		out = m.Sum(out)
	}
	clear(out[n:])
	return out[:n]
}
