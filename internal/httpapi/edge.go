package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/token"
)

// The edge pipeline: every request of every plane — data
// (<hsm>.managedhsm.<domain>, data.go), management (management.<domain>,
// arm.go), Graph (graph.<domain>, graph.go), token issuance
// (login.<domain>) and the managed identity endpoint (login_plane.go) —
// passes through serve, in this order:
//
//	begin        response ids, the audit event, routing (no side effects)
//	audit gate   the chain that will record the request can write, else 503
//	authenticate the bearer token (bearerToken), unless the route is public
//	authorize    the plane's decision, recorded in the audit event
//	act          read the body (readBody), run the handler
//	audit record durable before the answer; if it fails the answer is 503
//	write        the answer, errors in the plane's shape
//
// A panic in any step is recovered here, logged with its stack and
// answered with the plane's internal error; the record says 500. A plane
// supplies the steps as a plane value; the pipeline itself is the only
// place that sequences them, records the audit event and writes answers.

// exchange is one request on its way through the pipeline; T is the
// plane's per-request state (its route, HSM, …).
type exchange[T any] struct {
	r  *http.Request
	q  url.Values // r.URL.Query(), parsed once
	ev *AuditEvent
	// state is the plane's own (its route and what it resolved).
	state T
	// header holds response headers a handler set (sent with a success).
	header http.Header
	// caller is the authenticated principal (nil until authenticated).
	caller *token.Claims
	// unaudited requests (public metadata GETs on login.<domain>) skip
	// the audit gate and record.
	unaudited bool
}

// plane is one virtual host's part of the pipeline. Every step receives
// the exchange; a step's error stops the request and is answered through
// answer and writeError.
type plane[T any] struct {
	// name labels metrics ("" observes nothing).
	name string
	// begin sets the response id headers, fills the plane's fields of the
	// audit event (x.ev, made by newEvent) and routes. It must have no side
	// effects: it runs before the audit gate, which must know the chain
	// (x.ev.HSM). A routing error is answered after the gate — and after
	// authenticate when authFirst (Graph answers 401 before 404).
	begin     func(w http.ResponseWriter, x *exchange[T]) error
	newEvent  func(s *Server, x *exchange[T], start time.Time) *AuditEvent
	authFirst bool
	// authenticate returns the caller (nil for a public route).
	authenticate func(x *exchange[T]) (*token.Claims, error)
	// authorize decides and records the decision in x.ev.
	authorize func(x *exchange[T]) error
	// act reads the body and runs the handler.
	act func(x *exchange[T]) (int, any, error)
	// answer maps an error to the plane's public answer; unknown errors
	// are logged once there and become the plane's internal error.
	answer func(x *exchange[T], err error) *apiError
	// internal is the answer to a panic.
	internal func() *apiError
	// writeError writes an error in the plane's shape; unavailable is the
	// answer when the audit log cannot record.
	writeError  func(w http.ResponseWriter, x *exchange[T], e *apiError)
	unavailable func() *apiError
	// writeUnavailable writes unavailable when its shape is not
	// writeError's (Graph answers it as the token endpoints do).
	writeUnavailable func(w http.ResponseWriter, e *apiError)
	// release runs once the steps have returned or panicked (throttle
	// charges); nil for none.
	release func(x *exchange[T])
	// finish adds the plane's last audit fields once the outcome is known.
	finish func(x *exchange[T], status int)
	// bareEmpty: a success without a body is sent with no headers of
	// writeJSON (Graph's 204s).
	bareEmpty bool
}

// serve is the one pipeline (see the top of this file).
// init is the plane's state before begin (what the host name said).
func serve[T any](s *Server, p *plane[T], w http.ResponseWriter, r *http.Request, init T) {
	start := time.Now()
	x := &exchange[T]{r: r, q: r.URL.Query(), state: init}
	x.ev = p.newEvent(s, x, start)
	routeErr := p.begin(w, x)
	var status int
	var body any
	var fail *apiError
	if !x.unaudited {
		if err := s.audit.Ready(x.ev.HSM); err != nil {
			slog.Warn("audit: request refused, the audit log cannot be written", "requestId", x.ev.RequestID, "err", err)
			fail = unavailableOf(p)
		}
	}
	unavailable := fail != nil
	if fail == nil {
		status, body, fail = runSteps(p, x, routeErr)
		if fail != nil {
			status = fail.Status
			x.ev.ResultDescription = fail.Code
		}
		x.ev.Status = status
		x.ev.DurationMs = time.Since(start).Milliseconds()
		if p.finish != nil {
			p.finish(x, status)
		}
		if !x.unaudited {
			if err := s.recordRequest(r, x.ev); err != nil {
				slog.Error("audit: the record of a request that ran could not be written; answering 503",
					"requestId", x.ev.RequestID, "operation", x.ev.Operation, "hsm", x.ev.HSM, "err", err)
				fail, unavailable = unavailableOf(p), true
			}
		}
	}
	if p.name != "" {
		st := status
		if fail != nil {
			st = fail.Status
		}
		s.metrics.Observe(p.name, x.ev.Operation, st, time.Since(start))
	}
	if fail != nil {
		for k, vs := range fail.Header {
			w.Header()[k] = vs
		}
		if unavailable && p.writeUnavailable != nil {
			p.writeUnavailable(w, fail)
			return
		}
		p.writeError(w, x, fail)
		return
	}
	for k, vs := range x.header {
		w.Header()[k] = vs
	}
	if pg, ok := body.(*rawPage); ok { // HTML, redirects, static files
		pg.write(w, status)
		return
	}
	if body == nil && p.bareEmpty {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// unavailableOf is the plane's answer when the audit log cannot record:
// retry in 5 s.
func unavailableOf[T any](p *plane[T]) *apiError {
	e := p.unavailable()
	e.Header = http.Header{"Retry-After": {"5"}}
	return e
}

// runSteps authenticates, authorizes and acts, turning a panic into the
// plane's internal error. The panic value is not logged: it may hold
// request data.
func runSteps[T any](p *plane[T], x *exchange[T], routeErr error) (status int, body any, fail *apiError) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			slog.Error("panic serving a request", "plane", p.name, "requestId", x.ev.RequestID, "operation", x.ev.Operation,
				"type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			status, body, fail = 0, nil, p.internal()
		}
	}()
	if p.release != nil {
		defer p.release(x)
	}
	if routeErr != nil && !p.authFirst {
		return 0, nil, p.answer(x, routeErr)
	}
	c, err := p.authenticate(x)
	if err != nil {
		return 0, nil, p.answer(x, err)
	}
	if c != nil {
		x.caller = c
		x.ev.setCaller(c)
	}
	if routeErr != nil {
		return 0, nil, p.answer(x, routeErr)
	}
	if err := p.authorize(x); err != nil {
		return 0, nil, p.answer(x, err)
	}
	status, body, err = p.act(x)
	if err != nil {
		return 0, nil, p.answer(x, err)
	}
	return status, body, nil
}

// setCaller records the authenticated (or issued-to) principal.
func (ev *AuditEvent) setCaller(c *token.Claims) {
	ev.CallerOID, ev.CallerTID, ev.AppID = c.ObjectID, c.TenantID, c.AppID
	ev.UPN, ev.IDType = c.UPN, c.IDType
}

// bearerToken is the token of r's Authorization header "Bearer <token>"
// (the scheme in any case), or token.ErrInvalid. It is the edge's one
// bearer parser (cutBearer); the audit record's token hash uses it too.
func bearerToken(r *http.Request) (string, error) {
	t, ok := cutBearer(r.Header.Get("Authorization"))
	if !ok {
		return "", token.ErrInvalid
	}
	return t, nil
}

// cutBearer returns the token of an Authorization value "Bearer <token>".
func cutBearer(auth string) (string, bool) {
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(auth[len(prefix):]), true
}

// noAuth and noAuthz are the steps of planes without bearer tokens
// (token issuance: the grant is the authentication).
func noAuth[T any](*exchange[T]) (*token.Claims, error) { return nil, nil }

func noAuthz[T any](*exchange[T]) error { return nil }
