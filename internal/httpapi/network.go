package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/token"
)

// networkCheck enforces an HSM's network rules (its ARM properties
// publicNetworkAccess and networkAcls, kept by package mgmt) on the data
// plane, with Key Vault's firewall errors: 403 Forbidden, innererror
// ForbiddenByConnection when public access is disabled, ForbiddenByFirewall
// when no IP rule admits the client address.
func (s *Server) networkCheck(h *hsm.HSM, c *token.Claims, ip string) error {
	if s.mgmt == nil {
		return nil
	}
	d := s.mgmt.CheckNetwork(h.Name, ip)
	if d == nil {
		return nil
	}
	caller := "appid=" + c.AppID + ";oid=" + c.ObjectID
	where := "Vault: " + h.Name + ";location=" + d.Location
	if d.Disabled {
		return &apiError{Status: http.StatusForbidden, Code: "Forbidden", Inner: "ForbiddenByConnection",
			Message: "Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: " + caller + "\r\n" + where}
	}
	return &apiError{Status: http.StatusForbidden, Code: "Forbidden", Inner: "ForbiddenByFirewall",
		Message: "Client address is not authorized and caller is not a trusted service.\r\nClient address: " + ip + "\r\nCaller: " + caller + "\r\n" + where}
}
