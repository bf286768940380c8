package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The help text of every command, as az keeps it apart from the command
// code (its _help.py files): a one-sentence description in az's voice and
// examples, keyed by command path without "mhsm ". addExamples sets them
// on the tree; a command that sets Short or Example in its own code keeps
// what it set only when it has no entry here. TestEveryCommandHasExamples
// (help_test.go) fails on a runnable command without an example, and
// parses every example line against the command tree.
//
// Example format: a "# what it does" line, then the command line(s).

type helpEntry struct{ short, example string }

var helpTexts = map[string]helpEntry{
	// Groups.
	"account":                      {short: "Show the signed-in account and get access tokens for it."},
	"ad":                           {short: "Manage the directory: users, groups, applications and service principals."},
	"ad app":                       {short: "Manage application registrations."},
	"ad app credential":            {short: "Manage an application's client secrets."},
	"ad group":                     {short: "Manage security groups."},
	"ad group member":              {short: "Manage the members of a group."},
	"ad sp":                        {short: "Manage service principals."},
	"ad user":                      {short: "Manage users."},
	"audit":                        {short: "Verify and query audit logs, and get an HSM's audit signing key."},
	"group":                        {short: "Manage resource groups."},
	"identity":                     {short: "Manage user-assigned managed identities."},
	"keyvault":                     {short: "Manage managed HSMs: the resources, their keys, local RBAC and security domain."},
	"keyvault key rotation-policy": {short: "Manage a key's rotation policy."},
	"keyvault role":                {short: "Manage an HSM's local RBAC: role assignments, role definitions and access review."},
	"keyvault role assignment":     {short: "Manage role assignments at /, /keys or /keys/{key name}."},
	"keyvault role definition":     {short: "Manage built-in and custom role definitions."},
	"keyvault security-domain":     {short: "Activate an HSM by downloading its security domain, or recover one by uploading it."},
	"monitor":                      {short: "Manage monitoring: where a resource's logs go."},
	"monitor diagnostic-settings":  {short: "Manage diagnostic settings: deliver an HSM's audit log to a storage account."},
	"role":                         {short: "Manage management-plane (Azure RBAC) role assignments and definitions."},
	"role assignment":              {short: "Manage management-plane role assignments."},
	"role definition":              {short: "List management-plane role definitions."},

	// Server and setup.
	"server": {example: `# Run a dev-mode server: dev tenant, HSM "dev", and ./mhsm-data/dev.json
mhsm server --dev
# Run with your own certificate and domain, on port 443
mhsm server --addr 0.0.0.0:443 --domain hsm.contoso.example --tls-cert cert.pem --tls-key key.pem`},
	"hosts": {example: `# Add the names of the dev server to /etc/hosts
mhsm hosts | sudo tee -a /etc/hosts
# Include HSMs named contoso and fabrikam
mhsm hosts --hsm dev,contoso,fabrikam`},
	"bench": {example: `# Benchmark an in-process server for 5 s per operation
mhsm bench --self -d 5s --ops rsa2048-sign,es256-sign
# Benchmark a running dev server
mhsm bench --dev-json mhsm-data/dev.json -d 10s --markdown bench.md
# Compare the clients users run (minimal, net/http, azkeys SDK) at 1, 16 and 64 connections
# against a server started as its own process with its default flags
mhsm bench --spawn --clients all --conns-list 1,16,64 --ops rsa2048-sign,key-get -d 8s
# mhsm against OpenBao Transit (see scripts/bench-peer.sh)
mhsm bench --spawn --peer -c 16 -d 24s --rounds 3 --peer-url https://127.0.0.1:8200 --peer-token <token> --peer-ca vault-ca.pem`},

	// Sign-in.
	"login": {example: `# Sign in as the dev service principal of a dev-mode server
mhsm login --dev-json ./mhsm-data/dev.json
# Sign in as a service principal with a secret, or with a certificate
mhsm login --service-principal -u <appId> -p <secret> --tenant <tenant>
mhsm login --service-principal -u <appId> --certificate cert.pem --tenant <tenant>
# Sign in as a user
mhsm login -u ada@mhsm.localhost -p 'Analytical-Engine-1843'
# Sign in as a managed identity (IDENTITY_ENDPOINT and IDENTITY_HEADER set)
mhsm login --identity`},
	"logout": {example: `# Forget the signed-in account
mhsm logout`},
	"account show": {example: `# Show the signed-in account's tenant
mhsm account show --query tenantId -o tsv`},
	"account get-access-token": {example: `# Print a data-plane token
mhsm account get-access-token --query accessToken -o tsv
# Print a Graph token
mhsm account get-access-token --resource-type graph`},

	// Directory.
	"ad user create": {example: `# Create a user who signs in with a password
mhsm ad user create --display-name 'Ada Lovelace' --user-principal-name ada@mhsm.localhost --password 'Analytical-Engine-1843'`},
	"ad user show": {example: `# Show a user's object id
mhsm ad user show --id ada@mhsm.localhost --query id -o tsv`},
	"ad user list": {example: `# List users as a table
mhsm ad user list -o table
# Find a user by display name
mhsm ad user list --display-name 'Ada Lovelace'`},
	"ad user update": {example: `# Disable a user (takes effect on the next request)
mhsm ad user update --id ada@mhsm.localhost --account-enabled=false
# Set a new password
mhsm ad user update --id ada@mhsm.localhost --password 'New-Engine-1843'`},
	"ad user delete": {example: `# Delete a user
mhsm ad user delete --id ada@mhsm.localhost`},
	"ad group create": {example: `# Create a security group
mhsm ad group create --display-name 'Contoso App Auditors' --mail-nickname auditors`},
	"ad group show": {example: `# Show a group's object id
mhsm ad group show -g 'Contoso App Auditors' --query id -o tsv`},
	"ad group list": {example: `# List groups as a table
mhsm ad group list -o table`},
	"ad group delete": {example: `# Delete a group
mhsm ad group delete -g 'Contoso App Auditors'`},
	"ad group member add": {example: `# Add a user to a group
mhsm ad group member add -g 'Contoso App Auditors' --member-id "$(mhsm ad user show --id ada@mhsm.localhost --query id -o tsv)"`},
	"ad group member list": {example: `# List the members' names
mhsm ad group member list -g 'Contoso App Auditors' --query '[].userPrincipalName' -o tsv`},
	"ad group member remove": {example: `# Remove a member
mhsm ad group member remove -g 'Contoso App Auditors' --member-id <object-id>`},
	"ad app create": {example: `# Register an application
mhsm ad app create --display-name payments-service`},
	"ad app show": {example: `# Show an application by appId
mhsm ad app show --id <appId>`},
	"ad app list": {example: `# List applications as a table
mhsm ad app list -o table`},
	"ad app delete": {example: `# Delete an application and its service principal
mhsm ad app delete --id <appId>`},
	"ad app credential reset": {example: `# Add a client secret valid for two years (printed once)
mhsm ad app credential reset --id <appId> --years 2`},
	"ad sp create": {example: `# Create the service principal of an application
mhsm ad sp create --id <appId>`},
	"ad sp create-for-rbac": {example: `# Register an application with a service principal and a secret
mhsm ad sp create-for-rbac -n deployer`},
	"ad sp show": {example: `# Show a service principal by appId
mhsm ad sp show --id <appId>`},
	"ad sp list": {example: `# List service principals as a table
mhsm ad sp list -o table`},
	"ad sp delete": {example: `# Delete a service principal (the application stays)
mhsm ad sp delete --id <appId>`},
	"identity create": {example: `# Create a managed identity and keep its identity header
mhsm identity create -n payments-app --query identityHeader -o tsv`},
	"identity show": {example: `# Show a managed identity's principal id
mhsm identity show -n payments-app --query principalId -o tsv`},
	"identity list": {example: `# List managed identities as a table
mhsm identity list -o table`},
	"identity delete": {example: `# Delete a managed identity
mhsm identity delete -n payments-app`},
	"identity reset-header": {example: `# Replace a managed identity's header (the old one stops working)
mhsm identity reset-header -n payments-app`},

	// Management plane.
	"group create": {example: `# Create a resource group
mhsm group create -n ContosoAppRG -l local`},
	"group show": {example: `# Show a resource group
mhsm group show -n ContosoAppRG`},
	"group list": {example: `# List resource groups as a table
mhsm group list -o table`},
	"group delete": {example: `# Delete a resource group and soft-delete its HSMs
mhsm group delete -n ContosoAppRG --yes`},
	"keyvault create": {example: `# Create an HSM administered by a group (activate it with security-domain download)
mhsm keyvault create --hsm-name ContosoMHSM -g ContosoAppRG --administrators <object-id> --retention-days 7`},
	"keyvault show": {example: `# Show an HSM's activation status
mhsm keyvault show --hsm-name ContosoMHSM --query properties.securityDomainProperties.activationStatus -o tsv`},
	"keyvault list": {example: `# List HSMs as a table
mhsm keyvault list -o table`},
	"keyvault update": {example: `# Admit only one network to the data plane
mhsm keyvault update --hsm-name ContosoMHSM --default-action Deny --ip-rules 10.0.0.0/8`},
	"keyvault delete": {example: `# Soft-delete an HSM
mhsm keyvault delete --hsm-name ContosoMHSM`},
	"keyvault purge": {example: `# Purge a soft-deleted HSM
mhsm keyvault purge --hsm-name ContosoMHSM -l local`},
	"keyvault list-deleted": {example: `# List soft-deleted HSMs as a table
mhsm keyvault list-deleted -o table`},
	"keyvault recover": {example: `# Recover a soft-deleted HSM
mhsm keyvault recover --hsm-name ContosoMHSM -l local`},
	"role assignment create": {example: `# Let a group manage the HSMs of a resource group
mhsm role assignment create --assignee-object-id <object-id> --assignee-principal-type Group --role 'Managed HSM Contributor' --scope /subscriptions/<subscription>/resourceGroups/ContosoAppRG`},
	"role assignment list": {example: `# List the assignments of the subscription as a table
mhsm role assignment list -o table
# List one principal's assignments at a resource group
mhsm role assignment list --scope /subscriptions/<subscription>/resourceGroups/ContosoAppRG --assignee <object-id>`},
	"role assignment delete": {example: `# Delete a principal's Contributor assignment at a resource group
mhsm role assignment delete --assignee <object-id> --role 'Managed HSM Contributor' --scope /subscriptions/<subscription>/resourceGroups/ContosoAppRG`},
	"role definition list": {example: `# Show the id of a built-in role
mhsm role definition list --name 'Managed HSM Contributor' --query '[].name' -o tsv`},
	"monitor diagnostic-settings create": {example: `# Deliver an HSM's audit log to a storage account
mhsm monitor diagnostic-settings create --name MHSM-Diagnostics --resource <hsm-id> --logs '[{"category":"AuditEvent","enabled":true}]' --storage-account <storage-account-id>`},
	"monitor diagnostic-settings show": {example: `# Show a diagnostic setting
mhsm monitor diagnostic-settings show --name MHSM-Diagnostics --resource <hsm-id>`},
	"monitor diagnostic-settings list": {example: `# List an HSM's diagnostic settings as a table
mhsm monitor diagnostic-settings list --resource <hsm-id> -o table`},
	"monitor diagnostic-settings delete": {example: `# Stop delivering an HSM's audit log
mhsm monitor diagnostic-settings delete --name MHSM-Diagnostics --resource <hsm-id>`},

	// Keys.
	"keyvault key create": {example: `# Create an RSA key of 3072 bits
mhsm keyvault key create --hsm-name dev --name payments --kty RSA-HSM --size 3072
# Create an EC key that may only sign and verify, expiring at the end of 2027
mhsm keyvault key create --hsm-name dev --name signer --kty EC-HSM --curve P-256 --ops sign verify --expires 2027-12-31T00:00:00Z
# Create an AES key with tags, using the dev server's credentials instead of a login
mhsm keyvault key create --dev-json mhsm-data/dev.json --name wrapping --kty oct-HSM --size 256 --tags team=payments`},
	"keyvault key import": {example: `# Import an RSA private key from a PEM file
mhsm keyvault key import --hsm-name dev --name imported --pem-file key.pem
# Import a BYOK blob made for an import-only key of the HSM
mhsm keyvault key import --hsm-name dev --name byok --byok-file key.byok --kty RSA-HSM`},
	"keyvault key show": {example: `# Show a key as a table: name, type, enabled, expires, versions
mhsm keyvault key show --hsm-name dev --name payments -o table
# Show the public key's modulus
mhsm keyvault key show --hsm-name dev --name payments --query key.n -o tsv`},
	"keyvault key list": {example: `# List keys as a table
mhsm keyvault key list --hsm-name dev -o table
# List the names of disabled keys
mhsm keyvault key list --hsm-name dev --query '[?attributes.enabled==` + "`false`" + `].kid' -o tsv`},
	"keyvault key list-versions": {example: `# List a key's versions as a table
mhsm keyvault key list-versions --hsm-name dev --name payments -o table`},
	"keyvault key list-expiring": {example: `# Keys that expire within 30 days (or already have)
mhsm keyvault key list-expiring --hsm-name dev --within 30d
# Every version expiring within 90 days, as JSON
mhsm keyvault key list-expiring --hsm-name dev --within 90d --include-versions -o json`},
	"keyvault key set-attributes": {example: `# Disable a key
mhsm keyvault key set-attributes --hsm-name dev --name payments --enabled false
# Set an expiry date
mhsm keyvault key set-attributes --hsm-name dev --name payments --expires 2027-06-30T00:00:00Z`},
	"keyvault key delete": {example: `# Soft-delete a key
mhsm keyvault key delete --hsm-name dev --name payments`},
	"keyvault key list-deleted": {example: `# List soft-deleted keys as a table
mhsm keyvault key list-deleted --hsm-name dev -o table`},
	"keyvault key show-deleted": {example: `# Show when a deleted key will be purged
mhsm keyvault key show-deleted --hsm-name dev --name payments --query scheduledPurgeDate`},
	"keyvault key recover": {example: `# Recover a soft-deleted key
mhsm keyvault key recover --hsm-name dev --name payments`},
	"keyvault key purge": {example: `# Permanently delete a soft-deleted key
mhsm keyvault key purge --hsm-name dev --name payments`},
	"keyvault key backup": {example: `# Back up every version of a key
mhsm keyvault key backup --hsm-name dev --name payments --file payments.backup`},
	"keyvault key restore": {example: `# Restore a key into an HSM of the same security domain
mhsm keyvault key restore --hsm-name dev --file payments.backup`},
	"keyvault key rotate": {example: `# Rotate a key now
mhsm keyvault key rotate --hsm-name dev --name payments`},
	"keyvault key rotation-policy show": {example: `# Show a key's rotation policy
mhsm keyvault key rotation-policy show --hsm-name dev --name payments`},
	"keyvault key rotation-policy update": {example: `# Rotate 90 days after creation; new versions expire after a year
mhsm keyvault key rotation-policy update --hsm-name dev --name payments --value '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P1Y"}}'
# Set it from a file
mhsm keyvault key rotation-policy update --hsm-name dev --name payments --value @policy.json`},
	"keyvault key sign": {example: `# Sign the SHA-256 digest of a message
mhsm keyvault key sign --hsm-name dev --name payments --algorithm RS256 --digest "$(printf hi | sha256sum | xxd -r -p | base64)" --query signature -o tsv`},
	"keyvault key verify": {example: `# Verify a signature over the SHA-256 digest of a message
mhsm keyvault key verify --hsm-name dev --name payments --algorithm RS256 --digest "$(printf hi | sha256sum | xxd -r -p | base64)" --signature <base64> --query isValid -o tsv`},
	"keyvault key encrypt": {example: `# Encrypt with RSA-OAEP-256
mhsm keyvault key encrypt --hsm-name dev --name payments --algorithm RSA-OAEP-256 --value "$(printf secret | base64)" --query result -o tsv`},
	"keyvault key decrypt": {example: `# Decrypt with RSA-OAEP-256
mhsm keyvault key decrypt --hsm-name dev --name payments --algorithm RSA-OAEP-256 --value <base64> --query result -o tsv`},
	"keyvault key wrapkey": {example: `# Wrap a 256-bit key with an AES key
mhsm keyvault key wrapkey --hsm-name dev --name wrapping --algorithm A256KW --value "$(head -c 32 /dev/urandom | base64)"`},
	"keyvault key unwrapkey": {example: `# Unwrap it again
mhsm keyvault key unwrapkey --hsm-name dev --name wrapping --algorithm A256KW --value <base64>`},
	"keyvault key random": {example: `# Get 32 random bytes from the HSM
mhsm keyvault key random --hsm-name dev --count 32 --query value -o tsv`},

	// Local RBAC.
	"keyvault role assignment create": {example: `# Let a group read keys and audit the HSM
mhsm keyvault role assignment create --hsm-name dev --assignee 'Contoso App Auditors' --role 'Managed HSM Crypto Auditor' --scope /
# Let a user use one key
mhsm keyvault role assignment create --hsm-name dev --assignee ada@mhsm.localhost --role 'Managed HSM Crypto User' --scope /keys/payments`},
	"keyvault role assignment list": {example: `# List the assignments at / (the whole HSM) as a table: principal, type, role, scope
mhsm keyvault role assignment list --hsm-name dev -o table
# List one user's assignments on a key
mhsm keyvault role assignment list --hsm-name dev --assignee ada@mhsm.localhost --scope /keys/payments`},
	"keyvault role assignment delete": {example: `# Remove a user's role on a key
mhsm keyvault role assignment delete --hsm-name dev --assignee ada@mhsm.localhost --role 'Managed HSM Crypto User' --scope /keys/payments`},
	"keyvault role definition list": {example: `# List role definitions as a table
mhsm keyvault role definition list --hsm-name dev -o table
# List custom roles only
mhsm keyvault role definition list --hsm-name dev --custom-role-only`},
	"keyvault role definition show": {example: `# Show a built-in role's data actions
mhsm keyvault role definition show --hsm-name dev --role-name 'Managed HSM Crypto User' --query 'properties.permissions[0].dataActions'`},
	"keyvault role definition create": {example: `# Create a role that may only sign
mhsm keyvault role definition create --hsm-name dev --role-definition '{"roleName":"Signer","description":"sign only","dataActions":["Microsoft.KeyVault/managedHsm/keys/sign/action"]}'`},
	"keyvault role definition update": {example: `# Let the role verify too
mhsm keyvault role definition update --hsm-name dev --role-definition '{"roleName":"Signer","description":"sign and verify","dataActions":["Microsoft.KeyVault/managedHsm/keys/sign/action","Microsoft.KeyVault/managedHsm/keys/verify/action"]}'`},
	"keyvault role definition delete": {example: `# Delete a custom role
mhsm keyvault role definition delete --hsm-name dev --role-name Signer`},
	"keyvault role check": {example: `# May a user sign with a key, and which assignment grants it?
mhsm keyvault role check --hsm-name dev --assignee ada@mhsm.localhost --action sign --scope /keys/payments`},
	"keyvault role who-can": {example: `# Who may sign with a key (groups expanded), as a table
mhsm keyvault role who-can --hsm-name dev --action sign --scope /keys/payments -o table`},

	// Security domain.
	"keyvault security-domain download": {example: `# Activate an HSM: three officers, any two of whom can recover it
mhsm keyvault security-domain download --hsm-name ContosoMHSM --sd-wrapping-keys c0.cer c1.cer c2.cer --sd-quorum 2 --security-domain-file ContosoMHSM-SD.json`},
	"keyvault security-domain init-recovery": {example: `# Get the transfer key of an HSM that is not activated
mhsm keyvault security-domain init-recovery --hsm-name Recovered --sd-exchange-key exchange.cer`},
	"keyvault security-domain restore-blob": {example: `# Offline: rebuild the security domain from two officers' keys for that transfer key
mhsm keyvault security-domain restore-blob --sd-file ContosoMHSM-SD.json --sd-exchange-key exchange.cer --sd-wrapping-keys c0.pem c1.pem --sd-file-restore-blob restore.blob`},
	"keyvault security-domain upload": {example: `# Recover an HSM from a restore blob made offline
mhsm keyvault security-domain upload --hsm-name Recovered --sd-file restore.blob --restore-blob
# Or from the security domain and the officers' keys directly
mhsm keyvault security-domain upload --hsm-name Recovered --sd-file ContosoMHSM-SD.json --sd-exchange-key exchange.cer --sd-wrapping-keys c0.pem c1.pem`},
	"keyvault security-domain wait": {example: `# Wait for an upload to finish
mhsm keyvault security-domain wait --hsm-name Recovered --target-operation upload`},

	// Audit.
	"audit public-key": {example: `# Save the dev HSM's audit signing key to pin verification to
mhsm audit public-key --hsm-name dev > "$TMPDIR/dev.pem"`},
	"audit verify": {example: `# Verify the dev HSM's chain against its pinned key, accepting records not yet checkpointed
mhsm audit verify --dir mhsm-data/audit --hsm-name dev --public-key "$TMPDIR/dev.pem" --allow-unverified-tail
# Verify a delivered copy in blob storage
mhsm audit verify --container-url 'https://acct.blob.core.windows.net/insights-logs-auditevent?<SAS>' --hsm-name dev --public-key dev.pem`},
	"audit query": {example: `# Failed signatures of the last day
mhsm audit query --dir mhsm-data/audit --hsm-name dev --since 24h --operation KeySign --result Failure
# Everything one principal did, as JSON
mhsm audit query --dir mhsm-data/audit --principal ada@mhsm.localhost -o json`},
}

// addExamples sets the descriptions and examples of helpTexts on the tree.
func addExamples(root *cobra.Command) {
	root.SetUsageTemplate(usageTemplate)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { // az's "[Required]"
			if _, req := f.Annotations[cobra.BashCompOneRequiredFlag]; req && !strings.HasPrefix(f.Usage, "[Required] ") {
				f.Usage = "[Required] " + f.Usage
			}
		})
		if h, ok := helpTexts[strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "mhsm"), " ")]; ok {
			if h.short != "" {
				c.Short = h.short
			}
			if h.example != "" {
				c.Example = indentExample(h.example)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// indentExample indents every line by two spaces, as cobra's help shows
// examples.
func indentExample(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// globalFlag marks the connection and output flags every command shares,
// which --help lists apart from the command's own (as az's "Global
// Arguments").
const globalFlag = "mhsm-global"

// markGlobal marks the named flags of cmd as shared ones.
func markGlobal(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil {
			_ = cmd.Flags().SetAnnotation(n, globalFlag, []string{"true"})
		}
	}
}

// flagUsages renders the flags of fs that are (global) or are not shared.
func flagUsages(fs *pflag.FlagSet, global bool) string {
	sub := pflag.NewFlagSet("", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if _, g := f.Annotations[globalFlag]; g == global && !f.Hidden {
			sub.AddFlag(f)
		}
	})
	return strings.TrimRight(sub.FlagUsages(), " \n")
}

func init() {
	cobra.AddTemplateFunc("commandFlagUsages", func(fs *pflag.FlagSet) string { return flagUsages(fs, false) })
	cobra.AddTemplateFunc("globalFlagUsages", func(fs *pflag.FlagSet) string { return flagUsages(fs, true) })
}

// usageTemplate is cobra's, with the command's own arguments apart from the
// shared connection and output ones, and required flags marked.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}{{with commandFlagUsages .LocalFlags}}

Arguments:
{{.}}{{end}}{{with globalFlagUsages .LocalFlags}}

Connection and output arguments:
{{.}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`
