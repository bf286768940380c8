package wire

import "github.com/mhsm/mhsm/internal/rbac"

// RoleAssignment is the role assignment resource.
type RoleAssignment struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Properties RoleAssignmentProperties `json:"properties"`
}

// RoleAssignmentProperties are an assignment's scope, role and principal.
type RoleAssignmentProperties struct {
	Scope            string `json:"scope,omitempty"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
}

// RoleAssignmentCreateParameters is the body of PUT roleAssignments/{name}.
type RoleAssignmentCreateParameters struct {
	Properties RoleAssignmentProperties `json:"properties"`
}

// RoleDefinition is the role definition resource.
type RoleDefinition struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Properties RoleDefinitionProperties `json:"properties"`
}

// RoleDefinitionProperties are a role's name, type and permissions.
type RoleDefinitionProperties struct {
	RoleName         string            `json:"roleName"`
	Description      string            `json:"description"`
	RoleType         string            `json:"type"`
	Permissions      []rbac.Permission `json:"permissions"`
	AssignableScopes []string          `json:"assignableScopes"`
}

// RoleDefinitionCreateParameters is the body of PUT roleDefinitions/{name}.
type RoleDefinitionCreateParameters struct {
	Properties RoleDefinitionProperties `json:"properties"`
}

// SettingsList is the body of GET /settings.
type SettingsList struct {
	Settings []Setting `json:"settings"`
}

// Setting is one HSM setting.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type,omitempty"`
}

// UpdateSettingRequest is the body of PATCH /settings/{name}.
type UpdateSettingRequest struct {
	Value string `json:"value"`
}

// AccessQuery is the body of the access review calls (an mhsm extension).
type AccessQuery struct {
	PrincipalID string `json:"principalId,omitempty"`
	Action      string `json:"action"`
	Scope       string `json:"scope"`
}

// AccessCheckResult answers "may principalId do action at scope".
type AccessCheckResult struct {
	PrincipalID string       `json:"principalId"`
	Action      string       `json:"action"`
	Scope       string       `json:"scope"`
	Allowed     bool         `json:"allowed"`
	GrantedBy   *AccessGrant `json:"grantedBy,omitempty"`
}

// AccessGrant is one principal allowed an action and the assignment that
// grants it; Via names the group through which a member is granted.
type AccessGrant struct {
	PrincipalID      string `json:"principalId,omitempty"`
	PrincipalType    string `json:"principalType,omitempty"`
	Via              string `json:"via,omitempty"`
	AssignmentID     string `json:"assignmentId"`
	Assignee         string `json:"assignee"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	RoleName         string `json:"roleName,omitempty"`
	Scope            string `json:"scope"`
}
