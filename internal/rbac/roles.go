package rbac

// Role definition types as the service names them.
const (
	TypeBuiltIn = "AKVBuiltInRole"
	TypeCustom  = "CustomRole"
)

// Permission is one permission block of a role definition.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a built-in or custom role. ID is the bare GUID.
type RoleDefinition struct {
	ID               string       `json:"id"`
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	Type             string       `json:"type"`
	Permissions      []Permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

// Built-in role ids.
const (
	RoleAdministrator     = "a290e904-7015-4bba-90c8-60543313cdb4"
	RoleCryptoOfficer     = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
	RoleCryptoUser        = "21dbd100-6940-42c2-9190-5d6cb909625b"
	RolePolicyAdmin       = "4bd23610-cdcf-4971-bdee-bdc562cc28e4"
	RoleCryptoAuditor     = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
	RoleServiceEncryption = "33413926-3206-4cdd-b39a-83574fe37a17"
	RoleServiceRelease    = "21dbd100-6940-42c2-9190-5d6cb909625c"
	RoleBackup            = "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"
	RoleRestore           = "6efe6056-5259-49d2-8b3d-d3d73544b20b"
)

func builtin(id, name string, actions ...Action) RoleDefinition {
	da := make([]string, len(actions))
	for i, a := range actions {
		da[i] = string(a)
	}
	return RoleDefinition{
		ID: id, RoleName: name, Type: TypeBuiltIn, AssignableScopes: []string{"/"},
		Permissions: []Permission{{Actions: []string{}, NotActions: []string{}, DataActions: da, NotDataActions: []string{}}},
	}
}

// BuiltinRoles are the built-in Managed HSM roles with the data actions the
// service returns (managed-hsm.md §3.3; Restore per the documentation).
var BuiltinRoles = []RoleDefinition{
	builtin(RoleAdministrator, "Managed HSM Administrator",
		RoleAssignDelete, RoleAssignRead, RoleAssignWrite, RoleDefRead, RoleDefWrite, RoleDefDelete,
		SDDownload, SDDownloadRead, SDUpload, SDUploadRead, SDTransferKeyRead,
		BackupStart, RestoreStart, BackupStatus, RestoreStatus, SettingsRead, SettingsWrite),
	builtin(RoleCryptoOfficer, "Managed HSM Crypto Officer",
		RoleAssignDelete, RoleAssignRead, RoleAssignWrite, RoleDefRead, RoleDefWrite, RoleDefDelete,
		DeletedKeysRead, DeletedKeysDelete, DeletedKeysRecover, KeysExport),
	builtin(RoleCryptoUser, "Managed HSM Crypto User",
		RoleDefRead, RoleAssignRead, KeysRead, KeysWrite, KeysDelete, KeysCreate, KeysRotate, KeysImport,
		KeysRelease, KeysBackup, KeysRestore, KeysEncrypt, KeysDecrypt, KeysWrap, KeysUnwrap, KeysSign,
		KeysVerify, KeysDerive, RNG),
	builtin(RolePolicyAdmin, "Managed HSM Policy Administrator",
		RoleDefRead, RoleDefWrite, RoleDefDelete, RoleAssignRead, RoleAssignWrite, RoleAssignDelete),
	builtin(RoleCryptoAuditor, "Managed HSM Crypto Auditor",
		RoleAssignRead, RoleDefRead, KeysRead, DeletedKeysRead),
	builtin(RoleServiceEncryption, "Managed HSM Crypto Service Encryption User",
		KeysRead, KeysWrap, KeysUnwrap),
	builtin(RoleServiceRelease, "Managed HSM Crypto Service Release User", KeysRelease),
	builtin(RoleBackup, "Managed HSM Backup User", BackupStart, BackupStatus, KeysBackup),
	builtin(RoleRestore, "Managed HSM Restore", KeysRestore, RestoreStart, RestoreStatus),
}

// Builtin returns the built-in role with id, if any.
func Builtin(id string) (RoleDefinition, bool) {
	for _, r := range BuiltinRoles {
		if r.ID == id {
			return r, true
		}
	}
	return RoleDefinition{}, false
}
