package directory

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Brute-force protection without a lockout anyone can trigger.
//
// Failures are counted per (principal, source): the principal is the
// canonical name tried ("tid/upn", "tid/client/appid"), the source is the
// TCP peer address of the request (an IPv6 peer by its /64, since one host
// has a whole /64; X-Forwarded-For is never trusted). A source that has not
// failed for a principal is never refused, so ten wrong secrets from
// somewhere else cannot lock the real client out. A source that keeps
// failing backs off: after MaxFailures failures it is refused for
// BaseDelay, then twice that after each further failure, up to MaxDelay;
// its failures are forgotten Window after its last one (or once its
// back-off is over, if that is later).
//
// A distributed attacker gets MaxFailures guesses (and the back-off's
// trickle) per source. To cap that without handing one source a switch
// that locks everyone out, each principal also has a ceiling: once
// PrincipalCeiling failures from all sources together fall within Window,
// every source that has failed for the principal at least once is refused
// (one guess per fresh address), while sources that have not failed still
// get through. Reaching the ceiling costs PrincipalCeiling failed requests,
// and even then it only refuses sources that failed — the trade-off is that
// a legitimate client that mistypes during such an attack waits with the
// attacker. Sharing an address (NAT, a proxy) with an attacker means sharing
// its back-off.
//
// Unknown names are counted the same way as known ones, so the refusal
// itself reveals nothing. Counters live in memory: a restart resets them,
// and each server of a cluster keeps its own.

// LockoutPolicy tunes the brute-force protection; zero fields take the
// values of DefaultLockout.
type LockoutPolicy struct {
	// MaxFailures is how many failures a source may have for one principal
	// before it backs off.
	MaxFailures int
	// Window is how long failures are remembered after the last one.
	Window time.Duration
	// BaseDelay is the first back-off; each further failure doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the back-off.
	MaxDelay time.Duration
	// PrincipalCeiling is the number of failures of one principal, from all
	// sources within Window, past which every source that has failed for it
	// is refused (sources without failures are not).
	PrincipalCeiling int
}

// DefaultLockout: 10 free failures per source and principal, then 30 s
// doubling up to 15 min, remembered 15 min; ceiling 100 per principal.
var DefaultLockout = LockoutPolicy{MaxFailures: 10, Window: 15 * time.Minute, BaseDelay: 30 * time.Second, MaxDelay: 15 * time.Minute, PrincipalCeiling: 100}

func (p LockoutPolicy) withDefaults() LockoutPolicy {
	d := DefaultLockout
	if p.MaxFailures <= 0 {
		p.MaxFailures = d.MaxFailures
	}
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.PrincipalCeiling <= 0 {
		p.PrincipalCeiling = d.PrincipalCeiling
	}
	return p
}

type sourceKey struct{}

// WithSource returns ctx carrying the source of a credential check: the
// request's TCP peer address ("host:port" or a bare host, as
// http.Request.RemoteAddr). Checks without a source share one counter per
// principal.
func WithSource(ctx context.Context, remoteAddr string) context.Context {
	return context.WithValue(ctx, sourceKey{}, sourceOf(remoteAddr))
}

// sourceOf normalises a peer address: IPv4 as is, IPv6 by its /64.
func sourceOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func sourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// maxTracked bounds the memory the counters use; past it, expired entries
// are dropped, then the oldest half.
const maxTracked = 100000

// lockout keeps failures per (principal, source) and per principal.
type lockout struct {
	p   LockoutPolicy
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*failures // "s\x00principal\x00source" and "p\x00principal"
}

type failures struct {
	n    int
	last time.Time
}

func newLockout(p LockoutPolicy, now func() time.Time) *lockout {
	return &lockout{p: p.withDefaults(), now: now, m: map[string]*failures{}}
}

func pairKey(key, src string) string { return "s\x00" + key + "\x00" + src }
func principalKey(key string) string { return "p\x00" + key }

// delay is the back-off after n failures of one source.
func (l *lockout) delay(n int) time.Duration {
	if n < l.p.MaxFailures {
		return 0
	}
	d := l.p.BaseDelay
	for i := l.p.MaxFailures; i < n && d < l.p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.p.MaxDelay)
}

// live returns the entry for k if it is still remembered at now: Window
// after its last failure, or after a source's back-off if that is longer.
func (l *lockout) live(k string, now time.Time) *failures {
	f, ok := l.m[k]
	if !ok {
		return nil
	}
	keep := l.p.Window
	if k[0] == 's' {
		keep = max(keep, l.delay(f.n))
	}
	if now.Sub(f.last) >= keep {
		delete(l.m, k)
		return nil
	}
	return f
}

// locked reports whether source src must be refused for principal key.
func (l *lockout) locked(key, src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.live(pairKey(key, src), now)
	if f == nil {
		return false
	}
	if d := l.delay(f.n); d > 0 && now.Before(f.last.Add(d)) {
		return true
	}
	pf := l.live(principalKey(key), now)
	return pf != nil && pf.n >= l.p.PrincipalCeiling
}

// fail records a failure of src for key.
func (l *lockout) fail(key, src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range []string{pairKey(key, src), principalKey(key)} {
		f := l.live(k, now)
		if f == nil {
			if len(l.m) >= maxTracked {
				l.evict(now)
			}
			f = &failures{}
			l.m[k] = f
		}
		f.n++
		f.last = now
	}
}

// succeed clears src's failures for key. The principal's total is kept:
// one client's success says nothing about the other sources.
func (l *lockout) succeed(key, src string) {
	l.mu.Lock()
	delete(l.m, pairKey(key, src))
	l.mu.Unlock()
}

func (l *lockout) evict(now time.Time) {
	for k := range l.m {
		l.live(k, now)
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
