package token

import (
	"strconv"
	"testing"
	"time"
)

// TestReplayCacheIsBoundedPerClient: a client that fills its share of the
// replay cache is refused, and other clients are not (issue #14.6).
func TestReplayCacheIsBoundedPerClient(t *testing.T) {
	r := NewReplayCache()
	now := time.Unix(1_700_000_000, 0)
	exp := now.Add(10 * time.Minute)
	for i := 0; i < MaxReplayPerClient; i++ {
		if r.Seen("noisy", strconv.Itoa(i), exp, now) {
			t.Fatalf("fresh jti %d refused", i)
		}
	}
	if !r.Seen("noisy", "one-more", exp, now) {
		t.Fatal("a client past its share is not refused")
	}
	if r.Seen("quiet", "a", exp, now) {
		t.Fatal("another client is refused because one client filled its share")
	}
	if !r.Seen("quiet", "a", exp, now) {
		t.Fatal("a replay is not detected")
	}
	// Once its entries expire the noisy client gets in again.
	if r.Seen("noisy", "later", exp, exp.Add(Leeway+time.Second)) {
		t.Fatal("expired entries are not dropped")
	}
}
