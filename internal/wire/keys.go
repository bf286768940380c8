// Package wire holds the JSON wire types of the Managed HSM data plane, shared
// by the server and the Go client. Field names follow the Key Vault REST
// specification (keys.json, 7.6). Read keys.go.
package wire

import "github.com/mhsm/mhsm/internal/keys"

// JSONWebKey is the Key Vault JsonWebKey.
type JSONWebKey = keys.JSONWebKey

// B64 is base64url without padding on the wire.
type B64 = keys.B64

// KeyAttributes are the attributes of a key version. Times are Unix seconds.
type KeyAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created,omitempty"`
	Updated         int64  `json:"updated,omitempty"`
	RecoverableDays int    `json:"recoverableDays,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	Exportable      *bool  `json:"exportable,omitempty"`
	HsmPlatform     string `json:"hsmPlatform,omitempty"`
	// Attestation is set only by GET /keys/{name}/{version}/attestation.
	Attestation *KeyAttestation `json:"attestation,omitempty"`
}

// KeyAttestation is a key's attestation (7.6, 2025-07-01): the PEM
// certificate chain of the HSM's attestation key and statements it signed
// about the key's private and public parts (each base64url on the wire).
type KeyAttestation struct {
	CertificatePEMFile    B64    `json:"certificatePemFile,omitempty"`
	PrivateKeyAttestation B64    `json:"privateKeyAttestation,omitempty"`
	PublicKeyAttestation  B64    `json:"publicKeyAttestation,omitempty"`
	Version               string `json:"version,omitempty"`
}

// KeyReleasePolicy is a secure key release policy; Data is the policy JSON.
type KeyReleasePolicy struct {
	ContentType string `json:"contentType,omitempty"`
	Immutable   *bool  `json:"immutable,omitempty"`
	Data        B64    `json:"data,omitempty"`
}

// KeyBundle is a key version with its attributes.
type KeyBundle struct {
	Key           JSONWebKey        `json:"key"`
	Attributes    KeyAttributes     `json:"attributes"`
	Tags          map[string]string `json:"tags,omitempty"`
	Managed       *bool             `json:"managed,omitempty"`
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// DeletedKeyBundle is a soft-deleted key.
type DeletedKeyBundle struct {
	KeyBundle
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"`
}

// KeyItem is one entry of a key list.
type KeyItem struct {
	Kid        string            `json:"kid"`
	Attributes KeyAttributes     `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    *bool             `json:"managed,omitempty"`
}

// DeletedKeyItem is one entry of a deleted-key list.
type DeletedKeyItem struct {
	KeyItem
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"`
}

// List is a page of results with the link to the next page.
type List[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

// KeyCreateParameters is the body of POST /keys/{name}/create.
type KeyCreateParameters struct {
	Kty            string            `json:"kty"`
	KeySize        *int              `json:"key_size,omitempty"`
	PublicExponent *int              `json:"public_exponent,omitempty"`
	KeyOps         []string          `json:"key_ops,omitempty"`
	Attributes     *KeyAttributes    `json:"attributes,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Curve          string            `json:"crv,omitempty"`
	ReleasePolicy  *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyImportParameters is the body of PUT /keys/{name}.
type KeyImportParameters struct {
	Hsm           *bool             `json:"Hsm,omitempty"`
	Key           *JSONWebKey       `json:"key"`
	Attributes    *KeyAttributes    `json:"attributes,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyUpdateParameters is the body of PATCH /keys/{name}/{version}.
type KeyUpdateParameters struct {
	KeyOps        []string          `json:"key_ops,omitempty"`
	Attributes    *KeyAttributes    `json:"attributes,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyOperationsParameters is the body of encrypt, decrypt, wrapkey, unwrapkey.
type KeyOperationsParameters struct {
	Alg   string `json:"alg"`
	Value B64    `json:"value"`
	IV    B64    `json:"iv,omitempty"`
	AAD   B64    `json:"aad,omitempty"`
	Tag   B64    `json:"tag,omitempty"`
}

// KeyOperationResult is the result of encrypt, decrypt, wrap, unwrap and sign.
type KeyOperationResult struct {
	Kid   string `json:"kid"`
	Value B64    `json:"value"`
	IV    B64    `json:"iv,omitempty"`
	Tag   B64    `json:"tag,omitempty"`
	AAD   B64    `json:"aad,omitempty"`
}

// KeySignParameters is the body of sign.
type KeySignParameters struct {
	Alg   string `json:"alg"`
	Value B64    `json:"value"`
}

// KeyVerifyParameters is the body of verify.
type KeyVerifyParameters struct {
	Alg       string `json:"alg"`
	Digest    B64    `json:"digest"`
	Signature B64    `json:"value"`
}

// KeyVerifyResult is the result of verify.
type KeyVerifyResult struct {
	Value bool `json:"value"`
}

// BackupKeyResult carries an opaque key backup blob.
type BackupKeyResult struct {
	Value B64 `json:"value"`
}

// KeyRestoreParameters is the body of POST /keys/restore.
type KeyRestoreParameters struct {
	Value B64 `json:"value"`
}

// GetRandomBytesRequest is the body of POST /rng.
type GetRandomBytesRequest struct {
	Count int `json:"count"`
}

// RandomBytes is the result of POST /rng.
type RandomBytes struct {
	Value B64 `json:"value"`
}

// KeyReleaseParameters is the body of POST /keys/{name}/{version}/release.
type KeyReleaseParameters struct {
	Target string `json:"target"`
	Nonce  string `json:"nonce,omitempty"`
	Enc    string `json:"enc,omitempty"`
}

// KeyReleaseResult is the result of release.
type KeyReleaseResult struct {
	Value string `json:"value"`
}

// KeyRotationPolicy is the rotation policy of a key.
type KeyRotationPolicy struct {
	ID              string                    `json:"id,omitempty"`
	LifetimeActions []LifetimeAction          `json:"lifetimeActions"`
	Attributes      *RotationPolicyAttributes `json:"attributes,omitempty"`
}

// LifetimeAction is one trigger and action of a rotation policy.
type LifetimeAction struct {
	Trigger LifetimeTrigger `json:"trigger"`
	Action  LifetimeType    `json:"action"`
}

// LifetimeTrigger fires after creation or before expiry (ISO 8601 durations).
type LifetimeTrigger struct {
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// LifetimeType names the action: "Rotate" (or "Notify", refused by MHSM).
type LifetimeType struct {
	Type string `json:"type"`
}

// RotationPolicyAttributes holds the expiry given to rotated versions.
type RotationPolicyAttributes struct {
	ExpiryTime string `json:"expiryTime,omitempty"`
	Created    int64  `json:"created,omitempty"`
	Updated    int64  `json:"updated,omitempty"`
}

// Error is the Azure error body.
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner error object.
type ErrorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *InnerError `json:"innererror,omitempty"`
}

// InnerError refines an error's code (e.g. ForbiddenByFirewall).
type InnerError struct {
	Code string `json:"code"`
}
