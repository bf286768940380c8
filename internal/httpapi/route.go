// Package httpapi is the HTTP edge of mhsm: virtual hosts, the route table,
// the one guard pipeline every data-plane request passes (canonicalise →
// authenticate → authorize → audit → act), and the mapping of errors to
// Azure's JSON error body. Read route.go, pipeline.go, then one file per
// resource (keys.go, login.go).
package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mhsm/mhsm/internal/rbac"
)

// DefaultBodyLimit bounds request bodies unless a route says otherwise.
const DefaultBodyLimit = 64 << 10

// Route is one data-plane operation, declared as data: its method and path
// pattern, the data action it needs and at which scope, its body limit, and
// the handler that acts once the pipeline has allowed the request.
type Route struct {
	Method string
	// Pattern is a path such as "/keys/{name}/{version}/sign". Literal
	// segments match case-insensitively.
	Pattern string
	// Operation names the operation in audit records (Azure's names).
	Operation string
	// Action is the data action required; every route has one.
	Action rbac.Action
	// KeyScoped routes are authorized at "/keys/{name}"; others at "/".
	KeyScoped bool
	// BodyLimit overrides DefaultBodyLimit when non-zero.
	BodyLimit int64
	// BeforeActivation routes are served by an HSM that is not activated
	// yet (security domain routes, and role reads for its initial
	// administrators); every other route answers HSMNotActivated there.
	BeforeActivation bool
	Handle           func(*Request) (int, any, error)

	segs []string
}

// Params are the values of a route's {placeholders}.
type Params map[string]string

// errBadPath is returned for paths with "." or ".." segments or bad escapes.
var errBadPath = errors.New("invalid path")

// splitPath canonicalises a request path into segments: repeated and
// trailing slashes are dropped, each segment is percent-decoded once, and
// "." and ".." are refused rather than resolved. Routing and authorization
// both use these segments, so they cannot disagree about what a path names.
func splitPath(escaped string) ([]string, error) {
	var segs []string
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		d, err := url.PathUnescape(s)
		if err != nil || d == "." || d == ".." || strings.Contains(d, "/") {
			return nil, errBadPath
		}
		segs = append(segs, d)
	}
	return segs, nil
}

// router matches canonical segments to routes; the route with the most
// literal segments wins.
type router struct {
	routes []*Route
}

func newRouter(routes []Route) *router {
	r := &router{}
	for i := range routes {
		rt := routes[i]
		rt.segs, _ = splitPath(rt.Pattern)
		r.routes = append(r.routes, &rt)
	}
	return r
}

// match returns the route for method and segs; allowed reports whether
// the path exists with another method (for 405).
func (r *router) match(method string, segs []string) (rt *Route, p Params, pathExists bool) {
	best := -1
	for _, cand := range r.routes {
		if len(cand.segs) != len(segs) {
			continue
		}
		lits, ok := 0, true
		for i, s := range cand.segs {
			if strings.HasPrefix(s, "{") {
				continue
			}
			if !strings.EqualFold(s, segs[i]) {
				ok = false
				break
			}
			lits++
		}
		if !ok {
			continue
		}
		pathExists = true
		if cand.Method == method && lits > best {
			best, rt = lits, cand
		}
	}
	if rt == nil {
		return nil, nil, pathExists
	}
	p = Params{}
	for i, s := range rt.segs {
		if strings.HasPrefix(s, "{") {
			p[strings.Trim(s, "{}")] = segs[i]
		}
	}
	return rt, p, true
}

// methodNotAllowed is the status for a known path with another method.
const methodNotAllowed = http.StatusMethodNotAllowed
