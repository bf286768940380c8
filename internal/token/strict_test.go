package token

import (
	"encoding/json"
	"testing"
)

func TestStrictObject(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"a":1,"b":{"c":[1,{"d":2}]}}`, true},
		{`{}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1,"A":2}`, false},
		{`{"x":{"k":1,"K":2}}`, false},
		// encoding/json folds names with Unicode simple folding: "ſ"
		// (U+017F) is "s" and "K" (KELVIN SIGN) is "k" to it, so
		// these pairs are one claim decoded twice, the last one winning.
		{`{"iss":"https://good","iſs":"https://evil"}`, false},
		{`{"iss":"https://good","i\u017fs":"https://evil"}`, false},
		{`{"kid":"a","\u212aid":"b"}`, false},
		{`{"x":{"ſub":1,"SUB":2}}`, false},
		{`{"iss":"a","iſ":"b"}`, true},
		{`{"x":[{"k":1,"k":2}]}`, false},
		{`{"a":1} {}`, false},
		{`{"a":1}x`, false},
		{`[1]`, false},
		{`"s"`, false},
		{`{"a":`, false},
		{``, false},
	} {
		if err := strictObject([]byte(c.in)); (err == nil) != c.ok {
			t.Errorf("strictObject(%s) = %v, want ok=%v", c.in, err, c.ok)
		}
	}
}

// FuzzScreen: screen never panics, and what it accepts decodes as two
// JSON objects.
func FuzzScreen(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln")
	f.Add("a.b.c")
	f.Add("...")
	f.Fuzz(func(t *testing.T, raw string) {
		h, p, err := screen(raw, MaxTokenBytes)
		if err != nil {
			if h != nil || p != nil {
				t.Fatal("error with a result")
			}
			return
		}
		var hm, pm map[string]any
		if json.Unmarshal(h, &hm) != nil || json.Unmarshal(p, &pm) != nil {
			t.Fatalf("accepted non-objects: %q %q", h, p)
		}
	})
}

// TestFoldedDuplicateIsOneClaim pins why the folded pairs are refused:
// encoding/json decodes "iſs" into the field tagged "iss", so the later
// value would win.
func TestFoldedDuplicateIsOneClaim(t *testing.T) {
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal([]byte(`{"iss":"https://good","iſs":"https://evil"}`), &c); err != nil || c.Iss != "https://evil" {
		t.Fatalf("encoding/json no longer folds ſ to s (iss = %q, %v): revisit strictObject's test", c.Iss, err)
	}
}
