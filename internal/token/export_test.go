package token

import (
	"context"
	"crypto/rsa"
)

// ActiveKeyForTest returns tid's active signing key (tests only).
func ActiveKeyForTest(i *Issuer, tid string) *rsa.PrivateKey {
	tk, err := i.load(context.Background(), tid)
	if err != nil {
		panic(err)
	}
	return tk.active
}
