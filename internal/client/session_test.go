package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestNewSessionKeepsTokensInMemory: an unsaved session gets a token once
// per resource, dials Dial.Connect whatever the host name, and writes
// nothing into the configuration directory.
func TestNewSessionKeepsTokensInMemory(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !strings.HasSuffix(r.URL.Path, "/t1/oauth2/v2.0/token") || r.Host != "login.example.invalid" {
			http.Error(w, r.Host+r.URL.Path, 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":3600}`))
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "cfg")
	t.Setenv("MHSM_CONFIG_DIR", cfg)
	t.Setenv("MHSM_CONNECT", "127.0.0.1:1") // Dial.Connect wins over the environment
	p := &Profile{Kind: KindSecret, Authority: "http://login.example.invalid", TenantID: "t1", ClientID: "c", Secret: "s"}
	s, err := NewSession(p, Dial{Connect: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if tok, err := s.Token(context.Background(), "https://managedhsm.example.invalid"); err != nil || tok != "tok" {
			t.Fatalf("token %q: %v", tok, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d token requests for one resource", n)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Fatalf("an unsaved session wrote the configuration directory: %v", err)
	}
	s.Bearer = "given"
	if tok, _ := s.Token(context.Background(), "https://graph.example.invalid"); tok != "given" {
		t.Fatalf("Bearer not used: %q", tok)
	}
}
