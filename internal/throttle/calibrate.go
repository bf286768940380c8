package throttle

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"math"
	"sync/atomic"
	"time"
)

// Costs are written for a reference machine that signs RSA-2048 in 1.5 ms.
// Calibrate rescales them to the machine the server runs on, so a cost
// unit stays about a millisecond of this machine's CPU and a rate of
// 700 units/s per CPU means 70 % of the machine whatever its speed. Without
// it a fast machine was over-charged (a single caller got ~900 RSA-2048
// signatures/s on two cores that sign ~2,000/s) and a slow one
// under-charged.

// referenceRSA2048SignMs is what CryptoCost assumes one RSA-2048 signature
// costs.
const referenceRSA2048SignMs = 1.5

// calibrationKey only times signatures: it is public test material,
// signs nothing that leaves the process and protects nothing.
//
//go:embed calibration-key.pem
var calibrationKey []byte

// scaleBits holds the factor applied to every cost (float64 bits; 0 means 1).
var scaleBits atomic.Uint64

// Scale is the factor Calibrate found (1 before it runs).
func Scale() float64 {
	if b := scaleBits.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	return 1
}

// SetScale sets the factor applied to every cost (tests; f ≤ 0 resets it
// to 1).
func SetScale(f float64) {
	if f <= 0 {
		scaleBits.Store(0)
		return
	}
	scaleBits.Store(math.Float64bits(f))
}

// Base is what any request costs on this machine: BaseCost scaled.
func Base() float64 { return BaseCost * Scale() }

// Calibrate times RSA-2048 signatures (the fastest of a few, which is
// the uncontended cost), sets the scale to that over the reference and
// returns the signature time and the scale. The scale is kept within
// [0.1, 10] so a disturbed measurement cannot disable or freeze
// admission. About 10 ms of CPU.
func Calibrate() (signMs, scale float64) {
	blk, _ := pem.Decode(calibrationKey)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		panic("throttle: calibration key: " + err.Error()) // embedded: cannot happen
	}
	key := k.(*rsa.PrivateKey)
	digest := sha256.Sum256([]byte("mhsm throttle calibration"))
	best := time.Duration(math.MaxInt64)
	for range 7 {
		t0 := time.Now()
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			panic("throttle: calibration: " + err.Error())
		}
		best = min(best, time.Since(t0))
	}
	signMs = float64(best) / float64(time.Millisecond)
	scale = min(max(signMs/referenceRSA2048SignMs, 0.1), 10)
	SetScale(scale)
	return signMs, scale
}
