package directory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// TestLockoutPolicy pins the brute-force policy of lockout.go on a fake
// clock: failures count per (principal, source), a source that has not
// failed always gets through, a failing source backs off exponentially up
// to the cap, and the principal ceiling refuses only sources that failed.
func TestLockoutPolicy(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLockout(LockoutPolicy{MaxFailures: 3, Window: time.Hour, BaseDelay: time.Second, MaxDelay: 8 * time.Second, PrincipalCeiling: 10},
		func() time.Time { return now })
	const p = "tid/client/app"
	for i := 0; i < 3; i++ {
		if l.locked(p, "10.0.0.1") {
			t.Fatalf("refused after %d failures, before MaxFailures", i)
		}
		l.fail(p, "10.0.0.1")
	}
	if !l.locked(p, "10.0.0.1") {
		t.Fatal("a source past MaxFailures is not backing off")
	}
	if l.locked(p, "10.0.0.2") || l.locked(p, "") {
		t.Fatal("a source that has not failed is refused")
	}
	// Back-off doubles per further failure, capped: 1s, 2s, 4s, 8s, 8s.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if i > 0 {
			l.fail(p, "10.0.0.1")
		}
		now = now.Add(want - time.Millisecond)
		if !l.locked(p, "10.0.0.1") {
			t.Fatalf("step %d: free before %s", i, want)
		}
		now = now.Add(time.Millisecond)
		if l.locked(p, "10.0.0.1") {
			t.Fatalf("step %d: still refused after %s", i, want)
		}
	}
	// Success clears the source; forgetting after Window does too.
	l.succeed(p, "10.0.0.1")
	if l.locked(p, "10.0.0.1") {
		t.Fatal("refused after a success")
	}

	// The ceiling (10 failures of p, all sources): the principal has 7 so
	// far; three single failures from fresh sources reach it.
	for i := 3; i < 6; i++ {
		l.fail(p, fmt.Sprintf("10.0.1.%d", i))
	}
	if !l.locked(p, "10.0.1.3") {
		t.Fatal("past the ceiling, a source that failed once is not refused")
	}
	if l.locked(p, "10.0.9.9") {
		t.Fatal("past the ceiling, a source without failures is refused")
	}
	now = now.Add(time.Hour)
	if l.locked(p, "10.0.1.3") {
		t.Fatal("the ceiling outlives its window")
	}
}

func TestSourceOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:51234":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:443":          "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443":      "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9%eth0]:443": "2001:db8:1:2::/64",
		"192.0.2.7":                       "192.0.2.7",
	} {
		if got := sourceOf(in); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLockoutBySourceThroughDirectory: the directory counts by the source
// WithSource put in the context.
func TestLockoutBySourceThroughDirectory(t *testing.T) {
	ctx := context.Background()
	d := NewWithOptions(store.NewMemory(), Options{Password: fastPW})
	tn, _ := d.CreateTenant(ctx, "C", "contoso.test")
	mustUser(t, d, tn.ID, "ada@contoso.test")
	attacker := WithSource(ctx, "198.51.100.9:4000")
	for i := 0; i < DefaultLockout.MaxFailures; i++ {
		_, _ = d.AuthenticatePassword(attacker, tn.ID, "ada@contoso.test", "guess")
	}
	if _, err := d.AuthenticatePassword(attacker, tn.ID, "ada@contoso.test", "correct horse battery"); !errors.Is(err, ErrLocked) {
		t.Fatalf("attacker's source: %v, want ErrLocked", err)
	}
	if _, err := d.AuthenticatePassword(WithSource(ctx, "203.0.113.5:5000"), tn.ID, "ada@contoso.test", "correct horse battery"); err != nil {
		t.Fatalf("the user from another source: %v", err)
	}
}
