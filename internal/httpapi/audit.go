package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/token"
)

// Audit at the edge. Every request on the data plane, the management plane,
// Graph and the token endpoints becomes exactly one audit record, written
// durably before the response, by the one pipeline (edge.go serve):
//
//  1. before acting, Ready: a chain that cannot write means 503 and the
//     handler does not run;
//  2. the plane's steps run and fill an AuditEvent — the decision as they
//     make it, the error code from the error they return (panics become
//     500s, so they are recorded too);
//  3. Record, which returns once the record is fsync'd (group commit);
//     if it fails the computed response is withheld and the caller gets
//     503 (the handler did run: the only window, logged as an error).
//     Nothing is written to the client before this step.
//
// Records go to the chain of the HSM named by the request when it exists,
// and to the server chain otherwise (unknown HSM names, token and Graph
// requests). What token requests record is in login_plane.go. Discovery
// and JWKS GETs (public metadata) and requests for unknown hosts are not
// audited.

// AuditEvent is what the pipeline (edge.go) learns about a
// request as it goes; the auditor turns it into an audit.Event (Azure's
// AuditEvent schema) once the outcome is known. It holds nothing secret:
// the bearer token only as its SHA-256. Make it with newAuditEvent; with
// audit off it holds only what the pipeline itself uses (RequestID,
// ClientIP, CorrelationID, then what the plane's steps fill).
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
	// of its hex form): the one the verifier computed (authenticate), else
	// computed from the Authorization header when the record is made.
	tokenDigest token.Digest
	// ResultDescription is a short public reason (an error code).
	ResultDescription string
	// Properties are further non-secret properties.
	Properties map[string]string
	// TenantID files the record under a tenant when no HSM chain names
	// one (Graph: the caller's; token requests: the path's).
	TenantID string
	// issuance marks token requests: their operation names stand even
	// when the answer is 401, and no bearer token is hashed.
	issuance bool
	// knownUsername is a password grant's username once the handler has
	// found it names a user (auditupn.go); only then is it recorded in
	// clear.
	knownUsername string
	// noTokenHash: the record carries no token hash (Graph).
	noTokenHash bool
	// hashed are sensitive properties recorded only as HMACs.
	hashed [][2]string
}

// hash records a sensitive property as an HMAC (audit.Event.Hash).
func (ev *AuditEvent) hash(name, sensitive string) {
	ev.hashed = append(ev.hashed, [2]string{name, sensitive})
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
	} else {
		e.TenantID = ev.TenantID
	}
	for _, h := range ev.hashed {
		e.Hash(h[0], h[1])
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
	if ev.Status == http.StatusUnauthorized && ev.Operation != "Authentication" && !ev.issuance {
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

// auditRoutes serve the audit signing key of the HSM, to pin with
// `mhsm audit verify --public-key`. Reading it needs roleAssignments/read
// at "/" (Administrator, Policy Administrator, Crypto Auditor).
func (s *Server) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/mhsm/audit/publickey", Operation: "AuditPublicKeyGet", Action: rbac.RoleAssignRead, Handle: s.auditPublicKey},
		{Method: "GET", Pattern: "/mhsm/audit/events", Operation: "AuditEventList", Action: rbac.RoleAssignRead, Handle: s.auditEvents},
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
