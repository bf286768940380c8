package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

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
			if err := checkJSONShape(body, &wire.KeyOperationsParameters{}); err != nil {
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
