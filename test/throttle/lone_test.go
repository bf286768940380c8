package throttle_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestLoneCallerIsNeverThrottledByDefault floods a server started with its
// default throttling flags from one caller on 8 connections: the machine is
// saturated, yet the caller is refused nothing (work-conserving: limits bite
// only under contention). How much of the machine it gets is measured by
// BenchmarkLoneCaller, not asserted here.
func TestLoneCallerIsNeverThrottledByDefault(t *testing.T) {
	if d := config.Default(); d.ThrottleCapacity <= 0 || d.ThrottlePrincipalRate != 0 || d.ThrottleHSMRate != 0 {
		t.Fatalf("defaults: fair capacity %v, principal cap %v, hsm cap %v; want fair sharing on and no hard caps",
			d.ThrottleCapacity, d.ThrottlePrincipalRate, d.ThrottleHSMRate)
	}
	s := testserver.Start(t, nil)
	served, refused := flood(t, s, 8, 3*time.Second)
	if refused != 0 {
		t.Fatalf("lone caller refused %d times (served %d)", refused, served)
	}
	if served == 0 {
		t.Fatal("nothing served")
	}
	t.Logf("lone caller: %d RSA-2048 signatures in 3 s on 8 connections, none refused", served)
}

// BenchmarkLoneCaller measures one caller's RSA-2048 signing throughput with
// the default (fair) admission and with throttling disabled, side by side:
// the ratio is the price of fairness for a lone caller (goal ≥ 0.95).
//
//	go test ./test/throttle -run '^$' -bench LoneCaller -benchtime 5x
func BenchmarkLoneCaller(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  func(*config.Server)
	}{
		{"default", nil},
		{"disabled", func(c *config.Server) { c.ThrottleCapacity, c.ThrottleHSMRate, c.ThrottlePrincipalRate = 0, 0, 0 }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			s := testserver.Start(b, mode.cfg)
			var total int64
			var d time.Duration
			for i := 0; i < b.N; i++ {
				served, refused := flood(b, s, 16, 2*time.Second)
				if refused != 0 {
					b.Fatalf("refused %d", refused)
				}
				total += served
				d += 2 * time.Second
			}
			b.ReportMetric(float64(total)/d.Seconds(), "signs/s")
		})
	}
}

// flood signs with an RSA-2048 key of the dev principal on conns
// connections for d and counts 200s and 429s.
func flood(tb testing.TB, s *testserver.Server, conns int, d time.Duration) (served, refused int64) {
	tb.Helper()
	tok, err := s.DevToken()
	if err != nil {
		tb.Fatal(err)
	}
	base := s.HSMURL("dev")
	if st, body, err := s.Call(tok, "POST", base+"/keys/lone/create", `{"kty":"RSA-HSM","key_size":2048}`); err != nil || st != 200 {
		tb.Fatalf("create: %d %s %v", st, body, err)
	}
	digest := sha256.Sum256([]byte("x"))
	body := fmt.Sprintf(`{"alg":"RS256","value":%q}`, base64.RawURLEncoding.EncodeToString(digest[:]))
	var ok, limited atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("POST", base+"/keys/lone/sign", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := s.Client().Do(req)
				if err != nil {
					tb.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					tb.Errorf("sign: %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	return ok.Load(), limited.Load()
}
