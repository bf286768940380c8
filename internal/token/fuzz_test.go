package token_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/token"
	"github.com/mhsm/mhsm/internal/token/tokentest"
)

// fuzzEnv is an issuer and verifier on an in-memory store with one tenant.
type fuzzEnv struct {
	iss  *token.Issuer
	ver  *token.Verifier
	tid  string
	priv *rsa.PrivateKey
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	dk, err := barrier.NewDataKeyFromRaw(raw)
	if err != nil {
		tb.Fatal(err)
	}
	e := &fuzzEnv{iss: token.NewIssuer(store.NewMemory(), dk), tid: uuid.NewString()}
	e.iss.SetMaxLifetime(time.Hour)
	e.ver = token.NewVerifier(e.iss, issuerOf)
	if _, err := e.iss.JWKS(context.Background(), e.tid); err != nil {
		tb.Fatal(err)
	}
	e.priv = token.ActiveKeyForTest(e.iss, e.tid)
	return e
}

func (e *fuzzEnv) claims(oid string) token.Claims {
	c := token.Claims{TenantID: e.tid, ObjectID: oid, IDType: token.IDTypeApp, AppID: uuid.NewString()}
	c.Issuer, c.Subject, c.Audience = issuerOf(e.tid), oid, []string{aud}
	return c
}

// signRaw signs header.payload with the tenant's real key.
func (e *fuzzEnv) signRaw(header, payload []byte) string {
	in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(in))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, e.priv, crypto.SHA256, sum[:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// FuzzVerify feeds the verifier arbitrary tokens and near-valid ones. It
// must never panic and must answer ErrInvalid (and only ErrInvalid) to
// anything the issuer did not make: mode 0 is the raw input, modes 1–3
// replace the header, payload or signature of a real token, modes 4 and
// 5 put the input as header or payload JSON and sign it with the real
// key. Only the real token verifies in modes 0–3; in modes 4 and 5 a
// token that verifies must meet every rule of the verifier (RS256, JWT,
// the tenant's kid and issuer, the audience, the times, an identity).
func FuzzVerify(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()
	good, _, err := e.iss.Issue(ctx, e.claims(uuid.NewString()), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pay, _ := base64.RawURLEncoding.DecodeString(parts[1])
	f.Add(uint8(0), good, []byte(nil))
	f.Add(uint8(1), parts[0], []byte(nil))
	f.Add(uint8(2), parts[1], []byte(nil))
	f.Add(uint8(3), parts[2], []byte(nil))
	f.Add(uint8(4), "", hdr)
	f.Add(uint8(5), "", pay)
	// Every mutation of the tampering suite (signed with the real key
	// where it needs to be) is a seed as well.
	in := tokentest.Input{Good: good,
		SignClaims: func(c map[string]any) string { s, _ := e.iss.SignJWT(ctx, e.tid, c); return s },
		SignInput: func(in []byte) []byte {
			sum := sha256.Sum256(in)
			s, _ := rsa.SignPKCS1v15(rand.Reader, e.priv, crypto.SHA256, sum[:])
			return s
		},
		OtherTenant: uuid.NewString(), OtherIssuer: issuerOf(uuid.NewString()), OtherAudience: "https://management.mhsm.test:8443",
		Public: &e.priv.PublicKey}
	for _, m := range tokentest.Build(in) {
		if len(m.Token) <= 4096 {
			f.Add(uint8(0), m.Token, []byte(nil))
		}
	}
	f.Fuzz(func(t *testing.T, mode uint8, s string, b []byte) {
		raw := s
		switch mode % 6 {
		case 1, 2, 3:
			p := slices.Clone(parts)
			p[mode%6-1] = s
			raw = strings.Join(p, ".")
		case 4:
			raw = e.signRaw(b, pay)
		case 5:
			raw = e.signRaw(hdr, b)
		}
		c, err := e.ver.Verify(ctx, raw, aud)
		if err != nil {
			if err != token.ErrInvalid || c != nil {
				t.Fatalf("Verify = %v, %v; want nil, ErrInvalid", c, err)
			}
			return
		}
		switch mode % 6 {
		case 4:
			checkHeader(t, b, parts[0])
		case 5:
			checkClaims(t, c, e.tid)
		default:
			if raw != good {
				t.Fatalf("accepted a token the issuer did not make: %q", raw)
			}
		}
	})
}

// checkHeader fails unless an accepted header is exactly what the
// issuer's tokens carry (alg RS256, typ JWT, the real kid, nothing more).
func checkHeader(t *testing.T, h []byte, goodHeader string) {
	t.Helper()
	var got, want map[string]any
	g, _ := base64.RawURLEncoding.DecodeString(goodHeader)
	if json.Unmarshal(h, &got) != nil || json.Unmarshal(g, &want) != nil || len(got) != len(want) {
		t.Fatalf("accepted header %q", h)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("accepted header %q", h)
		}
	}
}

// checkClaims fails unless accepted claims meet every rule.
func checkClaims(t *testing.T, c *token.Claims, tid string) {
	t.Helper()
	now := time.Now()
	ok := c.TenantID == tid && c.Issuer == issuerOf(tid) && c.ObjectID != "" && c.Subject != "" &&
		slices.Contains([]string(c.Audience), aud) &&
		(c.IDType == token.IDTypeApp || c.IDType == token.IDTypeUser) &&
		c.Expiry != nil && c.Expiry.Time().Add(token.Leeway).After(now) &&
		c.NotBefore != nil && !c.NotBefore.Time().Add(-token.Leeway).After(now) &&
		c.IssuedAt != nil && !c.IssuedAt.Time().Add(-token.Leeway).After(now)
	if !ok {
		t.Fatalf("accepted claims that break a rule: %+v", c)
	}
}

// FuzzIssueVerify is the round trip: whatever free-text claims a token
// carries (names, UPNs, scopes, group ids), a token the issuer made
// verifies, for its audience only, and yields the same claims.
func FuzzIssueVerify(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add("Alice", "alice@contoso.example", "user_impersonation", "0f1e2d3c-0000-4000-8000-000000000001", true)
	f.Add("", "", "", "", false)
	f.Add("\u212a\x00\"\\</script>", "ünï©ødé", "a b c", "\xff\xfe", true)
	f.Fuzz(func(t *testing.T, name, upn, scope, group string, user bool) {
		ctx := context.Background()
		c := e.claims(uuid.NewString())
		c.Name, c.UPN, c.Scope = name, upn, scope
		if group != "" {
			c.Groups = []string{group, group + "x"}
		}
		if user {
			c.IDType = token.IDTypeUser
		}
		raw, _, err := e.iss.Issue(ctx, c, time.Hour)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		if len(raw) > token.MaxTokenBytes {
			return // too large to be accepted by design
		}
		got, err := e.ver.Verify(ctx, raw, aud)
		if err != nil {
			t.Fatalf("a token the issuer made does not verify: %v", err)
		}
		valid := func(s string) string { // encoding/json's replacement of invalid UTF-8
			b, _ := json.Marshal(s)
			var out string
			_ = json.Unmarshal(b, &out)
			return out
		}
		if got.Name != valid(name) || got.UPN != valid(upn) || got.Scope != valid(scope) || got.IDType != c.IDType ||
			got.ObjectID != c.ObjectID || len(got.Groups) != len(c.Groups) {
			t.Fatalf("claims changed: %+v", got)
		}
		if _, err := e.ver.Verify(ctx, raw, "https://management.mhsm.test:8443"); err != token.ErrInvalid {
			t.Fatalf("accepted for another audience: %v", err)
		}
	})
}
