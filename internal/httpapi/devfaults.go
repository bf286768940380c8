package httpapi

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault injection (dev mode): rules stored by POST /mhsm/dev/faults make
// matching data-plane requests fail with a chosen status or wait first.
// The pipeline asks injectFault after routing, authentication and
// authorization, so a rule names the operation as audit records do and
// only a caller allowed to make the request sees the fault; an
// unauthenticated challenge request is never faulted. Every injected fault
// is audited: the record carries the property devInjectedFault.

// maxFaultLatency bounds an injected delay (below the server's write
// timeout).
const maxFaultLatency = 30 * time.Second

// maxFaultRules bounds the stored rules.
const maxFaultRules = 100

// FaultRule is one injection rule.
type FaultRule struct {
	// Operation is an audit operationName ("KeyGet", "KeySign"),
	// compared case-insensitively. Exactly one of Operation and Path.
	Operation string `json:"operation,omitempty"`
	// Path is a glob (path.Match) over the canonical request path (no
	// trailing slash), such as "/keys/*", which matches /keys/k1 and
	// /keys/k1/ but not /keys/k1/sign.
	Path string `json:"path,omitempty"`
	// Status is 429, 500 or 503; 0 means no failure (Latency only).
	Status int `json:"status,omitempty"`
	// RetryAfter is the Retry-After header of a 429 or 503, in seconds.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Latency ("200ms") delays the request before it fails or proceeds.
	Latency string `json:"latency,omitempty"`
	// Count is how many of the next matching requests are faulted (it
	// counts down as they are). Count 0 and Fraction 0: every match.
	Count int `json:"count,omitempty"`
	// Fraction (0 < f ≤ 1) faults that share of matching requests at
	// random. Not with Count.
	Fraction float64 `json:"fraction,omitempty"`
	// Injected counts the faults this rule has injected (read only).
	Injected int `json:"injected"`

	latency   time.Duration
	exhausted bool
}

// FaultRules is the body and answer of the fault routes.
type FaultRules struct {
	Rules []FaultRule `json:"rules"`
}

// faultSet holds the rules under one lock.
type faultSet struct {
	mu    sync.Mutex
	rules []*FaultRule
}

// check validates r and parses its latency.
func (r *FaultRule) check() error {
	if (r.Operation == "") == (r.Path == "") {
		return errBadRequest("each rule names exactly one of operation and path.")
	}
	if r.Path != "" {
		if _, err := path.Match(r.Path, "/"); err != nil {
			return errBadRequest("path is not a valid glob.")
		}
	}
	switch r.Status {
	case 0, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable:
	default:
		return errBadRequest("status must be 429, 500 or 503.")
	}
	if r.Latency != "" {
		d, err := time.ParseDuration(r.Latency)
		if err != nil || d <= 0 || d > maxFaultLatency {
			return errBadRequest(fmt.Sprintf("latency must be a duration such as 200ms, at most %s.", maxFaultLatency))
		}
		r.latency = d
	}
	if r.Status == 0 && r.latency == 0 {
		return errBadRequest("each rule needs a status or a latency.")
	}
	if r.RetryAfter < 0 || r.RetryAfter > 3600 || (r.RetryAfter != 0 && r.Status == http.StatusInternalServerError) {
		return errBadRequest("retryAfter is 0 to 3600 seconds, for status 429 or 503.")
	}
	if r.Count < 0 || r.Fraction < 0 || r.Fraction > 1 || (r.Count > 0 && r.Fraction > 0) {
		return errBadRequest("use count (a positive number) or fraction (0 to 1), not both.")
	}
	r.Injected, r.exhausted = 0, false
	return nil
}

// list copies the rules.
func (f *faultSet) list() FaultRules {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := FaultRules{Rules: []FaultRule{}}
	for _, r := range f.rules {
		out.Rules = append(out.Rules, *r)
	}
	return out
}

// match returns a copy of the first live rule that applies to a request
// for operation op at urlPath, counting the injection.
func (f *faultSet) match(op, urlPath string) (FaultRule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.exhausted {
			continue
		}
		if r.Operation != "" && !strings.EqualFold(r.Operation, op) {
			continue
		}
		if r.Path != "" {
			if ok, _ := path.Match(r.Path, urlPath); !ok {
				continue
			}
		}
		if r.Fraction > 0 && rand.Float64() >= r.Fraction {
			continue
		}
		r.Injected++
		if r.Count > 0 {
			r.Count--
			r.exhausted = r.Count == 0
		}
		return *r, true
	}
	return FaultRule{}, false
}

func (s *Server) devFaultsList(*Request) (int, any, error) {
	return http.StatusOK, s.dev.faults.list(), nil
}

// devFaultsAdd appends the body's rules (all or none) and answers the
// stored rules.
func (s *Server) devFaultsAdd(r *Request) (int, any, error) {
	var in FaultRules
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if len(in.Rules) == 0 {
		return 0, nil, errBadRequest("rules must hold at least one rule.")
	}
	add := make([]*FaultRule, len(in.Rules))
	for i := range in.Rules {
		if err := in.Rules[i].check(); err != nil {
			return 0, nil, err
		}
		add[i] = &in.Rules[i]
	}
	f := &s.dev.faults
	f.mu.Lock()
	if len(f.rules)+len(add) > maxFaultRules {
		f.mu.Unlock()
		return 0, nil, errBadRequest(fmt.Sprintf("at most %d rules may be stored.", maxFaultRules))
	}
	f.rules = append(f.rules, add...)
	f.mu.Unlock()
	return http.StatusOK, f.list(), nil
}

func (s *Server) devFaultsClear(*Request) (int, any, error) {
	f := &s.dev.faults
	f.mu.Lock()
	f.rules = nil
	f.mu.Unlock()
	return http.StatusOK, f.list(), nil
}

// injectFault is the data plane's last authorization step (dev mode
// only): for a request whose operation or canonical path (as routing saw
// it: no trailing or repeated slashes, segments decoded) matches a rule,
// it waits the rule's latency, then answers the rule's status (an
// *apiError) or lets the request proceed (nil). The dev routes themselves
// are never faulted, so a rule cannot lock its author out.
func (s *Server) injectFault(r *http.Request, rt *Route, ev *AuditEvent) error {
	if s.dev == nil || strings.HasPrefix(rt.Operation, "MhsmDev") {
		return nil
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		return nil // routing accepted it; cannot happen
	}
	rule, ok := s.dev.faults.match(rt.Operation, "/"+strings.Join(segs, "/"))
	if !ok {
		return nil
	}
	if ev.Properties == nil {
		ev.Properties = map[string]string{}
	}
	what := []string{}
	if rule.latency > 0 {
		what = append(what, "latency="+rule.latency.String())
		t := time.NewTimer(rule.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if rule.Status != 0 {
		what = append(what, "status="+strconv.Itoa(rule.Status))
	}
	ev.Properties["devInjectedFault"] = strings.Join(what, " ")
	if rule.Status == 0 {
		return nil
	}
	code := map[int]string{http.StatusTooManyRequests: "Throttled", http.StatusInternalServerError: "InternalError",
		http.StatusServiceUnavailable: "ServiceUnavailable"}[rule.Status]
	e := &apiError{Status: rule.Status, Code: code, Message: "Fault injected by mhsm dev mode (/mhsm/dev/faults)."}
	if rule.RetryAfter > 0 {
		e.Header = http.Header{"Retry-After": {strconv.Itoa(rule.RetryAfter)}}
	}
	return e
}
