package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
)

// Keys are a chain's secrets: the Ed25519 key that signs checkpoints and
// the HMAC key for sensitive values. They never print.
type Keys struct {
	Sign ed25519.PrivateKey
	HMAC []byte
}

// String is redacted.
func (k *Keys) String() string { return "audit.Keys{REDACTED}" }

// LogValue is redacted.
func (k *Keys) LogValue() slog.Value { return slog.StringValue("audit.Keys{REDACTED}") }

func (k *Keys) publicKey() *PublicKey {
	pub := k.Sign.Public().(ed25519.PublicKey)
	return &PublicKey{KeyID: KeyID(pub), Alg: AlgEd25519, Key: pub}
}

// PublicKey is a chain's checkpoint verification key.
type PublicKey struct {
	KeyID string
	Alg   string
	Key   ed25519.PublicKey
}

// PEM returns the key as a PKIX "PUBLIC KEY" PEM block, the form
// `mhsm audit verify --public-key` reads.
func (p *PublicKey) PEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(p.Key) // cannot fail for Ed25519
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey reads a public key as PEM (PKIX) or as the JSON the
// public-key API returns ({"publicKeyPem": …}).
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	var j struct {
		PEM string `json:"publicKeyPem"`
	}
	if json.Unmarshal(b, &j) == nil && j.PEM != "" {
		b = []byte(j.PEM)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("audit: public key: expected a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("audit: public key: not an Ed25519 key")
	}
	return ek, nil
}

// KeyProvider gives each chain its keys, creating them on first use. It
// must return the same keys for a chain every time, across restarts.
type KeyProvider interface {
	ChainKeys(ctx context.Context, chain string) (*Keys, error)
}

// StoreKeys keeps chain keys in a store, sealed by a barrier data key and
// bound to their storage key "audit/keys/<chain>".
type StoreKeys struct {
	St store.Backend
	DK *barrier.DataKey
}

var _ KeyProvider = StoreKeys{}

type sealedKeys struct {
	Seed []byte `json:"seed"`
	HMAC []byte `json:"hmac"`
}

// ChainKeys implements KeyProvider.
func (s StoreKeys) ChainKeys(ctx context.Context, chain string) (*Keys, error) {
	sk := "audit/keys/" + chain
	var sealed []byte
	err := s.St.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(sk)
		if err == nil {
			sealed = b
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		k := sealedKeys{Seed: make([]byte, ed25519.SeedSize), HMAC: make([]byte, 32)}
		if _, err := rand.Read(k.Seed); err != nil {
			return err
		}
		if _, err := rand.Read(k.HMAC); err != nil {
			return err
		}
		plain, _ := json.Marshal(&k)
		sealed = s.DK.Seal(plain, []byte(sk))
		clear(plain)
		return tx.Put(sk, sealed)
	})
	if err != nil {
		return nil, fmt.Errorf("audit: keys of %s: %w", chain, err)
	}
	plain, err := s.DK.Open(sealed, []byte(sk))
	if err != nil {
		return nil, fmt.Errorf("audit: keys of %s: %w", chain, err)
	}
	defer clear(plain)
	var k sealedKeys
	if err := json.Unmarshal(plain, &k); err != nil || len(k.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit: keys of %s are malformed", chain)
	}
	return &Keys{Sign: ed25519.NewKeyFromSeed(k.Seed), HMAC: k.HMAC}, nil
}

// SeedKeys derives every chain's keys from one seed. For tests only.
type SeedKeys [32]byte

// ChainKeys implements KeyProvider.
func (s SeedKeys) ChainKeys(_ context.Context, chain string) (*Keys, error) {
	seed := HMAC(s[:], "sign/"+chain)
	h := HMAC(s[:], "hmac/"+chain)
	return &Keys{Sign: ed25519.NewKeyFromSeed([]byte(seed[len(seed)-32:])), HMAC: []byte(h)}, nil
}
