// Package throttle is mhsm's admission control: token buckets keyed by
// principal and by HSM, charged after the fact with what a request really
// cost, so that an RSA-4096 signature weighs what it costs and an AES wrap
// almost nothing. A bucket may go into debt; while it is in debt the key is
// refused with the time until it recovers. Read throttle.go.
package throttle

import (
	"math"
	"sync"
	"time"
)

// Limiter holds one bucket per key. Rate is in cost units per second;
// Burst is the bucket size. The zero Rate disables the limiter.
type Limiter struct {
	Rate  float64
	Burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a Limiter.
func New(rate, burst float64) *Limiter {
	return &Limiter{Rate: rate, Burst: burst, now: time.Now, buckets: map[string]*bucket{}}
}

// refill brings b up to date; the caller holds l.mu.
func (l *Limiter) refill(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
		return b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(l.Burst, b.tokens+dt*l.Rate)
		b.at = now
	}
	return b
}

// Admit reports whether key may start a request now; if not, it returns
// how long until the bucket is out of debt (at least one second, as
// Retry-After counts whole seconds).
func (l *Limiter) Admit(key string) (bool, time.Duration) {
	if l == nil || l.Rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc(now)
	b := l.refill(key, now)
	if b.tokens > 0 {
		return true, 0
	}
	wait := time.Duration((-b.tokens + 1e-9) / l.Rate * float64(time.Second))
	return false, max(time.Second, wait.Round(time.Second))
}

// Charge takes cost units from key's bucket (it may go into debt, down to
// -Burst at most, so one huge request cannot lock a key out for long).
func (l *Limiter) Charge(key string, cost float64) {
	if l == nil || l.Rate <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	b.tokens = math.Max(-l.Burst, b.tokens-cost)
}

// gc drops full buckets now and then so idle keys cost no memory.
func (l *Limiter) gc(now time.Time) {
	if now.Sub(l.sweep) < time.Minute {
		return
	}
	l.sweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.Rate >= l.Burst {
			delete(l.buckets, k)
		}
	}
}
