package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// loginMux serves the token issuer on login.<domain>: OIDC discovery,
// JWKS and the OAuth2 token endpoint, in the Microsoft identity platform's
// shapes.
func (s *Server) loginMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery)
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.tokenEndpoint)
	return m
}

// issuerURL is the issuer of tid's tokens.
func (s *Server) issuerURL(tid string) string { return s.cfg.URL("login") + "/" + tid + "/v2.0" }

// IssuerURL is exported for the composition root's verifier.
func IssuerURL(loginURL, tid string) string { return loginURL + "/" + tid + "/v2.0" }

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
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.issuerURL(tid),
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "token id_token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials"},
		"tenant_region_scope":                   "mhsm",
	})
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

// tokenEndpoint implements grant_type=client_credentials with a client
// secret (form field or HTTP Basic).
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	tid, ok := s.tenantOr404(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be a form.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The grant type is not supported.")
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	audience, ok := s.audienceOf(r.PostForm.Get("scope"))
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must be a resource of this server followed by /.default.")
		return
	}
	sp, err := s.dir.AuthenticateSecret(r.Context(), tid, clientID, secret)
	if err != nil {
		if errors.Is(err, directory.ErrBadCredential) {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
			return
		}
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	c := token.Claims{TenantID: tid, ObjectID: sp.ObjectID, AppID: sp.AppID, Azp: sp.AppID, IDType: "app"}
	c.Issuer, c.Subject, c.Audience = s.issuerURL(tid), sp.ObjectID, []string{audience}
	raw, _, err := s.issuer.Issue(r.Context(), c, s.cfg.TokenLifetime)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	secs := int(s.cfg.TokenLifetime.Seconds())
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": raw})
}

// audienceOf picks the resource from a scope list: the first scope ending
// in "/.default" whose resource is one of this server's (data plane,
// management, graph). Extra OIDC scopes are ignored.
func (s *Server) audienceOf(scope string) (string, bool) {
	known := []string{s.cfg.URL("managedhsm"), s.cfg.URL("management"), s.cfg.URL("graph")}
	for _, sc := range strings.Fields(scope) {
		res, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			continue
		}
		res = strings.TrimRight(res, "/")
		for _, k := range known {
			if strings.EqualFold(res, k) {
				return k, true
			}
		}
	}
	return "", false
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}
