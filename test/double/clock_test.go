// Package double tests mhsm's dev-mode test-double features — the movable
// clock, fault injection, seed and export, the one-line start — the way a
// user's tests see them: through mhsmtest and the unmodified Azure SDK.
package double

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/mhsm/mhsm/mhsmtest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func keysClient(t *testing.T, srv *mhsmtest.Server) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(srv.HSMURL, srv.Credential, &azkeys.ClientOptions{ClientOptions: srv.ClientOptions})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// statusOf is the HTTP status of an SDK error (0 if it is not a response).
func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func versions(t *testing.T, c *azkeys.Client, name string) int {
	t.Helper()
	n := 0
	pager := c.NewListKeyPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("list versions of %s: %v", name, err)
		}
		n += len(page.Value)
	}
	return n
}

// TestClockAdvance: advancing the clock makes a rotation policy fire, a key
// pass its expiry and a soft-deleted key reach its purge date, all seen
// through azkeys with its default options.
func TestClockAdvance(t *testing.T) {
	srv := mhsmtest.Start(t)
	c := keysClient(t, srv)
	ctx := ctxT(t)

	// A key that rotates 30 days after creation.
	rot, err := c.CreateKey(ctx, "rotating", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateKeyRotationPolicy(ctx, "rotating", azkeys.KeyRotationPolicy{
		LifetimeActions: []*azkeys.LifetimeAction{{
			Action:  &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)},
			Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P30D")},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A key that expires in a day.
	exp := time.Now().Add(24 * time.Hour)
	_, err = c.CreateKey(ctx, "expiring", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256),
		KeyAttributes: &azkeys.KeyAttributes{Expires: &exp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	sign := func() error {
		_, err := c.Sign(ctx, "expiring", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest}, nil)
		return err
	}
	if err := sign(); err != nil {
		t.Fatalf("sign before expiry: %v", err)
	}
	// A soft-deleted key (the dev HSM keeps deleted keys 90 days).
	if _, err := c.CreateKey(ctx, "deleted", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKey(ctx, "deleted", nil); err != nil {
		t.Fatal(err)
	}
	del, err := c.GetDeletedKey(ctx, "deleted", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.ScheduledPurgeDate == nil {
		t.Fatal("deleted key has no scheduledPurgeDate")
	}

	// +2 days: the expiring key is past exp; nothing else changed.
	if st := srv.AdvanceClock(t, "P2D"); st.OffsetSeconds < 2*86400 {
		t.Fatalf("clock offset after P2D = %ds", st.OffsetSeconds)
	}
	if err := sign(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("sign after expiry: err = %v, want 403", err)
	}
	if n := versions(t, c, "rotating"); n != 1 {
		t.Fatalf("after 2 days the rotating key has %d versions, want 1", n)
	}

	// +30 more days: the rotation policy fired (new version, now latest).
	srv.AdvanceClock(t, "P30D")
	if n := versions(t, c, "rotating"); n != 2 {
		t.Fatalf("after 32 days the rotating key has %d versions, want 2", n)
	}
	latest, err := c.GetKey(ctx, "rotating", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *latest.Key.KID == *rot.Key.KID {
		t.Fatal("the latest version is still the first one")
	}

	// The deleted key is still recoverable before its purge date …
	if _, err := c.GetDeletedKey(ctx, "deleted", nil); err != nil {
		t.Fatalf("deleted key gone before its purge date: %v", err)
	}
	// … and purged once the clock passes it.
	now, err := time.Parse(time.RFC3339, srv.Clock(t).Now)
	if err != nil {
		t.Fatal(err)
	}
	days := int(del.ScheduledPurgeDate.Sub(now).Hours()/24) + 1
	srv.AdvanceClock(t, "P"+strconv.Itoa(days)+"D")
	if _, err := c.GetDeletedKey(ctx, "deleted", nil); statusOf(err) != http.StatusNotFound {
		t.Fatalf("deleted key after its purge date: err = %v, want 404", err)
	}
}
