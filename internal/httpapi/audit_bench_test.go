package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/token"
)

// BenchmarkAuditEvent measures what the data-plane pipeline spends on the
// audit event of one request outside the guard: newAuditEvent, and the
// conversion to an audit.Event that Record hands the log ("audit-edge", the
// log itself keeps nothing) or nothing ("audit-off", audit.Discard). The
// request is an SDK key GET with a 1.2 KB bearer token; the token's digest
// is the verifier's, so it is not part of this cost.
func BenchmarkAuditEvent(b *testing.B) {
	m := newMemServer(b)
	req := httptest.NewRequest("GET", "https://"+m.hsmHost("dev")+"/keys/bench?api-version=7.6", nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set("User-Agent", "azsdk-go-azkeys/v1.3.0 (go1.26; linux)")
	req.Header.Set("x-ms-client-request-id", "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10")
	digest := token.DigestOf(m.token) // what the guard gets from the verifier
	for _, mode := range []struct {
		name string
		log  audit.Recorder
	}{{"audit-off", nil}, {"audit-edge", &nopRecorder{}}} {
		s := New(Deps{Config: m.cfg, HSMs: m.hsms, Audit: mode.log})
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				q := req.URL.Query()
				ev := s.newAuditEvent(req, q, start)
				ev.HSM, ev.tokenDigest = "dev", digest
				if err := s.recordRequest(req, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
