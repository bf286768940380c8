package double

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// rawRecords reads every audit record of s, with its properties.
func rawRecords(t *testing.T, s *testserver.Server) []map[string]any {
	t.Helper()
	ctx := context.Background()
	srcs, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, src := range srcs {
		err := src.Query(ctx, &audit.Filter{}, func(r *audit.Record) error {
			var m map[string]any
			if err := json.Unmarshal(r.Raw, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func props(rec map[string]any) map[string]any {
	p, _ := rec["properties"].(map[string]any)
	return p
}

// TestInjectedFaultsAndShiftedTimeAreAudited: each injected fault has its
// record marked devInjectedFault; after a clock advance, records carry the
// shifted time and devClockOffset, and records before it carry neither;
// the tokens issued before it are expired.
func TestInjectedFaultsAndShiftedTimeAreAudited(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.Ephemeral = true })
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	hsmURL := s.HSMURL("dev")
	must := func(st int, body []byte, err error) {
		t.Helper()
		if err != nil || st != http.StatusOK {
			t.Fatalf("%d %s %v", st, body, err)
		}
	}
	must(s.Call(tok, "POST", hsmURL+"/mhsm/dev/faults", `{"rules":[{"operation":"SettingsList","status":503,"retryAfter":2,"count":2}]}`))
	for i := 0; i < 3; i++ {
		st, _, err := s.Call(tok, "GET", hsmURL+"/settings?api-version=7.6", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{503, 503, 200}[i]; st != want {
			t.Fatalf("call %d: status %d, want %d", i, st, want)
		}
	}
	must(s.Call(tok, "POST", hsmURL+"/mhsm/dev/clock", `{"advance":"P10D"}`))
	// Tokens issued before the advance are expired now.
	if st, _, err := s.Call(tok, "GET", hsmURL+"/settings?api-version=7.6", nil); err != nil || st != http.StatusUnauthorized {
		t.Fatalf("old token after P10D: %d %v, want 401", st, err)
	}
	if tok, err = s.DevToken(); err != nil {
		t.Fatal(err)
	}
	must(s.Call(tok, "GET", hsmURL+"/settings?api-version=7.6", nil))

	faulted, listed, shifted := 0, 0, 0
	for _, rec := range rawRecords(t, s) {
		if rec["operationName"] != "SettingsList" {
			continue
		}
		listed++
		p := props(rec)
		if p["devInjectedFault"] != nil {
			faulted++
			if p["devInjectedFault"] != "status=503" || p["httpStatusCode"] != float64(503) {
				t.Errorf("faulted record: %v", p)
			}
		}
		when, err := time.Parse(time.RFC3339Nano, rec["time"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if off, ok := p["devClockOffset"]; ok {
			shifted++
			if off != (240*time.Hour).String() || when.Sub(time.Now()) < 239*time.Hour {
				t.Errorf("shifted record at %v with offset %v", when, off)
			}
		} else if when.After(time.Now()) {
			t.Errorf("unshifted record in the future: %v", when)
		}
	}
	// The 401 is recorded as "Authentication": 4 SettingsList records.
	if listed != 4 || faulted != 2 || shifted != 1 {
		t.Fatalf("SettingsList records: %d (want 4), faulted %d (want 2), shifted %d (want 1)", listed, faulted, shifted)
	}
}
