package throttle

import (
	"context"
	"sync/atomic"
)

// Meter accumulates the cost of one request as the code that does the
// work reports it. Costs are in units of about a millisecond of CPU.
type Meter struct{ micro atomic.Int64 }

type meterKey struct{}

// WithMeter returns a context carrying a new Meter.
func WithMeter(ctx context.Context) (context.Context, *Meter) {
	m := &Meter{}
	return context.WithValue(ctx, meterKey{}, m), m
}

// Add reports units of work done for the request in ctx (no-op without a
// Meter).
func Add(ctx context.Context, units float64) {
	if m, ok := ctx.Value(meterKey{}).(*Meter); ok {
		m.micro.Add(int64(units * 1000))
	}
}

// Units returns the cost reported so far.
func (m *Meter) Units() float64 { return float64(m.micro.Load()) / 1000 }

// BaseCost is what any request costs on the reference machine: TLS, HTTP,
// token check and JSON, about 60 µs of CPU. Base scales it.
const BaseCost = 0.06

// CryptoCost estimates the CPU cost (ms of this machine's CPU: the
// reference machine's cost times Scale) of one operation with a key of kty
// and size (bits; EC: curve bits). private is true for private-key
// operations (sign, decrypt, unwrap), generate for key generation.
func CryptoCost(kty string, size int, private, generate bool) float64 {
	return referenceCost(kty, size, private, generate) * Scale()
}

// referenceCost is CryptoCost on the reference machine (see
// referenceRSA2048SignMs).
func referenceCost(kty string, size int, private, generate bool) float64 {
	switch kty {
	case "RSA-HSM":
		f := float64(size) / 2048
		switch {
		case generate:
			return 90 * f * f * f
		case private:
			return 1.5 * f * f * f
		}
		return 0.05 * f * f
	case "EC-HSM":
		base := map[int]float64{256: 0.05, 384: 0.4, 521: 1.1}[size]
		if base == 0 {
			base = 0.1
		}
		if !private && !generate {
			return 2 * base
		}
		return base
	}
	return 0.01 // AES
}
