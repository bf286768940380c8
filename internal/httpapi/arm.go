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

// armRouteSpec is the router's view of an ARMRoute.
func armRouteSpec(r *ARMRoute) (string, string) { return r.Method, r.Pattern }

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
	req    *ARMRequest // made once the api-version is checked
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

// managementPlane is management.<domain> in the edge pipeline (edge.go):
// route → audit gate → api-version → authenticate → decide with armrbac
// → act.
func (s *Server) managementPlane() *plane[armTarget] {
	return &plane[armTarget]{
		name: "management",
		newEvent: func(s *Server, x *exchange[armTarget], start time.Time) *AuditEvent {
			return s.newAuditEvent(x.r, x.q, start)
		},
		begin:        s.armBegin,
		authenticate: s.armAuthenticate,
		authorize:    s.armAuthorizeStep,
		act:          s.armAct,
		answer: func(x *exchange[armTarget], err error) *apiError {
			return toARMError(err, x.ev.RequestID)
		},
		internal: func() *apiError {
			return &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "The server encountered an internal error."}
		},
		writeError: func(w http.ResponseWriter, _ *exchange[armTarget], e *apiError) {
			writeJSON(w, e.Status, wire.Error{Error: wire.ErrorDetail{Code: e.Code, Message: e.Message}})
		},
		unavailable: auditUnavailableError,
	}
}

// serveManagement serves management.<domain>.
func (s *Server) serveManagement(w http.ResponseWriter, r *http.Request) {
	serve(s, s.mgmtP, w, r, armTarget{})
}

// armBegin sets ARM's id headers and routes.
func (s *Server) armBegin(w http.ResponseWriter, x *exchange[armTarget]) error {
	corr := x.ev.CorrelationID
	if corr == "" {
		corr = x.ev.RequestID
	}
	w.Header().Set("x-ms-request-id", x.ev.RequestID)
	w.Header().Set("x-ms-correlation-request-id", corr)
	x.state = s.armResolve(x.r)
	t := &x.state
	x.ev.HSM = t.hsm()
	if s.mgmt == nil {
		return &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "Unknown host."}
	}
	if t.rt != nil {
		x.ev.Operation, x.ev.Action = t.rt.Operation, rbac.Action(t.rt.Action)
	}
	return t.err
}

// armAuthenticate requires the api-version, then a management token
// unless the route is public.
func (s *Server) armAuthenticate(x *exchange[armTarget]) (*token.Claims, error) {
	t := &x.state
	if x.q.Get("api-version") == "" {
		return nil, armBadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	x.ev.Scope = t.scope.String()
	t.req = &ARMRequest{Ctx: x.r.Context(), HTTP: x.r, Params: t.params, Query: x.q, Scope: t.scope, Header: http.Header{}, route: t.rt, policy: s.mgmt.Policy()}
	if t.rt.Public {
		return nil, nil
	}
	claims, digest, err := s.authenticateARM(x.r)
	x.ev.tokenDigest = digest
	if err != nil {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationToken", Message: "The access token is missing or invalid.",
			Header: http.Header{"Www-Authenticate": {`Bearer authorization_uri="` + s.cfg.URL("login") + `/", error="invalid_token", error_description="The access token is missing or invalid."`}}}
	}
	t.req.Caller = claims
	return claims, nil
}

// armAuthorizeStep decides for an authenticated caller (public routes
// need no decision).
func (s *Server) armAuthorizeStep(x *exchange[armTarget]) error {
	if x.state.rt.Public {
		return nil
	}
	return s.armAuthorize(x.state.req, x.ev)
}

// armAct reads the body, decides the route's further checks (Also) and
// runs the handler.
func (s *Server) armAct(x *exchange[armTarget]) (int, any, error) {
	rt, req, ev := x.state.rt, x.state.req, x.ev
	limit := int64(DefaultBodyLimit)
	if rt.BodyLimit != 0 {
		limit = rt.BodyLimit
	}
	body, err := readBody(x.r, limit)
	if err != nil {
		return 0, nil, armBadRequest("InvalidRequestContent", "The request body could not be read.")
	}
	if int64(len(body)) > limit {
		return 0, nil, errTooLarge(limit)
	}
	req.body = body
	if rt.Also != nil {
		checks, err := rt.Also(req)
		if err != nil {
			return 0, nil, err
		}
		for _, c := range checks {
			if d := req.policy.Decide(req.Principal, c.Action, c.Scope); !d.Allowed {
				ev.Decision, ev.Decided = rbac.Decision{}, true
				ev.Action, ev.Scope = rbac.Action(c.Action), c.Scope.String()
				return 0, nil, armDenied(req.Caller, c.Action, c.Scope)
			}
		}
	}
	status, out, err := rt.Handle(req)
	x.header = req.Header
	return status, out, err
}

// armAuthorize resolves the subscription and the caller's groups and
// decides.
func (s *Server) armAuthorize(req *ARMRequest, ev *AuditEvent) error {
	rt, claims := req.route, req.Caller
	if req.Scope.Subscription != "" {
		sub, err := s.mgmt.Subscription(req.Ctx, req.Scope.Subscription)
		if err != nil {
			return err
		}
		if !strings.EqualFold(sub.TenantID, claims.TenantID) {
			return &apiError{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationTokenTenant",
				Message: "The access token is from the wrong issuer. It must match the tenant associated with this subscription. Please use the authority (URL) '" + s.cfg.URL("login") + "/" + sub.TenantID + "' to get the token."}
		}
		req.Subscription = sub
	}
	groups, err := s.groupsOf(req.Ctx, claims.TenantID, claims.ObjectID)
	if err != nil {
		return err
	}
	req.Principal = armrbac.Principal{ObjectID: claims.ObjectID, Groups: append(append([]string{}, claims.Groups...), groups...)}
	switch {
	case rt.AnyCaller:
		return nil
	case rt.Visible || rt.Filter:
		ev.Decided = true
		if req.policy.Visible(req.Principal, req.Scope) {
			ev.Decision = rbac.Decision{Allowed: true}
			return nil
		}
		return armDenied(claims, rt.Action, req.Scope)
	}
	d := req.policy.Decide(req.Principal, rt.Action, req.Scope)
	if !d.Allowed && rt.Alt != "" {
		d = req.policy.Decide(req.Principal, rt.Alt, req.Scope)
	}
	req.Decision = d
	ev.Decision, ev.Decided = rbac.Decision{Allowed: d.Allowed, Assignment: d.Assignment, Role: d.Role}, true
	if !d.Allowed {
		return armDenied(claims, rt.Action, req.Scope)
	}
	return nil
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
	raw, err := bearerToken(r)
	if err != nil {
		return nil, token.Digest{}, err
	}
	return s.verifier.VerifyDigest(r.Context(), raw, s.cfg.URL("management"))
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
