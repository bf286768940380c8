package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// Graph is a Microsoft Graph v1.0 subset on graph.<domain> for the
// directory, in Graph's JSON shapes, so that msgraph-sdk-go and az work
// against it. Routes are data (graphRoutes in graph_routes.go): each says
// whether it writes. Authorization is by directory role:
//
//   - every enabled user and service principal of the tenant (managed
//     identities included) may read every directory object of its tenant,
//     as Entra ID's default user permissions allow;
//   - only holders of the tenant administrator role may write;
//   - tokens of external issuers get 403: they name no directory object.
//
// Tokens must carry the audience https://graph.<domain>[:port].
// Managed identities, which Azure manages through ARM, are an mhsm
// extension under /mhsm/managedIdentities on the same host.

// graphReq is what a Graph handler sees.
type graphReq struct {
	ctx    context.Context
	r      *http.Request
	tid    string
	caller *token.Claims
	params map[string]string
	query  url.Values
	body   []byte
}

// decode decodes the JSON body into v (unknown fields are ignored, as the
// SDKs send @odata annotations).
func (g *graphReq) decode(v any) error {
	if len(strings.TrimSpace(string(g.body))) == 0 {
		return graphBadRequest("A request body is required.")
	}
	if msg := decodeBody(g.body, v); msg != "" {
		return graphBadRequest(msg)
	}
	return nil
}

func graphBadRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "Request_BadRequest", Message: msg}
}

func graphNotFound() *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "Request_ResourceNotFound", Message: "Resource does not exist or one of its queried reference-property objects are not present."}
}

// graphMaxBody bounds Graph request bodies.
const graphMaxBody = 1 << 20

// graphState is a Graph request's route.
type graphState struct {
	rt     *graphRoute
	params Params
}

// graphPlane is graph.<domain> in the edge pipeline (edge.go):
// authenticate → route → authorize by directory role → act. Records go to
// the server chain under the caller's tenant; their id is Graph's
// request-id.
func (s *Server) graphPlane() *plane[graphState] {
	return &plane[graphState]{
		newEvent:     s.graphEvent,
		begin:        s.graphBegin,
		authFirst:    true,
		authenticate: s.graphAuthenticate,
		authorize:    s.graphAuthorize,
		act:          s.graphAct,
		answer: func(x *exchange[graphState], err error) *apiError {
			return toGraphError(err, x.ev.RequestID)
		},
		internal: func() *apiError {
			return &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "The server encountered an internal error."}
		},
		writeError: func(w http.ResponseWriter, x *exchange[graphState], e *apiError) {
			writeGraphError(w, e, x.ev.RequestID)
		},
		unavailable:      oauthUnavailable,
		writeUnavailable: writeOAuthError,
		finish: func(x *exchange[graphState], _ int) {
			x.ev.TenantID = x.ev.CallerTID
		},
		bareEmpty: true,
	}
}

// serveGraph serves graph.<domain>.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	serve(s, s.graphP, w, r, graphState{})
}

// graphEvent starts the audit event of a Graph request.
func (s *Server) graphEvent(_ *Server, x *exchange[graphState], start time.Time) *AuditEvent {
	r := x.r
	ev := &AuditEvent{Time: start.UTC(), RequestID: uuid.NewString(), Method: r.Method, ClientIP: clientIP(r),
		ClientInfo: r.UserAgent(), RequestURI: publicURI(r, x.q), noTokenHash: true}
	if c := r.Header.Get("client-request-id"); isGUID(c) {
		ev.CorrelationID = c
	}
	return ev
}

// graphBegin sets Graph's id headers and routes.
func (s *Server) graphBegin(w http.ResponseWriter, x *exchange[graphState]) error {
	r := x.r
	w.Header().Set("request-id", x.ev.RequestID)
	w.Header().Set("client-request-id", r.Header.Get("client-request-id"))
	w.Header().Set("x-ms-request-id", x.ev.RequestID)
	x.ev.Operation = "GraphRequest"
	segs, err := graphSegments(r.URL.EscapedPath())
	if err != nil {
		return graphBadRequest("The request path is invalid.")
	}
	rt, params, exists := s.graph.match(r.Method, segs)
	if rt == nil {
		if exists {
			return &apiError{Status: http.StatusMethodNotAllowed, Code: "Request_BadRequest", Message: "The method is not allowed on this resource."}
		}
		return &apiError{Status: http.StatusBadRequest, Code: "BadRequest", Message: "Resource not found for the segment '" + lastSeg(segs) + "'."}
	}
	x.state = graphState{rt: rt, params: params}
	x.ev.Operation = rt.Operation
	return nil
}

// graphAuthenticate verifies the bearer token for the Graph audience.
func (s *Server) graphAuthenticate(x *exchange[graphState]) (*token.Claims, error) {
	c, err := s.graphCaller(x.r)
	if err != nil {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationToken", Message: "Access token validation failure.",
			Header: http.Header{"Www-Authenticate": {`Bearer authorization_uri="` + s.cfg.URL("login") + `", resource="` + s.cfg.URL("graph") + `"`}}}
	}
	return c, nil
}

// graphAuthorize refuses external issuers' tokens, and writes by anyone
// but a tenant administrator.
func (s *Server) graphAuthorize(x *exchange[graphState]) error {
	c := x.caller
	if c.IDType == token.IDTypeExternal {
		return errDenied()
	}
	if x.state.rt.Write {
		admin, err := s.dir.IsAdministrator(x.r.Context(), c.TenantID, c.ObjectID)
		if err != nil || !admin {
			return errDenied()
		}
	}
	return nil
}

// graphAct reads the body and runs the handler.
func (s *Server) graphAct(x *exchange[graphState]) (int, any, error) {
	r, c := x.r, x.caller
	body, err := readBody(r, graphMaxBody)
	if err != nil || len(body) > graphMaxBody {
		return 0, nil, graphBadRequest("The request body is too large.")
	}
	g := &graphReq{ctx: r.Context(), r: r, tid: c.TenantID, caller: c, params: x.state.params, query: x.q, body: body}
	return x.state.rt.Handle(s, g)
}

func errDenied() *apiError {
	return &apiError{Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}
}

// graphCaller verifies the bearer token for the Graph audience.
func (s *Server) graphCaller(r *http.Request) (*token.Claims, error) {
	raw, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	return s.verifier.Verify(r.Context(), raw, s.cfg.URL("graph"))
}

// alternateKey matches Graph's key syntax "applications(appId='…')".
var alternateKey = regexp.MustCompile(`^(applications|servicePrincipals)\(appId='([^']*)'\)$`)

// graphSegments splits the path like the data plane does, and rewrites
// alternate-key segments to "<collection>/appId:<value>".
func graphSegments(escaped string) ([]string, error) {
	segs, err := splitPath(escaped)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range segs {
		if m := alternateKey.FindStringSubmatch(s); m != nil {
			out = append(out, m[1], "appId:"+m[2])
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func lastSeg(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	return quoteSafe(segs[len(segs)-1])
}

// toGraphError maps directory errors to Graph's error codes.
func toGraphError(err error, reqID string) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, directory.ErrNotFound):
		return graphNotFound()
	case errors.Is(err, directory.ErrExists):
		return graphBadRequest("Another object with the same value for property already exists.")
	case errors.Is(err, directory.ErrInvalid):
		return graphBadRequest(strings.TrimPrefix(err.Error(), directory.ErrInvalid.Error()+": "))
	}
	slog.Error("graph internal error", "request", reqID, "err", err)
	return &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "The server encountered an internal error."}
}

func writeGraphError(w http.ResponseWriter, e *apiError, reqID string) {
	writeJSON(w, e.Status, map[string]any{"error": map[string]any{
		"code": e.Code, "message": e.Message,
		"innerError": map[string]any{"request-id": reqID, "client-request-id": reqID},
	}})
}
