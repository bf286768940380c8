package hsm

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// Setting is one HSM setting as the settings API shows it.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

// Settings known to this server, with their defaults. All are booleans.
const (
	// SettingARM is Managed HSM's AllowKeyManagementOperationsThroughARM.
	SettingARM = "AllowKeyManagementOperationsThroughARM"
	// SettingSoD turns on the separation-of-duties guard (an mhsm
	// extension; off by default, which is Azure's behaviour).
	SettingSoD = "SeparationOfDutiesGuard"
	// SettingRSA15 allows RSA1_5 (PKCS#1 v1.5) decryption and unwrap, off
	// by default: PKCS#1 v1.5 decryption is a padding-oracle risk
	// (Bleichenbacher, Marvin) however uniform the errors are. Encryption
	// and wrapping with RSA1_5 stay allowed. An mhsm extension.
	SettingRSA15 = "AllowRSA1_5Decryption"
)

var settingDefaults = map[string]string{SettingARM: "false", SettingSoD: "false", SettingRSA15: "false"}

// settingOn reads a boolean setting.
func (s *Service) settingOn(ctx context.Context, h *HSM, name string) (bool, error) {
	var v string
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = settingValue(tx, h.Name, name)
		return err
	})
	return v == "true", err
}

func settingKey(hsm, name string) string { return "hsm/" + hsm + "/setting/" + name }

func canonicalSetting(name string) (string, bool) {
	for k := range settingDefaults {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// Settings lists every setting with its value.
func (s *Service) Settings(ctx context.Context, h *HSM) ([]Setting, error) {
	names := make([]string, 0, len(settingDefaults))
	for k := range settingDefaults {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []Setting
	err := s.st.View(ctx, func(tx store.Tx) error {
		for _, n := range names {
			v, err := settingValue(tx, h.Name, n)
			if err != nil {
				return err
			}
			out = append(out, Setting{Name: n, Value: v, Type: "boolean"})
		}
		return nil
	})
	return out, err
}

// GetSetting returns one setting.
func (s *Service) GetSetting(ctx context.Context, h *HSM, name string) (*Setting, error) {
	n, ok := canonicalSetting(name)
	if !ok {
		return nil, notFound("SettingNotFound", "The setting %s does not exist.", quoteName(name))
	}
	var v string
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = settingValue(tx, h.Name, n)
		return err
	})
	return &Setting{Name: n, Value: v, Type: "boolean"}, err
}

// UpdateSetting sets a boolean setting to "true" or "false".
func (s *Service) UpdateSetting(ctx context.Context, h *HSM, name, value string) (*Setting, error) {
	n, ok := canonicalSetting(name)
	if !ok {
		return nil, notFound("SettingNotFound", "The setting %s does not exist.", quoteName(name))
	}
	v := strings.ToLower(value)
	if v != "true" && v != "false" {
		return nil, badRequest("The value of %s must be \"true\" or \"false\".", n)
	}
	err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Put(settingKey(h.Name, n), []byte(v)) })
	return &Setting{Name: n, Value: v, Type: "boolean"}, err
}

func settingValue(tx store.Tx, hsm, name string) (string, error) {
	b, err := tx.Get(settingKey(hsm, name))
	if errors.Is(err, store.ErrNotFound) {
		return settingDefaults[name], nil
	}
	return string(b), err
}

func sodGuardOn(tx store.Tx, hsm string) (bool, error) {
	v, err := settingValue(tx, hsm, SettingSoD)
	return v == "true", err
}

func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return "'" + s + "'"
}

// SoDRule is one separation-of-duties rule: no single assignee may hold an
// action of both sets.
type SoDRule struct {
	Name    string
	A, B    []rbac.Action
	Explain string
}

// SoDRules are the rules the guard enforces.
var SoDRules = []SoDRule{
	{
		Name:    "role-administration-vs-key-use",
		A:       []rbac.Action{rbac.RoleAssignWrite, rbac.RoleDefWrite},
		B:       []rbac.Action{rbac.KeysSign, rbac.KeysDecrypt, rbac.KeysEncrypt, rbac.KeysWrap, rbac.KeysUnwrap, rbac.KeysRelease, rbac.KeysExport},
		Explain: "no principal both administers roles and uses keys",
	},
	{
		Name:    "key-use-vs-key-destruction",
		A:       []rbac.Action{rbac.DeletedKeysDelete},
		B:       []rbac.Action{rbac.KeysSign, rbac.KeysDecrypt, rbac.KeysUnwrap},
		Explain: "no principal both uses keys and purges them",
	},
}
