package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/token"
)

// codeGrant redeems an authorization code (login_authorize.go): the code
// is consumed once, and is good only for the client, redirect URI and
// PKCE verifier it was issued for, and only while the user can still sign
// in. Every refusal is the same invalid_grant.
func (s *Server) codeGrant(l *loginReq, tid, clientID string) (int, any, error) {
	r := l.r
	f := r.PostForm
	audience, ok := s.audienceOf(f.Get("scope"))
	if !ok {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must be a resource of this server followed by /.default.")
	}
	bad := oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS70000: The authorization code is invalid or expired.")
	g, err := s.issuer.RedeemAuthCode(r.Context(), f.Get("code"))
	if err != nil {
		if !errors.Is(err, token.ErrInvalid) {
			return 0, nil, oauthErr(http.StatusInternalServerError, "server_error", "The token could not be issued.")
		}
		return 0, nil, bad
	}
	if g.TenantID != tid || !strings.EqualFold(g.ClientID, strings.TrimSpace(clientID)) || g.RedirectURI != f.Get("redirect_uri") ||
		!token.VerifyPKCE(f.Get("code_verifier"), g.Challenge) {
		return 0, nil, bad
	}
	u, err := s.dir.User(r.Context(), g.TenantID, g.ObjectID)
	if err != nil || !u.AccountEnabled || g.Issued.Before(u.PasswordChanged) {
		return 0, nil, bad
	}
	return s.userToken(l, u, g.ClientID, audience)
}
