package httpapi

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// The device-code flow (RFC 8628), as `az login --use-device-code` uses
// it: POST /{tenant}/oauth2/v2.0/devicecode gives a public client a device
// code and a user code; the user opens the verification page
// (/{tenant}/oauth2/v2.0/deviceauth), enters the user code with their
// user name and password (checked like the password grant, same lockout,
// one answer for any failure, CSRF token as on the sign-in page); the
// client polls the token endpoint with grant_type
// urn:ietf:params:oauth:grant-type:device_code.

const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// deviceFailed is the one answer to any failed approval.
const deviceFailed = "The code, user name or password is incorrect, or the account cannot sign in now."

// deviceCodeResponse is the device authorization response (RFC 8628 §3.2).
type deviceCodeResponse struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
	Message         string `json:"message"`
}

// deviceCodeEndpoint starts a device-code sign-in for a public client.
func (s *Server) deviceCodeEndpoint(l *loginReq) (int, any, error) {
	r := l.r
	r.Body = http.MaxBytesReader(nil, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be a form.")
	}
	tid, err := s.tenantOf(l)
	if err != nil {
		return 0, nil, err
	}
	clientID := strings.ToLower(strings.TrimSpace(r.PostForm.Get("client_id")))
	if !s.dir.PublicClient(r.Context(), tid, clientID) {
		return 0, nil, oauthErr(http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The device-code flow is for public clients.")
	}
	scope := r.PostForm.Get("scope")
	if _, ok := s.audienceOf(scope); !ok || len(scope) > 1024 {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must be a resource of this server followed by /.default.")
	}
	dc, uc, err := s.issuer.NewDeviceCode(r.Context(), token.DeviceGrant{TenantID: tid, ClientID: clientID, Scope: scope})
	if err != nil {
		return 0, nil, err
	}
	uri := s.cfg.URL("login") + "/" + tid + "/oauth2/v2.0/deviceauth"
	return http.StatusOK, deviceCodeResponse{DeviceCode: dc, UserCode: uc, VerificationURI: uri,
		ExpiresIn: int(token.DeviceCodeLifetime.Seconds()), Interval: 5,
		Message: "To sign in, use a web browser to open the page " + uri + " and enter the code " + uc + " to authenticate."}, nil
}

// devicePage shows the verification form.
func (s *Server) devicePage(l *loginReq) (int, any, error) {
	if _, err := s.tenantOf(l); err != nil {
		return http.StatusBadRequest, s.errorPage("The directory (tenant) was not found."), nil
	}
	return s.deviceForm(l.r.URL.Query().Get("user_code"), "", "", http.StatusOK)
}

// deviceSubmit checks CSRF and the password and approves the user code.
func (s *Server) deviceSubmit(l *loginReq) (int, any, error) {
	r := l.r
	r.Body = http.MaxBytesReader(nil, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return http.StatusBadRequest, s.errorPage("The form could not be read."), nil
	}
	tid, err := s.tenantOf(l)
	if err != nil {
		return http.StatusBadRequest, s.errorPage("The directory (tenant) was not found."), nil
	}
	f := r.PostForm
	code := f.Get("user_code")
	if len(code) > 32 {
		code = ""
	}
	c, cerr := r.Cookie(csrfCookie)
	if sent := f.Get("csrf"); cerr != nil || len(sent) < 16 || subtle.ConstantTimeCompare([]byte(c.Value), []byte(sent)) != 1 {
		return s.deviceForm(code, f.Get("username"), "The form expired. Please try again.", http.StatusBadRequest)
	}
	r = r.WithContext(directory.WithSource(r.Context(), r.RemoteAddr))
	u, err := s.dir.AuthenticatePassword(r.Context(), tid, f.Get("username"), f.Get("password"))
	if err != nil {
		return s.deviceForm(code, f.Get("username"), deviceFailed, http.StatusBadRequest)
	}
	if err := s.issuer.ApproveDeviceCode(r.Context(), tid, code, u.ID); err != nil {
		if !errors.Is(err, token.ErrInvalid) {
			return 0, nil, err
		}
		return s.deviceForm(code, f.Get("username"), deviceFailed, http.StatusBadRequest)
	}
	l.ev.setCaller(&token.Claims{TenantID: u.TenantID, ObjectID: u.ID, UPN: u.UserPrincipalName, IDType: token.IDTypeUser})
	var buf bytes.Buffer
	_ = deviceDoneTemplate.Execute(&buf, nil)
	return http.StatusOK, htmlPage(buf.Bytes(), "form-action 'none'"), nil
}

// deviceForm renders the verification page with a fresh CSRF token.
func (s *Server) deviceForm(code, user, msg string, status int) (int, any, error) {
	csrf, err := newCSRF()
	if err != nil {
		return 0, nil, err
	}
	var buf bytes.Buffer
	if err := deviceTemplate.Execute(&buf, map[string]string{"Code": code, "User": user, "CSRF": csrf, "Error": msg}); err != nil {
		return 0, nil, err
	}
	pg := htmlPage(buf.Bytes(), "form-action 'self'")
	pg.header.Add("Set-Cookie", csrfCookieValue(csrf))
	return status, pg, nil
}

// deviceGrant redeems an approved device code (polled by the client).
func (s *Server) deviceGrant(l *loginReq, tid, clientID string) (int, any, error) {
	r := l.r
	g, err := s.issuer.PollDeviceCode(r.Context(), r.PostForm.Get("device_code"))
	switch {
	case errors.Is(err, token.ErrPending):
		return 0, nil, oauthErr(http.StatusBadRequest, "authorization_pending", "AADSTS70016: The user has not yet approved the sign-in.")
	case errors.Is(err, token.ErrExpired):
		return 0, nil, oauthErr(http.StatusBadRequest, "expired_token", "AADSTS70019: The device code has expired.")
	case errors.Is(err, token.ErrInvalid):
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS70000: The device code is invalid.")
	case err != nil:
		return 0, nil, oauthErr(http.StatusInternalServerError, "server_error", "The token could not be issued.")
	}
	if g.TenantID != tid || !strings.EqualFold(g.ClientID, strings.TrimSpace(clientID)) {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS70000: The device code is invalid.")
	}
	audience, _ := s.audienceOf(g.Scope)
	u, err := s.dir.User(r.Context(), g.TenantID, g.ObjectID)
	if err != nil || !u.AccountEnabled {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS70000: The device code is invalid.")
	}
	if r.PostForm.Get("scope") == "" {
		r.PostForm.Set("scope", g.Scope) // userExtras reads openid from it
	}
	return s.userToken(l, u, g.ClientID, audience)
}

var deviceTemplate = template.Must(template.New("device").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Device sign-in — mhsm</title><style>` + loginStyle + `</style></head>
<body><main>
<h1>Sign in on another device</h1>
<p>Enter the code your device shows, then your user name and password.</p>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" autocomplete="on">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" required autocomplete="off" value="{{.Code}}" autofocus>
<label for="username">User name</label>
<input id="username" name="username" type="email" autocomplete="username" required value="{{.User}}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="signin">Sign in</button>
</form>
</main></body></html>
`))

var deviceDoneTemplate = template.Must(template.New("done").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed in — mhsm</title><style>` + loginStyle + `</style></head>
<body><main><h1>Signed in</h1><p id="done">You have signed in on your device. You may close this window.</p></main></body></html>
`))
