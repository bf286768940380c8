package strictjson

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/wire"
)

func TestCheckJSONShape(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name string
		body string
		into any
		bad  bool
	}{
		{name: "plain", body: `{"kty":"RSA","key_size":2048}`, into: &wire.KeyCreateParameters{}},
		{name: "duplicate field", body: `{"kty":"RSA","kty":"oct"}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "case-variant field", body: `{"kty":"RSA","KTY":"oct"}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "kelvin sign folds to k", body: `{"kty":"RSA","\u212aty":"oct"}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "escaped duplicate", body: `{"kty":"RSA","\u006bty":"oct"}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "duplicate unknown field", body: `{"x":1,"x":2}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "case-variant unknown fields", body: `{"x":1,"X":2}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "nested duplicate", body: `{"attributes":{"enabled":true,"Enabled":false}}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "tags are case-sensitive", body: `{"tags":{"Env":"a","env":"b"}}`, into: &wire.KeyCreateParameters{}},
		{name: "duplicate tag", body: `{"tags":{"env":"a","env":"b"}}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "duplicate in JWK", body: `{"key":{"kty":"oct","k":"AAAA","K":"BBBB"}}`, into: &wire.KeyImportParameters{}, bad: true},
		{name: "same key in sibling objects", body: `{"key":{"kty":"oct"},"attributes":{"kty":1}}`, into: &wire.KeyImportParameters{}},
		{name: "duplicate in array element", body: `{"key_ops":[{"a":1,"a":2}]}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "depth 32", body: `{"x":` + nest(31) + `}`, into: &wire.KeyCreateParameters{}},
		{name: "depth 33", body: `{"x":` + nest(32) + `}`, into: &wire.KeyCreateParameters{}, bad: true},
		{name: "deep array top", body: nest(1000), into: &wire.KeyCreateParameters{}, bad: true},
		{name: "syntax error left to Decode", body: `{"kty":`, into: &wire.KeyCreateParameters{}},
		{name: "scalar", body: `"x"`, into: &wire.KeyCreateParameters{}},
		{name: "into any", body: `{"a":{"a":1,"A":2}}`, into: new(any)},
		{name: "into any duplicate", body: `{"a":1,"a":2}`, into: new(any), bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := CheckShape([]byte(c.body), c.into)
			if (err != nil) != c.bad {
				t.Fatalf("CheckShape(%s) = %v, want error %v", c.body, err, c.bad)
			}
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %v is not an *Error", err)
				}
			}
		})
	}
}

// FuzzCheckJSONShape compares the scan with encoding/json: whatever the
// scan accepts into an untyped value decodes without losing a member
// (no duplicate collapsed) and no deeper than MaxDepth; whatever it
// refuses is a 400.
func FuzzCheckJSONShape(f *testing.F) {
	f.Add([]byte(`{"kty":"RSA","KTY":"oct"}`))
	f.Add([]byte(`{"tags":{"a":"1","A":"2"},"attributes":{"enabled":true}}`))
	f.Add([]byte(`[[[[{"a":[1,2,{"b":null}]}]]]]`))
	f.Add([]byte(`{"a":{"b":1},"a":{"b":2}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, into := range []any{&wire.KeyCreateParameters{}, &wire.KeyImportParameters{}, new(any)} {
			if err := CheckShape(body, into); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %v is not an *Error", err)
				}
			}
		}
		if !json.Valid(body) || CheckShape(body, new(any)) != nil {
			return
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber() // 1e400 is valid JSON but no float64
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("valid JSON does not decode: %v", err)
		}
		members, depth := shapeOf(v)
		if depth > MaxDepth {
			t.Fatalf("accepted depth %d", depth)
		}
		if want := strings.Count(string(body), ":"); members > want {
			t.Fatalf("decoded %d members from at most %d", members, want)
		}
		if n := tokenMembers(t, body); n != members {
			t.Fatalf("accepted a body with %d members that decodes to %d: a duplicate was collapsed", n, members)
		}
	})
}

// shapeOf counts the object members in v and its nesting depth.
func shapeOf(v any) (members, depth int) {
	switch x := v.(type) {
	case map[string]any:
		members = len(x)
		for _, c := range x {
			m, d := shapeOf(c)
			members, depth = members+m, max(depth, d)
		}
		return members, depth + 1
	case []any:
		for _, c := range x {
			m, d := shapeOf(c)
			members, depth = members+m, max(depth, d)
		}
		return members, depth + 1
	}
	return 0, 0
}

// tokenMembers counts the object members of a valid JSON text as written.
func tokenMembers(t *testing.T, body []byte) int {
	t.Helper()
	type frame struct{ obj, wantKey bool }
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var stack []frame
	n := 0
	valueDone := func() {
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		top := len(stack) - 1
		switch {
		case tok == json.Delim('{') || tok == json.Delim('['):
			if top >= 0 && stack[top].obj {
				stack[top].wantKey = false
			}
			stack = append(stack, frame{obj: tok == json.Delim('{'), wantKey: true})
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:top]
			valueDone()
		case top >= 0 && stack[top].obj && stack[top].wantKey:
			n++
			stack[top].wantKey = false
		default:
			valueDone()
		}
	}
}
