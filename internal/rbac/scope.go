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

// CanonicalScope maps a scope to its canonical form: "/" for the whole HSM,
// "/keys" for every key (a scope of its own, distinct from "/"), or
// "/keys/{name}" with the name lower-cased (key names are case-insensitive). Percent-escapes are decoded
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
		return KeysScope, nil
	case len(segs) == 2 && strings.EqualFold(segs[0], "keys") && KeyNamePattern.MatchString(segs[1]):
		return "/keys/" + strings.ToLower(segs[1]), nil
	}
	return "", ErrBadScope
}

// HSMScope is the scope of the whole HSM; KeysScope the scope of all its
// keys, covering every "/keys/{name}".
const (
	HSMScope  = "/"
	KeysScope = "/keys"
)

// covering lists the canonical scopes whose grants apply at scope, widest
// first: "/" always, "/keys" for "/keys" and every key, then the key.
func covering(scope string) []string {
	switch {
	case scope == HSMScope:
		return []string{HSMScope}
	case scope == KeysScope:
		return []string{HSMScope, KeysScope}
	case strings.HasPrefix(scope, KeysScope+"/"):
		return []string{HSMScope, KeysScope, scope}
	}
	return []string{HSMScope, scope}
}

// Covers reports whether a grant at scope outer applies at scope inner
// (both canonical).
func Covers(outer, inner string) bool {
	for _, s := range covering(inner) {
		if s == outer {
			return true
		}
	}
	return false
}

// KeyScope returns the canonical scope of key name.
func KeyScope(name string) string { return "/keys/" + strings.ToLower(name) }
