package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/mhsm/mhsm/internal/token"
)

// MSIHandler is the managed identity endpoint, App Service style, served
// on its own plain-HTTP loopback listener (--msi-addr): a workload given
// IDENTITY_ENDPOINT=http://<msi-addr>/msi/token and IDENTITY_HEADER=<the
// identity's header> gets tokens as that managed identity with
// azidentity.ManagedIdentityCredential, unchanged:
//
//	GET /msi/token?api-version=2019-08-01&resource=<resource>
//	X-IDENTITY-HEADER: <header>
//	→ {"access_token","expires_on":"<epoch>","resource","token_type":"Bearer","client_id"}
//
// The older api-version 2017-09-01 with a "secret" header (MSI_ENDPOINT +
// MSI_SECRET) works too. The header alone selects the identity; optional
// client_id / principal_id / object_id parameters must then name that
// same identity.
func (s *Server) MSIHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /msi/token", s.msiToken)
	m.HandleFunc("GET /msi/token/", s.msiToken)
	// audit.go: every call is audited (server chain) before it is answered.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.auditTokenRequest(w, r, m, "ManagedIdentityTokenRequest")
	})
}

func (s *Server) msiToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	header := r.Header.Get("X-IDENTITY-HEADER")
	if header == "" {
		header = r.Header.Get("secret")
	}
	if header == "" {
		msiError(w, http.StatusBadRequest, "The request has no X-IDENTITY-HEADER.")
		return
	}
	res := q.Get("resource")
	if res == "" {
		res = strings.TrimSuffix(q.Get("scope"), "/.default")
	}
	audience, ok := s.resourceAudience(res)
	if !ok {
		msiError(w, http.StatusBadRequest, "The resource is not one of this server's resources.")
		return
	}
	mi, sp, err := s.dir.AuthenticateIdentityHeader(r.Context(), header)
	if err != nil {
		msiError(w, http.StatusUnauthorized, "The identity header is not valid.")
		return
	}
	for _, p := range []struct{ name, want string }{{"client_id", mi.ClientID}, {"principal_id", mi.PrincipalID}, {"object_id", mi.PrincipalID}} {
		if v := q.Get(p.name); v != "" && !strings.EqualFold(v, p.want) {
			msiError(w, http.StatusBadRequest, "The requested identity is not the one bound to this header.")
			return
		}
	}
	c, err := s.principalClaims(r.Context(), mi.TenantID, sp.ObjectID, audience)
	if err != nil {
		msiError(w, http.StatusInternalServerError, "The token could not be issued.")
		return
	}
	c.AppID, c.Azp, c.IDType, c.Name = sp.AppID, sp.AppID, token.IDTypeApp, sp.DisplayName
	raw, exp, err := s.issuer.Issue(r.Context(), c, s.cfg.TokenLifetime)
	if err != nil {
		msiError(w, http.StatusInternalServerError, "The token could not be issued.")
		return
	}
	noteIdentity(r.Context(), &c) // audit.go
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": raw, "expires_on": strconv.FormatInt(exp.Unix(), 10), "resource": res,
		"token_type": "Bearer", "client_id": mi.ClientID,
	})
}

func msiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "error": http.StatusText(status), "error_description": msg})
}
