package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	m := NewMetrics()
	m.Observe("data", "KeySign", 200, 3*time.Millisecond)
	m.Throttled("principal")
	failing := false
	srv := httptest.NewServer(Handler(m, map[string]Check{"store": func(context.Context) error {
		if failing {
			return errors.New("down")
		}
		return nil
	}}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("/healthz"); st != 200 || !strings.Contains(body, `"fips140"`) {
		t.Errorf("/healthz: %d %s", st, body)
	}
	if st, _ := get("/readyz"); st != 200 {
		t.Errorf("/readyz: %d", st)
	}
	failing = true
	if st, body := get("/readyz"); st != 503 || !strings.Contains(body, "failing") || strings.Contains(body, "down") {
		t.Errorf("/readyz failing: %d %s (must not echo the cause)", st, body)
	}
	st, body := get("/metrics")
	for _, want := range []string{`mhsm_requests_total{operation="KeySign",plane="data",result="2xx"} 1`, `mhsm_throttled_total{limit="principal"} 1`, "mhsm_fips140_enabled"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
