package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// b64Cases pin what a B64 JSON field accepts on the wire, and the error
// text of what it refuses (it reaches callers through the request
// decoder's messages). want is the decoded bytes; err "" means accepted.
var b64Cases = []struct {
	name, in string
	want     []byte
	err      string
}{
	{"url-safe unpadded", `"-_8APj8"`, []byte{0xfb, 0xff, 0x00, 0x3e, 0x3f}, ""},
	{"url-safe padded", `"-_8APj8="`, []byte{0xfb, 0xff, 0x00, 0x3e, 0x3f}, ""},
	{"standard unpadded", `"+/8APj8"`, []byte{0xfb, 0xff, 0x00, 0x3e, 0x3f}, ""},
	{"standard padded", `"+/8APj8="`, []byte{0xfb, 0xff, 0x00, 0x3e, 0x3f}, ""},
	{"excess padding", `"AQ===="`, []byte{1}, ""},
	{"padding only", `"=="`, []byte{}, ""},
	{"empty", `""`, []byte{}, ""},
	{"null", `null`, nil, ""},
	{"non-canonical trailing bits", `"AR"`, []byte{1}, ""},
	{"escaped slash", `"+\/8APj8"`, []byte{0xfb, 0xff, 0x00, 0x3e, 0x3f}, ""},
	{"unicode escapes", `"\u0041\u0051"`, []byte{1}, ""},
	{"escaped newline ignored", `"AQ\nAQ"`, []byte{1, 0, 0x10}, ""},
	{"escaped CR ignored", `"AQ\r\n"`, []byte{1}, ""},
	{"mixed alphabets", `"+_8A"`, nil, "keys: base64 value mixes URL-safe and standard alphabets"},
	{"not base64", `"!!"`, nil, "keys: invalid base64 value"},
	{"one char", `"A"`, nil, "keys: invalid base64 value"},
	{"inner padding", `"AQ==AQ"`, nil, "keys: invalid base64 value"},
	{"space", `"AQ AQ"`, nil, "keys: invalid base64 value"},
	{"escaped tab", `"AQ\tAQ"`, nil, "keys: invalid base64 value"},
	{"non-ASCII", `"AQé"`, nil, "keys: invalid base64 value"},
	{"escaped quote", `"AQ\""`, nil, "keys: invalid base64 value"},
	{"escaped NUL", `"\u0000"`, nil, "keys: invalid base64 value"},
	{"number", `12`, nil, "keys: base64 value must be a JSON string"},
	{"true", `true`, nil, "keys: base64 value must be a JSON string"},
	{"array", `[1]`, nil, "keys: base64 value must be a JSON string"},
	{"object", `{"a":"AQ"}`, nil, "keys: base64 value must be a JSON string"},
}

// TestB64Wire pins the accept/reject table above through json.Unmarshal,
// as a request body reaches it, and through a direct UnmarshalJSON call.
func TestB64Wire(t *testing.T) {
	t.Parallel()
	for _, c := range b64Cases {
		for _, direct := range []bool{false, true} {
			b := B64{9}
			var err error
			if direct {
				err = b.UnmarshalJSON([]byte(c.in))
			} else {
				err = json.Unmarshal([]byte(c.in), &b)
			}
			switch {
			case c.err != "":
				if err == nil || err.Error() != c.err {
					t.Errorf("%s (direct %v): err = %v, want %q", c.name, direct, err, c.err)
				}
			case err != nil:
				t.Errorf("%s (direct %v): %v", c.name, direct, err)
			case c.want == nil && b != nil:
				t.Errorf("%s (direct %v) = %#v, want nil", c.name, direct, b)
			case c.want != nil && (b == nil || !bytes.Equal(b, c.want)):
				t.Errorf("%s (direct %v) = %#v, want %#v", c.name, direct, b, c.want)
			}
		}
	}
}

// TestB64Encode pins the encoding: unpadded base64url in a JSON string,
// "" for empty and nil, fields omitted by omitempty when empty.
func TestB64Encode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   B64
		want string
	}{
		{B64{0xfb, 0xff, 0x00, 0x3e, 0x3f}, `"-_8APj8"`},
		{B64{1}, `"AQ"`},
		{B64{}, `""`},
		{nil, `""`},
	} {
		out, err := json.Marshal(c.in)
		if err != nil || string(out) != c.want {
			t.Errorf("Marshal(%#v) = %s, %v; want %s", c.in, out, err, c.want)
		}
	}
	type s struct {
		A B64  `json:"a"`
		B B64  `json:"b,omitempty"`
		C *B64 `json:"c"`
		D *B64 `json:"d,omitempty"`
	}
	out, err := json.Marshal(s{A: B64{1}, B: B64{}})
	if err != nil || string(out) != `{"a":"AQ","c":null}` {
		t.Errorf("struct = %s, %v", out, err)
	}
	// Every length round-trips, and the text is RawURLEncoding's.
	for n := range 70 {
		raw := make([]byte, n)
		_, _ = rand.Read(raw)
		out, err := json.Marshal(B64(raw))
		if err != nil || string(out) != `"`+base64.RawURLEncoding.EncodeToString(raw)+`"` {
			t.Fatalf("Marshal(%d bytes) = %s, %v", n, out, err)
		}
		var back B64
		if err := json.Unmarshal(out, &back); err != nil || !bytes.Equal(back, raw) {
			t.Fatalf("round trip of %d bytes: %x, %v", n, back, err)
		}
	}
}

// TestDecodeB64 pins DecodeB64 (the CLI's decoder) to the same table.
func TestDecodeB64(t *testing.T) {
	t.Parallel()
	for _, c := range b64Cases {
		var s string
		if json.Unmarshal([]byte(c.in), &s) != nil || c.in == "null" {
			continue
		}
		got, err := DecodeB64(s)
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
			}
		case err != nil || !bytes.Equal(got, c.want) || got == nil:
			t.Errorf("%s = %#v, %v; want %#v", c.name, got, err, c.want)
		}
	}
	if _, err := DecodeB64(strings.Repeat("A", 4) + "-+"); err == nil {
		t.Error("mixed alphabets accepted")
	}
}

// legacyB64 is B64 as it was before MarshalText and the in-place decode:
// the reference FuzzB64 holds B64 to.
type legacyB64 []byte

func (b legacyB64) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.RawURLEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

func (b *legacyB64) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("keys: base64 value must be a JSON string")
	}
	s = strings.TrimRight(s, "=")
	urlChars := strings.ContainsAny(s, "-_")
	stdChars := strings.ContainsAny(s, "+/")
	if urlChars && stdChars {
		return errors.New("keys: base64 value mixes URL-safe and standard alphabets")
	}
	enc := base64.RawURLEncoding
	if stdChars {
		enc = base64.RawStdEncoding
	}
	v, err := enc.DecodeString(s)
	if err != nil {
		return errors.New("keys: invalid base64 value")
	}
	*b = v
	return nil
}

// FuzzB64 holds B64 to legacyB64: the same bytes or the same error for any
// input, through encoding/json (inside an object, as a request carries
// it) and called directly; the same JSON for any value.
func FuzzB64(f *testing.F) {
	for _, c := range b64Cases {
		f.Add([]byte(c.in))
	}
	f.Add([]byte("\"AQ\nAQ\""))
	f.Add([]byte("\"AQ\xff\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		same := func(how string, got B64, gotErr error, want legacyB64, wantErr error) {
			if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() ||
				!bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("%s %q: B64 %#v, %v; legacy %#v, %v", how, data, got, gotErr, want, wantErr)
			}
		}
		var got B64
		var want legacyB64
		same("direct", got, got.UnmarshalJSON(data), want, want.UnmarshalJSON(data))
		body := append(append([]byte(`{"a":1,"v":`), data...), '}')
		var g struct{ V B64 }
		var w struct{ V legacyB64 }
		gErr, wErr := json.Unmarshal(body, &g), json.Unmarshal(body, &w)
		same("in an object", g.V, gErr, w.V, wErr)
		gOut, gErr := json.Marshal(B64(data))
		wOut, wErr := json.Marshal(legacyB64(data))
		if !bytes.Equal(gOut, wOut) || gErr != nil || wErr != nil {
			t.Fatalf("Marshal(%x) = %s, %v; legacy %s, %v", data, gOut, gErr, wOut, wErr)
		}
	})
}

// BenchmarkB64 measures a base64url field of 1 KiB (an A256GCM plaintext
// or ciphertext) and of 256 bytes (an RSA-2048 signature) as a response
// encodes it (json.Marshal of a KeyOperationResult-like struct) and as a
// request decodes it (json.Unmarshal).
func BenchmarkB64(b *testing.B) {
	type result struct {
		Kid   string `json:"kid"`
		Value B64    `json:"value"`
	}
	type params struct {
		Alg   string `json:"alg"`
		Value B64    `json:"value"`
	}
	for _, n := range []int{1024, 256} {
		raw := make([]byte, n)
		_, _ = rand.Read(raw)
		name := "1KiB"
		if n == 256 {
			name = "256B"
		}
		body, err := json.Marshal(params{Alg: "A256GCM", Value: raw})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := json.Marshal(result{Kid: "https://dev.managedhsm.example/keys/k/0123456789abcdef", Value: raw}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				var p params
				if err := json.Unmarshal(body, &p); err != nil || len(p.Value) != n {
					b.Fatal(err)
				}
			}
		})
	}
}
