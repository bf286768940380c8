package audit

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one request as the audit log records it: Azure's AuditEvent
// schema (time, resourceId, operationName, operationVersion, category,
// resultType, resultSignature, durationMs, callerIpAddress, correlationId,
// identity, properties). Fill it as the request goes; Log.Record encodes
// it once, after the outcome is known.
//
// Nothing secret may be put in an Event: no key material, plaintext,
// ciphertext, signatures, tokens or client secrets. A value that must be
// correlatable but not readable (a bearer token, a client id that may be a
// mistyped secret) goes through Hash, which records HMAC-SHA256 under the
// chain's audit HMAC key instead. String and LogValue print only the
// request id, so an Event in a log line cannot leak what Hash holds.
type Event struct {
	// Time is when the request arrived.
	Time time.Time
	// HSM names the HSM the request was for; it picks the chain (and the
	// signing key). "" is the server log: token endpoint calls and requests
	// for HSM names that do not exist.
	HSM string
	// ResourceID is the ARM id; empty means the Log's resolver fills it
	// from HSM.
	ResourceID string
	// TenantID is the tenant of the HSM (or of the token request).
	TenantID string
	// Operation is Azure's operationName ("KeySign", "Authentication", …).
	Operation string
	// OperationVersion is the api-version the client sent.
	OperationVersion string
	// Status is the HTTP status returned; resultType and resultSignature
	// derive from it.
	Status int
	// ResultDescription is a short public reason, e.g. an error code.
	ResultDescription string
	// Duration is the server time spent (recorded as durationMs).
	Duration time.Duration
	// CallerIP is callerIpAddress.
	CallerIP string
	// CorrelationID is the client's x-ms-client-request-id, if any.
	CorrelationID string
	// RequestID is the server's x-ms-request-id; it is the record's "id".
	RequestID string
	// RequestURI is the URL requested (with an allow-listed query).
	RequestURI string
	// ClientInfo is the User-Agent.
	ClientInfo string
	// Caller is the authenticated identity, if any.
	Caller Caller
	// DataAction and Scope are what authorization was asked.
	DataAction string
	Scope      string
	// Authorized is the decision (nil: no decision was made).
	Authorized *bool
	// AssignmentID and RoleID name the role assignment that granted access.
	AssignmentID string
	RoleID       string
	// Properties are further non-secret properties.
	Properties map[string]string

	hashed map[string]string
}

// Caller is the identity of an authenticated caller.
type Caller struct {
	ObjectID string
	TenantID string
	AppID    string
	UPN      string
	IDType   string
}

// Hash records name as the HMAC of a sensitive value (the value itself is
// never written). Calling it again with the same name replaces the value.
func (e *Event) Hash(name, sensitive string) {
	if e.hashed == nil {
		e.hashed = map[string]string{}
	}
	e.hashed[name] = sensitive
}

// String prints only the request id.
func (e *Event) String() string { return "audit.Event{" + e.RequestID + "}" }

// LogValue prints only the request id and operation.
func (e *Event) LogValue() slog.Value {
	return slog.GroupValue(slog.String("requestId", e.RequestID), slog.String("operation", e.Operation))
}

// ResultType is "Success" for 1xx–3xx statuses and "Failure" otherwise.
func ResultType(status int) string {
	if status > 0 && status < 400 {
		return "Success"
	}
	return "Failure"
}

// resultSignature is the HTTP status text ("OK", "Forbidden", …).
func resultSignature(status int) string {
	if t := http.StatusText(status); t != "" {
		return strings.ReplaceAll(t, " ", "")
	}
	return fmt.Sprint(status)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

var guidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// IsGUID reports whether v is a GUID. Identifiers the caller chooses (a
// client id, a client request id) are recorded as they are only when they
// are GUIDs; anything else goes through Event.Hash, so a secret pasted into
// an identifier field is never written.
func IsGUID(v string) bool { return guidPattern.MatchString(v) }
