package audit_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// BenchmarkAudit measures requests per second through the whole server
// (TLS, token check, RBAC, ES256 sign) with the durable audit log (fsync
// before every response, group commit) and with audit off, in one run:
//
//	go test -run '^$' -bench BenchmarkAudit -benchtime 5s ./test/audit/
func BenchmarkAudit(b *testing.B) {
	for _, mode := range []struct {
		name string
		off  bool
	}{{"durable", false}, {"off", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s := testserver.Start(b, func(c *config.Server) {
				c.Audit.Off = mode.off
				c.ThrottleCapacity, c.ThrottleHSMRate, c.ThrottlePrincipalRate = 0, 1e9, 1e9
			})
			tok, err := s.DevToken()
			if err != nil {
				b.Fatal(err)
			}
			base := s.HSMURL("dev")
			if st, body, err := s.Call(tok, "POST", base+"/keys/bench/create?api-version=7.6", map[string]any{"kty": "EC-HSM", "crv": "P-256"}); err != nil || st != 200 {
				b.Fatalf("create: %d %s %v", st, body, err)
			}
			body := `{"alg":"ES256","value":"` + strings.Repeat("A", 43) + `"}`
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", base+"/keys/bench/sign?api-version=7.6", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					resp, err := s.Client().Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_ = resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("sign: %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
