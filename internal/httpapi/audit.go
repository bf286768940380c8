package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/token"
)

// Audit at the edge. Every request on the data plane, the management plane,
// Graph and the token endpoints becomes exactly one audit record, written
// durably before the response:
//
//  1. before acting, Ready: a chain that cannot write means 503 and the
//     handler does not run;
//  2. the pipeline runs and fills an AuditEvent (panics become 500s, so
//     they are recorded too);
//  3. Record, which returns once the record is fsync'd (group commit);
//     if it fails the computed response is withheld and the caller gets
//     503 (the handler did run: the only window, logged as an error).
//
// Records go to the chain of the HSM named by the request when it exists,
// and to the server chain otherwise (unknown HSM names, token and Graph
// requests). Graph and token responses are buffered (auditBuffered) so no
// byte leaves before the record is durable.
// Token issuance — every POST on login.<domain> and every call of the
// managed identity endpoint — is audited with the client id (as is when a
// GUID, HMAC'd otherwise), grant type, outcome and, on success, the
// identity issued; secrets, passwords, assertions, identity headers never.
// Discovery and JWKS GETs (public metadata) and requests for unknown hosts
// are not audited.

// AuditEvent is what a pipeline (serveData, serveManagement) learns about a
// request as it goes; the auditor turns it into an audit.Event (Azure's
// AuditEvent schema) once the outcome is known. It holds nothing secret:
// the bearer token only as its SHA-256. Make it with newAuditEvent; with
// audit off it holds only what the pipeline itself uses (RequestID,
// ClientIP, CorrelationID, then what the guard fills).
type AuditEvent struct {
	Time        time.Time
	RequestID   string
	HSM         string
	Operation   string
	Method      string
	Path        string
	Status      int
	CallerOID   string
	CallerTID   string
	AppID       string
	UPN, IDType string
	ClientIP    string
	Decision    rbac.Decision
	// Decided is set when authorization was asked (so a zero Decision is a
	// denial, not "not asked").
	Decided    bool
	Action     rbac.Action
	Scope      string
	DurationMs int64

	// From the request (newAuditEvent).
	RequestURI       string
	OperationVersion string
	CorrelationID    string
	ClientInfo       string
	// tokenDigest is the SHA-256 of the bearer token (recorded as an HMAC
	// of its hex form): the one the verifier computed (guard), else
	// computed from the Authorization header when the record is made.
	tokenDigest token.Digest
	// ResultDescription is a short public reason (an error code).
	ResultDescription string
	// Properties are further non-secret properties.
	Properties map[string]string
}

// auditor is the audit log as the pipelines use it.
type auditor struct {
	log audit.Recorder
	// off is set when log is audit.Discard (--audit=false): the data and
	// management pipelines then build no record at all.
	off  bool
	srv  *Server
	keys interface {
		PublicKey(ctx context.Context, hsm string) (*audit.PublicKey, error)
	}
}

func newAuditor(s *Server, log audit.Recorder) *auditor {
	a := &auditor{log: log, srv: s}
	if log == nil {
		a.log = audit.Discard
	}
	// Safe for any Recorder: interfaces of different dynamic types compare
	// unequal without comparing values, and Discard's type is comparable.
	a.off = a.log == audit.Discard
	if k, ok := log.(interface {
		PublicKey(ctx context.Context, hsm string) (*audit.PublicKey, error)
	}); ok {
		a.keys = k
	}
	return a
}

// chain is the HSM whose chain records ev: the named HSM if it exists, else
// the server chain ("").
func (a *auditor) chain(hsm string) string {
	if hsm == "" || a.srv.hsms == nil {
		return ""
	}
	if _, ok := a.srv.hsms.Get(hsm); ok {
		return strings.ToLower(hsm)
	}
	return ""
}

// Ready reports whether the chain of hsm can record now.
func (a *auditor) Ready(hsm string) error {
	if a.off {
		return nil // what audit.Discard answers, without resolving the chain
	}
	return a.log.Ready(a.chain(hsm))
}

// Record converts ev and records it durably.
func (a *auditor) Record(ctx context.Context, ev *AuditEvent) error {
	return a.log.Record(ctx, a.event(ev))
}

func (a *auditor) event(ev *AuditEvent) *audit.Event {
	chain := a.chain(ev.HSM)
	e := &audit.Event{
		Time: ev.Time, HSM: chain, Operation: ev.Operation, OperationVersion: ev.OperationVersion,
		Status: ev.Status, ResultDescription: ev.ResultDescription, Duration: time.Duration(ev.DurationMs) * time.Millisecond,
		CallerIP: ev.ClientIP, CorrelationID: ev.CorrelationID, RequestID: ev.RequestID, RequestURI: ev.RequestURI,
		ClientInfo: ev.ClientInfo, DataAction: string(ev.Action), Scope: ev.Scope,
		AssignmentID: ev.Decision.Assignment, RoleID: ev.Decision.Role,
		Caller:     audit.Caller{ObjectID: ev.CallerOID, TenantID: ev.CallerTID, AppID: ev.AppID, UPN: ev.UPN, IDType: ev.IDType},
		Properties: map[string]string{},
	}
	for k, v := range ev.Properties {
		e.Properties[k] = v
	}
	if chain != "" {
		if h, ok := a.srv.hsms.Get(chain); ok {
			e.TenantID = h.TenantID
		}
	}
	if e.RequestURI == "" {
		e.RequestURI = ev.Path
	}
	if ev.Method != "" {
		e.Properties["httpMethod"] = ev.Method
	}
	switch {
	case ev.Decision.Allowed:
		yes := true
		e.Authorized = &yes
	case ev.Decided:
		no := false
		e.Authorized = &no
	}
	if d := ev.tokenDigest.Hex(); d != "" {
		e.Hash("tokenHash", d)
	}
	if ev.Status == http.StatusUnauthorized && ev.Operation != "Authentication" {
		// Managed HSM logs unauthenticated calls as "Authentication".
		if ev.Operation != "" {
			e.Properties["attemptedOperation"] = ev.Operation
		}
		e.Operation = "Authentication"
	}
	if e.Operation == "" {
		e.Operation = "Unknown"
	}
	return e
}

// auditUnavailableError is the answer when the audit log cannot write.
func auditUnavailableError() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
		Message: "The audit log cannot be written; the request was not processed."}
}

// auditGate is step 1: (0, nil, nil) when ev's chain can record, else the
// 503 to send without acting.
func (s *Server) auditGate(ev *AuditEvent) (int, any, http.Header) {
	if err := s.audit.Ready(ev.HSM); err != nil {
		slog.Warn("audit: request refused, the audit log cannot be written", "requestId", ev.RequestID, "err", err)
		e := auditUnavailableError()
		return e.Status, e, http.Header{"Retry-After": {"5"}}
	}
	return 0, nil, nil
}

// auditFailed is step 3 failing: the record is not durable, so the result
// is withheld.
func (s *Server) auditFailed(ev *AuditEvent, err error) (int, any, http.Header) {
	slog.Error("audit: the record of a request that ran could not be written; answering 503",
		"requestId", ev.RequestID, "operation", ev.Operation, "hsm", ev.HSM, "err", err)
	e := auditUnavailableError()
	return e.Status, e, http.Header{"Retry-After": {"5"}}
}

// guardRecovered runs guard, turning a panic into a recorded 500. The panic
// value is not logged: it may hold request data.
func (s *Server) guardRecovered(r *http.Request, q url.Values, ev *AuditEvent) (status int, body any, extra http.Header) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			slog.Error("panic serving a request", "requestId", ev.RequestID, "operation", ev.Operation,
				"type", fmt.Sprintf("%T", p), "stack", string(debug.Stack()))
			e := &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "The server encountered an internal error."}
			status, body, extra = e.Status, e, nil
		}
	}()
	return s.guard(r, q, ev)
}

// auditRoutes serve the audit signing key of the HSM, to pin with
// `mhsm audit verify --public-key`. Reading it needs roleAssignments/read
// at "/" (Administrator, Policy Administrator, Crypto Auditor).
func (s *Server) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/mhsm/audit/publickey", Operation: "AuditPublicKeyGet", Action: rbac.RoleAssignRead, Handle: s.auditPublicKey},
	}
}

// AuditPublicKey is the body of GET /mhsm/audit/publickey.
type AuditPublicKey struct {
	KeyID        string `json:"kid"`
	Alg          string `json:"alg"`
	Chain        string `json:"chain"`
	PublicKeyPEM string `json:"publicKeyPem"`
}

func (s *Server) auditPublicKey(r *Request) (int, any, error) {
	if s.audit.keys == nil {
		return 0, nil, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "Audit is off on this server."}
	}
	k, err := s.audit.keys.PublicKey(r.Ctx, r.HSM.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, AuditPublicKey{KeyID: k.KeyID, Alg: k.Alg, Chain: r.HSM.Name, PublicKeyPEM: string(k.PEM())}, nil
}

// --- the token endpoint ---

type loginNoteKey struct{}

// loginNote carries back to auditBuffered the identity a token was issued
// to (token requests) or the authenticated caller (Graph).
type loginNote struct {
	caller audit.Caller
	upn    string // a password grant's username that names a user (auditupn.go)
}

// noteIdentity records, for the audit of a buffered request, whom a token
// was issued to or who called. Called by issueAccess, msiToken, serveGraph.
func noteIdentity(ctx context.Context, c *token.Claims) {
	if n, ok := ctx.Value(loginNoteKey{}).(*loginNote); ok {
		n.caller = audit.Caller{ObjectID: c.ObjectID, TenantID: c.TenantID, AppID: c.AppID, UPN: c.UPN, IDType: c.IDType}
	}
}

var (
	grantPattern    = regexp.MustCompile(`^[A-Za-z0-9_:.\-]{1,96}$`)
	upnPattern      = regexp.MustCompile(`^[^\s@]{1,64}@[A-Za-z0-9.\-]{1,128}$`)
	codePattern     = regexp.MustCompile(`^[A-Za-z_ ]{1,64}$`)
	resourcePattern = regexp.MustCompile(`^https://[A-Za-z0-9.\-]+(:[0-9]{1,5})?/?$`)
)

// serveLogin serves login.<domain>, auditing every POST (token requests)
// into the server chain before its response is released.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.login.ServeHTTP(w, r)
		return
	}
	op := "TokenRequest"
	if !strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/token") {
		op = "LoginRequest"
	}
	s.auditBuffered(w, r, s.login, op, describeTokenRequest)
}

// serveGraphAudited serves graph.<domain>: directory reads and changes are
// audited (server chain) like token requests; the record's id is Graph's
// request-id.
func (s *Server) serveGraphAudited(w http.ResponseWriter, r *http.Request) {
	s.auditBuffered(w, r, http.HandlerFunc(s.serveGraph), "GraphRequest", func(e *audit.Event, r *http.Request, rec *bufferedResponse) {
		if id := rec.header.Get("request-id"); audit.IsGUID(id) {
			e.RequestID = id
		}
		e.Properties["httpMethod"] = r.Method
		e.RequestURI = publicURI(r, r.URL.Query())
		e.TenantID = e.Caller.TenantID
		if rec.status >= 400 {
			var body struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if json.Unmarshal(rec.body.Bytes(), &body) == nil && graphCodePattern.MatchString(body.Error.Code) {
				e.ResultDescription = body.Error.Code
			}
		}
	})
}

var graphCodePattern = regexp.MustCompile(`^[A-Za-z_]{1,64}$`)

// auditTokenRequest audits a token request served by h (the managed
// identity endpoint).
func (s *Server) auditTokenRequest(w http.ResponseWriter, r *http.Request, h http.Handler, op string) {
	s.auditBuffered(w, r, h, op, describeTokenRequest)
}

// auditBuffered serves r with h, holding the response until its audit
// record (server chain) is durable; 503 without running h when the log
// cannot write. describe adds what may be recorded about the request.
func (s *Server) auditBuffered(w http.ResponseWriter, r *http.Request, h http.Handler, op string, describe func(*audit.Event, *http.Request, *bufferedResponse)) {
	start := time.Now()
	e := &audit.Event{Time: start.UTC(), RequestID: uuid.NewString(), Operation: op,
		CallerIP: clientIP(r), ClientInfo: r.UserAgent(), Properties: map[string]string{}}
	e.RequestURI = (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path}).String()
	if c := r.Header.Get("client-request-id"); audit.IsGUID(c) {
		e.CorrelationID = c
	}
	w.Header().Set("x-ms-request-id", e.RequestID)
	if err := s.audit.log.Ready(""); err != nil {
		slog.Warn("audit: request refused, the audit log cannot be written", "requestId", e.RequestID, "err", err)
		w.Header().Set("Retry-After", "5")
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The audit log cannot be written; the request was not processed.")
		return
	}
	note := &loginNote{}
	r2 := r.WithContext(context.WithValue(r.Context(), loginNoteKey{}, note))
	rec := &bufferedResponse{header: http.Header{}}
	h.ServeHTTP(rec, r2)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	e.Status, e.Duration, e.Caller = rec.status, time.Since(start), note.caller
	describe(e, r2, rec)
	if err := s.audit.log.Record(r.Context(), e); err != nil {
		slog.Error("audit: the record of a request could not be written; answering 503", "requestId", e.RequestID, "err", err)
		w.Header().Set("Retry-After", "5")
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The audit log cannot be written; the request was not processed.")
		return
	}
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	w.Header().Set("x-ms-request-id", e.RequestID)
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// describeTokenRequest adds what may be recorded about a token request:
// the tenant, grant type, client id (HMAC'd when it does not look like an
// identifier), user name (HMAC'd unless it names a user), and the OAuth
// error code.
func describeTokenRequest(e *audit.Event, r *http.Request, rec *bufferedResponse) {
	if t := r.PathValue("tenant"); audit.IsGUID(t) {
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
		e.Hash("clientIdHash", clientID)
	}
	switch u := f.Get("username"); {
	case u == "":
	case knownUsername(r.Context(), u):
		e.Properties["username"] = u
	default:
		e.Hash("usernameHash", u)
	}
	if rec.status >= 400 {
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &body) == nil && codePattern.MatchString(body.Error) {
			e.ResultDescription = body.Error
		}
	}
}

// bufferedResponse holds a response until its audit record is durable.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
