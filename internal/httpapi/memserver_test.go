package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/token"
)

// memServer is the HTTP edge wired as internal/app wires it, on an
// in-memory store, with one activated HSM "dev" whose service principal
// holds Administrator, Crypto Officer and Crypto User at "/".
type memServer struct {
	srv    *Server
	cfg    *config.Server
	hsms   *hsm.Service
	tenant string
	oid    string
	token  string // data-plane bearer token of the principal
}

// dirPrincipals adapts the directory as internal/app does.
type dirPrincipals struct{ dir *directory.Directory }

func (p dirPrincipals) PrincipalExists(ctx context.Context, tid, oid string) (bool, error) {
	kind, err := p.dir.ObjectKind(ctx, tid, oid)
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil
	}
	return err == nil && (kind == directory.KindUser || kind == directory.KindGroup || kind == directory.KindServicePrincipal), err
}

func newMemServer(tb testing.TB) *memServer {
	tb.Helper()
	return newMemServerAudit(tb, nil)
}

// newMemServerAudit is newMemServer recording to log (nil: audit off).
func newMemServerAudit(tb testing.TB, log audit.Recorder) *memServer {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	root := make([]byte, barrier.KeySize)
	_, _ = rand.Read(root)
	ring, err := barrier.NewKeyring(root)
	must(err)
	_, sysKey, err := ring.NewDataKey()
	must(err)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:8443"
	st := store.NewMemory()
	dir := directory.New(st)
	issuer := token.NewIssuer(st, sysKey)
	loginURL := cfg.URL("login")
	verifier := token.NewVerifier(issuer, func(tid string) string { return IssuerURL(loginURL, tid) })
	hsms, err := hsm.NewService(ctx, st, ring, hsm.Options{BaseURL: func(n string) string { return cfg.URL(n + ".managedhsm") },
		Principals: dirPrincipals{dir}})
	must(err)
	t, err := dir.CreateTenant(ctx, "fuzz tenant", cfg.Domain)
	must(err)
	sp, err := dir.CreateServicePrincipal(ctx, t.ID, "fuzz")
	must(err)
	secret, err := dir.AddSecret(ctx, t.ID, sp.AppID, time.Hour)
	must(err)
	h, err := hsms.Create(ctx, hsm.CreateParams{Name: "dev", TenantID: t.ID, Admins: []string{sp.ObjectID}, Activated: true})
	must(err)
	for _, role := range []string{rbac.RoleCryptoOfficer, rbac.RoleCryptoUser} {
		_, err := hsms.Assign(ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: role, PrincipalID: sp.ObjectID})
		must(err)
	}
	m := &memServer{srv: New(Deps{Config: &cfg, HSMs: hsms, Dir: dir, Issuer: issuer, Verifier: verifier, Audit: log}),
		cfg: &cfg, hsms: hsms, tenant: t.ID, oid: sp.ObjectID}
	// The token comes from the real token endpoint, as a client gets it.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {sp.AppID}, "client_secret": {secret},
		"scope": {cfg.URL("managedhsm") + "/.default"}}
	req := httptest.NewRequest("POST", cfg.URL("login")+"/"+t.ID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	m.srv.ServeHTTP(rec, req)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.AccessToken == "" {
		tb.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
	}
	m.token = tr.AccessToken
	return m
}

// hsmHost is the Host of HSM name.
func (m *memServer) hsmHost(name string) string {
	return strings.TrimPrefix(m.cfg.URL(name+".managedhsm"), "https://")
}

// do sends one request to the data plane of "dev" with the principal's
// token and returns the recorder.
func (m *memServer) do(method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://"+m.hsmHost("dev")+target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	m.srv.ServeHTTP(rec, req)
	return rec
}
