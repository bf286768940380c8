package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Floor is the operation used as the server's no-crypto floor.
const Floor = "key-get"

// Operation is one benchmarked request. Prepare runs once against the
// server (creating or reusing its key) and returns the request's method,
// path and body; Raw, if set, returns the in-process library operation the
// request's crypto amounts to, for the ceiling.
type Operation struct {
	Name  string
	Label string
	key   string // keySpecs entry
	// prepare returns method, path (below the HSM URL, no query) and body.
	prepare func(ctx context.Context, s *setup) (method, path string, body []byte, err error)
	raw     func() (func() error, error)
	// floorGoal operations are compared with the floor measured in the
	// same rounds (a floor slice after each full-stack slice), not minutes
	// apart.
	floorGoal bool
}

// keySpec is a benchmark key: created once per server, reused after.
type keySpec struct {
	name   string
	create string // POST /keys/{name}/create body
}

var keySpecs = map[string]keySpec{
	"rsa2048": {"bench-rsa-2048", `{"kty":"RSA-HSM","key_size":2048}`},
	"rsa3072": {"bench-rsa-3072", `{"kty":"RSA-HSM","key_size":3072}`},
	"rsa4096": {"bench-rsa-4096", `{"kty":"RSA-HSM","key_size":4096}`},
	"p256":    {"bench-ec-p256", `{"kty":"EC-HSM","crv":"P-256"}`},
	"p384":    {"bench-ec-p384", `{"kty":"EC-HSM","crv":"P-384"}`},
	"aes256":  {"bench-aes-256", `{"kty":"oct-HSM","key_size":256}`},
}

var b64 = base64.RawURLEncoding

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Operations is every benchmark operation, in report order.
func Operations() []Operation {
	digest256 := sha256.Sum256([]byte("mhsm bench"))
	digest384 := sha512.Sum384([]byte("mhsm bench"))
	rsaSign := func(bits int, key string) Operation {
		return Operation{Name: fmt.Sprintf("rsa%d-sign", bits), Label: fmt.Sprintf("RSA-%d sign (RS256)", bits), key: key,
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				return "POST", s.keyPath(key) + "/sign", jsonBody(map[string]string{"alg": "RS256", "value": b64.EncodeToString(digest256[:])}), nil
			},
			raw: func() (func() error, error) {
				k, err := rsa.GenerateKey(rand.Reader, bits)
				if err != nil {
					return nil, err
				}
				return func() error { _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest256[:]); return err }, nil
			}}
	}
	ecSign := func(name, label, key, alg string, curve elliptic.Curve, digest []byte) Operation {
		return Operation{Name: name, Label: label, key: key,
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				return "POST", s.keyPath(key) + "/sign", jsonBody(map[string]string{"alg": alg, "value": b64.EncodeToString(digest)}), nil
			},
			raw: func() (func() error, error) {
				k, err := ecdsa.GenerateKey(curve, rand.Reader)
				if err != nil {
					return nil, err
				}
				return func() error { _, _, err := ecdsa.Sign(rand.Reader, k, digest); return err }, nil
			}}
	}
	ecVerify := func(name, label, key, alg string, curve elliptic.Curve, digest []byte) Operation {
		return Operation{Name: name, Label: label, key: key,
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				var res struct {
					Value string `json:"value"`
				}
				if err := s.callJSON(ctx, "POST", s.keyPath(key)+"/sign", jsonBody(map[string]string{"alg": alg, "value": b64.EncodeToString(digest)}), &res); err != nil {
					return "", "", nil, err
				}
				body := jsonBody(map[string]string{"alg": alg, "digest": b64.EncodeToString(digest), "value": res.Value})
				var ok struct {
					Value bool `json:"value"`
				}
				if err := s.callJSON(ctx, "POST", s.keyPath(key)+"/verify", body, &ok); err != nil || !ok.Value {
					return "", "", nil, fmt.Errorf("the server's own signature does not verify (%v)", err)
				}
				return "POST", s.keyPath(key) + "/verify", body, nil
			},
			raw: func() (func() error, error) {
				k, err := ecdsa.GenerateKey(curve, rand.Reader)
				if err != nil {
					return nil, err
				}
				r, sig, err := ecdsa.Sign(rand.Reader, k, digest)
				if err != nil {
					return nil, err
				}
				return func() error {
					if !ecdsa.Verify(&k.PublicKey, digest, r, sig) {
						return fmt.Errorf("verify failed")
					}
					return nil
				}, nil
			}}
	}
	return []Operation{
		rsaSign(2048, "rsa2048"),
		rsaSign(3072, "rsa3072"),
		rsaSign(4096, "rsa4096"),
		{Name: "rsa2048-decrypt", Label: "RSA-2048 decrypt (RSA-OAEP-256)", key: "rsa2048",
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				pt := bytes.Repeat([]byte{7}, 32)
				var res struct {
					Value string `json:"value"`
				}
				if err := s.callJSON(ctx, "POST", s.keyPath("rsa2048")+"/encrypt", jsonBody(map[string]string{"alg": "RSA-OAEP-256", "value": b64.EncodeToString(pt)}), &res); err != nil {
					return "", "", nil, err
				}
				body := jsonBody(map[string]string{"alg": "RSA-OAEP-256", "value": res.Value})
				var dec struct {
					Value string `json:"value"`
				}
				if err := s.callJSON(ctx, "POST", s.keyPath("rsa2048")+"/decrypt", body, &dec); err != nil || dec.Value != b64.EncodeToString(pt) {
					return "", "", nil, fmt.Errorf("decrypt does not return the plaintext (%v)", err)
				}
				return "POST", s.keyPath("rsa2048") + "/decrypt", body, nil
			},
			raw: func() (func() error, error) {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					return nil, err
				}
				ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.PublicKey, bytes.Repeat([]byte{7}, 32), nil)
				if err != nil {
					return nil, err
				}
				return func() error {
					_, err := k.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256})
					return err
				}, nil
			}},
		withFloor(ecSign("es256-sign", "ES256 sign (P-256)", "p256", "ES256", elliptic.P256(), digest256[:])),
		ecVerify("es256-verify", "ES256 verify (P-256)", "p256", "ES256", elliptic.P256(), digest256[:]),
		ecSign("es384-sign", "ES384 sign (P-384)", "p384", "ES384", elliptic.P384(), digest384[:]),
		ecVerify("es384-verify", "ES384 verify (P-384)", "p384", "ES384", elliptic.P384(), digest384[:]),
		{Name: "a256kw-wrap", Label: "A256KW wrap (32-byte key)", key: "aes256", floorGoal: true,
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				return "POST", s.keyPath("aes256") + "/wrapkey", jsonBody(map[string]string{"alg": "A256KW", "value": b64.EncodeToString(bytes.Repeat([]byte{9}, 32))}), nil
			},
			raw: func() (func() error, error) {
				blk, err := aes.NewCipher(bytes.Repeat([]byte{1}, 32))
				if err != nil {
					return nil, err
				}
				key := bytes.Repeat([]byte{9}, 32)
				return func() error { _ = aesKeyWrap(blk, key); return nil }, nil
			}},
		gcmEncrypt("a256gcm-encrypt", "A256GCM encrypt 1 KiB", 1024),
		gcmEncrypt("a256gcm-encrypt-32", "A256GCM encrypt 32 B", 32),
		{Name: Floor, Label: "key get (no crypto: the floor)", key: "p256",
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				return "GET", s.keyPath("p256"), nil, nil
			}},
		{Name: "roleassignment-list", Label: "role assignment list", key: "",
			prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
				return "GET", "/providers/Microsoft.Authorization/roleAssignments", nil, nil
			}},
	}
}

// gcmEncrypt is A256GCM encryption of n bytes with the benchmark AES key.
func gcmEncrypt(name, label string, n int) Operation {
	return Operation{Name: name, Label: label, key: "aes256",
		prepare: func(ctx context.Context, s *setup) (string, string, []byte, error) {
			return "POST", s.keyPath("aes256") + "/encrypt", jsonBody(map[string]string{"alg": "A256GCM", "value": b64.EncodeToString(bytes.Repeat([]byte{5}, n))}), nil
		},
		raw: func() (func() error, error) {
			blk, err := aes.NewCipher(bytes.Repeat([]byte{1}, 32))
			if err != nil {
				return nil, err
			}
			g, err := cipher.NewGCM(blk)
			if err != nil {
				return nil, err
			}
			pt, nonce, out := bytes.Repeat([]byte{5}, n), make([]byte, 12), make([]byte, 0, n+16)
			return func() error {
				if _, err := rand.Read(nonce); err != nil {
					return err
				}
				out = g.Seal(out[:0], nonce, pt, nil)
				return nil
			}, nil
		}}
}

func withFloor(o Operation) Operation {
	o.floorGoal = true
	return o
}

// SelectOperations returns the operations named in names (comma
// separated; empty or "all" means every one).
func SelectOperations(names string) ([]Operation, error) {
	all := Operations()
	if names == "" || names == "all" {
		return all, nil
	}
	var out []Operation
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, o := range all {
			if o.Name == n {
				out, found = append(out, o), true
			}
		}
		if !found {
			var known []string
			for _, o := range all {
				known = append(known, o.Name)
			}
			return nil, fmt.Errorf("unknown operation %q; known: %s", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// aesKeyWrap is RFC 3394 key wrap with the default IV, for the ceiling
// (the standard library has none).
func aesKeyWrap(b cipher.Block, key []byte) []byte {
	n := len(key) / 8
	out := make([]byte, 8+len(key))
	a := [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}
	copy(out[8:], key)
	var buf [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], a[:])
			copy(buf[8:], out[8*i:8*i+8])
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:], buf[8:])
		}
	}
	copy(out[:8], a[:])
	return out
}

// setup creates or finds the benchmark keys on the server.
type setup struct {
	t        *Target
	c        *conn
	token    string
	versions map[string]string // key spec → version
}

func (s *setup) keyPath(spec string) string {
	return "/keys/" + keySpecs[spec].name + "/" + s.versions[spec]
}

// call makes one request on the setup connection.
func (s *setup) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	if s.c == nil {
		c, err := s.t.dial(ctx, s.t.tlsConfig())
		if err != nil {
			return 0, nil, err
		}
		s.c = c
	}
	status, b, err := s.c.do(s.t.request(method, path, s.token, body))
	if err != nil {
		s.c.Close()
		s.c = nil
		if err == errClosed {
			err = nil
		}
	}
	return status, append([]byte(nil), b...), err
}

func (s *setup) callJSON(ctx context.Context, method, path string, body []byte, out any) error {
	status, b, err := s.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, truncate(b))
	}
	return json.Unmarshal(b, out)
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// ensureKey finds the benchmark key of spec or creates it, and records the
// version to use.
func (s *setup) ensureKey(ctx context.Context, spec string) error {
	if spec == "" || s.versions[spec] != "" {
		return nil
	}
	ks := keySpecs[spec]
	var bundle struct {
		Key struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			N   string `json:"n"`
		} `json:"key"`
	}
	status, b, err := s.call(ctx, "GET", "/keys/"+ks.name, nil)
	if err != nil {
		return err
	}
	switch status {
	case 200:
		if err := json.Unmarshal(b, &bundle); err != nil {
			return err
		}
		var want struct {
			Kty  string `json:"kty"`
			Size int    `json:"key_size"`
			Crv  string `json:"crv"`
		}
		_ = json.Unmarshal([]byte(ks.create), &want)
		n, _ := b64.DecodeString(bundle.Key.N)
		if bundle.Key.Kty != want.Kty || bundle.Key.Crv != want.Crv || (strings.HasPrefix(want.Kty, "RSA") && new(big.Int).SetBytes(n).BitLen() != want.Size) {
			return fmt.Errorf("key %s exists with another type; delete and purge it, or use another server", ks.name)
		}
	case 404:
		if err := s.callJSON(ctx, "POST", "/keys/"+ks.name+"/create", []byte(ks.create), &bundle); err != nil {
			return fmt.Errorf("create %s: %w", ks.name, err)
		}
	default:
		return fmt.Errorf("GET key %s: %d %s", ks.name, status, truncate(b))
	}
	kid := bundle.Key.Kid
	s.versions[spec] = kid[strings.LastIndexByte(kid, '/')+1:]
	return nil
}
