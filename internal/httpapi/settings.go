package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// settingRoutes is the settings API (settings.json, 7.6).
func (s *Server) settingRoutes() []Route {
	svc := s.hsms
	out := func(st *hsm.Setting) wire.Setting { return wire.Setting{Name: st.Name, Value: st.Value, Type: st.Type} }
	return []Route{
		{Method: "GET", Pattern: "/settings", Operation: "SettingsList", Action: rbac.SettingsRead,
			Handle: func(r *Request) (int, any, error) {
				all, err := svc.Settings(r.Ctx, r.HSM)
				if err != nil {
					return 0, nil, err
				}
				l := wire.SettingsList{Settings: []wire.Setting{}}
				for i := range all {
					l.Settings = append(l.Settings, out(&all[i]))
				}
				return http.StatusOK, l, nil
			}},
		{Method: "GET", Pattern: "/settings/{setting}", Operation: "SettingGet", Action: rbac.SettingsRead,
			Handle: func(r *Request) (int, any, error) {
				st, err := svc.GetSetting(r.Ctx, r.HSM, r.Params["setting"])
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, out(st), nil
			}},
		{Method: "PATCH", Pattern: "/settings/{setting}", Operation: "SettingUpdate", Action: rbac.SettingsWrite,
			Handle: func(r *Request) (int, any, error) {
				var body wire.UpdateSettingRequest
				if err := r.Decode(&body); err != nil {
					return 0, nil, err
				}
				st, err := svc.UpdateSetting(r.Ctx, r.HSM, r.Params["setting"], body.Value)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, out(st), nil
			}},
	}
}
