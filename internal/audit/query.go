package audit

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Record is an AuditEvent line as read back.
type Record struct {
	Time            time.Time       `json:"time"`
	ID              string          `json:"id"`
	ResourceID      string          `json:"resourceId"`
	Operation       string          `json:"operationName"`
	ResultType      string          `json:"resultType"`
	ResultSignature string          `json:"resultSignature"`
	DurationMs      int64           `json:"durationMs"`
	CallerIP        string          `json:"callerIpAddress"`
	CorrelationID   string          `json:"correlationId"`
	Seq             uint64          `json:"seq"`
	Status          int             `json:"-"`
	RequestURI      string          `json:"-"`
	Caller          Caller          `json:"-"`
	Raw             json.RawMessage `json:"-"`
}

type recordWire struct {
	Record
	Category   string `json:"category"`
	Identity   string `json:"identity"`
	Properties struct {
		RequestURI     string `json:"requestUri"`
		HTTPStatusCode int    `json:"httpStatusCode"`
	} `json:"properties"`
}

// wireIdentity is Azure's identity claim object (written as a JSON string), as
// records are read back; encode.go writes it by hand.
type wireIdentity struct {
	Claim struct {
		AppID  string `json:"appid,omitempty"`
		IDType string `json:"idtyp,omitempty"`
		MS     struct {
			Claims struct {
				ObjectID string `json:"objectidentifier,omitempty"`
				TenantID string `json:"tenantid,omitempty"`
			} `json:"claims"`
		} `json:"http_schemas_microsoft_com_identity"`
		SOAP *struct {
			Claims struct {
				UPN string `json:"upn"`
			} `json:"claims"`
		} `json:"http_schemas_xmlsoap_org_ws_2005_05_identity,omitempty"`
	} `json:"claim"`
}

// ParseRecord decodes an AuditEvent line; ok is false for checkpoints and
// lines that are not records.
func ParseRecord(line []byte) (Record, bool) {
	var w recordWire
	if json.Unmarshal(line, &w) != nil || w.Category != CategoryAuditEvent {
		return Record{}, false
	}
	r := w.Record
	r.Status, r.RequestURI = w.Properties.HTTPStatusCode, w.Properties.RequestURI
	if w.Identity != "" {
		var id wireIdentity
		if json.Unmarshal([]byte(w.Identity), &id) == nil {
			r.Caller = Caller{ObjectID: id.Claim.MS.Claims.ObjectID, TenantID: id.Claim.MS.Claims.TenantID,
				AppID: id.Claim.AppID, IDType: id.Claim.IDType}
			if id.Claim.SOAP != nil {
				r.Caller.UPN = id.Claim.SOAP.Claims.UPN
			}
		}
	}
	r.Raw = append(json.RawMessage(nil), line...)
	return r, true
}

// Filter selects records; zero fields match everything.
type Filter struct {
	Since, Until time.Time
	// Principal matches the caller's object id, app id or UPN.
	Principal string
	// Operation matches operationName (case-insensitive).
	Operation string
	// Result is "Success" or "Failure" (resultType), an HTTP status such
	// as "403", or a resultSignature such as "Forbidden".
	Result    string
	RequestID string
}

// Match reports whether r passes f.
func (f *Filter) Match(r *Record) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	case f.Operation != "" && !strings.EqualFold(f.Operation, r.Operation):
		return false
	case f.RequestID != "" && !strings.EqualFold(f.RequestID, r.ID):
		return false
	case f.Principal != "" && !strings.EqualFold(f.Principal, r.Caller.ObjectID) &&
		!strings.EqualFold(f.Principal, r.Caller.AppID) && !strings.EqualFold(f.Principal, r.Caller.UPN):
		return false
	}
	if f.Result != "" {
		if n, err := strconv.Atoi(f.Result); err == nil {
			return n == r.Status
		}
		return strings.EqualFold(f.Result, r.ResultType) || strings.EqualFold(f.Result, r.ResultSignature)
	}
	return true
}

// Query calls fn for every record of s that f matches, in log order.
// Records of delivered logs are deduplicated by id.
func (s *Source) Query(ctx context.Context, f *Filter, fn func(*Record) error) error {
	seen := map[string]bool{}
	return s.forEachLine(ctx, func(_ string, line []byte) error {
		r, ok := ParseRecord(line)
		if !ok || !f.Match(&r) {
			return nil
		}
		if s.Delivered && r.ID != "" {
			if seen[r.ID] {
				return nil
			}
			seen[r.ID] = true
		}
		return fn(&r)
	}, nil)
}
