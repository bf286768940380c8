package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/throttle"
	"github.com/mhsm/mhsm/internal/wire"
)

// Key operations as named in key_ops.
const (
	OpEncrypt = "encrypt"
	OpDecrypt = "decrypt"
	OpSign    = "sign"
	OpVerify  = "verify"
	OpWrap    = "wrapKey"
	OpUnwrap  = "unwrapKey"
)

// usable loads a version and its material and checks that op is allowed
// (op "" skips the key_ops and validity checks, for callers that made
// their own):
// the version is enabled, op is in its key_ops, and — except for decrypt,
// unwrapKey and verify, which keep working so that old data stays
// readable — now is within nbf/exp.
//
// The records come from the record cache when it has them (readRecords);
// the checks run here, on every call.
func (s *Service) usable(ctx context.Context, h *HSM, name, version, op string) (string, *keys.Material, func(), error) {
	k, v, sealed, err := s.readRecords(ctx, h, name, version, false, true)
	if err != nil {
		return "", nil, nil, err
	}
	if !v.Enabled {
		return "", nil, nil, forbidden("Operation %s is not allowed on a disabled key.", op)
	}
	if op != "" && !slices.Contains(v.KeyOps, op) {
		return "", nil, nil, badRequest("Operation %s is not permitted on this key.", op)
	}
	if op != "" && op != OpDecrypt && op != OpUnwrap && op != OpVerify {
		now := s.now().Unix()
		if v.NotBefore != nil && now < *v.NotBefore {
			return "", nil, nil, forbidden("Operation %s is not allowed on a key that is not yet valid (nbf).", op)
		}
		if v.Expires != nil && now >= *v.Expires {
			return "", nil, nil, forbidden("Operation %s is not allowed on an expired key.", op)
		}
	}
	throttle.Add(ctx, throttle.CryptoCost(v.Public.Kty, v.Size, op == OpSign || op == OpDecrypt || op == OpUnwrap || op == "", false))
	lname := strings.ToLower(k.Name)
	m, release, err := s.cache.get(h.Name+"/"+lname+"/"+v.Version, func() (*keys.Material, error) {
		if sealed == nil { // the records came from the record cache
			var err error
			if sealed, err = s.readSealed(ctx, h, k.Name, v.Version); err != nil {
				return nil, err
			}
		}
		plain, err := h.dk.Open(sealed, materialAAD(lname, v.Version))
		if err != nil {
			return nil, err
		}
		defer clear(plain)
		return keys.Unmarshal(plain)
	})
	if err != nil {
		return "", nil, nil, err
	}
	return h.kid(k.Name, v.Version), m, release, nil
}

// cryptoErr maps errors of the keys package to use-case errors. Decryption
// failures all become one indistinguishable error.
func cryptoErr(err error) error {
	switch {
	case errors.Is(err, keys.ErrDecrypt):
		return badRequest("The operation failed: the ciphertext could not be decrypted.")
	case errors.Is(err, keys.ErrBadRequest), errors.Is(err, keys.ErrInvalidKeyParams):
		return badRequest("%s", err.Error())
	}
	return err
}

// Sign signs a digest.
func (s *Service) Sign(ctx context.Context, h *HSM, name, version string, p *wire.KeySignParameters) (*wire.KeyOperationResult, error) {
	kid, m, release, err := s.usable(ctx, h, name, version, OpSign)
	if err != nil {
		return nil, err
	}
	defer release()
	sig, err := m.Sign(p.Alg, p.Value)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &wire.KeyOperationResult{Kid: kid, Value: sig}, nil
}

// Verify checks a signature over a digest.
func (s *Service) Verify(ctx context.Context, h *HSM, name, version string, p *wire.KeyVerifyParameters) (*wire.KeyVerifyResult, error) {
	_, m, release, err := s.usable(ctx, h, name, version, OpVerify)
	if err != nil {
		return nil, err
	}
	defer release()
	ok, err := m.Verify(p.Alg, p.Digest, p.Signature)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &wire.KeyVerifyResult{Value: ok}, nil
}

// Encrypt encrypts with the key.
func (s *Service) Encrypt(ctx context.Context, h *HSM, name, version string, p *wire.KeyOperationsParameters) (*wire.KeyOperationResult, error) {
	kid, m, release, err := s.usable(ctx, h, name, version, OpEncrypt)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := m.Encrypt(keys.CipherParams{Alg: p.Alg, Value: p.Value, IV: p.IV, AAD: p.AAD, Tag: p.Tag})
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &wire.KeyOperationResult{Kid: kid, Value: r.Value, IV: r.IV, Tag: r.Tag, AAD: r.AAD}, nil
}

// checkRSA15 refuses RSA1_5 decryption unless the HSM's setting allows it.
func (s *Service) checkRSA15(ctx context.Context, h *HSM, alg string) error {
	if alg != "RSA1_5" {
		return nil
	}
	on, err := s.settingOn(ctx, h, SettingRSA15)
	if err != nil {
		return err
	}
	if !on {
		return badRequest("RSA1_5 decryption is disabled on this HSM (it is a padding-oracle risk); an administrator can allow it with the %s setting.", SettingRSA15)
	}
	return nil
}

// Decrypt decrypts with the key.
func (s *Service) Decrypt(ctx context.Context, h *HSM, name, version string, p *wire.KeyOperationsParameters) (*wire.KeyOperationResult, error) {
	if err := s.checkRSA15(ctx, h, p.Alg); err != nil {
		return nil, err
	}
	kid, m, release, err := s.usable(ctx, h, name, version, OpDecrypt)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := m.Decrypt(keys.CipherParams{Alg: p.Alg, Value: p.Value, IV: p.IV, AAD: p.AAD, Tag: p.Tag})
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &wire.KeyOperationResult{Kid: kid, Value: r.Value}, nil
}

// WrapKey wraps a key.
func (s *Service) WrapKey(ctx context.Context, h *HSM, name, version string, p *wire.KeyOperationsParameters) (*wire.KeyOperationResult, error) {
	kid, m, release, err := s.usable(ctx, h, name, version, OpWrap)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := m.WrapKey(p.Alg, p.Value)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &wire.KeyOperationResult{Kid: kid, Value: out}, nil
}

// UnwrapKey unwraps a key.
func (s *Service) UnwrapKey(ctx context.Context, h *HSM, name, version string, p *wire.KeyOperationsParameters) (*wire.KeyOperationResult, error) {
	if err := s.checkRSA15(ctx, h, p.Alg); err != nil {
		return nil, err
	}
	kid, m, release, err := s.usable(ctx, h, name, version, OpUnwrap)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := m.UnwrapKey(p.Alg, p.Value)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &wire.KeyOperationResult{Kid: kid, Value: out}, nil
}

// RandomBytes returns count (1..128) random bytes from the system CSPRNG.
func (s *Service) RandomBytes(count int) (*wire.RandomBytes, error) {
	if count < 1 || count > 128 {
		return nil, badRequest("count must be between 1 and 128")
	}
	b := make([]byte, count)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &wire.RandomBytes{Value: b}, nil
}
