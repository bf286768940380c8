package httpapi

import (
	"net/http"
	"strings"
)

// Cross-origin access for the web console (console_plane.go): the page at
// https://console.<domain>[:port] calls login., management., graph. and
// <hsm>.managedhsm. with the signed-in user's bearer tokens. Only that
// origin, compared exactly, is allowed; no credentials (cookies) are ever
// allowed cross-origin, so a call carries only the token the page holds.
// A preflight OPTIONS is answered here, before the pipeline, without
// authentication (it carries no token and acts on nothing).

// corsAllowHeaders are the request headers the console sends.
const corsAllowHeaders = "Authorization, Content-Type, client-request-id, x-ms-client-request-id"

// cors adds the CORS headers for the console origin on an API host and
// answers a preflight; it reports whether the request was answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request, apiHost bool) bool {
	origin := r.Header.Get("Origin")
	if !apiHost || origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin != s.cfg.URL("console") {
		return false // no CORS headers: the browser refuses to share the answer
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "x-ms-request-id, Retry-After")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	switch strings.ToUpper(r.Header.Get("Access-Control-Request-Method")) {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
	default:
		w.WriteHeader(http.StatusForbidden)
		return true
	}
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
