// Package barrier is mhsm's envelope encryption of everything secret that is
// stored. Nothing secret (private key material, security-domain shares, ...)
// reaches a store.Backend in plaintext.
//
// There are two layers:
//
//   - The root key (a Keyring) is a 32-byte key-encryption key kept outside
//     the database: a 0600 file in the data dir, or the file given by
//     --root-key-file. It only ever encrypts ("wraps") data keys.
//   - Data keys (DataKey) are random 32-byte AES-256-GCM keys. Each is stored
//     wrapped under the root key next to the data it protects, and seals that
//     data with AES-256-GCM.
//
// Every sealed value is bound to where it is stored: callers pass the storage
// key (e.g. "hsm/dev/key/k1/v/abc") as additional authenticated data, so a
// ciphertext copied or moved to another storage key fails to open. Every
// failure to open — wrong key, wrong aad, truncated or modified input,
// unknown version — is reported as the single error ErrAuth.
//
// Formats (version byte 1):
//
//	sealed value:     0x01 || nonce (12 random bytes) || AES-256-GCM ciphertext+tag
//	wrapped data key: 0x01 || nonce (12 random bytes) || AES-256-GCM(root, data key)+tag
//
// Keyring and DataKey never print their key bytes: String, GoString, Format
// and LogValue (log/slog) all return a redacted placeholder.
package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// ErrAuth is returned by every failure to open a sealed value or a wrapped
// data key.
var ErrAuth = errors.New("barrier: message authentication failed")

const (
	// KeySize is the size in bytes of the root key and of data keys.
	KeySize = 32
	// NonceSize is the size of the random AES-GCM nonce.
	NonceSize = 12
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = 1 + NonceSize + 16

	version1 = 0x01
)

// wrapAAD domain-separates wrapped data keys from anything else the root key
// could ever be used for.
var wrapAAD = []byte("mhsm/barrier/data-key/v1")

const (
	redactedKeyring = "barrier.Keyring{REDACTED}"
	redactedDataKey = "barrier.DataKey{REDACTED}"
)

// Keyring holds the root key, the key-encryption key that wraps data keys.
// It is safe for concurrent use.
type Keyring struct {
	root []byte
	aead cipher.AEAD
}

// NewKeyring returns a Keyring for root, which must be 32 bytes. root is
// copied; the caller may clear its slice afterwards.
func NewKeyring(root []byte) (*Keyring, error) {
	if len(root) != KeySize {
		return nil, fmt.Errorf("barrier: root key must be %d bytes, got %d", KeySize, len(root))
	}
	r := append([]byte(nil), root...)
	a, err := newAEAD(r)
	if err != nil {
		return nil, err
	}
	return &Keyring{root: r, aead: a}, nil
}

// NewDataKey returns a new random data key, and the same key wrapped under the
// root key for storage.
func (k *Keyring) NewDataKey() (wrapped []byte, dk *DataKey, err error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, fmt.Errorf("barrier: generate data key: %w", err)
	}
	dk, err = NewDataKeyFromRaw(raw)
	clear(raw)
	if err != nil {
		return nil, nil, err
	}
	return seal(k.aead, dk.raw, wrapAAD), dk, nil
}

// WrapDataKey wraps an existing data key under the root key for storage,
// as NewDataKey does for a new one. (Used when an HSM's key-hierarchy root
// is replaced by one recovered from a security domain.)
func (k *Keyring) WrapDataKey(dk *DataKey) []byte {
	return seal(k.aead, dk.raw, wrapAAD)
}

// OpenDataKey unwraps a data key produced by NewDataKey. Any failure
// (including a key wrapped under another root key) is ErrAuth.
func (k *Keyring) OpenDataKey(wrapped []byte) (*DataKey, error) {
	raw, err := open(k.aead, wrapped, wrapAAD)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	if len(raw) != KeySize {
		return nil, ErrAuth
	}
	return NewDataKeyFromRaw(raw)
}

// String returns a redacted placeholder.
func (k Keyring) String() string { return redactedKeyring }

// GoString returns a redacted placeholder (for %#v).
func (k Keyring) GoString() string { return redactedKeyring }

// Format prints a redacted placeholder for every fmt verb.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedKeyring) }

// LogValue makes log/slog print a redacted placeholder.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(redactedKeyring) }

// DataKey is an AES-256-GCM key that seals stored values. It is safe for
// concurrent use.
type DataKey struct {
	raw  []byte
	aead cipher.AEAD
}

// NewDataKeyFromRaw returns a DataKey for raw, which must be 32 bytes. raw is
// copied. (Used to rebuild a data key recovered from a security domain.)
func NewDataKeyFromRaw(raw []byte) (*DataKey, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("barrier: data key must be %d bytes, got %d", KeySize, len(raw))
	}
	r := append([]byte(nil), raw...)
	a, err := newAEAD(r)
	if err != nil {
		return nil, err
	}
	return &DataKey{raw: r, aead: a}, nil
}

// Seal encrypts and authenticates plaintext, binding it to aad (pass the
// storage key the result is stored under). The result is
// version || random nonce || ciphertext+tag, len(plaintext)+Overhead bytes.
func (d *DataKey) Seal(plaintext, aad []byte) []byte {
	return seal(d.aead, plaintext, aad)
}

// Open decrypts a value produced by Seal with the same aad. Every failure is
// ErrAuth.
func (d *DataKey) Open(sealed, aad []byte) ([]byte, error) {
	return open(d.aead, sealed, aad)
}

// Raw returns a copy of the 32 key bytes. Handle with care: this is secret
// key material (needed to split the key into security-domain shares). Never
// log or store it unencrypted, and clear the slice when done.
func (d *DataKey) Raw() []byte {
	return append([]byte(nil), d.raw...)
}

// String returns a redacted placeholder.
func (d DataKey) String() string { return redactedDataKey }

// GoString returns a redacted placeholder (for %#v).
func (d DataKey) GoString() string { return redactedDataKey }

// Format prints a redacted placeholder for every fmt verb.
func (d DataKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedDataKey) }

// LogValue makes log/slog print a redacted placeholder.
func (d DataKey) LogValue() slog.Value { return slog.StringValue(redactedDataKey) }

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	return a, nil
}

func seal(a cipher.AEAD, plaintext, aad []byte) []byte {
	out := make([]byte, 1+NonceSize, 1+NonceSize+len(plaintext)+a.Overhead())
	out[0] = version1
	// crypto/rand.Read never returns an error (it aborts the program if the
	// system's randomness source fails).
	_, _ = rand.Read(out[1 : 1+NonceSize])
	return a.Seal(out, out[1:1+NonceSize], plaintext, aad)
}

func open(a cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 1+NonceSize+a.Overhead() || sealed[0] != version1 {
		return nil, ErrAuth
	}
	pt, err := a.Open(nil, sealed[1:1+NonceSize], sealed[1+NonceSize:], aad)
	if err != nil {
		return nil, ErrAuth
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
