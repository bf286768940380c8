package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/rbac"
)

// keyAttestationRoutes is GET /keys/{name}[/{version}]/attestation (7.6,
// 2025-07-01): the key's public part with its attestation (hsm/keyattest.go),
// guarded by keys/read like the other key reads.
func (s *Server) keyAttestationRoutes() []Route {
	handle := func(r *Request) (int, any, error) {
		b, err := s.hsms.KeyAttestation(r.Ctx, r.HSM, r.Params["name"], r.Params["version"])
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, b, nil
	}
	return []Route{
		{Method: "GET", Pattern: "/keys/{name}/attestation", Operation: "KeyGetAttestation", Action: rbac.KeysRead, KeyScoped: true, Handle: handle},
		{Method: "GET", Pattern: "/keys/{name}/{version}/attestation", Operation: "KeyGetAttestation", Action: rbac.KeysRead, KeyScoped: true, Handle: handle},
	}
}
