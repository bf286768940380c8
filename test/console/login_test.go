package console

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/directory"
)

// flow is one browser-like sign-in: a client with a cookie jar that does
// not follow redirects.
type flow struct {
	w        *world
	c        *http.Client
	verifier string
}

func newFlow(w *world) *flow {
	jar, _ := cookiejar.New(nil)
	return &flow{w: w, verifier: strings.Repeat("v", 20) + "-verifier-of-this-flow-123",
		c: &http.Client{Transport: w.s.Transport(), Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *flow) authorizeURL() string {
	return f.w.s.URL("login") + "/" + f.w.s.Dev.TenantID + "/oauth2/v2.0/authorize"
}

func (f *flow) params(redirect string) url.Values {
	sum := sha256.Sum256([]byte(f.verifier))
	return url.Values{"client_id": {directory.ConsoleClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {f.w.s.URL("managedhsm") + "/.default openid"}, "state": {"st-42"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
}

func (f *flow) redirect() string { return f.w.s.URL("console") + "/callback" }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// form GETs the sign-in page and returns its CSRF token.
func (f *flow) form(t *testing.T, p url.Values) string {
	t.Helper()
	resp, err := f.c.Get(f.authorizeURL() + "?" + p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("sign-in page: %d %s", resp.StatusCode, b)
	}
	return string(m[1])
}

// submit posts the form and returns status, Location and body.
func (f *flow) submit(t *testing.T, p url.Values, csrf, user, pass string) (int, string, string) {
	t.Helper()
	form := url.Values{}
	for k, v := range p {
		form[k] = v
	}
	form.Set("csrf", csrf)
	form.Set("username", user)
	form.Set("password", pass)
	resp, err := f.c.PostForm(f.authorizeURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// signIn signs user in and returns the code from the redirect.
func (f *flow) signIn(t *testing.T, user, pass string) (int, string, string) {
	p := f.params(f.redirect())
	return f.submit(t, p, f.form(t, p), user, pass)
}

// redeem exchanges a code at the token endpoint.
func (f *flow) redeem(t *testing.T, code, verifier, redirect string) (int, map[string]any) {
	t.Helper()
	resp, err := f.c.PostForm(f.w.s.URL("login")+"/"+f.w.s.Dev.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {directory.ConsoleClientID}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "scope": {f.w.s.URL("managedhsm") + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestAuthorizationCodeFlow(t *testing.T) {
	w := newWorld(t)
	f := newFlow(w)
	st, loc, body := f.signIn(t, w.upn("alice"), password)
	if st != http.StatusFound || !strings.HasPrefix(loc, f.redirect()+"?") {
		t.Fatalf("sign-in: %d %q %s", st, loc, body)
	}
	u, _ := url.Parse(loc)
	code := u.Query().Get("code")
	if u.Query().Get("state") != "st-42" || code == "" {
		t.Fatalf("redirect %q: want the code and state st-42", loc)
	}
	// Wrong verifier: refused, and the code is spent.
	if st, m := f.redeem(t, code, strings.Repeat("w", 50), f.redirect()); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", st, m)
	}
	if st, m := f.redeem(t, code, f.verifier, f.redirect()); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("spent code: %d %v", st, m)
	}
	// A fresh code with the right verifier gives alice a data-plane token.
	_, loc, _ = f.signIn(t, w.upn("alice"), password)
	u, _ = url.Parse(loc)
	if st, m := f.redeem(t, u.Query().Get("code"), f.verifier, f.redirect()+"/x"); st != 400 {
		t.Fatalf("other redirect_uri at redemption: %d %v", st, m)
	}
	_, loc, _ = f.signIn(t, w.upn("alice"), password)
	u, _ = url.Parse(loc)
	st, m := f.redeem(t, u.Query().Get("code"), f.verifier, f.redirect())
	at, _ := m["access_token"].(string)
	if st != 200 || at == "" || m["refresh_token"] == nil {
		t.Fatalf("redeem: %d %v", st, m)
	}
	if st, b, _ := w.s.Call(at, "GET", w.base+"/providers/Microsoft.Authorization/roleAssignments?api-version=7.6", nil); st != 200 {
		t.Fatalf("alice's token on the data plane: %d %s", st, b)
	}
	// PKCE is required: no challenge → the error goes back to the client.
	p := f.params(f.redirect())
	p.Del("code_challenge")
	resp, err := f.c.Get(f.authorizeURL() + "?" + p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.Contains(l, "error=invalid_request") || !strings.HasPrefix(l, f.redirect()+"?") {
		t.Fatalf("no PKCE: %d %q", resp.StatusCode, l)
	}
	p.Set("code_challenge", p.Get("state")+strings.Repeat("A", 37))
	p.Set("code_challenge_method", "plain")
	resp, _ = f.c.Get(f.authorizeURL() + "?" + p.Encode())
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Location"), "error=invalid_request") {
		t.Fatalf("plain PKCE accepted: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestNoOpenRedirect: a redirect URI that is not exactly the registered
// one is refused with an error page, never a redirect.
func TestNoOpenRedirect(t *testing.T) {
	w := newWorld(t)
	f := newFlow(w)
	reg := f.redirect()
	for _, bad := range []string{"https://evil.example/callback", reg + "/", reg + "?x=1", reg + "/../evil", strings.Replace(reg, "https:", "http:", 1),
		strings.Replace(reg, "console.", "CONSOLE.", 1), strings.Replace(reg, "console.", "management.", 1), reg + "#frag", ""} {
		p := f.params(bad)
		resp, err := f.c.Get(f.authorizeURL() + "?" + p.Encode())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(b), "not registered") {
			t.Errorf("redirect_uri %q: %d Location=%q", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
		// The POST is refused the same way, even with good credentials.
		st, loc, _ := f.submit(t, p, "x", w.upn("alice"), password)
		if st != 400 || loc != "" {
			t.Errorf("POST with redirect_uri %q: %d %q", bad, st, loc)
		}
	}
	// Another client id with the console's redirect URI is refused too.
	p := f.params(reg)
	p.Set("client_id", directory.MHSMCLIClientID)
	resp, _ := f.c.Get(f.authorizeURL() + "?" + p.Encode())
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("CLI client id: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

var volatile = regexp.MustCompile(`name="csrf" value="[^"]*"|name="username"[^>]*>`)

// TestNoUserEnumeration: an unknown user, a wrong password, a disabled
// account get the same page; and a form without its CSRF cookie is
// refused without checking anything.
func TestNoUserEnumeration(t *testing.T) {
	w := newWorld(t)
	answer := func(user, pass string) (int, string) {
		f := newFlow(w)
		st, loc, body := f.signIn(t, user, pass)
		if loc != "" {
			t.Fatalf("%s: redirected to %q", user, loc)
		}
		return st, volatile.ReplaceAllString(body, "")
	}
	st1, b1 := answer("nobody@"+w.s.Config().Domain, password)
	st2, b2 := answer(w.upn("dave"), "wrong-password")
	if st1 != st2 || b1 != b2 || !strings.Contains(b1, "incorrect") {
		t.Fatalf("unknown user %d vs bad password %d differ:\n%s\n---\n%s", st1, st2, b1, b2)
	}
	// Missing CSRF cookie (a cross-site form post): refused, no sign-in.
	f := newFlow(w)
	p := f.params(f.redirect())
	csrf := f.form(t, p)
	f.c.Jar, _ = cookiejar.New(nil)
	if st, loc, body := f.submit(t, p, csrf, w.upn("alice"), password); st != 400 || loc != "" || !strings.Contains(body, "expired") {
		t.Fatalf("no CSRF cookie: %d %q", st, loc)
	}
}

// TestLockoutShared: failures on the token endpoint lock the login page,
// and failures on the login page lock the token endpoint.
func TestLockoutShared(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < directory.DefaultLockout.MaxFailures; i++ {
		if _, err := w.s.PasswordToken(w.upn("erin"), "wrong", "managedhsm"); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	f := newFlow(w)
	if st, loc, body := f.signIn(t, w.upn("erin"), password); st != 400 || loc != "" || !strings.Contains(body, "incorrect") {
		t.Fatalf("login page after token-endpoint lockout: %d %q", st, loc)
	}
	for i := 0; i < directory.DefaultLockout.MaxFailures; i++ {
		if _, loc, _ := newFlow(w).signIn(t, w.upn("dave"), "wrong"); loc != "" {
			t.Fatal("wrong password redirected")
		}
	}
	_, err := w.s.PasswordToken(w.upn("dave"), password, "managedhsm")
	if err == nil || !strings.Contains(err.Error(), "AADSTS50053") {
		t.Fatalf("token endpoint after login-page lockout: %v", err)
	}
	// alice, never failed, still signs in on both.
	if st, loc, _ := newFlow(w).signIn(t, w.upn("alice"), password); st != 302 || loc == "" {
		t.Fatalf("alice: %d", st)
	}
}

// TestCORS: the console origin, exactly, may call the API hosts; a
// preflight is answered without a token.
func TestCORS(t *testing.T) {
	w := newWorld(t)
	origin := w.s.URL("console")
	for _, c := range []struct {
		origin string
		ok     bool
	}{{origin, true}, {"https://evil.example", false}, {origin + ".evil.example", false}, {strings.Replace(origin, "https", "http", 1), false}} {
		req, _ := http.NewRequest("OPTIONS", w.base+"/keys?api-version=7.6", nil)
		req.Header.Set("Origin", c.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := w.s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if c.ok && (resp.StatusCode != 204 || got != origin || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")) {
			t.Errorf("preflight from %s: %d %q", c.origin, resp.StatusCode, got)
		}
		if !c.ok && got != "" {
			t.Errorf("preflight from %s allowed: %q", c.origin, got)
		}
	}
	// A real call from the console origin carries the header; without a
	// token it is still refused.
	req, _ := http.NewRequest("GET", w.base+"/keys?api-version=7.6", nil)
	req.Header.Set("Origin", origin)
	resp, err := w.s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("GET without token: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestConsoleStatic: the console host serves its files with a strict CSP
// and nothing else.
func TestConsoleStatic(t *testing.T) {
	w := newWorld(t)
	get := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, w.s.URL("console")+path, nil)
		resp, err := w.s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("GET", "/")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(csp, "default-src 'self'; script-src 'self'; style-src 'self';") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("index: %d CSP %q", resp.StatusCode, csp)
	}
	if !strings.Contains(csp, "https://*.managedhsm."+w.s.Config().Domain+":") {
		t.Errorf("CSP does not allow the data plane hosts with the port: %q", csp)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/app.js", 200}, {"GET", "/callback", 200}, {"GET", "/../go.mod", 404}, {"GET", "/console.go", 404}, {"POST", "/", 405}, {"DELETE", "/app.js", 405}} {
		if got := get(c.method, c.path).StatusCode; got != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.status)
		}
	}
}
