package main

// The examples of `mhsm --help`: the tutorial "Secure access to your
// managed HSMs" in brief, as az's root help shows a first session.
// examples/contoso/run.sh replays it in full (README.md there).
func init() {
	helpTexts[""] = helpEntry{example: `# Start a dev server; reach it without /etc/hosts entries, and sign in as its administrator
mhsm server --dev
export MHSM_CA_FILE=./mhsm-data/tls/ca.pem MHSM_CONNECT=127.0.0.1:8443
mhsm login --dev-json ./mhsm-data/dev.json
# A group, a resource group, and Managed HSM Contributor for the group on it
mhsm ad group create --display-name 'Contoso Security Team'
mhsm group create -n ContosoAppRG -l local
mhsm role assignment create --assignee-object-id "$(mhsm ad group show -g 'Contoso Security Team' --query id -o tsv)" --assignee-principal-type Group --role "Managed HSM Contributor" --scope "$(mhsm group show -n ContosoAppRG --query id -o tsv)"
# Create an HSM and activate it by downloading its security domain
mhsm keyvault create --hsm-name ContosoMHSM -g ContosoAppRG --administrators "$(mhsm ad user show --id alice@mhsm.localhost --query id -o tsv)"
mhsm keyvault security-domain download --hsm-name ContosoMHSM --sd-wrapping-keys c0.cer c1.cer c2.cer --sd-quorum 2 --security-domain-file ContosoMHSM-SD.json
# Data-plane roles, a key, and who may use it
mhsm keyvault role assignment create --hsm-name ContosoMHSM --assignee 'Contoso App Auditors' --role "Managed HSM Crypto Auditor" --scope /
mhsm keyvault key create --hsm-name ContosoMHSM --name contoso-app-signing --kty RSA-HSM --size 2048
mhsm keyvault role who-can --hsm-name ContosoMHSM --action sign --scope /keys/contoso-app-signing
# The whole tutorial, every team's allowed and refused attempts: examples/contoso/run.sh`}
}
