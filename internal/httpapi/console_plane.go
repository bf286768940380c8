package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/console"
)

// console.<domain> in the edge pipeline (edge.go): the web console's
// static files (internal/console), every route public (no token: the page
// holds the user's tokens and calls the public APIs itself, cors.go), GET
// only, not audited (it reads nothing but the embedded files).

// consoleState is a console request's file.
type consoleState struct{ file *console.File }

// consolePlane is console.<domain>.
func (s *Server) consolePlane() *plane[consoleState] {
	notFound := &apiError{Status: http.StatusNotFound, Message: "404 page not found"}
	return &plane[consoleState]{
		newEvent: func(_ *Server, x *exchange[consoleState], start time.Time) *AuditEvent {
			return &AuditEvent{Time: start.UTC(), Operation: "ConsoleFile"}
		},
		begin: func(_ http.ResponseWriter, x *exchange[consoleState]) error {
			x.unaudited = true
			if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
				return &apiError{Status: http.StatusMethodNotAllowed, Message: "Method Not Allowed"}
			}
			f := console.Lookup(x.r.URL.Path)
			if f == nil {
				return notFound
			}
			x.state.file = f
			return nil
		},
		authenticate: noAuth[consoleState],
		authorize:    noAuthz[consoleState],
		act: func(x *exchange[consoleState]) (int, any, error) {
			f := x.state.file
			h := http.Header{
				"Content-Security-Policy": {s.consoleCSP()},
				"X-Frame-Options":         {"DENY"},
				"Cache-Control":           {"no-cache"},
			}
			return http.StatusOK, &rawPage{header: h, contentType: f.ContentType, body: f.Body}, nil
		},
		answer: func(_ *exchange[consoleState], err error) *apiError {
			var ae *apiError
			if errors.As(err, &ae) {
				return ae
			}
			return &apiError{Status: http.StatusInternalServerError, Message: "Internal Server Error"}
		},
		internal: func() *apiError {
			return &apiError{Status: http.StatusInternalServerError, Message: "Internal Server Error"}
		},
		writeError: func(w http.ResponseWriter, _ *exchange[consoleState], e *apiError) {
			http.Error(w, e.Message, e.Status)
		},
		unavailable: func() *apiError {
			return &apiError{Status: http.StatusServiceUnavailable, Message: "Service Unavailable"}
		},
	}
}

// consoleCSP allows the console's own files and calls to this server's
// API hosts only: no inline script or style, no other origin.
func (s *Server) consoleCSP() string {
	port := strings.TrimPrefix(s.cfg.URL("x"), "https://x."+s.cfg.Domain)
	apis := strings.Join([]string{s.cfg.URL("login"), s.cfg.URL("management"), s.cfg.URL("graph"),
		"https://*.managedhsm." + s.cfg.Domain + port}, " ")
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' " + apis +
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
}

// serveConsole serves console.<domain>.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	serve(s, s.consoleP, w, r, consoleState{})
}
