package directory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// TestSharedLockoutSpansNodes: two directories on one store (two nodes)
// with SharedLockout count one budget; failures spread over both lock the
// principal on both.
func TestSharedLockoutSpansNodes(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	o := Options{Password: fastPW, Lockout: LockoutPolicy{MaxFailures: 4, Window: time.Minute}, SharedLockout: true}
	a, b := NewWithOptions(st, o), NewWithOptions(st, o)
	tn, err := a.CreateTenant(ctx, "C", "contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := a.CreateServicePrincipal(ctx, tn.ID, "app")
	secret, err := a.AddSecret(ctx, tn.ID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []*Directory{a, b, a, b} { // 2 failures per node: under a per-node budget of 4
		if _, err := d.AuthenticateSecret(ctx, tn.ID, sp.AppID, "nope"); !errors.Is(err, ErrBadCredential) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	for name, d := range map[string]*Directory{"a": a, "b": b} {
		if _, err := d.AuthenticateSecret(ctx, tn.ID, sp.AppID, secret); !errors.Is(err, ErrLocked) {
			t.Fatalf("node %s after 4 failures over both nodes: %v, want ErrLocked", name, err)
		}
	}
	// Without sharing, the same spread stays under each node's budget.
	st2 := store.NewMemory()
	o.SharedLockout = false
	c, d := NewWithOptions(st2, o), NewWithOptions(st2, o)
	tn2, _ := c.CreateTenant(ctx, "C", "contoso.test")
	sp2, _ := c.CreateServicePrincipal(ctx, tn2.ID, "app")
	secret2, _ := c.AddSecret(ctx, tn2.ID, sp2.AppID, time.Hour)
	for _, x := range []*Directory{c, d, c, d} {
		_, _ = x.AuthenticateSecret(ctx, tn2.ID, sp2.AppID, "nope")
	}
	if _, err := d.AuthenticateSecret(ctx, tn2.ID, sp2.AppID, secret2); err != nil {
		t.Fatalf("per-node budgets: %v, want success (this is what sharing fixes)", err)
	}
}
