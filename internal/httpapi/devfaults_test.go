package httpapi

import (
	"testing"
)

func TestFaultRuleCheck(t *testing.T) {
	for name, tc := range map[string]struct {
		r  FaultRule
		ok bool
	}{
		"429 with retry":         {FaultRule{Operation: "KeyGet", Status: 429, RetryAfter: 1, Count: 2}, true},
		"path glob 500":          {FaultRule{Path: "/keys/*", Status: 500}, true},
		"latency only":           {FaultRule{Operation: "KeySign", Latency: "200ms", Fraction: 0.5}, true},
		"latency and 503":        {FaultRule{Operation: "KeySign", Latency: "1s", Status: 503, RetryAfter: 3}, true},
		"neither op nor path":    {FaultRule{Status: 429}, false},
		"both op and path":       {FaultRule{Operation: "KeyGet", Path: "/keys/*", Status: 429}, false},
		"bad glob":               {FaultRule{Path: "/keys/[", Status: 429}, false},
		"status 404":             {FaultRule{Operation: "KeyGet", Status: 404}, false},
		"no status no latency":   {FaultRule{Operation: "KeyGet"}, false},
		"latency too long":       {FaultRule{Operation: "KeyGet", Latency: "31s"}, false},
		"latency not a duration": {FaultRule{Operation: "KeyGet", Latency: "soon"}, false},
		"retryAfter on 500":      {FaultRule{Operation: "KeyGet", Status: 500, RetryAfter: 1}, false},
		"count and fraction":     {FaultRule{Operation: "KeyGet", Status: 500, Count: 1, Fraction: 0.5}, false},
		"fraction above 1":       {FaultRule{Operation: "KeyGet", Status: 500, Fraction: 1.5}, false},
		"negative count":         {FaultRule{Operation: "KeyGet", Status: 500, Count: -1}, false},
	} {
		t.Run(name, func(t *testing.T) {
			r := tc.r
			if err := r.check(); (err == nil) != tc.ok {
				t.Fatalf("check() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestFaultSetMatching(t *testing.T) {
	var f faultSet
	add := func(r FaultRule) {
		if err := r.check(); err != nil {
			t.Fatal(err)
		}
		f.rules = append(f.rules, &r)
	}
	add(FaultRule{Operation: "KeyGet", Status: 429, Count: 2})
	add(FaultRule{Path: "/keys/*/sign", Status: 500})
	for i, want := range []bool{true, true, false} { // count 2, then exhausted
		if _, hit := f.match("keyget", "/keys/k"); hit != want {
			t.Fatalf("KeyGet #%d: hit %v, want %v", i, hit, want)
		}
	}
	if r, hit := f.match("KeySign", "/keys/k/sign"); !hit || r.Status != 500 {
		t.Fatalf("sign: %+v %v", r, hit)
	}
	if _, hit := f.match("KeyVerify", "/keys/k/verify"); hit {
		t.Fatal("a request no rule names was faulted")
	}
	rules := f.list().Rules
	if rules[0].Injected != 2 || rules[0].Count != 0 || rules[1].Injected != 1 {
		t.Fatalf("counts: %+v", rules)
	}
}

// TestFaultFraction: a fraction rule faults about that share. Bounds are
// ±5 standard deviations of Binomial(4000, 0.25) (σ ≈ 27), so a correct
// implementation fails about once in 3.5 million runs.
func TestFaultFraction(t *testing.T) {
	var f faultSet
	r := FaultRule{Operation: "KeyGet", Status: 503, Fraction: 0.25}
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
	f.rules = []*FaultRule{&r}
	hits := 0
	for range 4000 {
		if _, hit := f.match("KeyGet", "/keys/k"); hit {
			hits++
		}
	}
	if hits < 1000-137 || hits > 1000+137 {
		t.Fatalf("%d of 4000 requests faulted with fraction 0.25", hits)
	}
}
