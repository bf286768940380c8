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
	// Every call is audited (server chain) before it is answered.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve(s, s.msiP, w, r, loginState{})
	})
}

// msiRoutes is the managed identity endpoint's route table.
func msiRoutes() []loginRoute {
	return []loginRoute{{Method: "GET", Pattern: "/msi/token", Handle: (*Server).msiToken}}
}

func (s *Server) msiToken(l *loginReq) (int, any, error) {
	r := l.r
	q := r.URL.Query()
	header := r.Header.Get("X-IDENTITY-HEADER")
	if header == "" {
		header = r.Header.Get("secret")
	}
	if header == "" {
		return 0, nil, msiErr(http.StatusBadRequest, "The request has no X-IDENTITY-HEADER.")
	}
	res := q.Get("resource")
	if res == "" {
		res = strings.TrimSuffix(q.Get("scope"), "/.default")
	}
	audience, ok := s.resourceAudience(res)
	if !ok {
		return 0, nil, msiErr(http.StatusBadRequest, "The resource is not one of this server's resources.")
	}
	mi, sp, err := s.dir.AuthenticateIdentityHeader(r.Context(), header)
	if err != nil {
		return 0, nil, msiErr(http.StatusUnauthorized, "The identity header is not valid.")
	}
	for _, p := range []struct{ name, want string }{{"client_id", mi.ClientID}, {"principal_id", mi.PrincipalID}, {"object_id", mi.PrincipalID}} {
		if v := q.Get(p.name); v != "" && !strings.EqualFold(v, p.want) {
			return 0, nil, msiErr(http.StatusBadRequest, "The requested identity is not the one bound to this header.")
		}
	}
	c, err := s.principalClaims(r.Context(), mi.TenantID, sp.ObjectID, audience)
	if err != nil {
		return 0, nil, msiErr(http.StatusInternalServerError, "The token could not be issued.")
	}
	c.AppID, c.Azp, c.IDType, c.Name = sp.AppID, sp.AppID, token.IDTypeApp, sp.DisplayName
	raw, exp, err := s.issuer.Issue(r.Context(), c, s.cfg.TokenLifetime)
	if err != nil {
		return 0, nil, msiErr(http.StatusInternalServerError, "The token could not be issued.")
	}
	l.ev.setCaller(&c) // the record names the identity
	return http.StatusOK, map[string]string{
		"access_token": raw, "expires_on": strconv.FormatInt(exp.Unix(), 10), "resource": res,
		"token_type": "Bearer", "client_id": mi.ClientID,
	}, nil
}

// msiErr is an error of the managed identity endpoint; its code is the
// status text.
func msiErr(status int, msg string) error {
	return &apiError{Status: status, Code: http.StatusText(status), Message: msg}
}

// writeMSIError writes e in the App Service identity endpoint's shape.
func writeMSIError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]any{"statusCode": e.Status, "message": e.Message, "error": http.StatusText(e.Status), "error_description": e.Message})
}
