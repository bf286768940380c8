package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	type keyCase struct {
		kty  string
		size int
		crv  string
	}
	var cases []keyCase
	for _, s := range rsaSizes {
		cases = append(cases, keyCase{"RSA", s, ""})
	}
	for _, c := range ecCurves {
		cases = append(cases, keyCase{"EC", 0, c})
	}
	for _, s := range octSizes {
		cases = append(cases, keyCase{"oct", s, ""})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%d_%s", c.kty, c.size, c.crv), func(t *testing.T) {
			t.Parallel()
			m := testKey(t, c.kty, c.size, c.crv)
			blob, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Unmarshal(blob)
			if err != nil {
				t.Fatal(err)
			}
			priv := m.PrivateJWK()
			m3, err := FromJWK(&priv)
			if err != nil {
				t.Fatalf("FromJWK(PrivateJWK()): %v", err)
			}
			for name, other := range map[string]*Material{"Unmarshal": m2, "FromJWK": m3} {
				if other.Kty() != m.Kty() || other.Size() != m.Size() || other.Curve() != m.Curve() {
					t.Fatalf("%s: shape changed", name)
				}
				if !jwkEqual(other.PublicJWK(), m.PublicJWK()) || !jwkEqual(other.PrivateJWK(), priv) {
					t.Fatalf("%s: JWK changed", name)
				}
				switch m.Kty() {
				case KtyRSA, KtyEC:
					alg := "PS256"
					if m.Kty() == KtyEC {
						alg = m.curve.alg
					}
					d := sigDigest(t, alg)
					sig, err := other.Sign(alg, d)
					if err != nil {
						t.Fatal(err)
					}
					if ok, err := m.Verify(alg, d, sig); !ok || err != nil {
						t.Fatalf("%s: signature by restored key does not verify with original: %v", name, err)
					}
				case KtyOct:
					alg := octAlg(m.Size(), "GCM")
					res, err := m.Encrypt(CipherParams{Alg: alg, Value: []byte("hello")})
					if err != nil {
						t.Fatal(err)
					}
					dec, err := other.Decrypt(CipherParams{Alg: alg, Value: res.Value, IV: res.IV, Tag: res.Tag})
					if err != nil || string(dec.Value) != "hello" {
						t.Fatalf("%s: restored oct key cannot decrypt: %v", name, err)
					}
				}
			}
		})
	}
}

func jwkEqual(a, b JSONWebKey) bool {
	eq := bytes.Equal
	return a.Kid == b.Kid && a.Kty == b.Kty && a.Crv == b.Crv &&
		eq(a.N, b.N) && eq(a.E, b.E) && eq(a.D, b.D) && eq(a.DP, b.DP) && eq(a.DQ, b.DQ) &&
		eq(a.QI, b.QI) && eq(a.P, b.P) && eq(a.Q, b.Q) && eq(a.K, b.K) && eq(a.X, b.X) && eq(a.Y, b.Y)
}

// TestConcurrentUse exercises one Material from many goroutines (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	keys := []*Material{testKey(t, "RSA", 2048, ""), testKey(t, "EC", 0, "P-256K"), testKey(t, "EC", 0, "P-384"), testKey(t, "oct", 256, "")}
	done := make(chan error)
	for _, m := range keys {
		for range 4 {
			go func() {
				var err error
				for range 5 {
					switch m.Kty() {
					case KtyOct:
						var res CipherResult
						res, err = m.Encrypt(CipherParams{Alg: "A256GCM", Value: []byte("x")})
						if err == nil {
							_, err = m.Decrypt(CipherParams{Alg: "A256GCM", Value: res.Value, IV: res.IV, Tag: res.Tag})
						}
					default:
						alg := "RS256"
						if m.Kty() == KtyEC {
							alg = m.curve.alg
						}
						d := sigDigest(t, alg)
						var sig []byte
						if sig, err = m.Sign(alg, d); err == nil {
							var ok bool
							if ok, err = m.Verify(alg, d, sig); err == nil && !ok {
								err = errors.New("verify failed")
							}
						}
					}
					if err != nil {
						break
					}
				}
				done <- err
			}()
		}
	}
	for range 4 * len(keys) {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestFromJWKAccepts(t *testing.T) {
	t.Parallel()
	// Software kty names, optional CRT members omitted, short (unpadded) EC
	// members, secp256k1 alias.
	rsaKey := testKey(t, "RSA", 2048, "")
	j := rsaKey.PrivateJWK()
	j.Kty, j.DP, j.DQ, j.QI = "RSA", nil, nil, nil
	m, err := FromJWK(&j)
	if err != nil || m.Kty() != KtyRSA || !jwkEqual(m.PrivateJWK(), rsaKey.PrivateJWK()) {
		t.Fatalf("RSA without CRT values: %v", err)
	}
	k1 := testKey(t, "EC", 0, "P-256K").PrivateJWK()
	k1.Crv, k1.Kty = "SECP256K1", "EC"
	m, err = FromJWK(&k1)
	if err != nil || m.Curve() != "P-256K" {
		t.Fatalf("secp256k1 alias: %v", err)
	}
	for _, size := range octSizes {
		m, err := FromJWK(&JSONWebKey{Kty: "oct", K: make(B64, size/8)})
		if err != nil || m.Size() != size || m.Kty() != KtyOct {
			t.Fatalf("oct %d: %v", size, err)
		}
	}
	// Kid and key_ops are ignored by FromJWK.
	j2 := testKey(t, "oct", 128, "").PrivateJWK()
	j2.Kid, j2.KeyOps = "https://x/keys/a/b", []string{"encrypt"}
	if m, err := FromJWK(&j2); err != nil || m.PublicJWK().Kid != "" {
		t.Fatalf("kid/key_ops: %v", err)
	}
}

func TestB64JSON(t *testing.T) {
	t.Parallel()
	raw := []byte{0xfb, 0xff, 0x00, 0x3e, 0x3f}
	out, err := json.Marshal(B64(raw))
	if err != nil || string(out) != `"-_8APj8"` {
		t.Fatalf("marshal = %s, %v", out, err)
	}
	for _, in := range []string{`"-_8APj8"`, `"-_8APj8="`, `"+/8APj8"`, `"+/8APj8="`} {
		var b B64
		if err := json.Unmarshal([]byte(in), &b); err != nil || !bytes.Equal(b, raw) {
			t.Errorf("unmarshal %s = %x, %v", in, b, err)
		}
	}
	for _, in := range []string{`"+_8A"`, `"!!"`, `12`, `"A"`} {
		var b B64
		if err := json.Unmarshal([]byte(in), &b); err == nil {
			t.Errorf("unmarshal %s succeeded", in)
		}
	}
	var b B64 = B64{1}
	if err := json.Unmarshal([]byte(`null`), &b); err != nil || b != nil {
		t.Errorf("null: %v %v", b, err)
	}
	// JSONWebKey tags and omitempty.
	j := JSONWebKey{Kid: "k", Kty: KtyEC, KeyOps: []string{"sign"}, Crv: "P-256", X: B64{1}, Y: B64{2}}
	out, _ = json.Marshal(j)
	if string(out) != `{"kid":"k","kty":"EC-HSM","key_ops":["sign"],"crv":"P-256","x":"AQ","y":"Ag"}` {
		t.Errorf("JWK JSON = %s", out)
	}
	all := `{"kid":"a","kty":"RSA","key_ops":["x"],"n":"AQ","e":"AQ","d":"AQ","dp":"AQ","dq":"AQ","qi":"AQ","p":"AQ","q":"AQ","k":"AQ","key_hsm":"AQ","crv":"c","x":"AQ","y":"AQ"}`
	var j2 JSONWebKey
	if err := json.Unmarshal([]byte(all), &j2); err != nil {
		t.Fatal(err)
	}
	if out, _ := json.Marshal(j2); string(out) != all {
		t.Errorf("JWK JSON round trip:\n got %s\nwant %s", out, all)
	}
	if out, _ := json.Marshal(JSONWebKey{}); string(out) != `{}` {
		t.Errorf("empty JWK = %s", out)
	}
}

func TestDefaultKeyOps(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"RSA": "encrypt,decrypt,sign,verify,wrapKey,unwrapKey", KtyRSA: "encrypt,decrypt,sign,verify,wrapKey,unwrapKey",
		"EC": "sign,verify", KtyEC: "sign,verify",
		"oct": "encrypt,decrypt,wrapKey,unwrapKey", KtyOct: "encrypt,decrypt,wrapKey,unwrapKey",
		"foo": "",
	}
	for kty, w := range want {
		if got := strings.Join(DefaultKeyOps(kty), ","); got != w {
			t.Errorf("DefaultKeyOps(%q) = %q, want %q", kty, got, w)
		}
	}
}

// TestNoSecretsInLogs checks that fmt and slog never print secret bytes.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	mats := []*Material{testKey(t, "oct", 256, ""), testKey(t, "EC", 0, "P-256"), testKey(t, "EC", 0, "P-256K"), testKey(t, "RSA", 2048, "")}
	for _, m := range mats {
		priv := m.PrivateJWK()
		var secrets [][]byte
		for _, s := range []B64{priv.K, priv.D, priv.P, priv.Q, priv.DP} {
			if len(s) > 0 {
				secrets = append(secrets, s)
			}
		}
		if len(secrets) == 0 {
			t.Fatalf("%s: no secret found to look for", m)
		}
		var buf bytes.Buffer
		fmt.Fprint(&buf, m, *m, " ")
		fmt.Fprintf(&buf, "%v %+v %#v %s %x %q %v %+v %#v", m, m, m, m, m, m, *m, *m, *m)
		fmt.Fprintln(&buf, []*Material{m}, map[string]Material{"k": *m}, struct{ M *Material }{m})
		var jsonLog bytes.Buffer
		slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("key", "material", m, "value", *m, "jwk", priv)
		if want := fmt.Sprintf(`"material":{"kty":%q,"size":%d`, m.Kty(), m.Size()); !strings.Contains(jsonLog.String(), want) {
			t.Errorf("slog JSON does not use LogValue (want %s): %s", want, jsonLog.String())
		}
		buf.Write(jsonLog.Bytes())
		slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "material", m, slog.Any("jwk", priv))
		b, _ := json.Marshal(m) // unexported fields only: must be {}
		buf.Write(b)
		out := buf.String()
		for _, s := range secrets {
			for _, enc := range []string{
				hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
				base64.RawURLEncoding.EncodeToString(s), base64.StdEncoding.EncodeToString(s),
				new(big.Int).SetBytes(s).String(), fmt.Sprint([]byte(s)), strings.TrimPrefix(fmt.Sprintf("%#v", []byte(s)), "[]byte"),
			} {
				// A 16-char prefix is enough to identify a leak.
				if len(enc) > 16 {
					enc = enc[:16]
				}
				if strings.Contains(out, enc) {
					t.Fatalf("%s: secret leaked (%q) in:\n%s", m.Kty(), enc, out)
				}
			}
		}
		if !strings.Contains(out, m.Kty()) {
			t.Fatalf("redacted output does not even name the key type:\n%s", out)
		}
	}
}

func TestZero(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kty  string
		size int
		crv  string
	}{{"oct", 256, ""}, {"EC", 0, "P-384"}, {"EC", 0, "P-256K"}, {"RSA", 2048, ""}} {
		m, err := Generate(c.kty, c.size, c.crv)
		if err != nil {
			t.Fatal(err)
		}
		oct, ecD := m.oct, m.ecD
		var d *big.Int
		if m.rsaPriv != nil {
			d = m.rsaPriv.D
		}
		m.Zero()
		if j := m.PrivateJWK(); j.HasPrivate() {
			t.Errorf("%s: private parts remain after Zero", c.kty)
		}
		for _, b := range [][]byte{oct, ecD} {
			if !bytes.Equal(b, make([]byte, len(b))) {
				t.Errorf("%s: secret slice not wiped", c.kty)
			}
		}
		if d != nil && d.Sign() != 0 {
			t.Errorf("RSA D not wiped")
		}
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%s: Marshal after Zero succeeded", c.kty)
		}
	}
}
