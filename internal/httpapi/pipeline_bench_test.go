package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/audit"
)

// nopRecorder is an audit log that is on (the edge builds and converts
// every event) but keeps nothing, so a benchmark measures the edge and not
// the disk.
type nopRecorder struct{ n int }

func (r *nopRecorder) Ready(string) error                             { return nil }
func (r *nopRecorder) Record(_ context.Context, _ *audit.Event) error { r.n++; return nil }

// BenchmarkDataPlane measures one data-plane request through ServeHTTP, as
// an Azure SDK sends it (bearer token, client request id, user agent, one
// api-version), without the network: "key-get" is a GET of an AES key and
// "encrypt-1KiB" an A256GCM encryption of 1 KiB. "audit-off" is
// --audit=false (audit.Discard); "audit-edge" has audit on with a recorder
// that keeps nothing, so it measures what the edge spends on auditing.
func BenchmarkDataPlane(b *testing.B) {
	pt := make([]byte, 1024)
	_, _ = rand.Read(pt)
	encBody := `{"alg":"A256GCM","value":"` + base64.RawURLEncoding.EncodeToString(pt) + `"}`
	for _, mode := range []struct {
		name string
		rec  func() audit.Recorder
	}{
		{"audit-off", func() audit.Recorder { return nil }},
		{"audit-edge", func() audit.Recorder { return &nopRecorder{} }},
	} {
		m := newMemServerAudit(b, mode.rec())
		if rec := m.do("POST", "/keys/bench/create?api-version=7.6", `{"kty":"oct-HSM","key_size":256}`); rec.Code != http.StatusOK {
			b.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		host := "https://" + m.hsmHost("dev")
		for _, op := range []struct {
			name, method, path, body string
		}{
			{"key-get", "GET", "/keys/bench?api-version=7.6", ""},
			{"encrypt-1KiB", "POST", "/keys/bench/encrypt?api-version=7.6", encBody},
		} {
			b.Run(op.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(op.method, host+op.path, strings.NewReader(op.body))
					req.Header.Set("Authorization", "Bearer "+m.token)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("User-Agent", "azsdk-go-azkeys/v1.3.0 (go1.26; linux)")
					req.Header.Set("x-ms-client-request-id", "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10")
					rec := httptest.NewRecorder()
					m.srv.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", op.name, rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
