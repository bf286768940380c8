package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// DeviceGrant is a device-code sign-in (RFC 8628): a client on a device
// without a browser shows the user code; the user enters it with their
// credentials on the verification page; the client polls with the device
// code until the grant is approved or expires. Device codes are 256-bit
// random values stored by digest; user codes are 8 letters (about 34
// bits) from an alphabet without vowels or look-alikes, valid only while
// the grant is pending, and approving one needs the user's password.
type DeviceGrant struct {
	TenantID string    `json:"tid"`
	ClientID string    `json:"clientId"`
	Scope    string    `json:"scope"`
	UserCode string    `json:"userCode"`
	ObjectID string    `json:"oid,omitempty"` // set when approved
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
}

// DeviceCodeLifetime is how long a device code may be approved and polled.
const DeviceCodeLifetime = 15 * time.Minute

// Device-code poll results other than success.
var (
	// ErrPending: the user has not approved the code yet.
	ErrPending = errors.New("token: authorization pending")
	// ErrExpired: the device code expired before it was approved.
	ErrExpired = errors.New("token: device code expired")
)

const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

func deviceKey(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return "tokdev/" + hex.EncodeToString(sum[:])
}

func userCodeKey(code string) string { return "tokdevu/" + code }

// NormalizeUserCode upper-cases a typed user code and drops its dash and
// spaces ("bcdf-ghjk" → "BCDFGHJK").
func NormalizeUserCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
}

// NewDeviceCode stores a pending grant and returns its device code and its
// user code (formatted "XXXX-XXXX").
func (i *Issuer) NewDeviceCode(ctx context.Context, g DeviceGrant) (deviceCode, userCode string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	deviceCode = "mhsmdc." + base64.RawURLEncoding.EncodeToString(b)
	u := make([]byte, 8)
	if _, err := rand.Read(u); err != nil {
		return "", "", err
	}
	for k := range u {
		u[k] = userCodeAlphabet[int(u[k])%len(userCodeAlphabet)]
	}
	g.UserCode, g.ObjectID = string(u), ""
	g.Issued = i.now().UTC()
	g.Expires = g.Issued.Add(DeviceCodeLifetime)
	v, _ := json.Marshal(g)
	err = i.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(userCodeKey(g.UserCode)); err == nil {
			return errors.New("token: user code collision")
		}
		if err := tx.Put(deviceKey(deviceCode), v); err != nil {
			return err
		}
		return tx.Put(userCodeKey(g.UserCode), []byte(deviceKey(deviceCode)))
	})
	if err != nil {
		return "", "", err
	}
	return deviceCode, g.UserCode[:4] + "-" + g.UserCode[4:], nil
}

// ApproveDeviceCode records that user oid of tenant tid approved the
// pending grant of userCode. It returns ErrInvalid when the code is
// unknown, of another tenant, expired or already approved.
func (i *Issuer) ApproveDeviceCode(ctx context.Context, tid, userCode, oid string) error {
	code := NormalizeUserCode(userCode)
	if len(code) != 8 {
		return ErrInvalid
	}
	now := i.now()
	return i.st.Update(ctx, func(tx store.Tx) error {
		k, err := tx.Get(userCodeKey(code))
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalid
		}
		if err != nil {
			return err
		}
		var g DeviceGrant
		if err := store.GetJSON(tx, string(k), &g); err != nil {
			return ErrInvalid
		}
		if g.TenantID != tid || g.ObjectID != "" || now.After(g.Expires) {
			return ErrInvalid
		}
		g.ObjectID = oid
		v, _ := json.Marshal(g)
		if err := tx.Put(string(k), v); err != nil {
			return err
		}
		return tx.Delete(userCodeKey(code)) // a user code is used once
	})
}

// PollDeviceCode returns the approved grant of deviceCode and consumes it,
// or ErrPending, ErrExpired, or ErrInvalid for an unknown (or already
// redeemed) code.
func (i *Issuer) PollDeviceCode(ctx context.Context, deviceCode string) (*DeviceGrant, error) {
	if len(deviceCode) == 0 || len(deviceCode) > 256 {
		return nil, ErrInvalid
	}
	var g DeviceGrant
	now := i.now()
	err := i.st.Update(ctx, func(tx store.Tx) error {
		err := store.GetJSON(tx, deviceKey(deviceCode), &g)
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalid
		}
		if err != nil {
			return err
		}
		switch {
		case now.After(g.Expires):
			return ErrExpired // left for PurgeDeviceCodes
		case g.ObjectID == "":
			return ErrPending
		}
		return tx.Delete(deviceKey(deviceCode))
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// PurgeCodes deletes expired authorization codes and device grants (with
// their user codes).
func (i *Issuer) PurgeCodes(ctx context.Context) error {
	now := i.now()
	return i.st.Update(ctx, func(tx store.Tx) error {
		for _, prefix := range []string{"tokcode/", "tokdev/"} {
			kvs, err := tx.List(prefix, "", 0)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var g struct {
					UserCode string    `json:"userCode"`
					Expires  time.Time `json:"expires"`
				}
				if json.Unmarshal(kv.Value, &g) != nil || now.After(g.Expires) {
					if g.UserCode != "" {
						if err := tx.Delete(userCodeKey(g.UserCode)); err != nil && !errors.Is(err, store.ErrNotFound) {
							return err
						}
					}
					if err := tx.Delete(kv.Key); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}
