package httpapi

import (
	"context"
	"fmt"
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

// dataState is a data-plane request's route and HSM.
type dataState struct {
	name   string // from the host name
	rt     *Route
	params Params
	hsm    *hsm.HSM
	scope  string
	d      rbac.Decision
	// The throttle buckets charged once the handler returns (charge).
	principalKey, hsmKey string
	meter                *throttle.Meter
}

// dataPlane is <hsm>.managedhsm.<domain> in the edge pipeline (edge.go).
func (s *Server) dataPlane() *plane[dataState] {
	return &plane[dataState]{
		name: "data",
		newEvent: func(s *Server, x *exchange[dataState], start time.Time) *AuditEvent {
			return s.newAuditEvent(x.r, x.q, start)
		},
		begin:        s.dataBegin,
		authenticate: s.dataAuthenticate,
		authorize:    s.dataAuthorize,
		act:          s.dataAct,
		release: func(x *exchange[dataState]) {
			if st := &x.state; st.meter != nil {
				s.charge(st.principalKey, st.hsmKey, st.meter)
			}
		},
		answer: func(x *exchange[dataState], err error) *apiError {
			return toAPIError(err, x.ev.RequestID)
		},
		internal: func() *apiError {
			return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "The server encountered an internal error."}
		},
		writeError: func(w http.ResponseWriter, x *exchange[dataState], e *apiError) {
			writeError(w, e, x.ev.RequestID)
		},
		unavailable: auditUnavailableError,
	}
}

// serveData serves a request for the HSM named hsmName.
func (s *Server) serveData(w http.ResponseWriter, r *http.Request, hsmName string) {
	serve(s, s.dataP, w, r, dataState{name: hsmName})
}

// dataBegin routes: the HSM, then the route.
func (s *Server) dataBegin(w http.ResponseWriter, x *exchange[dataState]) error {
	name := x.state.name
	x.ev.HSM = name
	w.Header().Set("X-Ms-Request-Id", x.ev.RequestID) // canonical: Set does not re-allocate the key
	segs, err := splitPath(x.r.URL.EscapedPath())
	if err != nil {
		return errBadRequest("The request path is invalid.")
	}
	h, ok := s.hsms.Get(name)
	if !ok {
		return &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "No managed HSM named " + name + " exists."}
	}
	rt, params, exists := s.data.match(x.r.Method, segs)
	if rt == nil {
		if exists {
			return &apiError{Status: methodNotAllowed, Code: "MethodNotAllowed", Message: "The method " + x.r.Method + " is not allowed on this path."}
		}
		return &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "The requested path does not exist."}
	}
	x.state = dataState{name: name, rt: rt, params: params, hsm: h}
	x.ev.Operation, x.ev.Action = rt.Operation, rt.Action
	return nil
}

// dataAuthenticate verifies the bearer token for the HSM's audience and
// tenant and resolves the caller's groups.
func (s *Server) dataAuthenticate(x *exchange[dataState]) (*token.Claims, error) {
	claims, digest, err := s.authenticate(x.r, x.state.hsm)
	x.ev.tokenDigest = digest
	if ae := storeError(err); ae != nil { // no verdict: the store did not answer
		return nil, ae
	}
	if err != nil {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "The request requires a valid bearer token.",
			Header: http.Header{"Www-Authenticate": {s.challenge(x.state.hsm)}}}
	}
	return claims, nil
}

// dataAuthorize applies the network rules, the activation gate and the
// throttles, then decides the route's action at its scope.
func (s *Server) dataAuthorize(x *exchange[dataState]) error {
	st, claims, h := &x.state, x.caller, x.state.hsm
	// Network rules (network.go): publicNetworkAccess and IP rules.
	if err := s.networkCheck(h, claims, x.ev.ClientIP); err != nil {
		return err
	}
	// Not-activated gate (securitydomain.go): until its security domain is
	// downloaded or restored, an HSM serves only BeforeActivation routes.
	if !h.Activated && !st.rt.BeforeActivation {
		return errNotActivated(h)
	}
	principalKey, hsmKey := claims.TenantID+"/"+claims.ObjectID, h.Name
	if err := s.throttled(principalKey, hsmKey); err != nil {
		return err
	}
	ctx, meter := throttle.WithMeter(x.r.Context())
	x.r = x.r.WithContext(ctx)
	st.principalKey, st.hsmKey, st.meter = principalKey, hsmKey, meter

	scope, err := st.rt.authzScope(st.params) // scope.go: "/", "/keys" or "/keys/{name}"
	if err != nil {
		return err
	}
	st.scope = scope
	x.ev.Scope = st.scope
	st.d = h.Policy().Decide(rbac.Principal{ObjectID: claims.ObjectID, Groups: claims.Groups}, st.rt.Action, st.scope)
	x.ev.Decision, x.ev.Decided = st.d, true
	if !st.d.Allowed {
		return &apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Not authorized to access " + string(st.rt.Action) + " on " + st.scope}
	}
	return s.injectFault(x.r, st.rt, x.ev) // devfaults.go: dev mode only
}

// dataAct reads the body within the route's limit and runs the handler.
func (s *Server) dataAct(x *exchange[dataState]) (int, any, error) {
	st := &x.state
	limit := int64(DefaultBodyLimit)
	if st.rt.BodyLimit != 0 {
		limit = st.rt.BodyLimit
	}
	body, err := readBody(x.r, limit)
	if err != nil {
		return 0, nil, errBadRequest("The request body could not be read.")
	}
	if int64(len(body)) > limit {
		return 0, nil, errTooLarge(limit)
	}
	req := &Request{Ctx: x.r.Context(), HTTP: x.r, HSM: st.hsm, Params: st.params, Query: x.q, Caller: x.caller, Decision: st.d, body: body}
	status, out, err := st.rt.Handle(req)
	x.header = req.Header
	return status, out, err
}

// errTooLarge answers a body over limit bytes.
func errTooLarge(limit int64) error {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestTooLarge", Message: fmt.Sprintf("The request body exceeds %d bytes.", limit)}
}

// throttled admits a request by the fair share of a busy machine and the
// principal's and HSM's hard caps, or answers 429 with Retry-After in
// whole seconds.
func (s *Server) throttled(principalKey, hsmKey string) error {
	for _, l := range []struct {
		name, what string
		lim        throttle.Admitter
		key        string
	}{
		{"fair", "from this caller while the server is busy", s.fair, principalKey},
		{"principal", "for this principal", s.principalLimit, principalKey},
		{"hsm", "for this hsm", s.hsmLimit, hsmKey},
	} {
		if ok, wait := l.lim.Admit(l.key); !ok {
			s.metrics.Throttled(l.name)
			secs := strconv.Itoa(int(wait / time.Second))
			return &apiError{Status: http.StatusTooManyRequests, Code: "Throttled",
				Message: "Too many requests " + l.what + "; retry after " + secs + " seconds.",
				Header:  http.Header{"Retry-After": {secs}}}
		}
	}
	return nil
}

// charge bills a request's cost — the base cost plus what the crypto
// reported to the meter, so an RSA-4096 signature weighs what it costs and
// an AES wrap almost nothing — to the fair share and the principal's and
// the HSM's buckets.
func (s *Server) charge(principalKey, hsmKey string, m *throttle.Meter) {
	cost := throttle.Base() + m.Units()
	s.fair.Charge(principalKey, cost)
	s.principalLimit.Charge(principalKey, cost)
	s.hsmLimit.Charge(hsmKey, cost)
}

// authenticate verifies the bearer token for this HSM's audience and
// tenant. It also returns the token's digest as the verifier computed it
// (zero if it did not get that far), valid token or not, for the audit
// record.
func (s *Server) authenticate(r *http.Request, h *hsm.HSM) (*token.Claims, token.Digest, error) {
	raw, err := bearerToken(r)
	if err != nil {
		return nil, token.Digest{}, err
	}
	c, digest, err := s.verifier.VerifyDigest(r.Context(), raw, s.cfg.URL("managedhsm"))
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
