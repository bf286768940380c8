package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"

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

type graphError struct {
	status  int
	code    string
	message string
}

func (e *graphError) Error() string { return e.code + ": " + e.message }

func graphBadRequest(msg string) *graphError {
	return &graphError{http.StatusBadRequest, "Request_BadRequest", msg}
}

func graphNotFound() *graphError {
	return &graphError{http.StatusNotFound, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present."}
}

// graphMaxBody bounds Graph request bodies.
const graphMaxBody = 1 << 20

// serveGraph is the Graph host's one pipeline: authenticate → route →
// authorize by directory role → act.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.NewString()
	w.Header().Set("request-id", reqID)
	w.Header().Set("client-request-id", r.Header.Get("client-request-id"))
	c, err := s.graphCaller(r)
	if err == nil {
		noteIdentity(r.Context(), c) // audit.go: the record names the caller
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+s.cfg.URL("login")+`", resource="`+s.cfg.URL("graph")+`"`)
		writeGraphError(w, &graphError{http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure."}, reqID)
		return
	}
	segs, err := graphSegments(r.URL.EscapedPath())
	if err != nil {
		writeGraphError(w, graphBadRequest("The request path is invalid."), reqID)
		return
	}
	rt, params, exists := matchGraph(r.Method, segs)
	if rt == nil {
		if exists {
			writeGraphError(w, &graphError{http.StatusMethodNotAllowed, "Request_BadRequest", "The method is not allowed on this resource."}, reqID)
			return
		}
		writeGraphError(w, &graphError{http.StatusBadRequest, "BadRequest", "Resource not found for the segment '" + lastSeg(segs) + "'."}, reqID)
		return
	}
	if c.IDType == token.IDTypeExternal {
		writeGraphError(w, errDenied, reqID)
		return
	}
	if rt.Write {
		admin, err := s.dir.IsAdministrator(r.Context(), c.TenantID, c.ObjectID)
		if err != nil || !admin {
			writeGraphError(w, errDenied, reqID)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, graphMaxBody+1))
	if err != nil || len(body) > graphMaxBody {
		writeGraphError(w, graphBadRequest("The request body is too large."), reqID)
		return
	}
	g := &graphReq{ctx: r.Context(), r: r, tid: c.TenantID, caller: c, params: params, query: r.URL.Query(), body: body}
	status, out, err := rt.Handle(s, g)
	if err != nil {
		writeGraphError(w, toGraphError(err, reqID), reqID)
		return
	}
	if out == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, out)
}

var errDenied = &graphError{http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."}

// graphCaller verifies the bearer token for the Graph audience.
func (s *Server) graphCaller(r *http.Request) (*token.Claims, error) {
	auth := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return nil, token.ErrInvalid
	}
	return s.verifier.Verify(r.Context(), strings.TrimSpace(auth[len(prefix):]), s.cfg.URL("graph"))
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
func toGraphError(err error, reqID string) *graphError {
	var ge *graphError
	switch {
	case errors.As(err, &ge):
		return ge
	case errors.Is(err, directory.ErrNotFound):
		return graphNotFound()
	case errors.Is(err, directory.ErrExists):
		return &graphError{http.StatusBadRequest, "Request_BadRequest", "Another object with the same value for property already exists."}
	case errors.Is(err, directory.ErrInvalid):
		return &graphError{http.StatusBadRequest, "Request_BadRequest", strings.TrimPrefix(err.Error(), directory.ErrInvalid.Error()+": ")}
	}
	slog.Error("graph internal error", "request", reqID, "err", err)
	return &graphError{http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error."}
}

func writeGraphError(w http.ResponseWriter, e *graphError, reqID string) {
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code": e.code, "message": e.message,
		"innerError": map[string]any{"request-id": reqID, "client-request-id": reqID},
	}})
}
