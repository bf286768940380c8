package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// The token issuer on login.<domain>: OIDC discovery, JWKS and the
// OAuth2 token endpoint, in the Microsoft identity platform's shapes
// (grants in grants.go, the pipeline plane in login_plane.go). The /adfs
// paths are the same issuer seen through an ADFS-style authority, which
// MSAL uses without instance discovery (az's only way to log in without
// the internet); there the tenant is inferred from the client id or the
// user's domain.

// loginRoute is one login.<domain> (or managed identity endpoint)
// operation, declared as data.
type loginRoute struct {
	Method  string
	Pattern string
	Handle  func(*Server, *loginReq) (int, any, error)
}

// loginRouteSpec is the router's view of a loginRoute.
func loginRouteSpec(r *loginRoute) (string, string) { return r.Method, r.Pattern }

// loginRoutes is the login.<domain> route table.
func loginRoutes() []loginRoute {
	return []loginRoute{
		{Method: "GET", Pattern: "/{tenant}/v2.0/.well-known/openid-configuration", Handle: (*Server).discovery},
		{Method: "GET", Pattern: "/{tenant}/.well-known/openid-configuration", Handle: (*Server).discovery},
		{Method: "GET", Pattern: "/{tenant}/discovery/v2.0/keys", Handle: (*Server).jwks},
		{Method: "GET", Pattern: "/{tenant}/discovery/keys", Handle: (*Server).jwks},
		{Method: "POST", Pattern: "/{tenant}/oauth2/v2.0/token", Handle: (*Server).tokenEndpoint},
		{Method: "GET", Pattern: "/{tenant}/oauth2/v2.0/authorize", Handle: (*Server).authorizePage},
		{Method: "POST", Pattern: "/{tenant}/oauth2/v2.0/authorize", Handle: (*Server).authorizeSubmit},
		{Method: "POST", Pattern: "/{tenant}/oauth2/v2.0/devicecode", Handle: (*Server).deviceCodeEndpoint},
		{Method: "GET", Pattern: "/{tenant}/oauth2/v2.0/deviceauth", Handle: (*Server).devicePage},
		{Method: "POST", Pattern: "/{tenant}/oauth2/v2.0/deviceauth", Handle: (*Server).deviceSubmit},
		{Method: "POST", Pattern: "/{tenant}/oauth2/token", Handle: (*Server).tokenEndpoint},
		{Method: "GET", Pattern: "/adfs/.well-known/openid-configuration", Handle: (*Server).adfsDiscovery},
		{Method: "GET", Pattern: "/adfs/discovery/keys", Handle: (*Server).adfsKeys},
		{Method: "POST", Pattern: "/adfs/oauth2/v2.0/token", Handle: (*Server).tokenEndpoint},
		{Method: "POST", Pattern: "/adfs/oauth2/token", Handle: (*Server).tokenEndpoint},
		// MSAL's discovery and user realm calls (login_compat.go).
		{Method: "GET", Pattern: "/{tenant}/discovery/instance", Handle: (*Server).instanceDiscovery},
		{Method: "GET", Pattern: "/{tenant}/{realm}/{upn}", Handle: (*Server).userRealm},
	}
}

// loginReq is what a login.<domain> handler sees.
type loginReq struct {
	r      *http.Request
	params Params
	ev     *AuditEvent // the handler names the identity a token is issued to
}

// issuerURL is the issuer of tid's tokens.
func (s *Server) issuerURL(tid string) string { return IssuerURL(s.cfg.URL("login"), tid) }

// IssuerURL is exported for the composition root's verifier.
func IssuerURL(loginURL, tid string) string { return loginURL + "/" + tid + "/v2.0" }

// tenantOf resolves the {tenant} path segment: a tenant id or one of its
// verified domains.
func (s *Server) tenantOf(l *loginReq) (string, error) {
	t, err := s.dir.Tenant(l.r.Context(), l.params["tenant"])
	if ae := oauthStoreError(err); ae != nil { // no verdict: the store did not answer
		return "", ae
	}
	if err != nil {
		return "", oauthErr(http.StatusBadRequest, "invalid_tenant", "AADSTS90002: Tenant not found.")
	}
	return t.ID, nil
}

func (s *Server) discovery(l *loginReq) (int, any, error) {
	tid, err := s.tenantOf(l)
	if err != nil {
		return 0, nil, err
	}
	base := s.cfg.URL("login") + "/" + tid
	return http.StatusOK, s.metadata(s.issuerURL(tid), base), nil
}

func (s *Server) metadata(issuer, base string) map[string]any {
	return map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "token id_token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "password", "refresh_token", deviceGrantType},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "upn", "name", "groups", "idtyp", "appid", "azp"},
		"tenant_region_scope":                   "mhsm",
	}
}

func (s *Server) adfsDiscovery(*loginReq) (int, any, error) {
	base := s.cfg.URL("login") + "/adfs"
	md := s.metadata(base, base)
	md["jwks_uri"] = base + "/discovery/keys"
	return http.StatusOK, md, nil
}

// adfsKeys is empty: tokens are signed per tenant, and their keys are
// published at /{tenant}/discovery/v2.0/keys.
func (s *Server) adfsKeys(*loginReq) (int, any, error) {
	return http.StatusOK, map[string]any{"keys": []any{}}, nil
}

func (s *Server) jwks(l *loginReq) (int, any, error) {
	tid, err := s.tenantOf(l)
	if err != nil {
		return 0, nil, err
	}
	set, err := s.issuer.JWKS(l.r.Context(), tid)
	if err != nil {
		return 0, nil, oauthErr(http.StatusInternalServerError, "server_error", "The key set is unavailable.")
	}
	return http.StatusOK, set, nil
}

// tokenEndpoints are the URLs a client assertion's aud may name for tid.
func (s *Server) tokenEndpoints(tid string) []string {
	l := s.cfg.URL("login")
	return []string{l + "/" + tid + "/oauth2/v2.0/token", l + "/" + tid + "/oauth2/token",
		l + "/adfs/oauth2/v2.0/token", l + "/adfs/oauth2/token"}
}

// audienceOf picks the resource from a scope list: the first scope ending
// in "/.default" whose resource is one of this server's (data plane,
// management, graph). Extra OIDC scopes are ignored.
func (s *Server) audienceOf(scope string) (string, bool) {
	for _, sc := range strings.Fields(scope) {
		res, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			continue
		}
		if aud, ok := s.resourceAudience(res); ok {
			return aud, true
		}
	}
	return "", false
}

// resourceAudience maps a resource URI (with or without trailing slashes)
// to the canonical audience of one of this server's resources.
func (s *Server) resourceAudience(res string) (string, bool) {
	res = strings.TrimRight(res, "/")
	for _, k := range []string{s.cfg.URL("managedhsm"), s.cfg.URL("management"), s.cfg.URL("graph")} {
		if strings.EqualFold(res, k) {
			return k, true
		}
	}
	return s.aliasAudience(res) // login_compat.go
}

// principalClaims builds the access-token claims of a directory principal
// for audience, including its transitive groups (with the overage rule).
func (s *Server) principalClaims(ctx context.Context, tid, oid, audience string) (token.Claims, error) {
	c := token.Claims{TenantID: tid, ObjectID: oid}
	c.Issuer, c.Subject, c.Audience = s.issuerURL(tid), oid, []string{audience}
	groups, err := s.dir.TransitiveMemberOf(ctx, tid, oid)
	if err != nil {
		return c, err
	}
	if len(groups) > token.MaxGroupsInToken {
		c.ClaimNames = map[string]string{"groups": "src1"}
		c.ClaimSources = map[string]map[string]string{"src1": {
			"endpoint": s.cfg.URL("graph") + "/v1.0/directoryObjects/" + oid + "/getMemberObjects"}}
	} else {
		c.Groups = append([]string(nil), groups...)
	}
	return c, nil
}

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// issueAccess signs c and answers the token response; extra fills the
// user-only fields.
func (s *Server) issueAccess(l *loginReq, c token.Claims, extra *tokenResponse) (int, any, error) {
	raw, _, err := s.issuer.Issue(l.r.Context(), c, s.cfg.TokenLifetime)
	if err != nil {
		return 0, nil, oauthErr(http.StatusInternalServerError, "server_error", "The token could not be issued.")
	}
	l.ev.setCaller(&c) // the token request's record names the identity
	secs := int(s.cfg.TokenLifetime.Seconds())
	resp := tokenResponse{}
	if extra != nil {
		resp = *extra
	}
	resp.TokenType, resp.ExpiresIn, resp.ExtExpiresIn, resp.AccessToken = "Bearer", secs, secs, raw
	return http.StatusOK, resp, nil
}

// userExtras makes the refresh token, id_token and client_info of a user
// sign-in, as the request asks.
func (s *Server) userExtras(ctx context.Context, r *http.Request, u *directory.User, clientID, audience string) (*tokenResponse, error) {
	out := &tokenResponse{Scope: grantedScope(r.PostForm.Get("scope"), audience)}
	if s.cfg.RefreshTokenLifetime > 0 {
		rt, err := s.issuer.NewRefreshToken(ctx, token.RefreshGrant{TenantID: u.TenantID, ObjectID: u.ID, ClientID: strings.ToLower(clientID),
			Confidential: clientSecretPresented(r)}, s.cfg.RefreshTokenLifetime)
		if err != nil {
			return nil, err
		}
		out.RefreshToken = rt
	}
	scopes := " " + r.PostForm.Get("scope") + " "
	if strings.Contains(scopes, " openid ") {
		now := s.issuer.Now() // the business clock (internal/clock)
		idt, err := s.issuer.SignJWT(ctx, u.TenantID, map[string]any{
			"iss": s.issuerURL(u.TenantID), "sub": u.ID, "aud": clientID, "tid": u.TenantID, "oid": u.ID,
			"preferred_username": u.UserPrincipalName, "name": u.DisplayName, "ver": "2.0",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.cfg.TokenLifetime).Unix(),
		})
		if err != nil {
			return nil, err
		}
		out.IDToken = idt
	}
	if r.PostForm.Get("client_info") == "1" {
		b, _ := json.Marshal(map[string]string{"uid": u.ID, "utid": u.TenantID})
		out.ClientInfo = base64.RawURLEncoding.EncodeToString(b)
	}
	return out, nil
}

// oauthErr is an OAuth2 error: {"error": code, "error_description": desc}.
func oauthErr(status int, code, desc string) error {
	return &apiError{Status: status, Code: code, Message: desc}
}

// writeOAuthError writes e in OAuth2's shape.
func writeOAuthError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]any{"error": e.Code, "error_description": e.Message})
}

// credentialError answers a failed credential check without saying which
// part was wrong.
func credentialError(err error, user bool) error {
	if ae := oauthStoreError(err); ae != nil { // no verdict on the credential
		return ae
	}
	switch {
	case errors.Is(err, directory.ErrLocked):
		return oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS50053: Too many failed sign-in attempts. Try again later.")
	case errors.Is(err, directory.ErrBadCredential) && user:
		return oauthErr(http.StatusBadRequest, "invalid_grant", "AADSTS50126: Error validating credentials due to invalid username or password.")
	case errors.Is(err, directory.ErrBadCredential) || errors.Is(err, token.ErrInvalid):
		return oauthErr(http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client credentials provided.")
	}
	return oauthErr(http.StatusInternalServerError, "server_error", "The token could not be issued.")
}
