package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// The authorization endpoint on login.<domain>: the OAuth2
// authorization-code flow with PKCE (S256 only) for the public clients
// that register a redirect URI — today the web console. GET shows the
// sign-in page; POST checks the password through the directory (the same
// check, and the same lockout, as the password grant) and redirects to
// the registered redirect URI with a one-time code, which the token
// endpoint exchanges (codeGrant) for the code verifier.
//
// What it refuses, and how:
//   - a client or redirect URI that is not registered (exact string
//     match): an error page, never a redirect (no open redirect);
//   - a form without the CSRF token of its cookie (__Host- cookie,
//     double submit, compared in constant time): the form again;
//   - any failed sign-in — unknown user, wrong password, disabled or
//     locked account — one message, so nobody learns which.

// csrfCookie is the login form's CSRF cookie; __Host- pins it to
// login.<domain> (Secure, Path=/, no Domain).
const csrfCookie = "__Host-mhsm-login"

// signInFailed is the one answer to any failed sign-in.
const signInFailed = "The user name or password is incorrect, or the account cannot sign in now."

// authzRequest is a validated authorization request.
type authzRequest struct {
	Tenant, ClientID, RedirectURI, State, Challenge, Scope, LoginHint string
}

// redirectURIs are the registered redirect URIs of a client: only the
// console has one.
func (s *Server) redirectURIs(clientID string) []string {
	if strings.EqualFold(strings.TrimSpace(clientID), directory.ConsoleClientID) {
		return []string{s.cfg.URL("console") + "/callback"}
	}
	return nil
}

// registeredRedirect reports whether uri is one of clientID's redirect
// URIs, compared exactly.
func (s *Server) registeredRedirect(clientID, uri string) bool {
	for _, u := range s.redirectURIs(clientID) {
		if u == uri {
			return true
		}
	}
	return false
}

// parseAuthz validates the request parameters in v. It returns an error
// page when the client or redirect URI is not registered, and otherwise a
// redirect carrying the OAuth error when another parameter is wrong.
func (s *Server) parseAuthz(l *loginReq, v url.Values) (*authzRequest, *rawPage, error) {
	tid, err := s.tenantOf(l)
	if err != nil {
		return nil, s.errorPage("The directory (tenant) was not found."), nil
	}
	a := &authzRequest{Tenant: tid, ClientID: strings.ToLower(strings.TrimSpace(v.Get("client_id"))), RedirectURI: v.Get("redirect_uri"),
		State: v.Get("state"), Challenge: v.Get("code_challenge"), Scope: v.Get("scope"), LoginHint: v.Get("login_hint")}
	if !s.registeredRedirect(a.ClientID, a.RedirectURI) {
		return nil, s.errorPage("The application or its redirect address is not registered in this directory."), nil
	}
	switch {
	case len(a.State) > 512 || len(a.Scope) > 1024 || len(a.LoginHint) > 256:
		return nil, a.redirectError("invalid_request", "A parameter is too long."), nil
	case v.Get("response_type") != "code":
		return nil, a.redirectError("unsupported_response_type", "Only response_type=code is supported."), nil
	case v.Get("code_challenge_method") != "S256" || !token.ValidChallenge(a.Challenge):
		return nil, a.redirectError("invalid_request", "PKCE with code_challenge_method=S256 is required."), nil
	}
	return a, nil, nil
}

// redirectError sends the browser back to the (registered) redirect URI
// with an OAuth error and the state.
func (a *authzRequest) redirectError(code, desc string) *rawPage {
	q := url.Values{"error": {code}, "error_description": {desc}}
	if a.State != "" {
		q.Set("state", a.State)
	}
	return redirectPage(a.RedirectURI + "?" + q.Encode())
}

func redirectPage(to string) *rawPage {
	return &rawPage{header: http.Header{"Location": {to}}}
}

// authorizePage shows the sign-in form.
func (s *Server) authorizePage(l *loginReq) (int, any, error) {
	a, pg, err := s.parseAuthz(l, l.r.URL.Query())
	if err != nil || pg != nil {
		return authzStatus(pg), pg, err
	}
	return s.loginForm(a, "", http.StatusOK)
}

// authorizeSubmit checks the CSRF token and the password, and redirects
// with a code.
func (s *Server) authorizeSubmit(l *loginReq) (int, any, error) {
	r := l.r
	r.Body = http.MaxBytesReader(nil, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return http.StatusBadRequest, s.errorPage("The sign-in form could not be read."), nil
	}
	a, pg, err := s.parseAuthz(l, r.PostForm)
	if err != nil || pg != nil {
		return authzStatus(pg), pg, err
	}
	a.LoginHint = r.PostForm.Get("username")
	// Failures count per (principal, TCP peer), as on the token endpoint
	// (directory/lockout.go): one budget for both.
	r = r.WithContext(directory.WithSource(r.Context(), r.RemoteAddr))
	c, cerr := r.Cookie(csrfCookie)
	sent := r.PostForm.Get("csrf")
	if cerr != nil || len(sent) < 16 || subtle.ConstantTimeCompare([]byte(c.Value), []byte(sent)) != 1 {
		return s.loginForm(a, "The sign-in form expired. Please sign in again.", http.StatusBadRequest)
	}
	u, err := s.dir.AuthenticatePassword(r.Context(), a.Tenant, r.PostForm.Get("username"), r.PostForm.Get("password"))
	if err != nil {
		return s.loginForm(a, signInFailed, http.StatusBadRequest)
	}
	l.ev.setCaller(&token.Claims{TenantID: u.TenantID, ObjectID: u.ID, AppID: a.ClientID, UPN: u.UserPrincipalName, IDType: token.IDTypeUser})
	code, err := s.issuer.NewAuthCode(r.Context(), token.CodeGrant{TenantID: u.TenantID, ObjectID: u.ID, ClientID: a.ClientID,
		RedirectURI: a.RedirectURI, Challenge: a.Challenge})
	if err != nil {
		return 0, nil, err
	}
	q := url.Values{"code": {code}}
	if a.State != "" {
		q.Set("state", a.State)
	}
	pg = redirectPage(a.RedirectURI + "?" + q.Encode())
	pg.header.Add("Set-Cookie", (&http.Cookie{Name: csrfCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}).String())
	return http.StatusFound, pg, nil
}

// authzStatus is the status of an early answer: 302 for a redirect, 400
// for an error page.
func authzStatus(pg *rawPage) int {
	if pg != nil && pg.header.Get("Location") != "" {
		return http.StatusFound
	}
	return http.StatusBadRequest
}

// loginForm renders the sign-in page with a fresh CSRF token (set as a
// cookie and as a hidden field).
func (s *Server) loginForm(a *authzRequest, msg string, status int) (int, any, error) {
	csrf, err := newCSRF()
	if err != nil {
		return 0, nil, err
	}
	var buf bytes.Buffer
	if err := loginTemplate.Execute(&buf, map[string]any{"A": a, "CSRF": csrf, "Error": msg}); err != nil {
		return 0, nil, err
	}
	pg := htmlPage(buf.Bytes(), "form-action 'self' "+originOf(a.RedirectURI))
	pg.header.Add("Set-Cookie", csrfCookieValue(csrf))
	return status, pg, nil
}

// newCSRF is a fresh 256-bit CSRF token.
func newCSRF() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// csrfCookieValue is the Set-Cookie value carrying a form's CSRF token.
func csrfCookieValue(csrf string) string {
	return (&http.Cookie{Name: csrfCookie, Value: csrf, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}).String()
}

// errorPage is an HTML error page (never a redirect).
func (s *Server) errorPage(msg string) *rawPage {
	var buf bytes.Buffer
	_ = errorTemplate.Execute(&buf, msg)
	return htmlPage(buf.Bytes(), "form-action 'none'")
}

// htmlPage is an HTML answer with the login pages' strict CSP: nothing
// but the inline style block named by its hash; no script at all.
func htmlPage(body []byte, formAction string) *rawPage {
	return &rawPage{contentType: "text/html; charset=utf-8", body: body, header: http.Header{
		"Content-Security-Policy": {"default-src 'none'; style-src '" + loginStyleHash + "'; frame-ancestors 'none'; base-uri 'none'; " + formAction},
		"X-Frame-Options":         {"DENY"},
	}}
}

// originOf is the scheme://host[:port] of a registered URI.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "'none'"
	}
	return p.Scheme + "://" + p.Host
}

// loginStyle is the pages' only style, allowed by its hash in the CSP.
const loginStyle = `
:root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1b1f24;--card:#fff;--accent:#0b5cad;--err:#b00020}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e6e8eb;--card:#1c2127;--accent:#6cb0ff;--err:#ff8a80}}
body{font:16px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg);display:grid;place-items:center;min-height:100vh;margin:0}
main{background:var(--card);padding:2rem;border-radius:8px;min-width:20rem;box-shadow:0 1px 4px #0003}
label{display:block;margin-top:1rem}input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}
button{margin-top:1.5rem;padding:.5rem 1.5rem;font:inherit;background:var(--accent);color:#fff;border:0;border-radius:4px}
button:focus,input:focus{outline:3px solid var(--accent);outline-offset:2px}
.error{color:var(--err)}
`

var loginStyleHash = func() string {
	sum := sha256.Sum256([]byte(loginStyle))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in — mhsm</title><style>` + loginStyle + `</style></head>
<body><main>
<h1>Sign in</h1>
<p>to the mhsm console</p>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" autocomplete="on">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="client_id" value="{{.A.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.A.RedirectURI}}">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="state" value="{{.A.State}}">
<input type="hidden" name="scope" value="{{.A.Scope}}">
<input type="hidden" name="code_challenge" value="{{.A.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256">
<label for="username">User name</label>
<input id="username" name="username" type="email" autocomplete="username" required value="{{.A.LoginHint}}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="signin">Sign in</button>
</form>
</main></body></html>
`))

var errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign-in error — mhsm</title><style>` + loginStyle + `</style></head>
<body><main><h1>Sign-in error</h1><p class="error" role="alert" id="error">{{.}}</p></main></body></html>
`))
