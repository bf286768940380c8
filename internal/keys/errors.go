package keys

import "errors"

// Sentinel errors. Callers test them with errors.Is; ErrDecrypt is always
// returned as-is (never wrapped) so it can also be compared with ==.
var (
	// ErrInvalidKeyParams reports unsupported or inconsistent key creation or
	// import parameters (key type, size, curve, malformed components).
	ErrInvalidKeyParams = errors.New("invalid key parameters")

	// ErrBadRequest reports an operation request that is invalid regardless of
	// any secret data: unknown algorithm, algorithm not valid for the key type,
	// wrong digest/IV length, missing parameters, plaintext too long.
	ErrBadRequest = errors.New("bad request")

	// ErrDecrypt is the single error for every decryption or unwrap failure
	// (bad padding, bad OAEP encoding, bad GCM tag, bad key-wrap integrity
	// check, wrong ciphertext length). It carries no detail on purpose.
	ErrDecrypt = errors.New("decryption failed")
)
