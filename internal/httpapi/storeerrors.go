package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/mhsm/mhsm/internal/store"
)

// storeError maps the shared store's failures to what the caller sees, or
// returns nil: no quorum (the write was not acknowledged; retry) is 503,
// an optimistic transaction that kept losing to concurrent writers is 409.
func storeError(err error) *apiError {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		slog.Warn("store unavailable", "err", err)
		return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
			Message: "The service is temporarily unavailable. The request was not acknowledged and may or may not have been applied; retry it."}
	case errors.Is(err, store.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: "Conflict",
			Message: "The resource was changed concurrently; retry the request."}
	}
	return nil
}
