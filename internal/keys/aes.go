package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
)

type aesMode int

const (
	modeGCM aesMode = iota + 1
	modeCBC
	modeCBCPad
	modeKW  // RFC 3394
	modeKWP // RFC 5649
)

// aesAlg describes an oct-HSM algorithm; bits 0 means any key size.
type aesAlg struct {
	bits int
	mode aesMode
}

var aesEncAlgs = map[string]aesAlg{
	"A128GCM":    {128, modeGCM},
	"A192GCM":    {192, modeGCM},
	"A256GCM":    {256, modeGCM},
	"A128CBC":    {128, modeCBC},
	"A192CBC":    {192, modeCBC},
	"A256CBC":    {256, modeCBC},
	"A128CBCPAD": {128, modeCBCPad},
	"A192CBCPAD": {192, modeCBCPad},
	"A256CBCPAD": {256, modeCBCPad},
}

var aesWrapAlgs = map[string]aesAlg{
	"A128KW":               {128, modeKW},
	"A192KW":               {192, modeKW},
	"A256KW":               {256, modeKW},
	"CKM_AES_KEY_WRAP":     {0, modeKW},
	"CKM_AES_KEY_WRAP_PAD": {0, modeKWP},
}

const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

func checkOctSize(bits int) error {
	switch bits {
	case 128, 192, 256:
		return nil
	}
	return fmt.Errorf("%w: oct key size %d is not supported; use 128, 192 or 256", ErrInvalidKeyParams, bits)
}

func generateOct(bits int) (*Material, error) {
	k := make([]byte, bits/8)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("keys: generate oct key: %w", err)
	}
	return &Material{kty: KtyOct, size: bits, oct: k}, nil
}

func octFromJWK(j *JSONWebKey) (*Material, error) {
	if len(j.N) > 0 || len(j.E) > 0 || len(j.D) > 0 || len(j.P) > 0 || len(j.Q) > 0 || len(j.X) > 0 || len(j.Y) > 0 || j.Crv != "" {
		return nil, fmt.Errorf("%w: oct key must contain only k", ErrInvalidKeyParams)
	}
	if err := checkOctSize(8 * len(j.K)); err != nil {
		return nil, fmt.Errorf("%w: oct key k must be 16, 24 or 32 bytes, got %d", ErrInvalidKeyParams, len(j.K))
	}
	return &Material{kty: KtyOct, size: 8 * len(j.K), oct: append([]byte(nil), j.K...)}, nil
}

// lookupAES resolves alg in table and checks it against the key size.
func (m *Material) lookupAES(table map[string]aesAlg, alg string) (aesAlg, cipher.Block, error) {
	a, ok := table[alg]
	if !ok {
		return a, nil, algErr(alg, KtyOct)
	}
	if a.bits != 0 && a.bits != m.size {
		return a, nil, fmt.Errorf("%w: algorithm %s requires a %d-bit key; this key is %d-bit", ErrBadRequest, alg, a.bits, m.size)
	}
	b, err := aes.NewCipher(m.oct)
	if err != nil {
		return a, nil, fmt.Errorf("%w: key has no usable AES key", ErrBadRequest)
	}
	return a, b, nil
}

func (m *Material) aesEncrypt(p CipherParams) (CipherResult, error) {
	a, block, err := m.lookupAES(aesEncAlgs, p.Alg)
	if err != nil {
		return CipherResult{}, err
	}
	if a.mode == modeGCM {
		if len(p.IV) > 0 {
			return CipherResult{}, fmt.Errorf("%w: iv must not be supplied for %s encryption; the service generates the nonce", ErrBadRequest, p.Alg)
		}
		if len(p.Tag) > 0 {
			return CipherResult{}, fmt.Errorf("%w: tag must not be supplied for encryption", ErrBadRequest)
		}
		nonce := make([]byte, gcmNonceSize)
		if _, err := rand.Read(nonce); err != nil {
			return CipherResult{}, fmt.Errorf("keys: generate GCM nonce: %w", err)
		}
		ct, tag, err := gcmSeal(block, nonce, p.Value, p.AAD)
		if err != nil {
			return CipherResult{}, err
		}
		return CipherResult{Value: ct, IV: nonce, Tag: tag, AAD: p.AAD}, nil
	}
	if err := cbcParams(p); err != nil {
		return CipherResult{}, err
	}
	pt := p.Value
	if a.mode == modeCBCPad {
		pt = pkcs7Pad(pt)
	} else if len(pt) == 0 || len(pt)%aes.BlockSize != 0 {
		return CipherResult{}, fmt.Errorf("%w: %s plaintext must be a non-empty multiple of 16 bytes (got %d); use %sPAD for padding", ErrBadRequest, p.Alg, len(pt), p.Alg)
	}
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, p.IV).CryptBlocks(ct, pt)
	return CipherResult{Value: ct, IV: append([]byte(nil), p.IV...)}, nil
}

func (m *Material) aesDecrypt(p CipherParams) (CipherResult, error) {
	a, block, err := m.lookupAES(aesEncAlgs, p.Alg)
	if err != nil {
		return CipherResult{}, err
	}
	if a.mode == modeGCM {
		if len(p.IV) != gcmNonceSize {
			return CipherResult{}, fmt.Errorf("%w: %s decryption requires the %d-byte iv returned by encrypt (got %d bytes)", ErrBadRequest, p.Alg, gcmNonceSize, len(p.IV))
		}
		if len(p.Tag) != gcmTagSize {
			return CipherResult{}, fmt.Errorf("%w: %s decryption requires the %d-byte tag returned by encrypt (got %d bytes)", ErrBadRequest, p.Alg, gcmTagSize, len(p.Tag))
		}
		pt, err := gcmOpen(block, p.IV, p.Value, p.Tag, p.AAD)
		if err != nil {
			return CipherResult{}, err
		}
		return CipherResult{Value: pt}, nil
	}
	if err := cbcParams(p); err != nil {
		return CipherResult{}, err
	}
	pt, err := cbcDecrypt(block, p.IV, p.Value, a.mode == modeCBCPad)
	if err != nil {
		return CipherResult{}, err
	}
	return CipherResult{Value: pt}, nil
}

// cbcParams checks the non-secret CBC parameters.
func cbcParams(p CipherParams) error {
	if len(p.AAD) > 0 || len(p.Tag) > 0 {
		return fmt.Errorf("%w: aad and tag are only valid for GCM, not %s", ErrBadRequest, p.Alg)
	}
	if len(p.IV) != aes.BlockSize {
		return fmt.Errorf("%w: %s requires a 16-byte iv (got %d bytes)", ErrBadRequest, p.Alg, len(p.IV))
	}
	return nil
}

func newGCM(block cipher.Block, nonceSize int) (cipher.AEAD, error) {
	if nonceSize == gcmNonceSize {
		return cipher.NewGCM(block)
	}
	return cipher.NewGCMWithNonceSize(block, nonceSize)
}

// gcmSeal encrypts with AES-GCM and returns ciphertext and 16-byte tag
// separately. Any nonce length >= 1 is supported (the API only uses 12).
func gcmSeal(block cipher.Block, nonce, pt, aad []byte) (ct, tag []byte, err error) {
	g, err := newGCM(block, len(nonce))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	out := g.Seal(nil, nonce, pt, aad)
	return out[:len(pt):len(pt)], out[len(pt):], nil
}

// gcmOpen decrypts AES-GCM; every failure is ErrDecrypt.
func gcmOpen(block cipher.Block, nonce, ct, tag, aad []byte) ([]byte, error) {
	if len(tag) != gcmTagSize {
		return nil, ErrDecrypt
	}
	g, err := newGCM(block, len(nonce))
	if err != nil {
		return nil, ErrDecrypt
	}
	buf := make([]byte, 0, len(ct)+len(tag))
	buf = append(append(buf, ct...), tag...)
	pt, err := g.Open(buf[:0], nonce, buf, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func pkcs7Pad(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	out := make([]byte, len(b)+n)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

// pkcs7Unpad strips PKCS#7 padding, checking the whole final block in
// constant time so that the position of a bad padding byte does not leak.
func pkcs7Unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, aes.BlockSize)
	last := b[len(b)-aes.BlockSize:]
	for i, c := range last {
		inPad := subtle.ConstantTimeLessOrEq(aes.BlockSize-i, n) // distance from the end <= n
		good &= (inPad ^ 1) | subtle.ConstantTimeByteEq(c, byte(n))
	}
	if good != 1 {
		return nil, false
	}
	return b[:len(b)-n], true
}

// cbcDecrypt decrypts AES-CBC, optionally removing PKCS#7 padding; every
// failure is ErrDecrypt.
func cbcDecrypt(block cipher.Block, iv, ct []byte, pad bool) ([]byte, error) {
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 || len(iv) != aes.BlockSize {
		return nil, ErrDecrypt
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	if !pad {
		return pt, nil
	}
	out, ok := pkcs7Unpad(pt)
	if !ok {
		clear(pt)
		return nil, ErrDecrypt
	}
	return out, nil
}

func (m *Material) aesWrap(alg string, key []byte) ([]byte, error) {
	a, block, err := m.lookupAES(aesWrapAlgs, alg)
	if err != nil {
		return nil, err
	}
	if a.mode == modeKWP {
		return keyWrapPad(block, key)
	}
	return keyWrap(block, key)
}

func (m *Material) aesUnwrap(alg string, wrapped []byte) ([]byte, error) {
	a, block, err := m.lookupAES(aesWrapAlgs, alg)
	if err != nil {
		return nil, err
	}
	if a.mode == modeKWP {
		return keyUnwrapPad(block, wrapped)
	}
	return keyUnwrap(block, wrapped)
}
