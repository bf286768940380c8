package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mhsm/mhsm/internal/strictjson"
	"github.com/mhsm/mhsm/internal/wire"
)

// BenchmarkDecodeBody measures the request body decoder (shape check and
// json decoding) on an A256GCM encrypt of 1 KiB, and the shape check alone.
func BenchmarkDecodeBody(b *testing.B) {
	pt := make([]byte, 1024)
	_, _ = rand.Read(pt)
	body := []byte(`{"alg":"A256GCM","value":"` + base64.RawURLEncoding.EncodeToString(pt) + `"}`)
	b.Run("encrypt-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p wire.KeyOperationsParameters
			if msg := decodeBody(body, &p); msg != "" || len(p.Value) != 1024 {
				b.Fatal(msg)
			}
		}
	})
	b.Run("encrypt-1KiB/shape", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := strictjson.CheckShape(body, &wire.KeyOperationsParameters{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReadBody holds readBody to io.ReadAll of limit+1 bytes: the same
// bytes for every size around the limit, with or without a (possibly
// wrong) Content-Length, and nothing for http.NoBody.
func TestReadBody(t *testing.T) {
	const limit = 100
	for _, n := range []int{0, 1, 99, 100, 101, 102, 1000} {
		payload := strings.Repeat("x", n)
		for _, cl := range []int64{-1, 0, int64(n), int64(n) / 2, int64(n) + 10, limit + 1} {
			req := httptest.NewRequest("POST", "/", strings.NewReader(payload))
			req.ContentLength = cl
			got, err := readBody(req, limit)
			want, _ := io.ReadAll(io.LimitReader(strings.NewReader(payload), limit+1))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("n %d, Content-Length %d: %d bytes, %v; want %d", n, cl, len(got), err, len(want))
			}
		}
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Body = http.NoBody
	if got, err := readBody(req, limit); got != nil || err != nil {
		t.Errorf("NoBody: %q, %v", got, err)
	}
	req.Body = io.NopCloser(iotest.ErrReader(errors.New("boom")))
	if _, err := readBody(req, limit); err == nil {
		t.Error("a read error was lost")
	}
}

// TestStrictBodiesThroughRoutes checks the 400s end to end through the
// route table: a duplicate key or deep nesting is refused before any
// handler acts, with a message saying what is wrong.
func TestStrictBodiesThroughRoutes(t *testing.T) {
	m := newMemServer(t)
	cases := []struct {
		name, method, path, body, want string
		status                         int
	}{
		{"create ok", "POST", "/keys/k1/create", `{"kty":"oct-HSM","key_size":256}`, "", 200},
		{"create duplicate kty", "POST", "/keys/k2/create", `{"kty":"oct-HSM","kty":"RSA-HSM"}`, "appears twice", 400},
		{"create case-variant", "POST", "/keys/k2/create", `{"kty":"oct-HSM","Kty":"RSA-HSM"}`, "appears twice", 400},
		{"encrypt duplicate alg", "POST", "/keys/k1/encrypt", `{"alg":"A256GCM","alg":"A256KW","value":"AAAA"}`, "appears twice", 400},
		{"update deep", "PATCH", "/keys/k1", `{"tags":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat("}", 41), "deeper than 32", 400},
		{"role assignment duplicate", "PUT", "/providers/Microsoft.Authorization/roleAssignments/0f4a3b1e-3f6f-4b6a-9d1b-0f4a3b1e3f6f",
			`{"properties":{"roleDefinitionId":"x","roleDefinitionId":"y","principalId":"z"}}`, "appears twice", 400},
		{"trailing data", "POST", "/keys/k3/create", `{"kty":"oct-HSM"} {}`, "after the JSON value", 400},
	}
	for _, c := range cases {
		rec := m.do(c.method, c.path+"?api-version=7.6", c.body)
		if rec.Code != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, rec.Code, c.status, rec.Body)
			continue
		}
		if c.want != "" && !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: body %s does not say %q", c.name, rec.Body, c.want)
		}
		var e wire.Error
		if c.status >= 400 && (json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code != "BadParameter") {
			t.Errorf("%s: not an Azure BadParameter error: %s", c.name, rec.Body)
		}
	}
}

// TestEveryPlaneDecodesStrictly: the data, management and Graph decoders
// share decodeBody, so each refuses duplicate keys.
func TestEveryPlaneDecodesStrictly(t *testing.T) {
	dup := []byte(`{"kty":"EC-HSM","kty":"RSA-HSM"}`)
	var v map[string]any
	if err := (&Request{body: dup}).Decode(&v); err == nil {
		t.Error("data plane accepted a duplicate key")
	}
	if err := (&ARMRequest{body: dup}).Decode(&v); err == nil {
		t.Error("management plane accepted a duplicate key")
	}
	if err := (&graphReq{body: dup}).decode(&v); err == nil {
		t.Error("Graph accepted a duplicate key")
	}
	if err := (&ARMRequest{body: []byte(`{"a":1}`)}).Decode(&v); err != nil {
		t.Errorf("a plain body was refused: %v", err)
	}
}
