package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/throttle"
	"github.com/mhsm/mhsm/internal/token"
)

// Request is what a handler sees: the HSM, the route's parameters, the
// authenticated caller and the decision that allowed the call.
type Request struct {
	Ctx      context.Context
	HTTP     *http.Request
	HSM      *hsm.HSM
	Params   Params
	Query    url.Values
	Caller   *token.Claims
	Decision rbac.Decision
	// Header holds extra response headers a handler sets (for example
	// Azure-AsyncOperation and Retry-After on a 202).
	Header http.Header
	body   []byte
}

// Decode decodes the JSON body into v (see decodeBody); an empty body
// decodes as {}.
func (r *Request) Decode(v any) error {
	if msg := decodeBody(r.body, v); msg != "" {
		return errBadRequest(msg)
	}
	return nil
}

// decodeBody is the one JSON body decoder of every plane (data,
// management, Graph): it refuses duplicate object keys and nesting deeper
// than MaxJSONDepth (strictjson.go), malformed JSON and trailing data, and
// returns a public message describing the problem, or "" when v was
// decoded. An empty body leaves v as it is.
func decodeBody(body []byte, v any) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	if err := checkJSONShape(body, v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae.Message
		}
		return "The request body is malformed."
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return "The request body is not valid JSON for this operation: " + jsonProblem(err)
	}
	if dec.More() {
		return "The request body has data after the JSON value."
	}
	return ""
}

// jsonProblem describes a decoding error without echoing request content.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "malformed body"
}

// serveData is the one guard pipeline of the data plane.
func (s *Server) serveData(w http.ResponseWriter, r *http.Request, hsmName string) {
	start := time.Now()
	q := r.URL.Query() // parsed once: the audit event and the handler share it
	ev := s.newAuditEvent(r, q, start)
	ev.HSM = hsmName
	w.Header().Set("X-Ms-Request-Id", ev.RequestID) // canonical: Set does not re-allocate the key
	// Audit (audit.go): nothing runs unless the log can record it, and the
	// response waits until its record is durable.
	status, body, extra := s.auditGate(ev)
	if status == 0 {
		status, body, extra = s.guardRecovered(r, q, ev)
		ev.Status = status
		if e, ok := body.(*apiError); ok {
			ev.ResultDescription = e.Code
		}
		ev.DurationMs = time.Since(start).Milliseconds()
		if err := s.recordRequest(r, ev); err != nil {
			status, body, extra = s.auditFailed(ev, err)
		}
	}
	for k, vs := range extra {
		w.Header()[k] = vs
	}
	s.metrics.Observe("data", ev.Operation, status, time.Since(start))
	if e, ok := body.(*apiError); ok {
		writeError(w, e, ev.RequestID)
		return
	}
	writeJSON(w, status, body)
}

// guard authenticates, throttles, authorizes and runs the handler,
// returning the status and body to send (an *apiError for failures) and
// any extra response headers. q is r.URL.Query().
func (s *Server) guard(r *http.Request, q url.Values, ev *AuditEvent) (int, any, http.Header) {
	fail := func(err error) (int, any, http.Header) {
		e := toAPIError(err, ev.RequestID)
		return e.Status, e, nil
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		return fail(errBadRequest("The request path is invalid."))
	}
	h, ok := s.hsms.Get(ev.HSM)
	if !ok {
		return fail(&apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "No managed HSM named " + ev.HSM + " exists."})
	}
	rt, params, exists := s.data.match(r.Method, segs)
	if rt == nil {
		if exists {
			return fail(&apiError{Status: methodNotAllowed, Code: "MethodNotAllowed", Message: "The method " + r.Method + " is not allowed on this path."})
		}
		return fail(&apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "The requested path does not exist."})
	}
	ev.Operation, ev.Action = rt.Operation, rt.Action

	claims, digest, err := s.authenticate(r, h)
	ev.tokenDigest = digest
	if err != nil {
		e := &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "The request requires a valid bearer token."}
		return e.Status, e, http.Header{"Www-Authenticate": {s.challenge(h)}}
	}
	ev.CallerOID, ev.CallerTID, ev.AppID = claims.ObjectID, claims.TenantID, claims.AppID
	ev.UPN, ev.IDType = claims.UPN, claims.IDType

	// Network rules (network.go): publicNetworkAccess and IP rules.
	if err := s.networkCheck(h, claims, ev.ClientIP); err != nil {
		return fail(err)
	}

	// Not-activated gate (securitydomain.go): until its security domain is
	// downloaded or restored, an HSM serves only BeforeActivation routes.
	if !h.Activated && !rt.BeforeActivation {
		return fail(errNotActivated(h))
	}

	principalKey, hsmKey := claims.TenantID+"/"+claims.ObjectID, h.Name
	if st, body, hdr, limited := s.throttled(principalKey, hsmKey); limited {
		return st, body, hdr
	}
	ctx, meter := throttle.WithMeter(r.Context())
	r = r.WithContext(ctx)
	defer s.charge(principalKey, hsmKey, meter)

	scope, err := rt.authzScope(params)
	if err != nil {
		return fail(err)
	}
	ev.Scope = scope
	d := h.Policy().Decide(rbac.Principal{ObjectID: claims.ObjectID, Groups: claims.Groups}, rt.Action, scope)
	ev.Decision, ev.Decided = d, true
	if !d.Allowed {
		return fail(&apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Not authorized to access " + string(rt.Action) + " on " + scope})
	}

	limit := int64(DefaultBodyLimit)
	if rt.BodyLimit != 0 {
		limit = rt.BodyLimit
	}
	body, err := readBody(r, limit)
	if err != nil {
		return fail(errBadRequest("The request body could not be read."))
	}
	if int64(len(body)) > limit {
		return fail(&apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestTooLarge", Message: fmt.Sprintf("The request body exceeds %d bytes.", limit)})
	}
	req := &Request{Ctx: r.Context(), HTTP: r, HSM: h, Params: params, Query: q, Caller: claims, Decision: d, body: body}
	status, out, err := rt.Handle(req)
	if err != nil {
		return fail(err)
	}
	return status, out, req.Header
}

// readBody reads r's body up to limit+1 bytes (so that a caller sees a
// body over limit), as io.ReadAll(io.LimitReader(r.Body, limit+1)) does,
// but without a buffer for a request without a body (GET, DELETE: the
// server gives them http.NoBody) and in one buffer sized by Content-Length
// when the client sent one within limit, instead of growing from 512
// bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := int64(512)
	if r.ContentLength > 0 && r.ContentLength <= limit {
		size = r.ContentLength + 1 // room for the read that finds EOF
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r.Body, limit+1)
	for {
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
	}
}

// throttled admits a request by its principal's and its HSM's buckets, or
// answers 429 with Retry-After in whole seconds.
func (s *Server) throttled(principalKey, hsmKey string) (int, any, http.Header, bool) {
	for _, l := range []struct {
		name string
		lim  *throttle.Limiter
		key  string
	}{{"principal", s.principalLimit, principalKey}, {"hsm", s.hsmLimit, hsmKey}} {
		if ok, wait := l.lim.Admit(l.key); !ok {
			s.metrics.Throttled(l.name)
			secs := strconv.Itoa(int(wait / time.Second))
			e := &apiError{Status: http.StatusTooManyRequests, Code: "Throttled",
				Message: "Too many requests for this " + l.name + "; retry after " + secs + " seconds."}
			return e.Status, e, http.Header{"Retry-After": {secs}}, true
		}
	}
	return 0, nil, nil, false
}

// charge bills a request's cost — the base cost plus what the crypto
// reported to the meter, so an RSA-4096 signature weighs what it costs and
// an AES wrap almost nothing — to the principal's and the HSM's buckets.
func (s *Server) charge(principalKey, hsmKey string, m *throttle.Meter) {
	cost := throttle.Base() + m.Units()
	s.principalLimit.Charge(principalKey, cost)
	s.hsmLimit.Charge(hsmKey, cost)
}

// authenticate verifies the bearer token for this HSM's audience and
// tenant. It also returns the token's digest as the verifier computed it
// (zero if it did not get that far), valid token or not, for the audit
// record.
func (s *Server) authenticate(r *http.Request, h *hsm.HSM) (*token.Claims, token.Digest, error) {
	auth := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return nil, token.Digest{}, token.ErrInvalid
	}
	c, digest, err := s.verifier.VerifyDigest(r.Context(), strings.TrimSpace(auth[len(prefix):]), s.cfg.URL("managedhsm"))
	if err != nil {
		return nil, digest, err
	}
	if c.TenantID != h.TenantID {
		return nil, digest, token.ErrInvalid
	}
	// Groups are resolved from the directory now (transitively), so a
	// membership change applies at once; only external issuers' tokens add
	// their own groups claim. Cached claims are shared: copy.
	groups, err := s.dir.TransitiveMemberOf(r.Context(), c.TenantID, c.ObjectID)
	if err != nil {
		return nil, digest, err
	}
	cc := *c
	cc.Groups = groups
	if c.IDType == token.IDTypeExternal {
		cc.Groups = append(append([]string(nil), c.Groups...), groups...)
	}
	return &cc, digest, nil
}

// challenge is the WWW-Authenticate value: the authority names the HSM's
// tenant and the resource is a parent domain of every HSM host, port
// included, which is what the Azure SDKs' challenge check requires.
func (s *Server) challenge(h *hsm.HSM) string { return s.challengeHeader(h) } // challenge.go

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// quoteSafe quotes a caller-supplied value for an error message, cut short.
func quoteSafe(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
