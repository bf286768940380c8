// Package badinput is the bad-input sweep: it sends a few thousand
// malformed requests — bad JSON and wrong types to every route that reads
// a body (data plane and management plane from their route tables, Graph
// from its source), huge numbers, invalid base64, wrong algorithms, oversized
// bodies, headers and tokens, hostile paths, unknown methods — to a real
// mhsm server (in-process, over HTTPS) and counts the outcomes. The goal
// is 0 panics, 0 5xx and an answer to every request. Read sweep_test.go,
// then cases_test.go.
package badinput

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/testserver"
)

var (
	report       = flag.String("report", "", "write a JSON report to this file")
	showAccepted = flag.Bool("show-accepted", false, "with -v, also log body attempts the server accepted (2xx)")
)

// attempt is one malformed request.
type attempt struct {
	Category string
	Method   string
	Target   string // request target (path and query), sent as is
	Host     string // "" means the dev HSM
	Header   http.Header
	Body     []byte
	NoAuth   bool
}

// Report is what the sweep measured.
type Report struct {
	Requests   int                       `json:"requests"`
	ByCategory map[string]map[string]int `json:"byCategory"`
	ByStatus   map[string]int            `json:"byStatus"`
	Status5xx  int                       `json:"status5xx"`
	NoResponse int                       `json:"noResponse"`
	Panics     int                       `json:"panics"`
	Oversize   int                       `json:"oversize"`
	OversizeOK int                       `json:"oversizeRejected4xx"`
	Seconds    float64                   `json:"seconds"`
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBadInputSweep(t *testing.T) {
	logs := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer slog.SetDefault(prev)
	srv := testserver.Start(t, nil)
	tok, err := srv.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	env := prepare(t, srv, tok)
	cases := buildCases(env)
	if len(cases) < 300 {
		t.Fatalf("only %d cases", len(cases))
	}
	rep := Report{ByCategory: map[string]map[string]int{}, ByStatus: map[string]int{}}
	start := time.Now()
	for _, a := range cases {
		status, err := send(srv, tok, a)
		outcome := fmt.Sprint(status)
		rep.Requests++
		switch {
		case err != nil:
			outcome = "no response"
			rep.NoResponse++
			t.Errorf("%s: %s %.120s: no response: %v", a.Category, a.Method, a.Target, err)
		case status >= 500:
			rep.Status5xx++
			t.Errorf("%s: %s %.120s (body %.80q): %d", a.Category, a.Method, a.Target, a.Body, status)
		}
		if testing.Verbose() && (a.Category != "body" || *showAccepted && status < 300) {
			t.Logf("%-8s %s %.70s -> %s %.60q", a.Category, a.Method, a.Target, outcome, a.Body)
		}
		if a.Category == "oversize" {
			rep.Oversize++
			if status >= 400 && status < 500 {
				rep.OversizeOK++
			}
		}
		if rep.ByCategory[a.Category] == nil {
			rep.ByCategory[a.Category] = map[string]int{}
		}
		rep.ByCategory[a.Category][outcome]++
		rep.ByStatus[outcome]++
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Panics = strings.Count(logs.String(), "panic")
	if rep.Panics > 0 {
		t.Errorf("the server logged %d panics:\n%s", rep.Panics, logs.String())
	}
	// The server still works after the sweep.
	if st, b, err := srv.Call(tok, "POST", srv.HSMURL("dev")+"/keys/after-sweep/create?api-version=7.6", `{"kty":"oct-HSM"}`); err != nil || st != 200 {
		t.Errorf("after the sweep: create %d %s %v", st, b, err)
	}
	t.Logf("%d requests in %.1fs: %s", rep.Requests, rep.Seconds, summary(rep.ByStatus))
	for _, c := range sortedKeys(rep.ByCategory) {
		t.Logf("  %-12s %s", c, summary(rep.ByCategory[c]))
	}
	if *report != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*report, append(b, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// send makes one request exactly as described (the target is not
// re-escaped) and returns the status, or an error if no response came.
func send(srv *testserver.Server, tok string, a attempt) (int, error) {
	// The URL names a host the dev certificate covers (TLS is not what is
	// being tested); the Host header carries the attempt's host.
	urlHost := strings.TrimPrefix(srv.HSMURL("dev"), "https://")
	host := a.Host
	switch {
	case host == "":
		host = urlHost
	case strings.HasPrefix(host, "login."), strings.HasPrefix(host, "management."), strings.HasPrefix(host, "graph."):
		urlHost = host
	}
	req, err := http.NewRequestWithContext(context.Background(), a.Method, "https://"+urlHost+"/", bytes.NewReader(a.Body))
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(a.Target, "//") {
		if req.URL, err = url.Parse("https://" + urlHost + a.Target); err != nil {
			return 0, err
		}
	} else {
		req.URL.Opaque = a.Target // sent verbatim as the request target (origin form)
	}
	req.Host = host
	for k, vs := range a.Header {
		req.Header[k] = vs
	}
	if !a.NoAuth && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func summary(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
