package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/mgmt"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/token"
	"github.com/mhsm/mhsm/internal/wire"
)

// The management plane (management.<domain>): an Azure Resource Manager
// subset, routed and guarded like the data plane — routes as data, one
// pipeline (authenticate → resolve the subscription → decide with
// armrbac → audit → act), deny by default. Resources live in package mgmt;
// one file per resource: armsubs.go, armhsms.go, armroles.go, armdiag.go.

// ARMRoute is one management operation, declared as data.
type ARMRoute struct {
	Method string
	// Pattern is a path such as
	// "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}".
	// A leading "{scope*}" matches any number of segments (an ARM scope:
	// "", a subscription, a resource group or a resource). Literal segments
	// match case-insensitively.
	Pattern   string
	Operation string
	// Action is the management action required at the route's scope.
	Action armrbac.Action
	// Alt is a second action that grants the route too (a resource
	// provider's alias of Action).
	Alt armrbac.Action
	// Exactly one of these markers replaces Action for routes whose
	// authorization is not one action at one scope:
	//   Public    — no token (metadata);
	//   AnyCaller — any valid management token; the handler only shows
	//               what belongs to the caller's tenant (tenant list);
	//   Visible   — the caller holds some assignment at, above or below the
	//               scope (GET /subscriptions/{id}, as ARM shows a
	//               subscription to anyone with access inside it);
	//   Filter    — as Visible, and the handler lists only the items on
	//               which the caller holds Action (Request.Can).
	Public, AnyCaller, Visible, Filter bool
	// Scope overrides the scope derived from the path.
	Scope func(p Params) (armrbac.Scope, error)
	// Also returns further checks the pipeline decides once the body is
	// read: each must be allowed too (e.g. deleting every HSM of a
	// resource group being deleted).
	Also func(r *ARMRequest) ([]ARMCheck, error)
	// BodyLimit overrides DefaultBodyLimit when non-zero.
	BodyLimit int64
	Handle    func(*ARMRequest) (int, any, error)

	segs []string
}

// ARMCheck is one (action, scope) pair a request needs.
type ARMCheck struct {
	Action armrbac.Action
	Scope  armrbac.Scope
}

// ARMRequest is what a management handler sees.
type ARMRequest struct {
	Ctx          context.Context
	HTTP         *http.Request
	Params       Params
	Query        url.Values
	Scope        armrbac.Scope
	Subscription *mgmt.Subscription // nil for routes outside a subscription
	Caller       *token.Claims
	Principal    armrbac.Principal
	Decision     armrbac.Decision
	// Header holds extra response headers (Azure-AsyncOperation …).
	Header http.Header
	body   []byte
	route  *ARMRoute
	policy *armrbac.Policy
}

// Decode decodes the JSON body into v; an empty body decodes as {}.
func (r *ARMRequest) Decode(v any) error {
	if msg := decodeBody(r.body, v); msg != "" {
		return armBadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: "+msg)
	}
	return nil
}

// Can reports whether the caller holds the route's action at scope: how a
// Filter route decides which items to list.
func (r *ARMRequest) Can(scope armrbac.Scope) bool {
	if r.policy.Decide(r.Principal, r.route.Action, scope).Allowed {
		return true
	}
	return r.route.Alt != "" && r.policy.Decide(r.Principal, r.route.Alt, scope).Allowed
}

// By is the caller for systemData.
func (r *ARMRequest) By() mgmt.Caller {
	t := "Application"
	if r.Caller.IDType == token.IDTypeUser {
		t = "User"
	}
	return mgmt.Caller{ObjectID: r.Caller.ObjectID, Type: t}
}

func armBadRequest(code, msg string) error {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg}
}

type armRouter struct{ routes []*ARMRoute }

func newARMRouter(routes []ARMRoute) *armRouter {
	r := &armRouter{}
	for i := range routes {
		rt := routes[i]
		rt.segs, _ = splitPath(rt.Pattern)
		r.routes = append(r.routes, &rt)
	}
	return r
}

// match finds the route for method and segs: the one with the most
// literal segments wins; pathExists reports a path known under another
// method.
func (r *armRouter) match(method string, segs []string) (rt *ARMRoute, p Params, pathExists bool) {
	best := -1
	var bestP Params
	for _, cand := range r.routes {
		params, lits, ok := cand.matchSegs(segs)
		if !ok {
			continue
		}
		pathExists = true
		score := 2 * lits // on a tie, a fixed path beats a {scope*} one
		if len(cand.segs) == 0 || cand.segs[0] != "{scope*}" {
			score++
		}
		if cand.Method == method && score > best {
			best, rt, bestP = score, cand, params
		}
	}
	return rt, bestP, pathExists
}

func (rt *ARMRoute) matchSegs(segs []string) (Params, int, bool) {
	pat := rt.segs
	p := Params{}
	if len(pat) > 0 && pat[0] == "{scope*}" {
		pat = pat[1:]
		if len(segs) < len(pat) {
			return nil, 0, false
		}
		p["scope"] = "/" + strings.Join(segs[:len(segs)-len(pat)], "/")
		segs = segs[len(segs)-len(pat):]
	}
	if len(pat) != len(segs) {
		return nil, 0, false
	}
	lits := 0
	for i, s := range pat {
		if strings.HasPrefix(s, "{") {
			p[strings.Trim(s, "{}")] = segs[i]
			continue
		}
		if !strings.EqualFold(s, segs[i]) {
			return nil, 0, false
		}
		lits++
	}
	return p, lits, true
}

// routeScope is the scope a route's action is checked at.
func routeScope(rt *ARMRoute, p Params) (armrbac.Scope, error) {
	if rt.Scope != nil {
		return rt.Scope(p)
	}
	if sc, ok := p["scope"]; ok {
		return armrbac.ParseScope(sc)
	}
	sub := p["subscriptionId"]
	if sub == "" {
		return armrbac.Scope{}, nil
	}
	if _, err := uuid.Parse(sub); err != nil || len(sub) != 36 {
		return armrbac.Scope{}, armrbac.ErrBadScope
	}
	switch rg := p["resourceGroupName"]; {
	case rg != "" && p["hsm"] != "":
		return armrbac.ParseScope(armrbac.HSMScope(sub, rg, p["hsm"]).String())
	case rg != "":
		return armrbac.ParseScope(armrbac.ResourceGroupScope(sub, rg).String())
	}
	return armrbac.SubscriptionScope(sub), nil
}

// armTarget is a routed management request: its route, parameters and
// the scope its action is checked at (or why it has none).
type armTarget struct {
	rt     *ARMRoute
	params Params
	scope  armrbac.Scope
	err    error
}

// armResolve routes r. It has no side effects, so it runs before the audit
// gate, which must know the HSM (the audit chain) a request concerns.
func (s *Server) armResolve(r *http.Request) armTarget {
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		return armTarget{err: armBadRequest("InvalidRequestUri", "The request path is invalid.")}
	}
	rt, params, exists := s.arm.match(r.Method, segs)
	if rt == nil {
		if exists {
			return armTarget{err: &apiError{Status: methodNotAllowed, Code: "MethodNotAllowed", Message: "The method " + r.Method + " is not allowed on this path."}}
		}
		return armTarget{err: &apiError{Status: http.StatusNotFound, Code: "InvalidResourceType", Message: "The resource type could not be found in the namespace or the path is not supported."}}
	}
	t := armTarget{rt: rt, params: params}
	scope, err := routeScope(rt, params)
	switch rg := params["resourceGroupName"]; {
	case err != nil && rg != "" && !armrbac.ValidResourceGroupName(rg):
		t.err = armBadRequest("InvalidResourceGroup", "The resource group name "+quoteSafe(rg)+" is invalid: use 1 to 90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.'.")
	case err != nil:
		t.err = armBadRequest("InvalidScope", "The scope of the request is not a valid subscription, resource group or resource id.")
	}
	t.scope = scope
	return t
}

// hsm is the HSM the request concerns ("" for none): its audit chain.
func (t *armTarget) hsm() string {
	if t.rt == nil || t.err != nil {
		return ""
	}
	name, ok := t.scope.HSM()
	if !ok && t.rt.Scope == nil && strings.Contains(strings.ToLower(t.rt.Pattern), "deletedmanagedhsms") {
		name, ok = t.params["name"], true
	}
	if !ok || !mgmt.ValidHSMName(name) {
		return ""
	}
	return strings.ToLower(name)
}

// serveManagement is the one guard pipeline of the management plane:
// route → audit gate → authenticate → decide → act → audit record, as
// serveData.
func (s *Server) serveManagement(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	q := r.URL.Query() // parsed once: the audit event and the handler share it
	ev := s.newAuditEvent(r, q, start)
	corr := ev.CorrelationID
	if corr == "" {
		corr = ev.RequestID
	}
	w.Header().Set("x-ms-request-id", ev.RequestID)
	w.Header().Set("x-ms-correlation-request-id", corr)
	t := s.armResolve(r)
	ev.HSM = t.hsm()
	status, body, extra := s.auditGate(ev)
	if status == 0 {
		status, body, extra = s.armGuardRecovered(r, q, ev, &t)
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
	s.metrics.Observe("management", ev.Operation, status, time.Since(start))
	if e, ok := body.(*apiError); ok {
		writeJSON(w, e.Status, wire.Error{Error: wire.ErrorDetail{Code: e.Code, Message: e.Message}})
		return
	}
	writeJSON(w, status, body)
}

// armGuardRecovered runs armGuard, turning a panic into a recorded 500.
func (s *Server) armGuardRecovered(r *http.Request, q url.Values, ev *AuditEvent, t *armTarget) (status int, body any, extra http.Header) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			slog.Error("panic serving a management request", "requestId", ev.RequestID, "operation", ev.Operation, "type", fmt.Sprintf("%T", p))
			e := &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "The server encountered an internal error."}
			status, body, extra = e.Status, e, nil
		}
	}()
	return s.armGuard(r, q, ev, t)
}

// armGuard authenticates, authorizes and runs the handler. q is
// r.URL.Query().
func (s *Server) armGuard(r *http.Request, q url.Values, ev *AuditEvent, t *armTarget) (int, any, http.Header) {
	fail := func(err error) (int, any, http.Header) {
		e := toARMError(err, ev.RequestID)
		return e.Status, e, nil
	}
	if s.mgmt == nil {
		return fail(&apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "Unknown host."})
	}
	if t.rt != nil {
		ev.Operation, ev.Action = t.rt.Operation, rbac.Action(t.rt.Action)
	}
	if t.err != nil {
		return fail(t.err)
	}
	rt, params, scope := t.rt, t.params, t.scope
	if q.Get("api-version") == "" {
		return fail(armBadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."))
	}
	ev.Scope = scope.String()
	req := &ARMRequest{Ctx: r.Context(), HTTP: r, Params: params, Query: q, Scope: scope, Header: http.Header{}, route: rt, policy: s.mgmt.Policy()}
	if !rt.Public {
		claims, digest, err := s.authenticateARM(r)
		ev.tokenDigest = digest
		if err != nil {
			e := &apiError{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationToken", Message: "The access token is missing or invalid."}
			return e.Status, e, http.Header{"Www-Authenticate": {`Bearer authorization_uri="` + s.cfg.URL("login") + `/", error="invalid_token", error_description="The access token is missing or invalid."`}}
		}
		ev.CallerOID, ev.CallerTID, ev.AppID = claims.ObjectID, claims.TenantID, claims.AppID
		ev.UPN, ev.IDType = claims.UPN, claims.IDType
		req.Caller = claims
		if status, body, hdr, done := s.armAuthorize(req, ev); done {
			return status, body, hdr
		}
	}
	limit := int64(DefaultBodyLimit)
	if rt.BodyLimit != 0 {
		limit = rt.BodyLimit
	}
	body, err := readBody(r, limit)
	if err != nil {
		return fail(armBadRequest("InvalidRequestContent", "The request body could not be read."))
	}
	if int64(len(body)) > limit {
		return fail(&apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestTooLarge", Message: fmt.Sprintf("The request body exceeds %d bytes.", limit)})
	}
	req.body = body
	if rt.Also != nil {
		checks, err := rt.Also(req)
		if err != nil {
			return fail(err)
		}
		for _, c := range checks {
			if d := req.policy.Decide(req.Principal, c.Action, c.Scope); !d.Allowed {
				ev.Decision, ev.Decided = rbac.Decision{}, true
				ev.Action, ev.Scope = rbac.Action(c.Action), c.Scope.String()
				return fail(armDenied(req.Caller, c.Action, c.Scope))
			}
		}
	}
	status, out, err := rt.Handle(req)
	if err != nil {
		return fail(err)
	}
	return status, out, req.Header
}

// armAuthorize resolves the subscription and the caller's groups and
// decides; done is true when the request must stop with the given answer.
func (s *Server) armAuthorize(req *ARMRequest, ev *AuditEvent) (int, any, http.Header, bool) {
	fail := func(err error) (int, any, http.Header, bool) {
		e := toARMError(err, ev.RequestID)
		return e.Status, e, nil, true
	}
	rt, claims := req.route, req.Caller
	if req.Scope.Subscription != "" {
		sub, err := s.mgmt.Subscription(req.Ctx, req.Scope.Subscription)
		if err != nil {
			return fail(err)
		}
		if !strings.EqualFold(sub.TenantID, claims.TenantID) {
			e := &apiError{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationTokenTenant",
				Message: "The access token is from the wrong issuer. It must match the tenant associated with this subscription. Please use the authority (URL) '" + s.cfg.URL("login") + "/" + sub.TenantID + "' to get the token."}
			return e.Status, e, nil, true
		}
		req.Subscription = sub
	}
	groups, err := s.groupsOf(req.Ctx, claims.TenantID, claims.ObjectID)
	if err != nil {
		return fail(err)
	}
	req.Principal = armrbac.Principal{ObjectID: claims.ObjectID, Groups: append(append([]string{}, claims.Groups...), groups...)}
	switch {
	case rt.AnyCaller:
		return 0, nil, nil, false
	case rt.Visible || rt.Filter:
		ev.Decided = true
		if req.policy.Visible(req.Principal, req.Scope) {
			ev.Decision = rbac.Decision{Allowed: true}
			return 0, nil, nil, false
		}
		return fail(armDenied(claims, rt.Action, req.Scope))
	}
	d := req.policy.Decide(req.Principal, rt.Action, req.Scope)
	if !d.Allowed && rt.Alt != "" {
		d = req.policy.Decide(req.Principal, rt.Alt, req.Scope)
	}
	req.Decision = d
	ev.Decision, ev.Decided = rbac.Decision{Allowed: d.Allowed, Assignment: d.Assignment, Role: d.Role}, true
	if !d.Allowed {
		return fail(armDenied(claims, rt.Action, req.Scope))
	}
	return 0, nil, nil, false
}

// armDenied is ARM's AuthorizationFailed.
func armDenied(c *token.Claims, a armrbac.Action, scope armrbac.Scope) error {
	return &apiError{Status: http.StatusForbidden, Code: "AuthorizationFailed", Message: fmt.Sprintf(
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		c.ObjectID, c.ObjectID, a, scope.String())}
}

// authenticateARM verifies a bearer token whose audience is the
// management endpoint; the digest is as authenticate's.
func (s *Server) authenticateARM(r *http.Request) (*token.Claims, token.Digest, error) {
	auth := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return nil, token.Digest{}, token.ErrInvalid
	}
	return s.verifier.VerifyDigest(r.Context(), strings.TrimSpace(auth[len(prefix):]), s.cfg.URL("management"))
}

var statusOfMgmtKind = map[mgmt.Kind]int{
	mgmt.KindBadRequest: http.StatusBadRequest,
	mgmt.KindNotFound:   http.StatusNotFound,
	mgmt.KindConflict:   http.StatusConflict,
	mgmt.KindForbidden:  http.StatusForbidden,
}

// toARMError maps any error to what a management caller sees; unknown
// errors are logged once and answered with a bare 500.
func toARMError(err error, activity string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if me, ok := mgmt.AsError(err); ok {
		return &apiError{Status: statusOfMgmtKind[me.Kind], Code: me.Code, Message: me.Message}
	}
	if he, ok := hsm.AsError(err); ok {
		return &apiError{Status: statusOfKind[he.Kind], Code: he.Code, Message: he.Message}
	}
	slog.Error("internal error", "activity", activity, "plane", "management", "err", err)
	return &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "The server encountered an internal error."}
}

// asyncHeaders points a 202's client at operation op.
func (s *Server) asyncHeaders(h http.Header, op *mgmt.Operation, apiVersion string) {
	u := s.cfg.URL("management") + "/subscriptions/" + op.Subscription + "/providers/Microsoft.KeyVault/locations/" + op.Location +
		"/managedHsmOperationResults/" + op.ID + "?api-version=" + url.QueryEscape(apiVersion)
	h.Set("Azure-AsyncOperation", u)
	h.Set("Location", u)
	h.Set("Retry-After", "1")
	h.Set("Retry-After-Ms", "100")
}

// ARMRoutes returns the management route table.
func (s *Server) ARMRoutes() []ARMRoute {
	var rs []ARMRoute
	rs = append(rs, s.armSubscriptionRoutes()...)
	rs = append(rs, s.armHSMRoutes()...)
	rs = append(rs, s.armRoleRoutes()...)
	rs = append(rs, s.armDiagnosticRoutes()...)
	return rs
}
