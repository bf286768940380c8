package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	jmespath "github.com/jmespath-community/go-jmespath"
)

// Table columns per command, as az's table transformers: what a person
// scans, not every field. `-o table` without --query prints these; with
// --query, or for a command not listed, the table shows the top-level
// scalar fields of the result (output.go).

// column is one table column: a header and a JMESPath expression
// evaluated on each row, rendered by format (nil: as az renders scalars).
type column struct {
	head   string
	path   string
	format func(any) string
}

// Columns shared by several commands.
var (
	keyColumns = []column{
		{"Name", "key.kid || kid", keyNameOf},
		{"Type", "key.kty || kty", nil},
		{"Enabled", "attributes.enabled", nil},
		{"Expires", "attributes.exp", unixDate},
		{"Versions", "versions", nil},
	}
	assignmentColumns = []column{
		{"PrincipalName", "principalName", nil},
		{"PrincipalType", "principalType", nil},
		{"RoleDefinitionName", "roleDefinitionName", nil},
		{"Scope", "scope", nil},
	}
	localRoleColumns = []column{
		{"RoleName", "properties.roleName", nil},
		{"Type", "properties.type", nil},
		{"Description", "properties.description", nil},
	}
	hsmColumns = []column{
		{"Name", "name", nil},
		{"ResourceGroup", "id", resourceGroupOf},
		{"Location", "location", nil},
		{"ProvisioningState", "properties.provisioningState", nil},
		{"Activation", "properties.securityDomainProperties.activationStatus", nil},
	}
	sdStatusColumns = []column{{"Status", "status", nil}, {"StatusDetails", "status_details", nil}}
)

// Directory objects.
var (
	userColumns  = []column{{"DisplayName", "displayName", nil}, {"UserPrincipalName", "userPrincipalName", nil}, {"AccountEnabled", "accountEnabled", nil}, {"Id", "id", nil}}
	groupColumns = []column{{"DisplayName", "displayName", nil}, {"Description", "description", nil}, {"Id", "id", nil}}
	spColumns    = []column{{"DisplayName", "displayName", nil}, {"AppId", "appId", nil}, {"ServicePrincipalType", "servicePrincipalType", nil}, {"Id", "id", nil}}
	appColumns   = []column{{"DisplayName", "displayName", nil}, {"AppId", "appId", nil}, {"Id", "id", nil}}
	miColumns    = []column{{"Name", "name", nil}, {"ClientId", "clientId", nil}, {"PrincipalId", "principalId", nil}}
)

// tableColumns maps a command path (without "mhsm ") to its columns.
var tableColumns = map[string][]column{
	"login":          {{"TenantId", "tenantId", nil}, {"User", "user.name", nil}, {"Type", "user.type", nil}, {"ObjectId", "objectId", nil}},
	"account show":   {{"TenantId", "tenantId", nil}, {"User", "user.name", nil}, {"Type", "user.type", nil}, {"Authority", "authority", nil}},
	"ad user create": userColumns, "ad user show": userColumns, "ad user list": userColumns,
	"ad group create": groupColumns, "ad group show": groupColumns, "ad group list": groupColumns,
	"ad group member list": {{"DisplayName", "displayName", nil}, {"Name", "userPrincipalName || appId", nil}, {"Type", "\"@odata.type\"", odataType}, {"Id", "id", nil}},
	"ad sp create":         spColumns, "ad sp show": spColumns, "ad sp list": spColumns,
	"ad app create": appColumns, "ad app show": appColumns, "ad app list": appColumns,
	"identity create": miColumns, "identity show": miColumns, "identity list": miColumns,

	"keyvault key create":         keyColumns,
	"keyvault key import":         keyColumns,
	"keyvault key show":           keyColumns,
	"keyvault key list":           keyColumns,
	"keyvault key set-attributes": keyColumns,
	"keyvault key recover":        keyColumns,
	"keyvault key rotate":         keyColumns,
	"keyvault key restore":        keyColumns,
	"keyvault key delete": {
		{"Name", "key.kid", keyNameOf}, {"Type", "key.kty", nil},
		{"DeletedDate", "deletedDate", unixDate}, {"ScheduledPurgeDate", "scheduledPurgeDate", unixDate}},
	"keyvault key list-versions": {
		{"Version", "kid", lastSegmentOf}, {"Enabled", "attributes.enabled", nil},
		{"Created", "attributes.created", unixDate}, {"Expires", "attributes.exp", unixDate}},
	"keyvault key list-deleted": {
		{"Name", "kid", keyNameOf}, {"DeletedDate", "deletedDate", unixDate}, {"ScheduledPurgeDate", "scheduledPurgeDate", unixDate}},
	"keyvault key show-deleted": {
		{"Name", "key.kid", keyNameOf}, {"Type", "key.kty", nil},
		{"DeletedDate", "deletedDate", unixDate}, {"ScheduledPurgeDate", "scheduledPurgeDate", unixDate}},
	"keyvault key list-expiring": {
		{"Name", "name", nil}, {"Expires", "expires", nil}, {"DaysLeft", "daysLeft", nil},
		{"Enabled", "enabled", nil}, {"Version", "kid", versionOf}},
	"keyvault key rotation-policy show": {
		{"Expiry", "attributes.expiryTime", nil}, {"LifetimeActions", "lifetimeActions", actionsOf}},
	"keyvault key rotation-policy update": {
		{"Expiry", "attributes.expiryTime", nil}, {"LifetimeActions", "lifetimeActions", actionsOf}},

	"keyvault role assignment create": assignmentColumns,
	"keyvault role assignment list":   assignmentColumns,
	"role assignment create":          assignmentColumns,
	"role assignment list":            assignmentColumns,
	"keyvault role definition list":   localRoleColumns,
	"keyvault role definition show":   localRoleColumns,
	"keyvault role definition create": localRoleColumns,
	"keyvault role definition update": localRoleColumns,
	"role definition list":            localRoleColumns,
	"keyvault role who-can": {
		{"Principal", "principalName || principalId", nil}, {"PrincipalType", "principalType", nil},
		{"Via", "viaName || via", nil}, {"RoleName", "roleName", nil}, {"Scope", "scope", nil}},
	"keyvault role check": {
		{"Allowed", "allowed", nil}, {"Action", "action", nil}, {"Scope", "scope", nil},
		{"GrantedByRole", "grantedBy.roleName", nil}, {"AtScope", "grantedBy.scope", nil}},

	"keyvault create":                    hsmColumns,
	"keyvault show":                      hsmColumns,
	"keyvault list":                      hsmColumns,
	"keyvault update":                    hsmColumns,
	"keyvault recover":                   hsmColumns,
	"keyvault list-deleted":              {{"Name", "name", nil}, {"Location", "properties.location", nil}, {"DeletionDate", "properties.deletionDate", nil}, {"ScheduledPurgeDate", "properties.scheduledPurgeDate", nil}},
	"group create":                       {{"Name", "name", nil}, {"Location", "location", nil}, {"Status", "properties.provisioningState", nil}},
	"group show":                         {{"Name", "name", nil}, {"Location", "location", nil}, {"Status", "properties.provisioningState", nil}},
	"group list":                         {{"Name", "name", nil}, {"Location", "location", nil}, {"Status", "properties.provisioningState", nil}},
	"monitor diagnostic-settings create": {{"Name", "name", nil}, {"StorageAccount", "properties.storageAccountId", nil}},
	"monitor diagnostic-settings show":   {{"Name", "name", nil}, {"StorageAccount", "properties.storageAccountId", nil}},
	"monitor diagnostic-settings list":   {{"Name", "name", nil}, {"StorageAccount", "properties.storageAccountId", nil}},

	"keyvault security-domain download": sdStatusColumns,
	"keyvault security-domain upload":   sdStatusColumns,
	"keyvault security-domain wait":     sdStatusColumns,

	"audit query": {
		{"Time", "time", nil}, {"Operation", "operationName", nil}, {"Result", "resultType", nil},
		{"Status", "status", nil}, {"Caller", "caller", nil}, {"CallerIp", "callerIpAddress", nil}, {"RequestId", "id", nil}},
	"audit verify": {
		{"Chain", "chain", nil}, {"Verdict", "verdict", nil}, {"Records", "records", nil}, {"Checkpoints", "checkpoints", nil},
		{"VerifiedThroughSeq", "verifiedThrough", nil}, {"UnverifiedTail", "unverifiedTail", nil}, {"Problems", "length(problems || `[]`)", nil}},
}

// writeColumns prints data (one object or a list) as a table of cols.
func writeColumns(w io.Writer, data any, cols []column) error {
	rows, ok := data.([]any)
	if !ok {
		rows = []any{data}
	}
	exprs := make([]jmespath.JMESPath, len(cols))
	head := make([]string, len(cols))
	dash := make([]string, len(cols))
	for i, c := range cols {
		e, err := jmespath.Compile(c.path)
		if err != nil {
			return fmt.Errorf("table column %s: %w", c.head, err)
		}
		exprs[i], head[i], dash[i] = e, c.head, strings.Repeat("-", len(c.head))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	fmt.Fprintln(tw, strings.Join(dash, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			v, err := exprs[i].Search(r)
			if err != nil {
				v = nil
			}
			if c.format != nil && v != nil {
				cells[i] = c.format(v)
			} else {
				cells[i], _ = scalar(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// odataType renders "#microsoft.graph.user" as "user".
func odataType(v any) string {
	s, _ := v.(string)
	return strings.TrimPrefix(s, "#microsoft.graph.")
}

// unixDate renders NumericDate seconds as an RFC 3339 UTC time.
func unixDate(v any) string {
	f, ok := v.(float64)
	if !ok {
		s, _ := scalar(v)
		return s
	}
	return time.Unix(int64(f), 0).UTC().Format(time.RFC3339)
}

// keyNameOf is the key name of a kid.
func keyNameOf(v any) string {
	s, _ := v.(string)
	return keyName(s)
}

// versionOf is the version in a kid ("" for a kid without one).
func versionOf(v any) string {
	s, _ := v.(string)
	_, rest, _ := strings.Cut(s, "/keys/")
	_, version, _ := strings.Cut(rest, "/")
	return version
}

// lastSegmentOf is the last path segment of an id or URL.
func lastSegmentOf(v any) string {
	s, _ := v.(string)
	return s[strings.LastIndex(s, "/")+1:]
}

// resourceGroupOf is the resource group of an ARM resource id.
func resourceGroupOf(v any) string {
	s, _ := v.(string)
	parts := strings.Split(s, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

// actionsOf summarises rotation lifetime actions, e.g.
// "Rotate after create P90D; Notify before expiry P30D".
func actionsOf(v any) string {
	list, _ := v.([]any)
	var out []string
	for _, a := range list {
		m, _ := a.(map[string]any)
		trig, _ := m["trigger"].(map[string]any)
		act, _ := m["action"].(map[string]any)
		typ, _ := act["type"].(string)
		if d, ok := trig["timeAfterCreate"].(string); ok {
			out = append(out, typ+" after create "+d)
		}
		if d, ok := trig["timeBeforeExpiry"].(string); ok {
			out = append(out, typ+" before expiry "+d)
		}
	}
	return strings.Join(out, "; ")
}
