package directory

import (
	"context"
	"errors"
	"fmt"
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

// TestSharedLockoutPerSourceAndCeiling: with SharedLockout, a source's
// back-off counts its failures on every node, and the principal's ceiling
// counts every source's failures on every node; a source that never failed
// still gets through (the per-source semantics of lockout.go, cluster-wide).
func TestSharedLockoutPerSourceAndCeiling(t *testing.T) {
	ctx := context.Background()
	pol := LockoutPolicy{MaxFailures: 3, Window: time.Minute, BaseDelay: time.Minute, MaxDelay: time.Hour, PrincipalCeiling: 6}
	from := func(addr string) context.Context { return WithSource(ctx, addr+":4711") }
	setup := func(shared bool) (a, b *Directory, tid, appID, secret string) {
		st := store.NewMemory()
		o := Options{Password: fastPW, Lockout: pol, SharedLockout: shared}
		a, b = NewWithOptions(st, o), NewWithOptions(st, o)
		tn, err := a.CreateTenant(ctx, "C", "contoso.test")
		if err != nil {
			t.Fatal(err)
		}
		sp, err := a.CreateServicePrincipal(ctx, tn.ID, "app")
		if err != nil {
			t.Fatal(err)
		}
		secret, err = a.AddSecret(ctx, tn.ID, sp.AppID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return a, b, tn.ID, sp.AppID, secret
	}

	// One source, failures spread over both nodes: it backs off on both.
	a, b, tid, app, secret := setup(true)
	for i, d := range []*Directory{a, b, a} {
		if _, err := d.AuthenticateSecret(from("10.0.0.1"), tid, app, "nope"); !errors.Is(err, ErrBadCredential) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	for name, d := range map[string]*Directory{"a": a, "b": b} {
		if _, err := d.AuthenticateSecret(from("10.0.0.1"), tid, app, secret); !errors.Is(err, ErrLocked) {
			t.Fatalf("node %s, source after 3 failures over both nodes: %v, want ErrLocked", name, err)
		}
		if _, err := d.AuthenticateSecret(from("10.0.0.2"), tid, app, secret); err != nil {
			t.Fatalf("node %s, clean source: %v, want success", name, err)
		}
	}

	// Three sources, two failures each over both nodes: no source backs
	// off, but the principal's 6 failures reach the ceiling cluster-wide.
	for _, shared := range []bool{true, false} {
		a, b, tid, app, secret := setup(shared)
		for _, src := range []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"} {
			for _, d := range []*Directory{a, b} {
				if _, err := d.AuthenticateSecret(from(src), tid, app, "nope"); !errors.Is(err, ErrBadCredential) {
					t.Fatalf("shared=%v %s: %v", shared, src, err)
				}
			}
		}
		for name, d := range map[string]*Directory{"a": a, "b": b} {
			_, err := d.AuthenticateSecret(from("10.0.1.1"), tid, app, secret)
			switch {
			case shared && !errors.Is(err, ErrLocked):
				t.Fatalf("node %s: failed source at the cluster-wide ceiling: %v, want ErrLocked", name, err)
			case !shared && err != nil:
				t.Fatalf("node %s without sharing (3 failures per node, under the ceiling): %v, want success", name, err)
			}
			if _, err := d.AuthenticateSecret(from("10.0.9.9"), tid, app, secret); err != nil {
				t.Fatalf("shared=%v node %s, clean source at the ceiling: %v, want success", shared, name, err)
			}
		}
	}
}

// TestSweepLockoutsDeletesOnlyExpiredCounters: failures from 300 sources
// (more than one sweep page) leave 301 counters in the store (one per
// source, one for the principal). Before max(Window, MaxDelay) has passed
// since their last failure none is deleted; after it, all are but those of
// a source that failed again meanwhile, which is in its back-off and stays
// refused after the sweep. Without SharedLockout there is nothing to sweep.
func TestSweepLockoutsDeletesOnlyExpiredCounters(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	pol := LockoutPolicy{MaxFailures: 3, Window: time.Minute, BaseDelay: 5 * time.Minute, MaxDelay: 10 * time.Minute, PrincipalCeiling: 1000}
	d := NewWithOptions(st, Options{Password: fastPW, Lockout: pol, SharedLockout: true})
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	tn, err := d.CreateTenant(ctx, "C", "contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := d.CreateServicePrincipal(ctx, tn.ID, "app")
	try := func(src string) error {
		_, err := d.AuthenticateSecret(WithSource(ctx, src+":1234"), tn.ID, sp.AppID, "nope")
		return err
	}
	for i := range 300 {
		if err := try(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)); !errors.Is(err, ErrBadCredential) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	count := func() int {
		t.Helper()
		var n int
		if err := st.View(ctx, func(tx store.Tx) error {
			kvs, err := tx.List("lock/", "", 0)
			n = len(kvs)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 301 {
		t.Fatalf("%d counters stored, want 301", n)
	}
	now = now.Add(9 * time.Minute) // past Window, not past MaxDelay
	if n, err := d.SweepLockouts(ctx); err != nil || n != 0 {
		t.Fatalf("sweep at +9 min deleted %d (%v), want 0", n, err)
	}
	// One source fails three more times (its +0 failure has expired, so
	// these are its first three): a 5 min back-off, until +14 min.
	for range 3 {
		if err := try("10.0.0.1"); !errors.Is(err, ErrBadCredential) {
			t.Fatal(err)
		}
	}
	now = now.Add(90 * time.Second) // +10.5 min
	n, err := d.SweepLockouts(ctx)
	if err != nil || n != 299 {
		t.Fatalf("sweep at +10.5 min deleted %d (%v), want 299", n, err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d counters left, want 2 (the source in back-off and the principal)", n)
	}
	if err := try("10.0.0.1"); !errors.Is(err, ErrLocked) {
		t.Fatalf("the source in back-off after the sweep: %v, want ErrLocked", err)
	}
	// Past everything, the sweep empties the store.
	now = now.Add(time.Hour)
	if n, err := d.SweepLockouts(ctx); err != nil || n != 2 || count() != 0 {
		t.Fatalf("final sweep deleted %d (%v), %d left", n, err, count())
	}
	memOnly := NewWithOptions(store.NewMemory(), Options{Password: fastPW})
	if n, err := memOnly.SweepLockouts(ctx); n != 0 || err != nil {
		t.Fatalf("sweep without SharedLockout: %d, %v", n, err)
	}
}

// TestSecretsNeverStartWithADash: a client secret starting with '-' is
// taken for an option by az ("-p -x…"). With base64url, 1 draw in 64 would;
// 500 secrets without one leave a 0.04 % chance of missing the bug.
func TestSecretsNeverStartWithADash(t *testing.T) {
	ctx := context.Background()
	d := NewWithOptions(store.NewMemory(), Options{Password: fastPW})
	tn, err := d.CreateTenant(ctx, "C", "contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	var sp *ServicePrincipal
	for i := range 500 {
		if i%20 == 0 { // an application has at most 20 secrets
			if sp, err = d.CreateServicePrincipal(ctx, tn.ID, fmt.Sprintf("app%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		s, err := d.AddSecret(ctx, tn.ID, sp.AppID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if s == "" || s[0] == '-' {
			t.Fatalf("secret %d starts with a dash: %q…", i, s[:1])
		}
	}
}
