package throttle

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Fair is work-conserving admission control: it never refuses anyone while
// the machine has room, and when it is busy it refuses only the callers
// using more than their fair share of it.
//
// Each caller's recent work (cost units, about CPU milliseconds) decays
// exponentially with time constant Window, so usage/Window is the caller's
// recent rate. The machine is busy when the callers' summed rate reaches
// Busy × Capacity. The fair share is then found by water-filling: callers
// using less than an equal split keep what they use and leave the rest to
// the others, so the share s solves Σ min(rateᵢ, s) = Capacity. Costs are
// the weights: a caller of RSA-4096 signatures and one of AES wraps each
// get the same CPU time, not the same request count. A caller above s is
// refused with the time its usage needs to decay to s.
//
// A lone caller is never refused, so it may use the whole machine; hard
// per-caller caps are Limiter's job.
type Fair struct {
	// Capacity is the machine's work rate in units per second (1,000 per
	// CPU once costs are calibrated). Zero disables Fair.
	Capacity float64
	// Busy is the fraction of Capacity at which shares are enforced.
	Busy float64
	// Window is the time constant of the usage estimate.
	Window time.Duration

	now func() time.Time

	mu     sync.Mutex
	users  map[string]*usage
	total  usage
	share  float64   // the water level, valid until shared+shareTTL
	active int       // callers with recent work when share was computed
	shared time.Time // when share was computed
}

type usage struct {
	units float64 // decayed sum of costs
	at    time.Time
}

// idleFraction is the rate, as a fraction of Capacity, below which a
// caller counts as idle: it is neither refused nor a claimant of a share.
const idleFraction = 0.001

// shareTTL bounds how stale the computed share may be; computing it sorts
// the active callers, which is too much work for every request.
const shareTTL = 20 * time.Millisecond

// NewFair returns a Fair for a machine of capacity units per second,
// enforcing shares above 90 % of it, with a one-second usage window.
func NewFair(capacity float64) *Fair {
	return &Fair{Capacity: capacity, Busy: 0.9, Window: time.Second, now: time.Now, users: map[string]*usage{}}
}

// decay brings u to now.
func (f *Fair) decay(u *usage, now time.Time) {
	if dt := now.Sub(u.at); dt > 0 {
		u.units *= math.Exp(-float64(dt) / float64(f.Window))
		u.at = now
	}
}

// rate is u's recent rate in units per second.
func (f *Fair) rate(u *usage) float64 { return u.units / f.Window.Seconds() }

// Admit reports whether key may start a request now; if not, how long
// until its usage has decayed to its share (whole seconds, at least one,
// for Retry-After).
func (f *Fair) Admit(key string) (bool, time.Duration) {
	if f == nil || f.Capacity <= 0 {
		return true, 0
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decay(&f.total, now)
	if f.rate(&f.total) < f.Busy*f.Capacity {
		return true, 0
	}
	u := f.users[key]
	if u == nil {
		return true, 0 // no recent work: far below any share
	}
	f.decay(u, now)
	share, active := f.shareAt(now)
	r := f.rate(u)
	if r <= share || active < 2 {
		// Within its share, or alone: refusing a lone caller would only
		// leave the machine idle (its rate can pass Capacity only where
		// the cost estimates are off).
		return true, 0
	}
	// usage decays as e^(-t/Window): it reaches share after Window·ln(r/share).
	wait := time.Duration(float64(f.Window) * math.Log(r/share))
	return false, max(time.Second, wait.Round(time.Second))
}

// Charge adds cost units to key's usage and the total.
func (f *Fair) Charge(key string, cost float64) {
	if f == nil || f.Capacity <= 0 {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[key]
	if u == nil {
		u = &usage{at: now}
		f.users[key] = u
	}
	f.decay(u, now)
	u.units += cost
	f.decay(&f.total, now)
	f.total.units += cost
}

// shareAt returns the water level and the number of active callers,
// recomputing them (and dropping idle callers) when older than shareTTL;
// the caller holds f.mu.
func (f *Fair) shareAt(now time.Time) (float64, int) {
	if now.Sub(f.shared) < shareTTL && f.share > 0 {
		return f.share, f.active
	}
	rates := make([]float64, 0, len(f.users))
	idle := idleFraction * f.Capacity * f.Window.Seconds()
	for k, u := range f.users {
		f.decay(u, now)
		if u.units < idle {
			delete(f.users, k) // forgetting so little work changes no share
			continue
		}
		rates = append(rates, f.rate(u))
	}
	f.active = len(rates)
	f.share, f.shared = waterLevel(rates, f.Capacity), now
	return f.share, f.active
}

// waterLevel returns s with Σ min(rates[i], s) = capacity, or the largest
// rate when even that leaves capacity unused (nobody is above its share).
func waterLevel(rates []float64, capacity float64) float64 {
	if len(rates) == 0 {
		return capacity
	}
	sort.Float64s(rates)
	left := capacity
	for i, r := range rates {
		equal := left / float64(len(rates)-i)
		if r >= equal {
			return equal
		}
		left -= r
	}
	return rates[len(rates)-1]
}

// Admitter is what the edge asks before a request: Limiter (a hard cap)
// and Fair (a share of a busy machine). Both accept a nil receiver, which
// admits everything.
type Admitter interface {
	Admit(key string) (bool, time.Duration)
}

var (
	_ Admitter = (*Fair)(nil)
	_ Admitter = (*Limiter)(nil)
)
