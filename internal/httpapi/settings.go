package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// settingRoutes is the settings API (settings.json, 7.6).
func (s *Server) settingRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/settings", Operation: "SettingsList", Action: rbac.SettingsRead, Handle: s.settingsList},
		{Method: "GET", Pattern: "/settings/{setting}", Operation: "SettingGet", Action: rbac.SettingsRead, Handle: s.settingGet},
		{Method: "PATCH", Pattern: "/settings/{setting}", Operation: "SettingUpdate", Action: rbac.SettingsWrite, Handle: s.settingUpdate},
	}
}

func settingOut(st *hsm.Setting) wire.Setting {
	return wire.Setting{Name: st.Name, Value: st.Value, Type: st.Type}
}

func (s *Server) settingsList(r *Request) (int, any, error) {
	all, err := s.hsms.Settings(r.Ctx, r.HSM)
	if err != nil {
		return 0, nil, err
	}
	l := wire.SettingsList{Settings: []wire.Setting{}}
	for i := range all {
		l.Settings = append(l.Settings, settingOut(&all[i]))
	}
	return http.StatusOK, l, nil
}

func (s *Server) settingGet(r *Request) (int, any, error) {
	st, err := s.hsms.GetSetting(r.Ctx, r.HSM, r.Params["setting"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, settingOut(st), nil
}

func (s *Server) settingUpdate(r *Request) (int, any, error) {
	var body wire.UpdateSettingRequest
	if err := r.Decode(&body); err != nil {
		return 0, nil, err
	}
	st, err := s.hsms.UpdateSetting(r.Ctx, r.HSM, r.Params["setting"], body.Value)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, settingOut(st), nil
}
