package app

import "net/http"

// WrapHandler wraps the HTTPS handler with w (for tests that record every
// request, such as test/compat). Call it before Serve.
func (a *App) WrapHandler(w func(http.Handler) http.Handler) { a.srv.Handler = w(a.srv.Handler) }
