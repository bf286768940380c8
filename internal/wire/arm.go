package wire

import (
	"time"

	"github.com/mhsm/mhsm/internal/armrbac"
)

// The management plane's (Azure Resource Manager) JSON shapes. Errors use
// Error, without the data plane's Activity ID suffix.

// ARMList is a page of an ARM collection.
type ARMList[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// Subscription is GET /subscriptions/{id}.
type Subscription struct {
	ID                   string               `json:"id"`
	SubscriptionID       string               `json:"subscriptionId"`
	TenantID             string               `json:"tenantId"`
	DisplayName          string               `json:"displayName"`
	State                string               `json:"state"`
	SubscriptionPolicies SubscriptionPolicies `json:"subscriptionPolicies"`
	AuthorizationSource  string               `json:"authorizationSource"`
}

// SubscriptionPolicies are fixed for mhsm's subscriptions.
type SubscriptionPolicies struct {
	LocationPlacementID string `json:"locationPlacementId"`
	QuotaID             string `json:"quotaId"`
	SpendingLimit       string `json:"spendingLimit"`
}

// Tenant is an element of GET /tenants.
type Tenant struct {
	ID             string   `json:"id"`
	TenantID       string   `json:"tenantId"`
	TenantCategory string   `json:"tenantCategory"`
	DisplayName    string   `json:"displayName,omitempty"`
	DefaultDomain  string   `json:"defaultDomain,omitempty"`
	Domains        []string `json:"domains,omitempty"`
}

// ResourceGroup is Microsoft.Resources/resourceGroups.
type ResourceGroup struct {
	ID         string                   `json:"id,omitempty"`
	Name       string                   `json:"name,omitempty"`
	Type       string                   `json:"type,omitempty"`
	Location   string                   `json:"location"`
	ManagedBy  string                   `json:"managedBy,omitempty"`
	Tags       map[string]string        `json:"tags,omitempty"`
	Properties *ResourceGroupProperties `json:"properties,omitempty"`
}

// ResourceGroupProperties holds the provisioning state.
type ResourceGroupProperties struct {
	ProvisioningState string `json:"provisioningState"`
}

// SystemData is ARM's record of who created and last modified a resource.
type SystemData struct {
	CreatedBy          string     `json:"createdBy,omitempty"`
	CreatedByType      string     `json:"createdByType,omitempty"`
	CreatedAt          *time.Time `json:"createdAt,omitempty"`
	LastModifiedBy     string     `json:"lastModifiedBy,omitempty"`
	LastModifiedByType string     `json:"lastModifiedByType,omitempty"`
	LastModifiedAt     *time.Time `json:"lastModifiedAt,omitempty"`
}

// ManagedHsm is Microsoft.KeyVault/managedHSMs (request and response).
type ManagedHsm struct {
	ID         string                `json:"id,omitempty"`
	Name       string                `json:"name,omitempty"`
	Type       string                `json:"type,omitempty"`
	Location   string                `json:"location,omitempty"`
	Sku        *ManagedHsmSku        `json:"sku,omitempty"`
	Tags       map[string]string     `json:"tags,omitempty"`
	SystemData *SystemData           `json:"systemData,omitempty"`
	Properties *ManagedHsmProperties `json:"properties,omitempty"`
}

// ManagedHsmSku is the pricing tier; family B or C.
type ManagedHsmSku struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

// ManagedHsmProperties are the HSM's properties; the read-only ones are
// ignored on input.
type ManagedHsmProperties struct {
	TenantID                  string                    `json:"tenantId,omitempty"`
	InitialAdminObjectIDs     []string                  `json:"initialAdminObjectIds,omitempty"`
	HsmURI                    string                    `json:"hsmUri,omitempty"`
	EnableSoftDelete          *bool                     `json:"enableSoftDelete,omitempty"`
	SoftDeleteRetentionInDays *int                      `json:"softDeleteRetentionInDays,omitempty"`
	EnablePurgeProtection     *bool                     `json:"enablePurgeProtection,omitempty"`
	CreateMode                string                    `json:"createMode,omitempty"`
	StatusMessage             string                    `json:"statusMessage,omitempty"`
	ProvisioningState         string                    `json:"provisioningState,omitempty"`
	NetworkACLs               *MHSMNetworkRuleSet       `json:"networkAcls,omitempty"`
	Regions                   []MHSMGeoReplicatedRegion `json:"regions,omitempty"`
	PublicNetworkAccess       string                    `json:"publicNetworkAccess,omitempty"`
	ScheduledPurgeDate        *time.Time                `json:"scheduledPurgeDate,omitempty"`
	SecurityDomainProperties  *SecurityDomainProperties `json:"securityDomainProperties,omitempty"`
}

// MHSMNetworkRuleSet is the HSM's firewall.
type MHSMNetworkRuleSet struct {
	Bypass              string                   `json:"bypass,omitempty"`
	DefaultAction       string                   `json:"defaultAction,omitempty"`
	IPRules             []MHSMIPRule             `json:"ipRules,omitempty"`
	VirtualNetworkRules []MHSMVirtualNetworkRule `json:"virtualNetworkRules,omitempty"`
}

// MHSMIPRule is an IPv4 address or CIDR range allowed through the firewall.
type MHSMIPRule struct {
	Value string `json:"value"`
}

// MHSMVirtualNetworkRule names a subnet (accepted, never matched: mhsm has
// no virtual networks).
type MHSMVirtualNetworkRule struct {
	ID string `json:"id"`
}

// MHSMGeoReplicatedRegion is one region of the HSM.
type MHSMGeoReplicatedRegion struct {
	Name              string `json:"name"`
	ProvisioningState string `json:"provisioningState"`
	IsPrimary         bool   `json:"isPrimary"`
}

// SecurityDomainProperties report activation.
type SecurityDomainProperties struct {
	ActivationStatus        string `json:"activationStatus"`
	ActivationStatusMessage string `json:"activationStatusMessage"`
}

// DeletedManagedHsm is Microsoft.KeyVault/deletedManagedHSMs.
type DeletedManagedHsm struct {
	ID         string                      `json:"id"`
	Name       string                      `json:"name"`
	Type       string                      `json:"type"`
	Properties DeletedManagedHsmProperties `json:"properties"`
}

// DeletedManagedHsmProperties describe a soft-deleted HSM.
type DeletedManagedHsmProperties struct {
	MhsmID                 string            `json:"mhsmId"`
	Location               string            `json:"location"`
	DeletionDate           time.Time         `json:"deletionDate"`
	ScheduledPurgeDate     time.Time         `json:"scheduledPurgeDate"`
	PurgeProtectionEnabled bool              `json:"purgeProtectionEnabled"`
	Tags                   map[string]string `json:"tags,omitempty"`
}

// CheckMhsmNameAvailabilityParameters is the body of checkMhsmNameAvailability.
type CheckMhsmNameAvailabilityParameters struct {
	Name string `json:"name"`
}

// CheckMhsmNameAvailabilityResult answers it.
type CheckMhsmNameAvailabilityResult struct {
	NameAvailable bool   `json:"nameAvailable"`
	Reason        string `json:"reason,omitempty"`
	Message       string `json:"message,omitempty"`
}

// ARMOperation is the body of an Azure-AsyncOperation status URL.
type ARMOperation struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Status    string       `json:"status"` // InProgress, Succeeded, Failed, Canceled
	StartTime *time.Time   `json:"startTime,omitempty"`
	EndTime   *time.Time   `json:"endTime,omitempty"`
	Error     *ErrorDetail `json:"error,omitempty"`
}

// ARMRoleAssignment is Microsoft.Authorization/roleAssignments.
type ARMRoleAssignment struct {
	ID         string                      `json:"id"`
	Name       string                      `json:"name"`
	Type       string                      `json:"type"`
	Properties ARMRoleAssignmentProperties `json:"properties"`
}

// ARMRoleAssignmentProperties is an assignment's body.
type ARMRoleAssignmentProperties struct {
	Scope            string     `json:"scope,omitempty"`
	RoleDefinitionID string     `json:"roleDefinitionId"`
	PrincipalID      string     `json:"principalId"`
	PrincipalType    string     `json:"principalType,omitempty"`
	Description      string     `json:"description,omitempty"`
	Condition        string     `json:"condition,omitempty"`
	ConditionVersion string     `json:"conditionVersion,omitempty"`
	CreatedOn        *time.Time `json:"createdOn,omitempty"`
	UpdatedOn        *time.Time `json:"updatedOn,omitempty"`
	CreatedBy        string     `json:"createdBy,omitempty"`
	UpdatedBy        string     `json:"updatedBy,omitempty"`
}

// ARMRoleAssignmentCreateParameters is the body of PUT roleAssignments/{name}.
type ARMRoleAssignmentCreateParameters struct {
	Properties ARMRoleAssignmentProperties `json:"properties"`
}

// ARMRoleDefinition is Microsoft.Authorization/roleDefinitions.
type ARMRoleDefinition struct {
	ID         string                      `json:"id"`
	Name       string                      `json:"name"`
	Type       string                      `json:"type"`
	Properties ARMRoleDefinitionProperties `json:"properties"`
}

// ARMRoleDefinitionProperties is a role's body; Type is BuiltInRole or
// CustomRole.
type ARMRoleDefinitionProperties struct {
	RoleName         string               `json:"roleName"`
	Description      string               `json:"description"`
	Type             string               `json:"type"`
	Permissions      []armrbac.Permission `json:"permissions"`
	AssignableScopes []string             `json:"assignableScopes"`
	CreatedOn        *time.Time           `json:"createdOn,omitempty"`
	UpdatedOn        *time.Time           `json:"updatedOn,omitempty"`
	CreatedBy        string               `json:"createdBy,omitempty"`
	UpdatedBy        string               `json:"updatedBy,omitempty"`
}

// DiagnosticSettingsResource is Microsoft.Insights/diagnosticSettings.
type DiagnosticSettingsResource struct {
	ID         string                       `json:"id,omitempty"`
	Name       string                       `json:"name,omitempty"`
	Type       string                       `json:"type,omitempty"`
	Properties DiagnosticSettingsProperties `json:"properties"`
}

// DiagnosticSettingsProperties say which logs go where. mhsm delivers to
// storage accounts only.
type DiagnosticSettingsProperties struct {
	StorageAccountID            string           `json:"storageAccountId,omitempty"`
	WorkspaceID                 string           `json:"workspaceId,omitempty"`
	EventHubAuthorizationRuleID string           `json:"eventHubAuthorizationRuleId,omitempty"`
	EventHubName                string           `json:"eventHubName,omitempty"`
	ServiceBusRuleID            string           `json:"serviceBusRuleId,omitempty"`
	MarketplacePartnerID        string           `json:"marketplacePartnerId,omitempty"`
	LogAnalyticsDestinationType string           `json:"logAnalyticsDestinationType,omitempty"`
	Logs                        []LogSettings    `json:"logs"`
	Metrics                     []MetricSettings `json:"metrics"`
}

// LogSettings enables one log category or category group.
type LogSettings struct {
	Category        string           `json:"category,omitempty"`
	CategoryGroup   string           `json:"categoryGroup,omitempty"`
	Enabled         bool             `json:"enabled"`
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy,omitempty"`
}

// MetricSettings enables a metric category (stored, not produced).
type MetricSettings struct {
	Category        string           `json:"category,omitempty"`
	TimeGrain       string           `json:"timeGrain,omitempty"`
	Enabled         bool             `json:"enabled"`
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy,omitempty"`
}

// RetentionPolicy is a retention in days (0: forever).
type RetentionPolicy struct {
	Enabled bool `json:"enabled"`
	Days    int  `json:"days"`
}
