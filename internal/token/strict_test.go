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
