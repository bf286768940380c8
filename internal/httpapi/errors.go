package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/wire"
)

// apiError is an error with the status, Azure code and public message the
// edge answers with.
type apiError struct {
	Status  int
	Code    string
	Message string
	Inner   string // innererror code, if any
	// Header holds response headers sent with the error
	// (WWW-Authenticate, Retry-After).
	Header http.Header
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errBadRequest(msg string) error {
	return &apiError{Status: http.StatusBadRequest, Code: "BadParameter", Message: msg}
}

var statusOfKind = map[hsm.Kind]int{
	hsm.KindBadRequest:  http.StatusBadRequest,
	hsm.KindNotFound:    http.StatusNotFound,
	hsm.KindConflict:    http.StatusConflict,
	hsm.KindForbidden:   http.StatusForbidden,
	hsm.KindUnavailable: http.StatusServiceUnavailable,
}

// toAPIError maps any error to what the caller sees. Unknown errors become
// a 500 whose message says nothing about the cause, which is logged once
// here with the activity id.
func toAPIError(err error, activity string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if he, ok := hsm.AsError(err); ok {
		return &apiError{Status: statusOfKind[he.Kind], Code: he.Code, Message: he.Message}
	}
	slog.Error("internal error", "activity", activity, "err", err)
	return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "The server encountered an internal error."}
}

// writeJSON writes v with Azure's headers.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	if v == nil {
		h.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes the Azure error body; the message ends with the
// activity id as Managed HSM's do.
func writeError(w http.ResponseWriter, e *apiError, activity string) {
	d := wire.ErrorDetail{Code: e.Code, Message: e.Message + " (Activity ID: " + activity + ")"}
	if e.Inner != "" {
		d.InnerError = &wire.InnerError{Code: e.Inner}
	}
	writeJSON(w, e.Status, wire.Error{Error: d})
}
