package identity

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a goroutine-safe log sink.
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

// TestSecretsNeverLogged runs sign-ins (good and bad), secret creation and
// identity headers with debug logging captured, then looks for every
// secret in the log.
func TestSecretsNeverLogged(t *testing.T) {
	var buf syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })

	s := start(t, nil)
	gc := devGraph(t, s)
	password := "Very-Secret-Password-42"
	newUser(t, gc, upn(s, "ada"), "Ada", password)
	passwordToken(t, s, upn(s, "ada"), password, "managedhsm")
	passwordToken(t, s, upn(s, "ada"), password+"-wrong", "managedhsm")
	appID, _, secret := newApp(t, gc, "svc")
	form(t, s, tokenPath(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {secret + "x"},
		"scope": {s.URL("managedhsm") + "/.default"}})
	tok, err := s.Token(appID, secret, "managedhsm")
	if err != nil {
		t.Fatal(err)
	}
	listKeys(t, s, tok)
	mi := createIdentity(t, s, "logged")
	_, _, _ = s.App.Directory().AuthenticateIdentityHeader(context.Background(), str(mi, "identityHeader")+"x")

	log := buf.String()
	if !strings.Contains(log, "mhsm serving") {
		t.Fatal("log capture does not work")
	}
	for name, secret := range map[string]string{"password": password, "client secret": secret, "dev secret": s.Dev.ClientSecret,
		"identity header": str(mi, "identityHeader"), "access token": tok} {
		if strings.Contains(log, secret) || strings.Contains(log, secret[:12]) {
			t.Errorf("%s appears in the log", name)
		}
	}
}
