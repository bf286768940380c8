package directory

import (
	"sync"
	"time"
)

// LockoutPolicy is the retry budget per principal: after MaxFailures bad
// credentials within Window, every attempt fails with ErrLocked until
// Window has passed since the last failure.
type LockoutPolicy struct {
	MaxFailures int
	Window      time.Duration
}

// DefaultLockout allows 10 failures per 5 minutes.
var DefaultLockout = LockoutPolicy{MaxFailures: 10, Window: 5 * time.Minute}

// maxTracked bounds the memory the counters use; past it, expired entries
// are dropped, then the oldest half.
const maxTracked = 100000

// lockout counts failures by canonical principal name ("tid/upn",
// "tid/appid"). Unknown names are counted the same way as known ones, so
// the lock itself reveals nothing. Counters live in memory (a restart
// resets them) and, with Options.SharedLockout, also in the store, where
// every node of a cluster counts the same failures (lockshared.go).
type lockout struct {
	p      LockoutPolicy
	now    func() time.Time
	mu     sync.Mutex
	m      map[string]*failures
	shared *sharedLockout // also counted in the store (lockshared.go); nil: memory only
}

type failures struct {
	n    int
	last time.Time
}

func newLockout(p LockoutPolicy, now func() time.Time) *lockout {
	return &lockout{p: p, now: now, m: map[string]*failures{}}
}

// locked reports whether key's budget is spent.
func (l *lockout) locked(key string) bool {
	if l.localLocked(key) {
		return true
	}
	return l.shared != nil && l.shared.locked(key)
}

func (l *lockout) localLocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[key]
	if !ok {
		return false
	}
	if l.now().Sub(f.last) >= l.p.Window {
		delete(l.m, key)
		return false
	}
	return f.n >= l.p.MaxFailures
}

// fail records a failure for key.
func (l *lockout) fail(key string) {
	if l.shared != nil {
		l.shared.fail(key)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.m[key]
	if !ok || now.Sub(f.last) >= l.p.Window {
		if len(l.m) >= maxTracked {
			l.evict(now)
		}
		f = &failures{}
		l.m[key] = f
	}
	f.n++
	f.last = now
}

// succeed clears key's failures.
func (l *lockout) succeed(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
	if l.shared != nil {
		l.shared.succeed(key)
	}
}

func (l *lockout) evict(now time.Time) {
	for k, f := range l.m {
		if now.Sub(f.last) >= l.p.Window {
			delete(l.m, k)
		}
	}
	if len(l.m) < maxTracked {
		return
	}
	n := 0
	for k := range l.m { // map order is random: drop about half
		if n%2 == 0 {
			delete(l.m, k)
		}
		n++
	}
}
