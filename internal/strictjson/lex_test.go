package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/wire"
)

// legacyCheckJSONShape is CheckShape as it was before byteLexer: one
// pass of json.Decoder.Token, structFields rebuilt per object, foldKey by
// unicode.SimpleFold. It is the reference FuzzShapeLexers holds the fast
// pass to.
func legacyCheckJSONShape(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if err := legacyScanShape(dec, d, reflect.TypeOf(v), 1); err != nil && err != errScanStop {
		return err
	}
	return nil
}

func legacyScanShape(dec *json.Decoder, open json.Delim, t reflect.Type, depth int) error {
	if depth > MaxDepth {
		return newError("The request body nests JSON objects and arrays deeper than 32 levels.")
	}
	t = modelled(t)
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct && open == '{' {
		fields = map[string]reflect.Type{}
		for k, v := range buildStructFields(t) {
			fields[foldKeyUnicode(strings.ToLower(k))] = v // rebuilt and refolded independently
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		child := elemType(t)
		if open == '{' {
			tok, err := dec.Token()
			if err != nil {
				return errScanStop
			}
			key, _ := tok.(string)
			id := key
			if fields != nil {
				id = foldKeyUnicode(key)
				child = fields[id]
			}
			if seen[id] {
				return newError("The request body is not valid JSON for this operation: the key " + quoteSafe(key) + " appears twice in one object.")
			}
			seen[id] = true
		}
		tok, err := dec.Token()
		if err != nil {
			return errScanStop
		}
		if d, ok := tok.(json.Delim); ok {
			if err := legacyScanShape(dec, d, child, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return errScanStop
	}
	return nil
}

// shapeTargets are the types the shape fuzzers decode into: structs with
// nested structs, maps, slices, a custom unmarshaler (B64) and any.
var shapeTargets = []any{&wire.KeyCreateParameters{}, &wire.KeyImportParameters{}, &wire.KeyOperationsParameters{}, new(any)}

// shapeSeeds are bodies where a lax lexer could go wrong.
var shapeSeeds = []string{
	`{"alg":"A256GCM","value":"AAAA"}`,
	`{"alg":"A256GCM","value":"AA\"AA","alg":"x"}`,
	`{"alg":"A256GCM","value":"AA\\","alg":"x"}`,
	`{"a\"":1,"a\"":2}`,
	`{"\u0061":1,"a":2}`,
	`{"\ud800":1,"\udc00":2}`,
	"{\"\xff\":1,\"\xfe\":2}",
	"{\"é\":1,\"É\":2}",
	"{\"a\x01\":1,\"a\x01\":2}",
	`{"a":1,"a":2,}`,
	`{"a":tru,"a":1}`,
	`{"a":1 "a":2}`,
	`{"a" 1,"a":2}`,
	`{"a":[1,],"b":1,"b":2}`,
	`{"a":{"b":1},"a":{"b":2}}`,
	`{"kty":"RSA","KTY":"oct"}`,
	`{"kty":"RSA","\u212aty":"oct"}`,
	`{"key":{"kty":"oct","k":"AAAA","K":"BBBB"}}`,
	`{"tags":{"Env":"a","env":"b"}}`,
	`{"tags":{"env":"a","env":"b"}}`,
	`[{"a":1},{"a":1,"a":2}]`,
	`{"x":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
	`{"x":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`,
	strings.Repeat("[", 40),
	`{"a":1}{"a":1,"a":2}`,
	`{"a":1}]`,
	`}`,
	`{"a":"x`,
	`{"a`,
	`{"a":1e400,"a":-0.5E+2}`,
	`{"a":null,"b":true,"c":false,"a":0}`,
	` { "a" : 1 , "b" : [ 1 , { "c" : 2 , "c" : 3 } ] } `,
	`{"a":{"b":1}}}`,
	`{"":1,"":2}`,
	`"x"`,
	``,
}

// FuzzShapeLexers holds CheckShape (byteLexer first) to the scan on
// json.Decoder.Token alone, before and after the refactoring: same
// acceptance, same 400 message, for any body and target.
func FuzzShapeLexers(f *testing.F) {
	for _, s := range shapeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, into := range shapeTargets {
			got, ref, legacy := CheckShape(body, into), decoderShape(body, reflect.TypeOf(into)), legacyCheckJSONShape(body, into)
			if !reflect.DeepEqual(got, ref) || !reflect.DeepEqual(got, legacy) {
				t.Fatalf("%T %q: CheckShape %v, decoder pass %v, legacy %v", into, body, got, ref, legacy)
			}
		}
	})
}

// TestByteLexerFastPath checks that the fast pass alone answers a valid
// body without problems (so the decoder pass is not run on every request),
// and leaves those with a problem to the decoder.
func TestByteLexerFastPath(t *testing.T) {
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{"alg":"A256GCM","value":"` + strings.Repeat("A", 1400) + `"}`, true},
		{`{"key":{"kty":"oct","k":"AAAA"},"attributes":{"enabled":true},"tags":{"a":"\u00e9"}}`, true},
		{`{"kty":"RSA","kty":"oct"}`, false},
		{`{"kty":`, false},
	} {
		err := shapeScan(&byteLexer{b: []byte(c.body)}, reflect.TypeOf(&wire.KeyImportParameters{}))
		if (err == nil) != c.ok {
			t.Errorf("%.40s: fast pass = %v, want ok %v", c.body, err, c.ok)
		}
	}
}

// TestFoldKeyASCII checks the ASCII shortcut of foldKey against the
// Unicode definition.
func TestFoldKeyASCII(t *testing.T) {
	for c := range 128 {
		s := "a" + string(rune(c)) + "Z"
		if foldKey(s) != foldKeyUnicode(s) {
			t.Errorf("foldKey(%q) = %q, want %q", s, foldKey(s), foldKeyUnicode(s))
		}
	}
}

func FuzzFoldKey(f *testing.F) {
	f.Add("kty")
	f.Add("\u212aty")
	f.Add("ſ")
	f.Fuzz(func(t *testing.T, s string) {
		if foldKey(s) != foldKeyUnicode(s) {
			t.Errorf("foldKey(%q) = %q, want %q", s, foldKey(s), foldKeyUnicode(s))
		}
	})
}
