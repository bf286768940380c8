package httpapi

import "github.com/mhsm/mhsm/internal/hsm"

// challengeHeader is the data plane's WWW-Authenticate value: the
// authority (https://login.<domain>/<tenant>, or …/adfs with
// Config.ADFSChallenge) and the resource, https://managedhsm.<domain>.
func (s *Server) challengeHeader(h *hsm.HSM) string {
	authority := s.cfg.URL("login") + "/" + h.TenantID
	if s.cfg.ADFSChallenge {
		authority = s.cfg.URL("login") + "/adfs"
	}
	return `Bearer authorization="` + authority + `", resource="` + s.cfg.URL("managedhsm") + `"`
}
