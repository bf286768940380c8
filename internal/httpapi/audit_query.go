package httpapi

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
)

// GET /mhsm/audit/events: the HSM's own audit records, filtered as
// `mhsm audit query` filters them (since, until, principal, operation,
// result), the newest `limit` (default 500, at most 5000) oldest first,
// with the verdict of verifying the HSM's chain against its signing key
// — what the console's timeline shows. Like the public key, it needs
// roleAssignments/read at "/" (Administrator, Policy Administrator,
// Crypto Auditor). It reads the chain's files on every call: a view for
// people, not a bulk export (the files themselves are that).

// AuditEventList is the body of GET /mhsm/audit/events.
type AuditEventList struct {
	Value        []AuditEventRow   `json:"value"`
	Verification AuditVerification `json:"verification"`
}

// AuditEventRow is one record as the console shows it.
type AuditEventRow struct {
	Time            time.Time `json:"time"`
	ID              string    `json:"id"`
	Operation       string    `json:"operationName"`
	ResultType      string    `json:"resultType"`
	ResultSignature string    `json:"resultSignature"`
	Status          int       `json:"status"`
	Caller          string    `json:"caller"`
	CallerIP        string    `json:"callerIpAddress"`
}

// AuditVerification summarises audit.Report.
type AuditVerification struct {
	Lines           int      `json:"lines"`
	Records         int      `json:"records"`
	Checkpoints     int      `json:"checkpoints"`
	VerifiedThrough uint64   `json:"verifiedThrough"`
	LastSeq         uint64   `json:"lastSeq"`
	UnverifiedTail  int      `json:"unverifiedTail"`
	Problems        []string `json:"problems"`
}

func (s *Server) auditEvents(r *Request) (int, any, error) {
	dirOf, ok := s.audit.log.(interface{ Dir() string })
	if !ok || s.audit.keys == nil {
		return 0, nil, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "Audit is off on this server."}
	}
	q := r.Query
	var f audit.Filter
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return 0, nil, errBadRequest(p.name + " must be an RFC 3339 time.")
			}
			*p.to = t
		}
	}
	f.Principal, f.Operation, f.Result = q.Get("principal"), q.Get("operation"), q.Get("result")
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			return 0, nil, errBadRequest("limit must be 1 to 5000.")
		}
		limit = n
	}
	dir := dirOf.Dir()
	srcs, err := audit.FindSources(r.Ctx, audit.DirFiles(dir), filepath.Base(dir))
	if err != nil {
		return 0, nil, err
	}
	out := AuditEventList{Value: []AuditEventRow{}, Verification: AuditVerification{Problems: []string{}}}
	for _, src := range srcs {
		if src.Delivered || !strings.EqualFold(src.HSM, r.HSM.Name) {
			continue
		}
		err := src.Query(r.Ctx, &f, func(rec *audit.Record) error {
			out.Value = append(out.Value, AuditEventRow{Time: rec.Time, ID: rec.ID, Operation: rec.Operation, ResultType: rec.ResultType,
				ResultSignature: rec.ResultSignature, Status: rec.Status, Caller: firstOf(rec.Caller.UPN, rec.Caller.ObjectID, rec.Caller.AppID), CallerIP: rec.CallerIP})
			if len(out.Value) > 2*limit {
				out.Value = append(out.Value[:0], out.Value[len(out.Value)-limit:]...)
			}
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		pub, err := s.audit.keys.PublicKey(r.Ctx, r.HSM.Name)
		if err != nil {
			return 0, nil, err
		}
		rep, err := src.Verify(r.Ctx, pub.Key)
		if err != nil {
			return 0, nil, err
		}
		out.Verification = AuditVerification{Lines: rep.Lines, Records: rep.Records, Checkpoints: rep.Checkpoints,
			VerifiedThrough: rep.VerifiedThrough, LastSeq: rep.LastSeq, UnverifiedTail: rep.UnverifiedTail, Problems: []string{}}
		for i, p := range rep.Problems {
			if i == 20 {
				break
			}
			out.Verification.Problems = append(out.Verification.Problems, p.String())
		}
	}
	if len(out.Value) > limit {
		out.Value = out.Value[len(out.Value)-limit:]
	}
	return http.StatusOK, out, nil
}

// firstOf is the first non-empty string.
func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
