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
// Every plane uses it: the data, management and Graph planes in their
// error mappers (toAPIError, toARMError, toGraphError) and in their
// authenticate steps, where a store that did not answer is no verdict on
// the token (503, not 401); the token plane through oauthStoreError.
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

// oauthStoreError is storeError in OAuth2's shape, for the token plane: a
// credential check the store could not answer is 503 temporarily_unavailable
// (not invalid_client); nil for any other error.
func oauthStoreError(err error) *apiError {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		slog.Warn("store unavailable", "err", err)
		return &apiError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Message: "The service is temporarily unavailable; retry the request."}
	}
	return nil
}
