// Package throttle_test checks admission control through the real server:
// with the default work-conserving policy a lone caller is never refused,
// and on a busy server a noisy caller above its fair share is throttled
// with 429 + Retry-After while a quiet caller on the same HSM is not. Latency figures are
// logged (and written to $MHSM_THROTTLE_REPORT for docs/reliability.md),
// never asserted: timing belongs to benchmarks.
package throttle_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

func TestNoisyCallerIsThrottledQuietCallerIsNot(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) {
		// A small machine (units ≈ CPU ms per second): the RSA flood on 6
		// connections keeps it busy even on a loaded CI machine (≥ 60
		// signatures/s ≈ 60 units/s); the quiet caller's paced ES256
		// signatures (≤ 100/s ≈ 7 units/s) stay far under an equal split.
		c.ThrottleCapacity = 40
	})
	ctx := context.Background()
	dir := s.App.Directory()
	devTok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	base := s.HSMURL("dev")
	for _, k := range []struct{ name, body string }{{"ec", `{"kty":"EC-HSM","crv":"P-256"}`}, {"rsa", `{"kty":"RSA-HSM","key_size":2048}`}} {
		if st, b, err := s.Call(devTok, "POST", base+"/keys/"+k.name+"/create", k.body); err != nil || st != 200 {
			t.Fatalf("create: %d %s %v", st, b, err)
		}
	}
	hsmSvc := s.App.HSMs()
	dev, _ := hsmSvc.Get("dev")
	tokens := map[string]string{}
	for _, who := range []string{"noisy", "quiet"} {
		sp, err := dir.CreateServicePrincipal(ctx, s.Dev.TenantID, who)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := dir.AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hsmSvc.Assign(ctx, dev, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: sp.ObjectID}); err != nil {
			t.Fatal(err)
		}
		if tokens[who], err = s.Token(sp.AppID, secret, "managedhsm"); err != nil {
			t.Fatal(err)
		}
	}
	digest := sha256.Sum256([]byte("x"))
	sign := func(tok, key, alg string) (int, http.Header, time.Duration) {
		body := fmt.Sprintf(`{"alg":%q,"value":%q}`, alg, base64.RawURLEncoding.EncodeToString(digest[:]))
		req, _ := http.NewRequest("POST", base+"/keys/"+key+"/sign", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil, 0
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header, time.Since(start)
	}
	quiet := func(n int) (lat []time.Duration, throttled int) {
		tick := time.NewTicker(10 * time.Millisecond) // a quiet caller: at most 100 requests/s
		defer tick.Stop()
		for i := 0; i < n; i++ {
			<-tick.C
			st, _, d := sign(tokens["quiet"], "ec", "ES256")
			if st == http.StatusTooManyRequests {
				throttled++
			} else if st != 200 {
				t.Errorf("quiet sign: %d", st)
			}
			lat = append(lat, d)
		}
		return
	}
	alone, _ := quiet(200)

	var ok, limited atomic.Int64
	var retryAfterSeen atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, hdr, _ := sign(tokens["noisy"], "rsa", "RS256")
				switch st {
				case 200:
					ok.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
					if hdr.Get("Retry-After") != "" {
						retryAfterSeen.Store(true)
					}
				default:
					t.Errorf("noisy sign: %d", st)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	noisy, quietThrottled := quiet(200)
	close(stop)
	wg.Wait()

	if limited.Load() == 0 || !retryAfterSeen.Load() {
		t.Fatalf("noisy caller was never throttled with Retry-After (ok=%d, 429=%d)", ok.Load(), limited.Load())
	}
	if quietThrottled != 0 {
		t.Fatalf("quiet caller was throttled %d times", quietThrottled)
	}
	p50 := func(d []time.Duration) time.Duration { c := slices.Clone(d); slices.Sort(c); return c[len(c)/2] }
	p99 := func(d []time.Duration) time.Duration { c := slices.Clone(d); slices.Sort(c); return c[len(c)*99/100] }
	report := fmt.Sprintf(`%s`+"\n\n"+
		"| | p50 | p99 |\n|---|---|---|\n"+
		"| quiet caller (ES256 sign, sequential, at most 100/s) alone | %v | %v |\n"+
		"| the same beside a noisy caller flooding RSA-2048 signatures on 6 connections | %v | %v |\n\n"+
		"With a fair-sharing capacity of 40 units/s, the noisy caller was served %d times and refused with 429 + Retry-After %d times; "+
		"the quiet caller was never refused. Refused requests still cost TLS, token check and audit, which is what the quiet caller's latency pays for.\n",
		"`go test ./test/throttle -run TestNoisyCallerIsThrottledQuietCallerIsNot` (in-process server, 2 CPUs shared with the load):",
		p50(alone).Round(10*time.Microsecond), p99(alone).Round(10*time.Microsecond),
		p50(noisy).Round(10*time.Microsecond), p99(noisy).Round(10*time.Microsecond), ok.Load(), limited.Load())
	t.Log(report)
	if f := os.Getenv("MHSM_THROTTLE_REPORT"); f != "" {
		_ = os.WriteFile(f, []byte(report), 0o644)
	}
}
