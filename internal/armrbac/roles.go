package armrbac

import "strings"

// Role types as Azure names them.
const (
	TypeBuiltIn = "BuiltInRole"
	TypeCustom  = "CustomRole"
)

// Permission is one permission block of a role definition. Within a block,
// notActions remove from that block's actions only; they deny nothing
// another block or role grants.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a built-in or custom management role. ID is the bare
// GUID. Data actions are kept but grant nothing here: Managed HSM data
// access is local RBAC inside each HSM.
type RoleDefinition struct {
	ID               string       `json:"id"`
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	RoleType         string       `json:"type"`
	Permissions      []Permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

// Azure's built-in role definition ids.
const (
	RoleOwner                   = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	RoleContributor             = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	RoleReader                  = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	RoleUserAccessAdministrator = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	RoleManagedHSMContributor   = "18500a29-7fe2-46b2-a342-b16a415e101d"
	// RoleStorageAccountContributor lets a principal name storage accounts
	// of its scope as log or backup destinations (mgmt/storage.go).
	RoleStorageAccountContributor = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
)

func builtin(id, name, desc string, actions, notActions []string) RoleDefinition {
	if notActions == nil {
		notActions = []string{}
	}
	return RoleDefinition{ID: id, RoleName: name, Description: desc, RoleType: TypeBuiltIn, AssignableScopes: []string{"/"},
		Permissions: []Permission{{Actions: actions, NotActions: notActions, DataActions: []string{}, NotDataActions: []string{}}}}
}

// BuiltinRoles are the built-in management roles mhsm serves, with
// Azure's ids, names, descriptions and actions.
var BuiltinRoles = []RoleDefinition{
	builtin(RoleOwner, "Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		[]string{"*"}, nil),
	builtin(RoleContributor, "Contributor", "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		[]string{"*"}, []string{
			"Microsoft.Authorization/*/Delete",
			"Microsoft.Authorization/*/Write",
			"Microsoft.Authorization/elevateAccess/Action",
			"Microsoft.Blueprint/blueprintAssignments/write",
			"Microsoft.Blueprint/blueprintAssignments/delete",
			"Microsoft.Compute/galleries/share/action",
			"Microsoft.Purview/consents/write",
			"Microsoft.Purview/consents/delete",
			"Microsoft.Resources/deploymentStacks/manageDenySetting/action",
			"Microsoft.Subscription/cancel/action",
			"Microsoft.Subscription/enable/action",
		}),
	builtin(RoleReader, "Reader", "View all resources, but does not allow you to make any changes.",
		[]string{"*/read"}, nil),
	builtin(RoleUserAccessAdministrator, "User Access Administrator", "Lets you manage user access to Azure resources.",
		[]string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}, nil),
	builtin(RoleManagedHSMContributor, "Managed HSM contributor", "Lets you manage managed HSM pools, but not access to them.",
		[]string{
			"Microsoft.KeyVault/managedHSMs/*",
			"Microsoft.KeyVault/deletedManagedHsms/read",
			"Microsoft.KeyVault/locations/deletedManagedHsms/read",
			"Microsoft.KeyVault/locations/deletedManagedHsms/purge/action",
			"Microsoft.KeyVault/locations/managedHsmOperationResults/read",
		}, nil),
	builtin(RoleStorageAccountContributor, "Storage Account Contributor", "Permits management of storage accounts. Provides access to the account key, which can be used to access data via Shared Key authorization.",
		[]string{
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Insights/diagnosticSettings/*",
			"Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
			"Microsoft.ResourceHealth/availabilityStatuses/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Storage/storageAccounts/*",
			"Microsoft.Support/*",
		}, nil),
}

// Builtin returns the built-in role with id (a GUID, any case).
func Builtin(id string) (RoleDefinition, bool) {
	for _, r := range BuiltinRoles {
		if strings.EqualFold(r.ID, id) {
			return r, true
		}
	}
	return RoleDefinition{}, false
}

// Grants reports whether role d grants action a: some permission block
// has an action pattern matching a and no notAction pattern matching it.
func (d RoleDefinition) Grants(a Action) bool {
	for _, p := range d.Permissions {
		if matchAny(p.Actions, string(a)) && !matchAny(p.NotActions, string(a)) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, a string) bool {
	for _, p := range patterns {
		if Match(p, a) {
			return true
		}
	}
	return false
}

// AssignableAt reports whether d may be assigned at scope s: built-in roles
// anywhere, custom roles at or below one of their assignable scopes.
func (d RoleDefinition) AssignableAt(s Scope) bool {
	if d.RoleType == TypeBuiltIn {
		return true
	}
	for _, as := range d.AssignableScopes {
		p, err := ParseScope(as)
		if err == nil && p.Contains(s) {
			return true
		}
	}
	return false
}
