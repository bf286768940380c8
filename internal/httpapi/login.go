package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// loginMux serves the token issuer on login.<domain>: OIDC discovery,
// JWKS and the OAuth2 token endpoint, in the Microsoft identity platform's
// shapes (grants in grants.go). The /adfs paths are the same issuer seen
// through an ADFS-style authority, which MSAL uses without instance
// discovery (az's only way to log in without the internet); there the
// tenant is inferred from the client id or the user's domain.
func (s *Server) loginMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery)
	m.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.discovery)
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks)
	m.HandleFunc("GET /{tenant}/discovery/keys", s.jwks)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.tokenEndpoint)
	m.HandleFunc("POST /{tenant}/oauth2/token", s.tokenEndpoint)
	m.HandleFunc("GET /adfs/.well-known/openid-configuration", s.adfsDiscovery)
	m.HandleFunc("GET /adfs/discovery/keys", s.adfsKeys)
	m.HandleFunc("POST /adfs/oauth2/v2.0/token", s.tokenEndpoint)
	m.HandleFunc("POST /adfs/oauth2/token", s.tokenEndpoint)
	s.loginCompatRoutes(m) // login_compat.go
	return m
}

// issuerURL is the issuer of tid's tokens.
func (s *Server) issuerURL(tid string) string { return IssuerURL(s.cfg.URL("login"), tid) }

// IssuerURL is exported for the composition root's verifier.
func IssuerURL(loginURL, tid string) string { return loginURL + "/" + tid + "/v2.0" }

// tenantOr404 resolves the {tenant} path segment: a tenant id or one of
// its verified domains.
func (s *Server) tenantOr404(w http.ResponseWriter, r *http.Request) (string, bool) {
	t, err := s.dir.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_tenant", "AADSTS90002: Tenant not found.")
		return "", false
	}
	return t.ID, true
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	tid, ok := s.tenantOr404(w, r)
	if !ok {
		return
	}
	base := s.cfg.URL("login") + "/" + tid
	writeJSON(w, http.StatusOK, s.metadata(s.issuerURL(tid), base))
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
		"grant_types_supported":                 []string{"client_credentials", "password", "refresh_token"},
		"scopes_supported":                      []string{"openid", "profile", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "upn", "name", "groups", "idtyp", "appid", "azp"},
		"tenant_region_scope":                   "mhsm",
	}
}

func (s *Server) adfsDiscovery(w http.ResponseWriter, _ *http.Request) {
	base := s.cfg.URL("login") + "/adfs"
	md := s.metadata(base, base)
	md["jwks_uri"] = base + "/discovery/keys"
	writeJSON(w, http.StatusOK, md)
}

// adfsKeys is empty: tokens are signed per tenant, and their keys are
// published at /{tenant}/discovery/v2.0/keys.
func (s *Server) adfsKeys(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	tid, ok := s.tenantOr404(w, r)
	if !ok {
		return
	}
	set, err := s.issuer.JWKS(r.Context(), tid)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "The key set is unavailable.")
		return
	}
	writeJSON(w, http.StatusOK, set)
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

// issueAccess signs c and writes the token response; extra fills the
// user-only fields.
func (s *Server) issueAccess(w http.ResponseWriter, r *http.Request, c token.Claims, extra *tokenResponse) {
	raw, _, err := s.issuer.Issue(r.Context(), c, s.cfg.TokenLifetime)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	noteIdentity(r.Context(), &c) // audit.go: the token request's record names the identity
	secs := int(s.cfg.TokenLifetime.Seconds())
	resp := tokenResponse{}
	if extra != nil {
		resp = *extra
	}
	resp.TokenType, resp.ExpiresIn, resp.ExtExpiresIn, resp.AccessToken = "Bearer", secs, secs, raw
	writeJSON(w, http.StatusOK, resp)
}

// userExtras makes the refresh token, id_token and client_info of a user
// sign-in, as the request asks.
func (s *Server) userExtras(ctx context.Context, r *http.Request, u *directory.User, clientID, audience string) (*tokenResponse, error) {
	out := &tokenResponse{Scope: grantedScope(r.PostForm.Get("scope"), audience)}
	if s.cfg.RefreshTokenLifetime > 0 {
		rt, err := s.issuer.NewRefreshToken(ctx, token.RefreshGrant{TenantID: u.TenantID, ObjectID: u.ID, ClientID: strings.ToLower(clientID)}, s.cfg.RefreshTokenLifetime)
		if err != nil {
			return nil, err
		}
		out.RefreshToken = rt
	}
	scopes := " " + r.PostForm.Get("scope") + " "
	if strings.Contains(scopes, " openid ") {
		now := time.Now()
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

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

// credentialError answers a failed credential check without saying which
// part was wrong.
func credentialError(w http.ResponseWriter, err error, user bool) {
	switch {
	case errors.Is(err, directory.ErrLocked):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50053: Too many failed sign-in attempts. Try again later.")
	case errors.Is(err, directory.ErrBadCredential) && user:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50126: Error validating credentials due to invalid username or password.")
	case errors.Is(err, directory.ErrBadCredential) || errors.Is(err, token.ErrInvalid):
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client credentials provided.")
	default:
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
	}
}
