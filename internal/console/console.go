// Package console is mhsm's web console: static HTML, CSS and one small
// vanilla JavaScript module per page, embedded in the binary and served on
// console.<domain> by internal/httpapi (console_plane.go). The page signs
// the user in with the authorization-code flow and PKCE on login.<domain>,
// keeps the tokens in memory only, and calls nothing but the public APIs
// (management, data plane) with them — so it can do nothing the user could
// not do with the CLI, and every call is audited as theirs.
//
// Read assets/app.js (sign-in, API calls, routing), then one page module.
package console

import (
	"embed"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// File is one embedded file.
type File struct {
	Body        []byte
	ContentType string
}

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Lookup returns the file served at urlPath, or nil. "/" and "/callback"
// (the OAuth redirect URI) are the single page, index.html.
func Lookup(urlPath string) *File {
	if urlPath == "/" || urlPath == "/callback" {
		urlPath = "/index.html"
	}
	name := strings.TrimPrefix(path.Clean(urlPath), "/")
	ct, ok := types[path.Ext(name)]
	if !ok || strings.Contains(name, "/") {
		return nil
	}
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return nil
	}
	return &File{Body: b, ContentType: ct}
}
