// Package oracle_test checks that decryption failures are indistinguishable
// through the real server: whatever failed (PKCS#1 v1.5 or OAEP padding, a
// GCM tag, CBC padding, an AES key wrap integrity check), the caller sees
// the same status, error code, message and response headers, and the audit
// log the same result — so the server is no padding oracle.
package oracle_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/testserver"
)

type failure struct {
	Status  int
	Code    string
	Message string
	Headers string
}

func TestDecryptionFailuresAreIndistinguishable(t *testing.T) {
	s := testserver.Start(t, nil)
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	base := s.HSMURL("dev")
	call := func(method, path string, body any) (int, []byte, http.Header) {
		req, _ := http.NewRequest(method, base+path+"?api-version=7.6", strings.NewReader(mustJSON(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b, resp.Header
	}
	for _, k := range []struct{ name, body string }{{"rsa", `{"kty":"RSA-HSM"}`}, {"aes", `{"kty":"oct-HSM","key_size":256}`}} {
		if st, b, _ := call("POST", "/keys/"+k.name+"/create", json.RawMessage(k.body)); st != 200 {
			t.Fatalf("create %s: %d %s", k.name, st, b)
		}
	}
	if st, b, _ := call("PATCH", "/settings/AllowRSA1_5Decryption", map[string]string{"value": "true"}); st != 200 {
		t.Fatalf("enable RSA1_5: %d %s", st, b)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	// Valid ciphertexts from the server, then each corrupted in a way only
	// the secret key can detect.
	enc := func(key, alg string, pt []byte, iv []byte) map[string]string {
		body := map[string]string{"alg": alg, "value": b64(pt)}
		if iv != nil {
			body["iv"] = b64(iv)
		}
		st, b, _ := call("POST", "/keys/"+key+"/encrypt", body)
		if st != 200 {
			t.Fatalf("encrypt %s: %d %s", alg, st, b)
		}
		var out map[string]string
		_ = json.Unmarshal(b, &out)
		return out
	}
	flip := func(s string, i int) string {
		raw, _ := base64.RawURLEncoding.DecodeString(s)
		raw[(len(raw)+i)%len(raw)] ^= 0x40
		return b64(raw)
	}
	iv := make([]byte, 16)
	cases := map[string]struct {
		path string
		body map[string]string
	}{}
	for _, alg := range []string{"RSA1_5", "RSA-OAEP", "RSA-OAEP-256"} {
		c := enc("rsa", alg, []byte("secret"), nil)
		cases[alg] = struct {
			path string
			body map[string]string
		}{"/keys/rsa/decrypt", map[string]string{"alg": alg, "value": flip(c["value"], 7)}}
	}
	g := enc("aes", "A256GCM", []byte("secret data"), nil)
	cases["A256GCM"] = struct {
		path string
		body map[string]string
	}{"/keys/aes/decrypt", map[string]string{"alg": "A256GCM", "value": g["value"], "iv": g["iv"], "tag": flip(g["tag"], 0)}}
	c := enc("aes", "A256CBCPAD", []byte("sixteen byte msg"), iv)
	cases["A256CBCPAD"] = struct {
		path string
		body map[string]string
	}{"/keys/aes/decrypt", map[string]string{"alg": "A256CBCPAD", "value": flip(c["value"], -1), "iv": b64(iv)}}
	st, b, _ := call("POST", "/keys/aes/wrapkey", map[string]string{"alg": "A256KW", "value": b64(make([]byte, 32))})
	if st != 200 {
		t.Fatalf("wrap: %d %s", st, b)
	}
	var w map[string]string
	_ = json.Unmarshal(b, &w)
	cases["A256KW"] = struct {
		path string
		body map[string]string
	}{"/keys/aes/unwrapkey", map[string]string{"alg": "A256KW", "value": flip(w["value"], 3)}}

	seen := map[failure][]string{}
	for name, cs := range cases {
		st, b, hdr := call("POST", cs.path, cs.body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		msg, _, _ := strings.Cut(e.Error.Message, " (Activity ID:")
		var names []string
		for h := range hdr {
			if h != "Date" && h != "X-Ms-Request-Id" && h != "Content-Length" {
				names = append(names, h)
			}
		}
		sort.Strings(names)
		f := failure{Status: st, Code: e.Error.Code, Message: msg, Headers: strings.Join(names, ",")}
		if st/100 != 4 {
			t.Errorf("%s: status %d %s", name, st, b)
		}
		seen[f] = append(seen[f], name)
	}
	if len(seen) != 1 {
		t.Fatalf("decryption failures are distinguishable: %d different answers: %+v", len(seen), seen)
	}
	for f, names := range seen {
		t.Logf("all of %v answer %d %s %q", names, f.Status, f.Code, f.Message)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
