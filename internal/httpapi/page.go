package httpapi

import (
	"net/http"
	"strconv"
)

// rawPage is an answer that is not JSON: an HTML page (the login page), a
// redirect, or a static file of the console. The pipeline (edge.go)
// writes it with its own headers instead of writeJSON.
type rawPage struct {
	header      http.Header
	contentType string
	body        []byte
}

// write sends the page with the headers every page gets.
func (p *rawPage) write(w http.ResponseWriter, status int) {
	h := w.Header()
	for k, vs := range p.header {
		h[k] = vs
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	h.Set("Referrer-Policy", "no-referrer")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	if p.contentType != "" {
		h.Set("Content-Type", p.contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(p.body)))
	w.WriteHeader(status)
	_, _ = w.Write(p.body)
}
