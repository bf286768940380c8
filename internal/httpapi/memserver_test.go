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

// memCore is what every in-memory edge of these tests shares: the
// services wired as internal/app wires them, on an in-memory store, and one
// tenant with one service principal and its secret.
type memCore struct {
	ctx      context.Context
	cfg      config.Server
	dir      *directory.Directory
	issuer   *token.Issuer
	verifier *token.Verifier
	hsms     *hsm.Service
	st       store.Backend
	tenant   string
	sp       *directory.ServicePrincipal
	secret   string
}

func newMemCore(tb testing.TB) *memCore {
	tb.Helper()
	c := &memCore{ctx: context.Background(), cfg: config.Default(), st: store.NewMemory()}
	root := make([]byte, barrier.KeySize)
	_, _ = rand.Read(root)
	ring, err := barrier.NewKeyring(root)
	mustT(tb, err)
	_, sysKey, err := ring.NewDataKey()
	mustT(tb, err)
	c.cfg.Addr = "127.0.0.1:8443"
	cfg := &c.cfg
	c.dir = directory.New(c.st)
	c.issuer = token.NewIssuer(c.st, sysKey)
	loginURL := cfg.URL("login")
	c.verifier = token.NewVerifier(c.issuer, func(tid string) string { return IssuerURL(loginURL, tid) })
	c.hsms, err = hsm.NewService(c.ctx, c.st, ring, hsm.Options{BaseURL: func(n string) string { return cfg.URL(n + ".managedhsm") },
		Principals: dirPrincipals{c.dir}})
	mustT(tb, err)
	t, err := c.dir.CreateTenant(c.ctx, "fuzz tenant", cfg.Domain)
	mustT(tb, err)
	c.tenant = t.ID
	c.sp, err = c.dir.CreateServicePrincipal(c.ctx, t.ID, "fuzz")
	mustT(tb, err)
	c.secret, err = c.dir.AddSecret(c.ctx, t.ID, c.sp.AppID, time.Hour)
	mustT(tb, err)
	return c
}

// token gets the service principal a token for resource ("managedhsm",
// "management", "graph") from srv's real token endpoint, as a client does.
func (c *memCore) token(tb testing.TB, srv http.Handler, resource string) string {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.sp.AppID}, "client_secret": {c.secret},
		"scope": {c.cfg.URL(resource) + "/.default"}}
	req := httptest.NewRequest("POST", c.cfg.URL("login")+"/"+c.tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.AccessToken == "" {
		tb.Fatalf("token for %s: %d %s", resource, rec.Code, rec.Body)
	}
	return tr.AccessToken
}

func mustT(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// newMemServerAudit is newMemServer recording to log (nil: audit off).
func newMemServerAudit(tb testing.TB, log audit.Recorder) *memServer {
	tb.Helper()
	c := newMemCore(tb)
	h, err := c.hsms.Create(c.ctx, hsm.CreateParams{Name: "dev", TenantID: c.tenant, Admins: []string{c.sp.ObjectID}, Activated: true})
	mustT(tb, err)
	for _, role := range []string{rbac.RoleCryptoOfficer, rbac.RoleCryptoUser} {
		_, err := c.hsms.Assign(c.ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: role, PrincipalID: c.sp.ObjectID})
		mustT(tb, err)
	}
	m := &memServer{srv: New(Deps{Config: &c.cfg, HSMs: c.hsms, Dir: c.dir, Issuer: c.issuer, Verifier: c.verifier, Audit: log}),
		cfg: &c.cfg, hsms: c.hsms, tenant: c.tenant, oid: c.sp.ObjectID}
	m.token = c.token(tb, m.srv, "managedhsm")
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
