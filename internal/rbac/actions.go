// Package rbac is Managed HSM local RBAC: data actions, built-in role
// definitions, scopes, and the compiled Policy whose Decide answers "may this
// principal do this action at this scope, and which assignment says so".
// It is pure: no I/O. Read actions.go, roles.go, then policy.go.
package rbac

import "strings"

// Action is a full data action name such as
// "Microsoft.KeyVault/managedHsm/keys/sign/action".
type Action string

// Prefix starts every Managed HSM data action.
const Prefix = "Microsoft.KeyVault/managedHsm/"

// The data actions of Managed HSM local RBAC.
const (
	KeysRead           Action = Prefix + "keys/read/action"
	KeysWrite          Action = Prefix + "keys/write/action"
	KeysCreate         Action = Prefix + "keys/create"
	KeysImport         Action = Prefix + "keys/import/action"
	KeysDelete         Action = Prefix + "keys/delete"
	KeysRotate         Action = Prefix + "keys/rotate/action"
	KeysBackup         Action = Prefix + "keys/backup/action"
	KeysRestore        Action = Prefix + "keys/restore/action"
	KeysEncrypt        Action = Prefix + "keys/encrypt/action"
	KeysDecrypt        Action = Prefix + "keys/decrypt/action"
	KeysWrap           Action = Prefix + "keys/wrap/action"
	KeysUnwrap         Action = Prefix + "keys/unwrap/action"
	KeysSign           Action = Prefix + "keys/sign/action"
	KeysVerify         Action = Prefix + "keys/verify/action"
	KeysRelease        Action = Prefix + "keys/release/action"
	KeysExport         Action = Prefix + "keys/export/action"
	KeysDerive         Action = Prefix + "keys/derive/action"
	DeletedKeysRead    Action = Prefix + "keys/deletedKeys/read/action"
	DeletedKeysRecover Action = Prefix + "keys/deletedKeys/recover/action"
	DeletedKeysDelete  Action = Prefix + "keys/deletedKeys/delete"
	RoleAssignRead     Action = Prefix + "roleAssignments/read/action"
	RoleAssignWrite    Action = Prefix + "roleAssignments/write/action"
	RoleAssignDelete   Action = Prefix + "roleAssignments/delete/action"
	RoleDefRead        Action = Prefix + "roleDefinitions/read/action"
	RoleDefWrite       Action = Prefix + "roleDefinitions/write/action"
	RoleDefDelete      Action = Prefix + "roleDefinitions/delete/action"
	SDDownload         Action = Prefix + "securitydomain/download/action"
	SDDownloadRead     Action = Prefix + "securitydomain/download/read"
	SDUpload           Action = Prefix + "securitydomain/upload/action"
	SDUploadRead       Action = Prefix + "securitydomain/upload/read"
	SDTransferKeyRead  Action = Prefix + "securitydomain/transferkey/read"
	BackupStart        Action = Prefix + "backup/start/action"
	BackupStatus       Action = Prefix + "backup/status/action"
	RestoreStart       Action = Prefix + "restore/start/action"
	RestoreStatus      Action = Prefix + "restore/status/action"
	RNG                Action = Prefix + "rng/action"
	SettingsRead       Action = Prefix + "settings/read/action"
	SettingsWrite      Action = Prefix + "settings/write/action"
)

// AllActions lists every known data action; its order fixes the bit of
// each action in compiled policies.
var AllActions = []Action{
	KeysRead, KeysWrite, KeysCreate, KeysImport, KeysDelete, KeysRotate, KeysBackup, KeysRestore,
	KeysEncrypt, KeysDecrypt, KeysWrap, KeysUnwrap, KeysSign, KeysVerify, KeysRelease, KeysExport,
	KeysDerive, DeletedKeysRead, DeletedKeysRecover, DeletedKeysDelete,
	RoleAssignRead, RoleAssignWrite, RoleAssignDelete, RoleDefRead, RoleDefWrite, RoleDefDelete,
	SDDownload, SDDownloadRead, SDUpload, SDUploadRead, SDTransferKeyRead,
	BackupStart, BackupStatus, RestoreStart, RestoreStatus, RNG, SettingsRead, SettingsWrite,
}

var actionBit = func() map[string]uint64 {
	m := make(map[string]uint64, len(AllActions))
	for i, a := range AllActions {
		m[strings.ToLower(string(a))] = 1 << i
	}
	return m
}()

// actionBitExact is actionBit by the actions' own spelling (AllActions),
// which is how routes name them: bitOf finds those without lowercasing.
var actionBitExact = func() map[Action]uint64 {
	m := make(map[Action]uint64, len(AllActions))
	for i, a := range AllActions {
		m[a] = 1 << i
	}
	return m
}()

// bitOf is the bit of action, matched case-insensitively (0: unknown).
func bitOf(action Action) uint64 {
	if bit, ok := actionBitExact[action]; ok {
		return bit
	}
	return actionBit[strings.ToLower(string(action))]
}

// sdPrefix starts every security domain action.
const sdPrefix = Prefix + "securitydomain/"

// SecurityDomainAction reports whether a is a security domain action
// (case-insensitive). Only built-in roles grant these: custom roles are
// refused them on write and compiled without them.
func SecurityDomainAction(a string) bool {
	return len(a) >= len(sdPrefix) && strings.EqualFold(a[:len(sdPrefix)], sdPrefix)
}

// sdMask is the bits of every security domain action.
var sdMask = func() uint64 {
	var m uint64
	for i, a := range AllActions {
		if SecurityDomainAction(string(a)) {
			m |= 1 << i
		}
	}
	return m
}()

// Known reports whether a is a known data action (case-insensitive).
func Known(a string) bool { _, ok := actionBit[strings.ToLower(a)]; return ok }

// mask returns the bits of the listed actions; unknown names are ignored
// (definitions are validated on write).
func mask(actions []string) uint64 {
	var m uint64
	for _, a := range actions {
		m |= actionBit[strings.ToLower(a)]
	}
	return m
}

// ParseAction accepts a full data action, one without the
// "Microsoft.KeyVault/managedHsm/" prefix, or a key operation verb such as
// "sign", "unwrap" or "create".
func ParseAction(s string) (Action, bool) {
	s = strings.TrimSpace(s)
	for _, cand := range []string{s, Prefix + s, Prefix + "keys/" + s + "/action", Prefix + "keys/" + s} {
		if _, ok := actionBit[strings.ToLower(cand)]; ok {
			for _, a := range AllActions {
				if strings.EqualFold(string(a), cand) {
					return a, true
				}
			}
		}
	}
	switch strings.ToLower(s) {
	case "wrapkey":
		return KeysWrap, true
	case "unwrapkey":
		return KeysUnwrap, true
	}
	return "", false
}
