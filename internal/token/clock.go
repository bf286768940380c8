package token

import "time"

// SetClock replaces the clocks of i and v (either may be nil). Call it
// before either serves a request: the composition root hands both the
// server's one clock (internal/clock), and tests a fake one.
func SetClock(i *Issuer, v *Verifier, now func() time.Time) {
	if i != nil {
		i.now = now
	}
	if v != nil {
		v.now = now
	}
}

// Now is the issuer's clock (what token times are computed from).
func (i *Issuer) Now() time.Time { return i.now() }
