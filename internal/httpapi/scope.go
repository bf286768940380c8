package httpapi

import (
	"strings"

	"github.com/mhsm/mhsm/internal/rbac"
)

// authzScope is the canonical scope a request on rt is decided at:
// "/keys/{name}" for key-scoped routes; "/" for role definitions, which
// live at "/" whatever scope form the path uses (issue #14.1); "/keys" for
// the key collection (list, restore, deleted keys) and the role assignment
// API under /keys; "/" for everything else. "/keys" is a scope of its own:
// a grant there covers every key but not the HSM.
func (rt *Route) authzScope(params Params) (string, error) {
	if rt.KeyScoped {
		if !rbac.KeyNamePattern.MatchString(params["name"]) {
			return "", errBadRequest("The key name " + quoteSafe(params["name"]) + " is invalid: use 1 to 127 letters, digits and dashes.")
		}
		return rbac.KeyScope(params["name"]), nil
	}
	p := strings.ToLower(rt.Pattern)
	switch {
	case strings.Contains(p, "/providers/microsoft.authorization/roledefinitions"):
		return rbac.HSMScope, nil
	case p == "/keys" || strings.HasPrefix(p, "/keys/") || p == "/deletedkeys" || strings.HasPrefix(p, "/deletedkeys/"):
		return rbac.KeysScope, nil
	}
	return rbac.HSMScope, nil
}
