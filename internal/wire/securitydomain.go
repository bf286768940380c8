package wire

// Security domain (securitydomain.json, 7.6).

// SecurityDomainJSONWebKey is an officer's RSA certificate as a JWK, one
// entry of CertificateInfo.Certificates. The Azure CLI sends no kid; older
// clients send the certificate subject.
type SecurityDomainJSONWebKey struct {
	Kid     string   `json:"kid,omitempty"`
	Kty     string   `json:"kty"`
	KeyOps  []string `json:"key_ops"`
	N       string   `json:"n"`
	E       string   `json:"e"`
	X5c     []string `json:"x5c"`
	Use     string   `json:"use,omitempty"`
	X5t     string   `json:"x5t,omitempty"`
	X5tS256 string   `json:"x5t#S256,omitempty"`
	Alg     string   `json:"alg,omitempty"`
}

// CertificateInfo is the body of POST /securitydomain/download: 3 to 10
// certificates and the quorum (default 2).
type CertificateInfo struct {
	Certificates []SecurityDomainJSONWebKey `json:"certificates"`
	Required     *int                       `json:"required,omitempty"`
}

// SecurityDomainObject carries a security-domain file (download response)
// or a restore blob (upload request) as a JSON string.
type SecurityDomainObject struct {
	Value string `json:"value"`
}

// Security domain operation states; clients also accept "Succeeded".
const (
	SDStatusSuccess    = "Success"
	SDStatusInProgress = "InProgress"
	SDStatusFailed     = "Failed"
)

// SecurityDomainOperationStatus is the body of the pending endpoints.
type SecurityDomainOperationStatus struct {
	Status        string `json:"status"`
	StatusDetails string `json:"status_details"`
}

// TransferKey is the body of GET /securitydomain/upload. TransferKey is the
// JWK serialised as a JSON string, as the service sends it and az parses it.
type TransferKey struct {
	KeyFormat   string `json:"key_format"`
	TransferKey string `json:"transfer_key"`
}
