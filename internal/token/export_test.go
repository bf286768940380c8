package token

import (
	"context"
	"crypto/rsa"
	"time"
)

// ActiveKeyForTest returns tid's active signing key (tests only).
func ActiveKeyForTest(i *Issuer, tid string) *rsa.PrivateKey {
	tk, err := i.load(context.Background(), tid)
	if err != nil {
		panic(err)
	}
	return tk.active
}

// SetClock replaces the clocks of i and v (either may be nil).
func SetClock(i *Issuer, v *Verifier, now func() time.Time) {
	if i != nil {
		i.now = now
	}
	if v != nil {
		v.now = now
	}
}
