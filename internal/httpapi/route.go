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
	// Handle acts once the pipeline (edge.go, data.go) has authenticated
	// and authorized the request: a method of Server, named in the table.
	// It returns the status and body of a success, or an error the
	// pipeline maps to Azure's error body (errors.go).
	Handle func(*Request) (int, any, error)
}

// dataRouteSpec is the router's view of a Route.
func dataRouteSpec(r *Route) (string, string) { return r.Method, r.Pattern }

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

// router matches canonical segments to the routes of one plane (R is
// the plane's route type): the route with the most literal segments wins,
// and on a tie a fixed path beats one with a leading "{scope*}", which
// matches any number of segments (ARM scopes) and is returned as the
// parameter "scope" ("/a/b").
type router[R any] struct{ entries []routeEntry[R] }

type routeEntry[R any] struct {
	method string
	segs   []string // without a leading "{scope*}"
	star   bool
	route  *R
}

// newRouter compiles routes; spec returns a route's method and pattern.
func newRouter[R any](routes []R, spec func(*R) (method, pattern string)) *router[R] {
	r := &router[R]{}
	for i := range routes {
		rt := &routes[i]
		method, pattern := spec(rt)
		segs, _ := splitPath(pattern)
		e := routeEntry[R]{method: method, segs: segs, route: rt}
		if len(segs) > 0 && segs[0] == "{scope*}" {
			e.segs, e.star = segs[1:], true
		}
		r.entries = append(r.entries, e)
	}
	return r
}

// match returns the route for method and segs; pathExists reports whether
// the path exists with another method (for 405).
func (r *router[R]) match(method string, segs []string) (rt *R, p Params, pathExists bool) {
	best, win := -1, -1
	for i := range r.entries {
		e := &r.entries[i]
		lits, ok := e.matchSegs(segs)
		if !ok {
			continue
		}
		pathExists = true
		score := 2 * lits
		if !e.star {
			score++
		}
		if e.method == method && score > best {
			best, win = score, i
		}
	}
	if win < 0 {
		return nil, nil, pathExists
	}
	e := &r.entries[win]
	p = Params{}
	if e.star {
		n := len(segs) - len(e.segs)
		p["scope"] = "/" + strings.Join(segs[:n], "/")
		segs = segs[n:]
	}
	for i, s := range e.segs {
		if strings.HasPrefix(s, "{") {
			p[strings.Trim(s, "{}")] = segs[i]
		}
	}
	return e.route, p, true
}

// matchSegs reports whether segs match e, and with how many literals.
func (e *routeEntry[R]) matchSegs(segs []string) (int, bool) {
	if e.star {
		if len(segs) < len(e.segs) {
			return 0, false
		}
		segs = segs[len(segs)-len(e.segs):]
	}
	if len(e.segs) != len(segs) {
		return 0, false
	}
	lits := 0
	for i, s := range e.segs {
		if strings.HasPrefix(s, "{") {
			continue
		}
		if !strings.EqualFold(s, segs[i]) {
			return 0, false
		}
		lits++
	}
	return lits, true
}

// methodNotAllowed is the status for a known path with another method.
const methodNotAllowed = http.StatusMethodNotAllowed
