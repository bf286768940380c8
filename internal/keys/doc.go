// Package keys holds key material and the cryptographic operations a Managed
// HSM key supports: generation, import from a JSON Web Key, private
// serialization for storage, sign/verify, encrypt/decrypt and wrap/unwrap.
//
// It is pure: no I/O, no HTTP, no persistence. Callers (the HSM service layer)
// decide who may use a key and encrypt the bytes returned by
// [Material.Marshal] before storing them.
//
// Read material.go first: it defines [Material], the constructors
// ([Generate], [FromJWK], [Unmarshal]) and the operation entry points, which
// dispatch to rsa.go, ec.go and aes.go. jwk.go holds the wire model
// ([JSONWebKey], [B64]); aeskw.go the RFC 3394 / RFC 5649 key wrap; errors.go
// the three sentinel errors every failure wraps.
//
// Error contract:
//   - [ErrInvalidKeyParams]: bad key creation / import parameters.
//   - [ErrBadRequest]: a request that is wrong independently of secret data
//     (unknown algorithm, algorithm not valid for the key, wrong digest or IV
//     length, plaintext too long, ...). The message names the problem.
//   - [ErrDecrypt]: every decryption / unwrap failure, returned unwrapped and
//     without detail so that failures are indistinguishable.
//
// Sign and Verify take a digest: the service never hashes.
package keys
