package httpapi

import (
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/rbac"
)

// TestBeforeActivationRoutes pins what an HSM that is not activated
// serves: the security domain routes and role reads, nothing else. A new
// route marked BeforeActivation fails here until it is added on purpose.
func TestBeforeActivationRoutes(t *testing.T) {
	s := &Server{}
	sd := 0
	for _, r := range s.DataRoutes() {
		id := r.Method + " " + r.Pattern
		isSD := strings.HasPrefix(r.Pattern, "/securitydomain/")
		isRoleRead := r.Method == "GET" && (r.Action == rbac.RoleAssignRead || r.Action == rbac.RoleDefRead) &&
			strings.Contains(r.Pattern, "/providers/Microsoft.Authorization/")
		if isSD {
			sd++
		}
		if r.BeforeActivation != (isSD || isRoleRead) {
			t.Errorf("%s: BeforeActivation = %v", id, r.BeforeActivation)
		}
	}
	if sd != 5 {
		t.Errorf("%d security domain routes, want 5", sd)
	}
}
