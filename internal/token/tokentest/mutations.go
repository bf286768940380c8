// Package tokentest builds the token tampering suite: mutations of a valid
// mhsm access token that every verifier must reject. The same list runs
// against the Verifier (internal/token) and through the HTTPS server
// (test/identity), where each must be a 401 with a uniform body. Read
// mutations.go.
package tokentest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"strings"
	"time"
)

// Input is what the suite needs. SignClaims signs claims with the real
// tenant key and the standard header (alg RS256, kid, typ JWT).
// SignInput, if set, returns the real key's RS256 signature over any
// signing input, for header and raw-JSON mutations; without it those are
// left out.
type Input struct {
	Good       string
	SignClaims func(claims map[string]any) string
	SignInput  func(signingInput []byte) []byte
	// OtherTenant is a second tenant's id; OtherIssuer its issuer URL.
	OtherTenant, OtherIssuer string
	// OtherAudience is another of the server's resources.
	OtherAudience string
	// Public is the tenant's RSA public key (for HS256 key confusion).
	Public *rsa.PublicKey
}

// Mutation is one tampered token.
type Mutation struct {
	Name  string
	Token string
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func js(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Parts decodes a compact token's header and claims.
func Parts(tok string) (map[string]any, map[string]any) {
	p := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(p[0])
	c, _ := base64.RawURLEncoding.DecodeString(p[1])
	var hm, cm map[string]any
	_ = json.Unmarshal(h, &hm)
	_ = json.Unmarshal(c, &cm)
	for k, v := range cm { // integral numbers stay integers when re-encoded
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			cm[k] = int64(f)
		}
	}
	return hm, cm
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// attacker keys, made once.
var (
	atkRSA, _ = rsa.GenerateKey(rand.Reader, 2048)
	atkEC, _  = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
)

func signRSA(k *rsa.PrivateKey, input []byte, pss bool) []byte {
	sum := sha256.Sum256(input)
	if pss {
		s, _ := rsa.SignPSS(rand.Reader, k, crypto.SHA256, sum[:], nil)
		return s
	}
	s, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	return s
}

func signEC(k *ecdsa.PrivateKey, input []byte) []byte {
	sum := sha256.Sum256(input)
	r, s, _ := ecdsa.Sign(rand.Reader, k, sum[:])
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func hs(h func() hash.Hash, key, input []byte) []byte {
	m := hmac.New(h, key)
	m.Write(input)
	return m.Sum(nil)
}

// Build returns the mutations; every one must be rejected.
func Build(in Input) []Mutation {
	hdr, claims := Parts(in.Good)
	kid, _ := hdr["kid"].(string)
	p := strings.Split(in.Good, ".")
	var out []Mutation
	add := func(name, tok string) { out = append(out, Mutation{name, tok}) }
	raw := func(h, c []byte, sig []byte) string { return b64(h) + "." + b64(c) + "." + b64(sig) }
	payload := js(claims)
	// withHeader signs header h over the good payload with an attacker key
	// picked by alg.
	attacker := func(h map[string]any, c []byte) string {
		hb := js(h)
		in := []byte(b64(hb) + "." + b64(c))
		switch h["alg"] {
		case "ES256":
			return raw(hb, c, signEC(atkEC, in))
		case "PS256":
			return raw(hb, c, signRSA(atkRSA, in, true))
		default:
			return raw(hb, c, signRSA(atkRSA, in, false))
		}
	}
	realRaw := func(h, c []byte) string {
		input := []byte(b64(h) + "." + b64(c))
		return b64(h) + "." + b64(c) + "." + b64(in.SignInput(input))
	}

	// Structure and encoding.
	add("empty", "")
	add("garbage", "not-a-jwt")
	add("two segments", p[0]+"."+p[1])
	add("four segments", in.Good+".AAAA")
	add("empty signature", p[0]+"."+p[1]+".")
	add("truncated signature", in.Good[:len(in.Good)-10])
	sig, _ := base64.RawURLEncoding.DecodeString(p[2])
	flipped := append([]byte(nil), sig...)
	flipped[len(flipped)/2] ^= 1
	add("signature bit flipped", p[0]+"."+p[1]+"."+b64(flipped))
	add("signature all zero", p[0]+"."+p[1]+"."+b64(make([]byte, len(sig))))
	c2 := clone(claims)
	c2["oid"] = "00000000-0000-0000-0000-000000000001"
	add("payload changed, old signature", p[0]+"."+b64(js(c2))+"."+p[2])
	h2 := clone(hdr)
	h2["kid"] = kid + "x"
	add("header changed, old signature", b64(js(h2))+"."+p[1]+"."+p[2])
	add("padded base64", p[0]+"=."+p[1]+"=."+p[2]+"=")
	add("standard base64 alphabet", p[0]+"."+p[1]+"."+strings.NewReplacer("-", "+", "_", "/").Replace(p[2])+"+/")
	add("trailing garbage", in.Good+"x!")
	add("trailing NUL", in.Good+"\x00")
	add("leading dot", "."+in.Good)
	add("segments swapped", p[1]+"."+p[0]+"."+p[2])
	add("100k dots", strings.Repeat(".", 100000))
	big := clone(claims)
	big["pad"] = strings.Repeat("A", 64<<10)
	add("64 KiB token", attacker(hdr, js(big)))
	big["pad"] = strings.Repeat("A", 17<<10)
	add("17 KiB token (over the token limit, under the header limit)", attacker(hdr, js(big)))
	add("JSON serialization", string(js(map[string]any{"payload": p[1], "signatures": []any{map[string]any{"protected": p[0], "signature": p[2]}}})))
	add("flattened JSON serialization", string(js(map[string]any{"payload": p[1], "protected": p[0], "signature": p[2]})))
	add("compressed JWE shape", b64(js(map[string]any{"alg": "dir", "enc": "A128GCM", "zip": "DEF"}))+"..AAAA.AAAA.AAAA")
	add("header not JSON", b64([]byte("{alg:RS256"))+"."+p[1]+"."+p[2])
	add("header is an array", b64([]byte(`["RS256"]`))+"."+p[1]+"."+p[2])

	// Algorithm confusion.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := clone(hdr)
		h["alg"] = alg
		add("alg "+alg+", no signature", b64(js(h))+"."+b64(payload)+".")
	}
	hn := clone(hdr)
	hn["alg"] = "none"
	add("alg none, original signature", b64(js(hn))+"."+p[1]+"."+p[2])
	if in.Public != nil {
		der, _ := x509.MarshalPKIXPublicKey(in.Public)
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(in.Public)})
		for _, c := range []struct {
			alg string
			h   func() hash.Hash
			key []byte
			tag string
		}{
			{"HS256", sha256.New, pemKey, "PKIX PEM"}, {"HS256", sha256.New, der, "PKIX DER"},
			{"HS256", sha256.New, pkcs1, "PKCS1 PEM"}, {"HS384", sha512.New384, pemKey, "PKIX PEM"},
			{"HS512", sha512.New, pemKey, "PKIX PEM"}, {"HS256", sha256.New, in.Public.N.Bytes(), "modulus"},
		} {
			h := clone(hdr)
			h["alg"] = c.alg
			hb := js(h)
			add(c.alg+" keyed with the public key ("+c.tag+")", raw(hb, payload, hs(c.h, c.key, []byte(b64(hb)+"."+b64(payload)))))
		}
	}
	for _, alg := range []string{"RS256", "PS256", "ES256"} {
		h := clone(hdr)
		h["alg"] = alg
		add(alg+" signed by an attacker key, same kid", attacker(h, payload))
	}
	for _, alg := range []string{"PS256", "ES256", "RS384", "RS512", "EdDSA"} {
		h := clone(hdr)
		h["alg"] = alg
		add("alg switched to "+alg+", original signature", b64(js(h))+"."+p[1]+"."+p[2])
	}

	// Keys the token names itself, and kid games.
	atkPub, _ := json.Marshal(map[string]any{"kty": "RSA", "n": b64(atkRSA.N.Bytes()), "e": "AQAB", "kid": kid})
	var jwk map[string]any
	_ = json.Unmarshal(atkPub, &jwk)
	cert := selfSigned()
	for name, extra := range map[string]map[string]any{
		"embedded jwk":     {"jwk": jwk},
		"jku":              {"jku": "https://attacker.example/keys"},
		"x5u":              {"x5u": "https://attacker.example/cert.pem"},
		"x5c":              {"x5c": []string{base64.StdEncoding.EncodeToString(cert)}},
		"kid path":         {"kid": "../../../../etc/passwd"},
		"kid sql":          {"kid": "x' OR '1'='1"},
		"kid unknown":      {"kid": "AAAAAAAAAAAAAAAAAAAAAA"},
		"kid empty":        {"kid": ""},
		"kid number":       {"kid": 7},
		"crit unknown":     {"crit": []string{"exp-x"}, "exp-x": 1},
		"kid 1 MB":         {"kid": strings.Repeat("k", 1<<20)},
		"b64 false":        {"b64": false, "crit": []string{"b64"}},
		"zip in JWS":       {"zip": "DEF"},
		"typ at+jwt":       {"typ": "at+jwt"},
		"cty JWT (nested)": {"cty": "JWT"},
	} {
		h := clone(hdr)
		for k, v := range extra {
			h[k] = v
		}
		add(name+" (attacker-signed)", attacker(h, payload))
		if in.SignInput != nil && name != "kid 1 MB" {
			add(name+" (signed by the real key)", realRaw(js(h), payload))
		}
	}
	hk := clone(hdr)
	delete(hk, "kid")
	add("kid missing (attacker-signed)", attacker(hk, payload))
	if in.SignInput != nil {
		add("kid missing (real key)", realRaw(js(hk), payload))
		ht := clone(hdr)
		delete(ht, "typ")
		add("typ missing (real key)", realRaw(js(ht), payload))
		ht["typ"] = "jwt"
		add("typ lower-case (real key)", realRaw(js(ht), payload))
		hb := []byte(`{"alg":"none","alg":"RS256","kid":"` + kid + `","typ":"JWT"}`)
		add("duplicate alg in header (real key)", realRaw(hb, payload))
		hb = []byte(`{"Alg":"none","alg":"RS256","kid":"` + kid + `","typ":"JWT"}`)
		add("case-variant Alg in header (real key)", realRaw(hb, payload))
		pj := string(payload)
		add("duplicate aud claim (real key)", realRaw(js(hdr), []byte(`{"aud":"https://attacker.example",`+pj[1:])))
		add("duplicate tid claim (real key)", realRaw(js(hdr), []byte(`{"tid":"`+in.OtherTenant+`",`+pj[1:])))
		add("case-variant AUD claim (real key)", realRaw(js(hdr), []byte(`{"AUD":"x",`+pj[1:])))
		add("trailing data after claims (real key)", realRaw(js(hdr), append(append([]byte(nil), payload...), []byte(` {}`)...)))
		add("claims not an object (real key)", realRaw(js(hdr), []byte(`[1,2]`)))
	}

	// Claims, correctly signed by the real key.
	now := time.Now().Unix()
	claim := func(name string, f func(c map[string]any)) {
		c := clone(claims)
		f(c)
		add(name, in.SignClaims(c))
	}
	claim("iss foreign", func(c map[string]any) { c["iss"] = "https://login.attacker.example/x/v2.0" })
	claim("iss missing", func(c map[string]any) { delete(c, "iss") })
	claim("iss other tenant", func(c map[string]any) { c["iss"] = in.OtherIssuer })
	claim("iss upper-case", func(c map[string]any) { c["iss"] = strings.ToUpper(c["iss"].(string)) })
	claim("iss trailing slash", func(c map[string]any) { c["iss"] = c["iss"].(string) + "/" })
	claim("aud missing", func(c map[string]any) { delete(c, "aud") })
	claim("aud other resource", func(c map[string]any) { c["aud"] = in.OtherAudience })
	claim("aud empty array", func(c map[string]any) { c["aud"] = []string{} })
	claim("aud array without ours", func(c map[string]any) { c["aud"] = []string{in.OtherAudience, "https://x.example"} })
	claim("aud with trailing slash", func(c map[string]any) { c["aud"] = c["aud"].(string) + "/" })
	claim("aud upper-case", func(c map[string]any) { c["aud"] = strings.ToUpper(c["aud"].(string)) })
	claim("aud number", func(c map[string]any) { c["aud"] = 1 })
	claim("exp past", func(c map[string]any) { c["exp"] = now - 3600 })
	claim("exp just past the leeway", func(c map[string]any) { c["exp"] = now - 120 })
	claim("exp missing", func(c map[string]any) { delete(c, "exp") })
	claim("exp string", func(c map[string]any) { c["exp"] = "9999999999" })
	claim("exp float", func(c map[string]any) { c["exp"] = float64(now) + 600.5 })
	claim("exp huge", func(c map[string]any) { c["exp"] = int64(32503680000) })
	claim("exp negative", func(c map[string]any) { c["exp"] = -1 })
	claim("nbf future", func(c map[string]any) { c["nbf"] = now + 3600 })
	claim("nbf missing", func(c map[string]any) { delete(c, "nbf") })
	claim("iat future", func(c map[string]any) { c["iat"] = now + 3600 })
	claim("iat missing", func(c map[string]any) { delete(c, "iat") })
	claim("tid other tenant (tenant A's key claiming B)", func(c map[string]any) { c["tid"] = in.OtherTenant })
	claim("tid and iss of other tenant (tenant A's key claiming B)", func(c map[string]any) {
		c["tid"], c["iss"] = in.OtherTenant, in.OtherIssuer
	})
	claim("tid missing", func(c map[string]any) { delete(c, "tid") })
	claim("tid upper-case", func(c map[string]any) { c["tid"] = strings.ToUpper(c["tid"].(string)) })
	claim("tid not a GUID", func(c map[string]any) { c["tid"] = "../" + c["tid"].(string) })
	claim("oid missing", func(c map[string]any) { delete(c, "oid") })
	claim("sub missing", func(c map[string]any) { delete(c, "sub") })
	claim("idtyp unknown", func(c map[string]any) { c["idtyp"] = "device" })
	claim("idtyp external", func(c map[string]any) { c["idtyp"] = "external" })
	return out
}

func selfSigned() []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &atkRSA.PublicKey, atkRSA)
	return der
}

// Controls are tokens built by the same means as the mutations but left
// intact; a verifier must accept them, which shows the mutations fail for
// their mutation and not for how they were made.
func Controls(in Input) []Mutation {
	hdr, claims := Parts(in.Good)
	out := []Mutation{{"re-signed claims", in.SignClaims(clone(claims))}}
	if in.SignInput != nil {
		h, c := js(hdr), js(claims)
		input := []byte(b64(h) + "." + b64(c))
		out = append(out, Mutation{"re-signed raw", b64(h) + "." + b64(c) + "." + b64(in.SignInput(input))})
	}
	return out
}
