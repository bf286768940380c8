package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/audit"
)

// login.<domain> and the managed identity endpoint in the edge pipeline
// (edge.go). Token issuance — every POST on login.<domain> and every call
// of the managed identity endpoint — is audited into the server chain
// with the client id (as is when a GUID, HMAC'd otherwise), grant type,
// outcome and, on success, the identity issued; secrets, passwords,
// assertions, identity headers never. Discovery and JWKS GETs (public
// metadata) are not audited. Neither plane has bearer tokens: the grant
// is the authentication, checked by the handler.

// loginState is a login request's route.
type loginState struct {
	rt     *loginRoute
	params Params
}

// loginPlane is login.<domain>.
func (s *Server) loginPlane() *plane[loginState] {
	return s.issuancePlane(s.loginR, false, writeOAuthError, func(r *http.Request) string {
		if !strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/token") {
			return "LoginRequest"
		}
		return "TokenRequest"
	})
}

// msiPlane is the managed identity endpoint.
func (s *Server) msiPlane() *plane[loginState] {
	return s.issuancePlane(s.msiR, true, writeMSIError, func(*http.Request) string { return "ManagedIdentityTokenRequest" })
}

// serveLogin serves login.<domain>.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	serve(s, s.loginP, w, r, loginState{})
}

// issuancePlane is a token-issuing plane routed by rt whose errors are
// written by write; op names a request's operation. Only POSTs are
// audited unless auditAll (every call issues a token).
func (s *Server) issuancePlane(rt *router[loginRoute], auditAll bool, write func(http.ResponseWriter, *apiError), op func(*http.Request) string) *plane[loginState] {
	return &plane[loginState]{
		newEvent: issuanceEvent,
		begin: func(w http.ResponseWriter, x *exchange[loginState]) error {
			r := x.r
			if !auditAll && r.Method != http.MethodPost {
				x.unaudited = true // public metadata
			} else {
				w.Header().Set("x-ms-request-id", x.ev.RequestID)
			}
			x.ev.Operation = op(r)
			method := r.Method
			if method == http.MethodHead {
				method = http.MethodGet
			}
			segs, err := splitPath(r.URL.EscapedPath())
			if err != nil {
				return &apiError{Status: http.StatusNotFound, Message: "404 page not found"}
			}
			route, params, exists := rt.match(method, segs)
			if route == nil {
				if exists {
					return &apiError{Status: http.StatusMethodNotAllowed, Message: "Method Not Allowed"}
				}
				return &apiError{Status: http.StatusNotFound, Message: "404 page not found"}
			}
			x.state = loginState{rt: route, params: params}
			return nil
		},
		authenticate: noAuth[loginState],
		authorize:    noAuthz[loginState],
		act: func(x *exchange[loginState]) (int, any, error) {
			return x.state.rt.Handle(s, &loginReq{r: x.r, params: x.state.params, ev: x.ev})
		},
		answer: func(x *exchange[loginState], err error) *apiError {
			var ae *apiError
			if errors.As(err, &ae) {
				return ae
			}
			slog.Error("internal error", "activity", x.ev.RequestID, "plane", "login", "err", err)
			return &apiError{Status: http.StatusInternalServerError, Code: "server_error", Message: "The token could not be issued."}
		},
		internal: func() *apiError {
			return &apiError{Status: http.StatusInternalServerError, Code: "server_error", Message: "The server encountered an internal error."}
		},
		writeError: func(w http.ResponseWriter, _ *exchange[loginState], e *apiError) {
			if e.Code == "" { // unknown path or method: as net/http answers
				http.Error(w, e.Message, e.Status)
				return
			}
			write(w, e)
		},
		unavailable:      oauthUnavailable,
		writeUnavailable: writeOAuthError,
		finish: func(x *exchange[loginState], _ int) {
			describeTokenRequest(x.ev, x.r, x.state.params)
		},
	}
}

// issuanceEvent starts the audit event of a token request: no query in
// the URI, no method, no token hash.
func issuanceEvent(_ *Server, x *exchange[loginState], start time.Time) *AuditEvent {
	r := x.r
	ev := &AuditEvent{Time: start.UTC(), RequestID: uuid.NewString(), ClientIP: clientIP(r), ClientInfo: r.UserAgent(),
		RequestURI: (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path}).String(), issuance: true}
	if c := r.Header.Get("client-request-id"); isGUID(c) {
		ev.CorrelationID = c
	}
	return ev
}

// oauthUnavailable is the OAuth2-shaped answer when the audit log cannot
// record (token endpoints and Graph).
func oauthUnavailable() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Message: "The audit log cannot be written; the request was not processed."}
}

var (
	grantPattern    = regexp.MustCompile(`^[A-Za-z0-9_:.\-]{1,96}$`)
	upnPattern      = regexp.MustCompile(`^[^\s@]{1,64}@[A-Za-z0-9.\-]{1,128}$`)
	resourcePattern = regexp.MustCompile(`^https://[A-Za-z0-9.\-]+(:[0-9]{1,5})?/?$`)
)

// describeTokenRequest adds what may be recorded about a token request:
// the tenant, grant type, client id (HMAC'd when it does not look like an
// identifier), user name (HMAC'd unless it names a user: auditupn.go),
// and the OAuth error code.
func describeTokenRequest(e *AuditEvent, r *http.Request, params Params) {
	if e.Properties == nil {
		e.Properties = map[string]string{}
	}
	if t := params["tenant"]; audit.IsGUID(t) {
		e.TenantID = strings.ToLower(t)
	} else if t != "" && len(t) <= 128 && upnPattern.MatchString("x@"+t) {
		e.Properties["tenant"] = t
	}
	f := r.PostForm // parsed by the handler; nil if it never got that far
	if gt := f.Get("grant_type"); grantPattern.MatchString(gt) {
		e.Properties["grantType"] = gt
	}
	clientID := f.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		clientID = u
	}
	if q := r.URL.Query(); clientID == "" && r.Method == http.MethodGet {
		clientID = q.Get("client_id") // managed identity endpoint
		if res := q.Get("resource"); resourcePattern.MatchString(res) {
			e.Properties["resource"] = res
		}
	}
	switch {
	case clientID == "":
	case audit.IsGUID(clientID):
		e.Properties["clientId"] = strings.ToLower(clientID)
	default:
		e.hash("clientIdHash", clientID)
	}
	switch u := f.Get("username"); {
	case u == "":
	case knownUsername(e, u):
		e.Properties["username"] = u
	default:
		e.hash("usernameHash", u)
	}
}
