package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/mgmt"
	"github.com/mhsm/mhsm/internal/wire"
)

// armDiagnosticRoutes: Microsoft.Insights/diagnosticSettings on an HSM.
// Each route is granted by the Insights action or by the Key Vault
// provider's alias of it, so Managed HSM Contributor
// ("Microsoft.KeyVault/managedHSMs/*") can turn on logging.
func (s *Server) armDiagnosticRoutes() []ARMRoute {
	const ds = "{scope*}/providers/Microsoft.Insights/diagnosticSettings"
	return []ARMRoute{
		{Method: "PUT", Pattern: ds + "/{name}", Operation: "DiagnosticSettingsCreateOrUpdate", Action: armrbac.DiagnosticSettingsWrite, Alt: armrbac.HSMDiagnosticSettingsWrite, Handle: s.armDiagPut},
		{Method: "GET", Pattern: ds + "/{name}", Operation: "DiagnosticSettingsGet", Action: armrbac.DiagnosticSettingsRead, Alt: armrbac.HSMDiagnosticSettingsRead, Handle: s.armDiagGet},
		{Method: "DELETE", Pattern: ds + "/{name}", Operation: "DiagnosticSettingsDelete", Action: armrbac.DiagnosticSettingsDelete, Alt: armrbac.HSMDiagnosticSettingsWrite, Handle: s.armDiagDelete},
		{Method: "GET", Pattern: ds, Operation: "DiagnosticSettingsList", Action: armrbac.DiagnosticSettingsRead, Alt: armrbac.HSMDiagnosticSettingsRead, Handle: s.armDiagList},
	}
}

func (s *Server) armDiagPut(r *ARMRequest) (int, any, error) {
	var in wire.DiagnosticSettingsResource
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, err := s.mgmt.PutDiagnosticSetting(r.Ctx, mgmt.Requester{TenantID: r.Caller.TenantID, Principal: r.Principal}, r.Scope, r.Params["name"], in.Properties)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armDiagGet(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.DiagnosticSetting(r.Ctx, r.Scope, r.Params["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armDiagDelete(r *ARMRequest) (int, any, error) {
	found, err := s.mgmt.DeleteDiagnosticSetting(r.Ctx, r.Scope, r.Params["name"])
	if err != nil {
		return 0, nil, err
	}
	if !found {
		return http.StatusNoContent, nil, nil
	}
	return http.StatusOK, nil, nil
}

func (s *Server) armDiagList(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.DiagnosticSettings(r.Ctx, r.Scope)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wire.ARMList[wire.DiagnosticSettingsResource]{Value: out}, nil
}
