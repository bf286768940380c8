package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mhsm/mhsm/internal/clock"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
)

// Dev mode's test-double routes, on every HSM host under /mhsm/dev. They
// exist only when Deps.Dev is set (mhsm server --dev); otherwise the path
// is unknown (404). They are ordinary data-plane routes: authenticated,
// authorized and audited by the one pipeline. Reading needs
// settings/read/action, changing the clock or the faults needs
// settings/write/action (of the built-in roles, Administrator has both),
// and exporting the state needs backup/start/action (Administrator,
// Backup) — the action that already lets a caller take everything.

// Dev is what dev mode adds to the edge.
type Dev struct {
	// Clock is the server's business clock; it must be movable.
	Clock *clock.Clock
	// Export returns the canonical state dump (devexport.go); nil means
	// the export route is not offered.
	Export func(ctx context.Context, includeSecrets bool) (any, error)
}

// devEdge is the dev-mode state of the edge.
type devEdge struct {
	Dev
	faults faultSet // devfaults.go
}

// ClockState is the answer of the clock routes.
type ClockState struct {
	// Now is the server's business time (RFC 3339, UTC).
	Now string `json:"now"`
	// Offset is how far it is ahead of the wall clock (Go duration).
	Offset string `json:"offset"`
	// OffsetSeconds is Offset in whole seconds.
	OffsetSeconds int64 `json:"offsetSeconds"`
}

// ClockAdvance is the body of POST /mhsm/dev/clock.
type ClockAdvance struct {
	// Advance is an ISO 8601 duration such as "P30D" or "PT12H".
	Advance string `json:"advance"`
}

// devRoutes is the /mhsm/dev route table (nil outside dev mode).
func (s *Server) devRoutes() []Route {
	if s.dev == nil {
		return nil
	}
	return []Route{
		{Method: "GET", Pattern: "/mhsm/dev/clock", Operation: "MhsmDevClockGet", Action: rbac.SettingsRead, Handle: s.devClockGet},
		{Method: "POST", Pattern: "/mhsm/dev/clock", Operation: "MhsmDevClockAdvance", Action: rbac.SettingsWrite, Handle: s.devClockAdvance},
		{Method: "GET", Pattern: "/mhsm/dev/faults", Operation: "MhsmDevFaultsList", Action: rbac.SettingsRead, Handle: s.devFaultsList},
		{Method: "POST", Pattern: "/mhsm/dev/faults", Operation: "MhsmDevFaultsAdd", Action: rbac.SettingsWrite, Handle: s.devFaultsAdd},
		{Method: "DELETE", Pattern: "/mhsm/dev/faults", Operation: "MhsmDevFaultsClear", Action: rbac.SettingsWrite, Handle: s.devFaultsClear},
		{Method: "POST", Pattern: "/mhsm/dev/export", Operation: "MhsmDevExport", Action: rbac.BackupStart, Handle: s.devExport},
	}
}

func (s *Server) devClockState() ClockState {
	off := s.dev.Clock.Offset()
	return ClockState{Now: s.dev.Clock.Now().UTC().Format(time.RFC3339), Offset: off.String(), OffsetSeconds: int64(off / time.Second)}
}

func (s *Server) devClockGet(*Request) (int, any, error) {
	return http.StatusOK, s.devClockState(), nil
}

// devClockAdvance moves the clock, then runs the periodic work (rotation
// by policy, purge of deleted keys and HSMs past their purge date) at once,
// so the caller sees its effects when the answer arrives.
func (s *Server) devClockAdvance(r *Request) (int, any, error) {
	var in ClockAdvance
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	d, err := hsm.ISODurationFrom(in.Advance, s.dev.Clock.Now())
	if err != nil {
		return 0, nil, errBadRequest("advance must be an ISO 8601 duration such as P30D or PT12H.")
	}
	if _, err := s.dev.Clock.Advance(d); err != nil {
		if errors.Is(err, clock.ErrBackwards) {
			return 0, nil, errBadRequest("advance must be positive: the clock only moves forward.")
		}
		return 0, nil, err
	}
	s.hsms.Tick(r.Ctx)
	return http.StatusOK, s.devClockState(), nil
}

// ExportRequest is the body of POST /mhsm/dev/export.
type ExportRequest struct {
	// IncludeSecrets adds key material and client secrets to the dump.
	IncludeSecrets bool `json:"includeSecrets"`
}

func (s *Server) devExport(r *Request) (int, any, error) {
	if s.dev.Export == nil {
		return 0, nil, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "Export is not offered by this server."}
	}
	var in ExportRequest
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, err := s.dev.Export(r.Ctx, in.IncludeSecrets)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}
