package rbac

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// ErrBadScope is returned for a scope that is not "/", "/keys" or
// "/keys/{name}".
var ErrBadScope = errors.New("rbac: invalid scope")

// KeyNamePattern is the key name syntax of Managed HSM.
var KeyNamePattern = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

// CanonicalScope maps a scope to its canonical form: "/" for the whole HSM
// ("/" and "/keys" are equivalent) or "/keys/{name}" with the name
// lower-cased (key names are case-insensitive). Percent-escapes are decoded
// once, repeated and trailing slashes are dropped, and "." or ".." segments
// are refused rather than resolved, so "/keys/a" never matches "/keys/ab"
// and no spelling reaches another key.
func CanonicalScope(s string) (string, error) {
	dec, err := url.PathUnescape(s)
	if err != nil {
		return "", ErrBadScope
	}
	var segs []string
	for _, p := range strings.Split(dec, "/") {
		switch p {
		case "":
			continue
		case ".", "..":
			return "", ErrBadScope
		}
		segs = append(segs, p)
	}
	switch {
	case len(segs) == 0:
		return "/", nil
	case len(segs) == 1 && strings.EqualFold(segs[0], "keys"):
		return "/", nil
	case len(segs) == 2 && strings.EqualFold(segs[0], "keys") && KeyNamePattern.MatchString(segs[1]):
		return "/keys/" + strings.ToLower(segs[1]), nil
	}
	return "", ErrBadScope
}

// KeyScope returns the canonical scope of key name.
func KeyScope(name string) string { return "/keys/" + strings.ToLower(name) }
