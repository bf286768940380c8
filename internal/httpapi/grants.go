package httpapi

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// tokenEndpoint implements the grants client_credentials (client secret,
// certificate assertion or federated assertion), password (users, through
// a public client) and refresh_token.
func (s *Server) tokenEndpoint(l *loginReq) (int, any, error) {
	r := l.r
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be a form.")
	}
	// Failed credentials are counted per (principal, TCP peer): see
	// directory/lockout.go.
	r = r.WithContext(directory.WithSource(r.Context(), r.RemoteAddr))
	l.r = r
	f := r.PostForm
	clientID := strings.TrimSpace(f.Get("client_id"))
	secret := f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	tid, err := s.grantTenant(l, clientID)
	if err != nil {
		return 0, nil, err
	}
	switch f.Get("grant_type") {
	case "client_credentials":
		return s.clientCredentials(l, tid, clientID, secret)
	case "password":
		return s.passwordGrant(l, tid, clientID, secret)
	case "refresh_token":
		return s.refreshGrant(l, tid, clientID, secret)
	case "authorization_code":
		return s.codeGrant(l, tid, clientID)
	case deviceGrantType:
		return s.deviceGrant(l, tid, clientID)
	}
	return 0, nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The grant type is not supported.")
}

// grantTenant is the tenant of the path, or, on the tenant-less /adfs
// endpoints, the tenant of the user's domain or of the client id.
func (s *Server) grantTenant(l *loginReq, clientID string) (string, error) {
	r := l.r
	if !strings.HasPrefix(r.URL.Path, "/adfs/") {
		return s.tenantOf(l)
	}
	if _, domain, ok := strings.Cut(r.PostForm.Get("username"), "@"); ok {
		if tid, err := s.dir.TenantOfDomain(r.Context(), strings.TrimSpace(domain)); err == nil {
			return tid, nil
		}
	}
	if tid, err := s.dir.TenantOfClient(r.Context(), clientID); err == nil {
		return tid, nil
	}
	if rt := r.PostForm.Get("refresh_token"); rt != "" {
		// The tenant of a refresh token is checked on redemption.
		return "", nil
	}
	if r.PostForm.Get("grant_type") == "password" {
		// Unknown domain: answer exactly as for a wrong password.
		_, _ = s.dir.AuthenticatePassword(r.Context(), "", r.PostForm.Get("username"), r.PostForm.Get("password"))
		return "", credentialError(directory.ErrBadCredential, true)
	}
	return "", credentialError(directory.ErrBadCredential, false)
}

func (s *Server) clientCredentials(l *loginReq, tid, clientID, secret string) (int, any, error) {
	r := l.r
	f := r.PostForm
	audience, ok := s.audienceOf(f.Get("scope"))
	if !ok {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must be a resource of this server followed by /.default.")
	}
	var sp *directory.ServicePrincipal
	var err error
	switch {
	case f.Get("client_assertion_type") == jwtBearer && f.Get("client_assertion") != "" && secret == "":
		sp, err = s.assertionClient(r, tid, clientID, f.Get("client_assertion"))
	case secret != "" && f.Get("client_assertion") == "":
		sp, err = s.dir.AuthenticateSecret(r.Context(), tid, clientID, secret)
	default:
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_client", "AADSTS7000218: The request must contain client_secret or client_assertion.")
	}
	if err != nil {
		return 0, nil, credentialError(err, false)
	}
	c, err := s.principalClaims(r.Context(), tid, sp.ObjectID, audience)
	if err != nil {
		return 0, nil, credentialError(err, false)
	}
	c.AppID, c.Azp, c.IDType, c.Name = sp.AppID, sp.AppID, token.IDTypeApp, sp.DisplayName
	return s.issueAccess(l, c, nil)
}

// assertionClient authenticates a client by a signed assertion: its own
// certificate (iss = client id), or a federated credential's external
// issuer.
func (s *Server) assertionClient(r *http.Request, tid, clientID, assertion string) (*directory.ServicePrincipal, error) {
	sp, app, err := s.dir.ClientCredentials(r.Context(), tid, clientID)
	if err != nil {
		return nil, err
	}
	if assertionIssuer(assertion) == clientID {
		var creds []token.CertCredential
		for _, k := range app.KeyCredentials {
			cert, err := x509.ParseCertificate(k.Cert)
			if err != nil {
				continue
			}
			creds = append(creds, token.CertCredential{Cert: cert, Thumbprint: k.Thumbprint, ThumbprintS256: k.ThumbprintS256, Start: k.Start, End: k.End})
		}
		jti, exp, err := token.VerifyClientAssertion(assertion, clientID, s.tokenEndpoints(tid), creds, s.verifier.Now())
		if err != nil || s.verifier.AssertionReplayed(clientID, jti, exp) {
			s.dir.ClientFailed(r.Context(), tid, clientID)
			return nil, directory.ErrBadCredential
		}
		s.dir.ClientSucceeded(r.Context(), tid, clientID)
		return sp, nil
	}
	_, _, err = s.verifier.VerifyFederated(r.Context(), assertion, func(iss, sub string) (string, bool) {
		for _, fc := range app.FederatedCredentials {
			if fc.Issuer == iss && fc.Subject == sub && len(fc.Audiences) == 1 {
				return fc.Audiences[0], true
			}
		}
		return "", false
	})
	if err != nil {
		s.dir.ClientFailed(r.Context(), tid, clientID)
		return nil, directory.ErrBadCredential
	}
	s.dir.ClientSucceeded(r.Context(), tid, clientID)
	return sp, nil
}

// assertionIssuer reads the unverified iss of a JWT, only to tell a
// certificate assertion from a federated one; both paths verify fully.
func assertionIssuer(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(raw) > token.MaxTokenBytes {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	_ = json.Unmarshal(b, &c)
	return c.Iss
}

// passwordGrant signs a user in with UPN and password through a public
// client (or a confidential client that also proves its secret).
func (s *Server) passwordGrant(l *loginReq, tid, clientID, secret string) (int, any, error) {
	r := l.r
	f := r.PostForm
	audience, ok := s.audienceOf(f.Get("scope"))
	if !ok {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must be a resource of this server followed by /.default.")
	}
	if secret != "" {
		if _, err := s.dir.AuthenticateSecret(r.Context(), tid, clientID, secret); err != nil {
			return 0, nil, credentialError(err, false)
		}
	} else if !s.dir.PublicClient(r.Context(), tid, clientID) {
		return 0, nil, oauthErr(http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The client is not a public client; it must present a credential.")
	}
	u, err := s.dir.AuthenticatePassword(r.Context(), tid, f.Get("username"), f.Get("password"))
	s.noteUsername(l, tid, f.Get("username"), u)
	if err != nil {
		return 0, nil, credentialError(err, true)
	}
	return s.userToken(l, u, clientID, audience)
}

func (s *Server) userToken(l *loginReq, u *directory.User, clientID, audience string) (int, any, error) {
	r := l.r
	c, err := s.principalClaims(r.Context(), u.TenantID, u.ID, audience)
	if err != nil {
		return 0, nil, credentialError(err, true)
	}
	c.AppID, c.Azp, c.IDType, c.UPN, c.Name, c.Scope = clientID, clientID, token.IDTypeUser, u.UserPrincipalName, u.DisplayName, "user_impersonation"
	extra, err := s.userExtras(r.Context(), r, u, clientID, audience)
	if err != nil {
		return 0, nil, credentialError(err, true)
	}
	return s.issueAccess(l, c, extra)
}

// refreshGrant redeems a refresh token (once) for a new access token and
// refresh token, if the user is still enabled and has not changed the
// password since the token was issued. The client authenticates as for
// the original grant (refreshclient.go) before the token is consumed.
func (s *Server) refreshGrant(l *loginReq, tid, clientID, secret string) (int, any, error) {
	r := l.r
	f := r.PostForm
	audience, ok := s.audienceOf(f.Get("scope"))
	if !ok {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must be a resource of this server followed by /.default.")
	}
	if err := s.refreshClient(r, tid, clientID, secret); err != nil {
		return 0, nil, credentialError(err, false)
	}
	g, err := s.issuer.RedeemRefreshToken(r.Context(), f.Get("refresh_token"))
	if err != nil || (tid != "" && g.TenantID != tid) || !strings.EqualFold(g.ClientID, clientID) || (g.Confidential && secret == "") {
		if err != nil && !errors.Is(err, token.ErrInvalid) {
			return 0, nil, oauthErr(http.StatusInternalServerError, "server_error", "The token could not be issued.")
		}
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS70000: The refresh token is invalid or expired.")
	}
	u, err := s.dir.User(r.Context(), g.TenantID, g.ObjectID)
	if err != nil || !u.AccountEnabled || g.Issued.Before(u.PasswordChanged) {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS70000: The refresh token is invalid or expired.")
	}
	return s.userToken(l, u, clientID, audience)
}
