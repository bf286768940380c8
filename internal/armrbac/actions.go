// Package armrbac is management-plane (Azure RBAC) authorization: role
// definitions with Azure's ids and actions, scopes (subscription, resource
// group, resource) inherited downward, action wildcards and notActions with
// Azure's semantics, and a compiled Policy whose Decide answers "may this
// principal perform this action at this scope, and which assignment says
// so" in time independent of the number of assignments. It is pure: no I/O.
// Read actions.go, scope.go, roles.go, then policy.go.
package armrbac

import "strings"

// Action is a management action such as "Microsoft.KeyVault/managedHSMs/write".
// Comparisons are case-insensitive, as in Azure.
type Action string

// The management actions mhsm enforces. Every management route names one of
// these; Compile evaluates each role's wildcards against exactly this list.
const (
	SubscriptionsRead  Action = "Microsoft.Resources/subscriptions/read"
	ResourceGroupsRead Action = "Microsoft.Resources/subscriptions/resourceGroups/read"
	ResourceGroupWrite Action = "Microsoft.Resources/subscriptions/resourceGroups/write"
	ResourceGroupDel   Action = "Microsoft.Resources/subscriptions/resourceGroups/delete"

	HSMRead             Action = "Microsoft.KeyVault/managedHSMs/read"
	HSMWrite            Action = "Microsoft.KeyVault/managedHSMs/write"
	HSMDelete           Action = "Microsoft.KeyVault/managedHSMs/delete"
	DeletedHSMsRead     Action = "Microsoft.KeyVault/deletedManagedHsms/read"
	DeletedHSMRead      Action = "Microsoft.KeyVault/locations/deletedManagedHsms/read"
	DeletedHSMPurge     Action = "Microsoft.KeyVault/locations/deletedManagedHsms/purge/action"
	HSMOperationRead    Action = "Microsoft.KeyVault/locations/managedHsmOperationResults/read"
	HSMNameAvailability Action = "Microsoft.KeyVault/checkMhsmNameAvailability/read"

	RoleAssignmentsRead   Action = "Microsoft.Authorization/roleAssignments/read"
	RoleAssignmentsWrite  Action = "Microsoft.Authorization/roleAssignments/write"
	RoleAssignmentsDelete Action = "Microsoft.Authorization/roleAssignments/delete"
	RoleDefinitionsRead   Action = "Microsoft.Authorization/roleDefinitions/read"
	RoleDefinitionsWrite  Action = "Microsoft.Authorization/roleDefinitions/write"
	RoleDefinitionsDelete Action = "Microsoft.Authorization/roleDefinitions/delete"

	DiagnosticSettingsRead   Action = "Microsoft.Insights/diagnosticSettings/read"
	DiagnosticSettingsWrite  Action = "Microsoft.Insights/diagnosticSettings/write"
	DiagnosticSettingsDelete Action = "Microsoft.Insights/diagnosticSettings/delete"
	// The resource provider's aliases of the diagnostic-settings actions on
	// an HSM (Azure lists both): "Microsoft.KeyVault/managedHSMs/*" grants
	// these, which is how a Managed HSM Contributor turns on logging.
	HSMDiagnosticSettingsRead  Action = "Microsoft.KeyVault/managedHSMs/providers/Microsoft.Insights/diagnosticSettings/read"
	HSMDiagnosticSettingsWrite Action = "Microsoft.KeyVault/managedHSMs/providers/Microsoft.Insights/diagnosticSettings/write"

	// StorageAccountsWrite is checked at a storage account named as a
	// destination (linked authorization): no route carries it.
	StorageAccountsWrite Action = "Microsoft.Storage/storageAccounts/write"
)

// Actions lists every action mhsm enforces (at most 64).
var Actions = []Action{
	SubscriptionsRead, ResourceGroupsRead, ResourceGroupWrite, ResourceGroupDel,
	HSMRead, HSMWrite, HSMDelete, DeletedHSMsRead, DeletedHSMRead, DeletedHSMPurge, HSMOperationRead, HSMNameAvailability,
	RoleAssignmentsRead, RoleAssignmentsWrite, RoleAssignmentsDelete, RoleDefinitionsRead, RoleDefinitionsWrite, RoleDefinitionsDelete,
	DiagnosticSettingsRead, DiagnosticSettingsWrite, DiagnosticSettingsDelete, HSMDiagnosticSettingsRead, HSMDiagnosticSettingsWrite,
	StorageAccountsWrite,
}

var actionBit = func() map[string]uint64 {
	if len(Actions) > 64 {
		panic("armrbac: more than 64 actions")
	}
	m := map[string]uint64{}
	for i, a := range Actions {
		m[strings.ToLower(string(a))] = 1 << i
	}
	return m
}()

// Known reports whether a is an action mhsm enforces.
func Known(a Action) bool { return actionBit[strings.ToLower(string(a))] != 0 }

// Match reports whether action matches pattern with Azure's semantics:
// case-insensitive, and each "*" matches any run of characters, "/"
// included ("*/read", "Microsoft.KeyVault/managedHSMs/*",
// "Microsoft.Authorization/*/Write").
func Match(pattern, action string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(action))
}

func glob(p, s string) bool {
	// Iterative wildcard match with backtracking to the last star.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// ValidPattern reports whether p is an acceptable action pattern in a role
// definition: provider-qualified ("Namespace/..."), or "*" or "*/verb".
func ValidPattern(p string) bool {
	if p == "" || len(p) > 512 || strings.ContainsAny(p, " \t\r\n?") {
		return false
	}
	return p == "*" || strings.Contains(p, "/")
}
