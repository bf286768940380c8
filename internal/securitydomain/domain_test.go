package securitydomain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/wire"
)

func testRoot(t testing.TB) *Root {
	return &Root{DomainID: "d1", HSM: "h1", TenantID: "t1", Created: 1, Key: bytes.Repeat([]byte{0xA5}, RootKeySize)}
}

func buildFile(t testing.TB, os []Officer, required int) []byte {
	t.Helper()
	it, err := testRoot(t).Item()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Build([]Item{it, {Tag: "extra", Plaintext: []byte("hello")}}, certsOf(os), required)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func openRoot(file []byte, os []Officer) (*Root, error) {
	items, err := Open(file, os)
	if err != nil {
		return nil, err
	}
	return RootFromItems(items)
}

func TestBuildOpen(t *testing.T) {
	t.Parallel()
	os := officers(t, 3)
	file := buildFile(t, os, 2)
	f, err := ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if f.SharedKeys.Required != 2 || len(f.SharedKeys.EncShares) != 3 || f.EncData.KDF != "sp108_kdf" || f.SharedKeys.KeyAlgorithm != "shamir_share" {
		t.Fatalf("file = %+v", f)
	}
	for i, o := range os {
		if f.SharedKeys.EncShares[i].X5t256 != Thumbprint(o.Cert) {
			t.Errorf("share %d not addressed to certificate %d", i, i)
		}
	}
	for _, pair := range [][]int{{0, 1}, {0, 2}, {1, 2}, {2, 0}} {
		r, err := openRoot(file, []Officer{os[pair[0]], os[pair[1]]})
		if err != nil || !bytes.Equal(r.Key, testRoot(t).Key) || r.DomainID != "d1" {
			t.Fatalf("officers %v: %v", pair, err)
		}
	}
	// Without certificates every share is tried.
	if _, err := openRoot(file, []Officer{{Key: os[0].Key}, {Key: os[2].Key}}); err != nil {
		t.Fatalf("officers without certificates: %v", err)
	}
	// All three: the third share is checked against the other two.
	if _, err := openRoot(file, os); err != nil {
		t.Fatal(err)
	}
	// One officer, or one officer twice, is not a quorum.
	for _, few := range [][]Officer{{os[1]}, {os[1], os[1]}, {os[1], {Key: os[1].Key}}} {
		if _, err := Open(file, few); !errors.Is(err, ErrTooFewShares) {
			t.Fatalf("%d officers: err = %v, want ErrTooFewShares", len(few), err)
		}
	}
	// An outsider's key opens nothing.
	out := newOfficer(t, 2048, "outsider")
	if _, err := Open(file, []Officer{os[0], out}); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("outsider: err = %v", err)
	}
}

// TestShareFromAnotherDomain splices a share of another download (same
// officers, so it decrypts) into a file: the rebuilt master key does not
// open the data.
func TestShareFromAnotherDomain(t *testing.T) {
	t.Parallel()
	os := officers(t, 3)
	a, b := buildFile(t, os, 2), buildFile(t, os, 2)
	fa, _ := ParseFile(a)
	fb, _ := ParseFile(b)
	fa.SharedKeys.EncShares[1] = fb.SharedKeys.EncShares[1]
	mixed, _ := json.Marshal(fa)
	// (A rebuilt byte of 256 is itself proof of inconsistency: either error
	// is a rejection.)
	if _, err := Open(mixed, []Officer{os[0], os[1]}); !errors.Is(err, ErrWrongShares) && !errors.Is(err, ErrInconsistentShares) {
		t.Fatalf("foreign share: err = %v, want ErrWrongShares", err)
	}
	// With all three, the inconsistency shows in the shares themselves.
	if _, err := Open(mixed, os); !errors.Is(err, ErrInconsistentShares) {
		t.Fatalf("foreign share among three: err = %v, want ErrInconsistentShares", err)
	}
	// The other domain's data under this domain's shares.
	fa, _ = ParseFile(a)
	fa.EncData = fb.EncData
	mixed, _ = json.Marshal(fa)
	if _, err := Open(mixed, []Officer{os[0], os[2]}); !errors.Is(err, ErrWrongShares) {
		t.Fatalf("foreign data: err = %v, want ErrWrongShares", err)
	}
}

func TestTamperedFile(t *testing.T) {
	t.Parallel()
	os := officers(t, 3)
	file := buildFile(t, os, 2)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := map[string]func(f *File){
		"data ciphertext": func(f *File) {
			parts := strings.Split(f.EncData.Data[0].CompactJWE, ".")
			parts[3] = flip(parts[3], 5)
			f.EncData.Data[0].CompactJWE = strings.Join(parts, ".")
		},
		"data tag": func(f *File) { f.EncData.Data[0].Tag = "other" },
		"share ciphertext": func(f *File) {
			for i := range f.SharedKeys.EncShares {
				parts := strings.Split(f.SharedKeys.EncShares[i].EncKey, ".")
				parts[3] = flip(parts[3], 3)
				f.SharedKeys.EncShares[i].EncKey = strings.Join(parts, ".")
			}
		},
		"required": func(f *File) { f.SharedKeys.Required = 3 },
	}
	for name, mod := range cases {
		f, _ := ParseFile(file)
		mod(f)
		b, _ := json.Marshal(f)
		if r, err := openRoot(b, []Officer{os[0], os[1]}); err == nil {
			t.Errorf("%s: tampered file opened (%v)", name, r.DomainID)
		}
	}
}

func TestRestoreBlob(t *testing.T) {
	t.Parallel()
	os := officers(t, 3)
	file := buildFile(t, os, 2)
	tr := fixtureOfficer(t, "transfer")
	tk, tc := tr.Key, tr.Cert
	blob, err := MakeRestoreBlob(file, []Officer{os[2], os[0]}, tc)
	if err != nil {
		t.Fatal(err)
	}
	items, err := OpenRestoreBlob(blob, tk, tc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RootFromItems(items)
	if err != nil || !bytes.Equal(r.Key, testRoot(t).Key) {
		t.Fatalf("root: %v", err)
	}
	if len(items) != 2 || items[1].Tag != "extra" || string(items[1].Plaintext) != "hello" {
		t.Fatalf("items = %v", items)
	}
	// The blob's master key is new: the original file's data does not open
	// under it, and the blob holds nothing of the shares.
	if strings.Contains(string(blob), "enc_shares") {
		t.Fatal("restore blob carries shares")
	}

	// Another transfer key.
	other := newOfficer(t, 2048, "other transfer key")
	if _, err := OpenRestoreBlob(blob, other.Key, other.Cert); !errors.Is(err, ErrMalformed) {
		t.Fatalf("other transfer cert: err = %v", err)
	}
	if _, err := OpenRestoreBlob(blob, other.Key, tc); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other transfer key: err = %v", err)
	}
	// Tampered data.
	var rb RestoreBlob
	_ = json.Unmarshal(blob, &rb)
	parts := strings.Split(rb.EncData.Data[0].CompactJWE, ".")
	parts[4] = strings.Repeat("A", len(parts[4]))
	rb.EncData.Data[0].CompactJWE = strings.Join(parts, ".")
	bad, _ := json.Marshal(rb)
	if _, err := OpenRestoreBlob(bad, tk, tc); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered blob: err = %v", err)
	}
	// A blob from another domain's file, wrapped to the same transfer key,
	// opens (it is a valid domain) but carries the other root.
	file2 := buildFile(t, officers(t, 4)[1:], 2)
	blob2, err := MakeRestoreBlob(file2, officers(t, 4)[1:3], tc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRestoreBlob(blob2, tk, tc); err != nil {
		t.Fatal(err)
	}
	// Quorum not met offline.
	if _, err := MakeRestoreBlob(file, os[:1], tc); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("one officer: err = %v", err)
	}
}

// TestRestoreBlobOldCLIEncoding: older CLIs base64url-encoded the compact
// JWEs and the thumbprint a second time; the server accepts both.
func TestRestoreBlobOldCLIEncoding(t *testing.T) {
	t.Parallel()
	os := officers(t, 3)
	tr := fixtureOfficer(t, "transfer")
	tk, tc := tr.Key, tr.Cert
	blob, err := MakeRestoreBlob(buildFile(t, os, 2), os[:2], tc)
	if err != nil {
		t.Fatal(err)
	}
	var rb RestoreBlob
	_ = json.Unmarshal(blob, &rb)
	enc := base64.RawURLEncoding.EncodeToString
	rb.WrappedKey.EncKey = enc([]byte(rb.WrappedKey.EncKey))
	rb.WrappedKey.X5t256 = enc([]byte(rb.WrappedKey.X5t256))
	for i := range rb.EncData.Data {
		rb.EncData.Data[i].CompactJWE = enc([]byte(rb.EncData.Data[i].CompactJWE))
	}
	old, _ := json.Marshal(rb)
	if _, err := OpenRestoreBlob(old, tk, tc); err != nil {
		t.Fatal(err)
	}
}

func TestBuildLimits(t *testing.T) {
	t.Parallel()
	os := officers(t, 11)
	it, _ := testRoot(t).Item()
	for _, c := range []struct{ n, m int }{{2, 2}, {11, 2}, {3, 1}, {3, 4}, {10, 11}} {
		if _, err := Build([]Item{it}, certsOf(os[:c.n]), c.m); err == nil {
			t.Errorf("Build(N=%d, M=%d) succeeded", c.n, c.m)
		}
	}
	small := newOfficer(t, 1024, "small")
	if _, err := Build([]Item{it}, append(certsOf(os[:2]), small.Cert), 2); err == nil {
		t.Error("1024-bit certificate accepted")
	}
}

func TestParseWrappingKeys(t *testing.T) {
	t.Parallel()
	os := officers(t, 4)
	jwks := make([]wire.SecurityDomainJSONWebKey, 4)
	for i, o := range os {
		j, err := WrappingKeyJWK(o.Cert)
		if err != nil {
			t.Fatal(err)
		}
		jwks[i] = j
	}
	certs, err := ParseWrappingKeys(jwks[:3])
	if err != nil || len(certs) != 3 || !certs[2].Equal(os[2].Cert) {
		t.Fatalf("ParseWrappingKeys: %v", err)
	}
	bad := map[string][]wire.SecurityDomainJSONWebKey{
		"two":       jwks[:2],
		"duplicate": {jwks[0], jwks[1], jwks[0]},
		"n mismatch": func() []wire.SecurityDomainJSONWebKey {
			c := append([]wire.SecurityDomainJSONWebKey(nil), jwks[:3]...)
			c[1].N = jwks[3].N
			return c
		}(),
		"x5t#S256 mismatch": func() []wire.SecurityDomainJSONWebKey {
			c := append([]wire.SecurityDomainJSONWebKey(nil), jwks[:3]...)
			c[1].X5tS256 = jwks[3].X5tS256
			return c
		}(),
		"no x5c": func() []wire.SecurityDomainJSONWebKey {
			c := append([]wire.SecurityDomainJSONWebKey(nil), jwks[:3]...)
			c[2].X5c = nil
			return c
		}(),
		"garbage x5c": func() []wire.SecurityDomainJSONWebKey {
			c := append([]wire.SecurityDomainJSONWebKey(nil), jwks[:3]...)
			c[2].X5c = []string{"bm90IGEgY2VydA=="}
			return c
		}(),
	}
	for name, in := range bad {
		if _, err := ParseWrappingKeys(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// No kid and no n/e (only x5c) is fine: the certificate decides.
	min := append([]wire.SecurityDomainJSONWebKey(nil), jwks[:3]...)
	for i := range min {
		min[i] = wire.SecurityDomainJSONWebKey{X5c: min[i].X5c}
	}
	if _, err := ParseWrappingKeys(min); err != nil {
		t.Fatal(err)
	}
}

func TestTransferKeyJWK(t *testing.T) {
	t.Parallel()
	_, c, err := NewTransferKey("h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := TransferKeyJWK(c, "https://h.managedhsm.example/transfer_key")
	if err != nil {
		t.Fatal(err)
	}
	// Both the string form (today's service) and the object form parse.
	asString, _ := json.Marshal(s)
	for _, raw := range [][]byte{asString, []byte(s)} {
		got, err := ParseTransferKey(raw)
		if err != nil || !got.Equal(c) {
			t.Fatalf("ParseTransferKey(%.20s…): %v", raw, err)
		}
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(s), &m)
	for _, k := range []string{"kid", "kty", "key_ops", "n", "e", "alg", "x5c", "x5t", "x5t#S256"} {
		if _, ok := m[k]; !ok {
			t.Errorf("transfer key JWK lacks %q", k)
		}
	}
	if m["alg"] != "RSA-OAEP-256" {
		t.Errorf("alg = %v", m["alg"])
	}
}

func TestRootRedacted(t *testing.T) {
	t.Parallel()
	r := testRoot(t)
	for _, s := range []string{fmtSprintf("%v", r), fmtSprintf("%+v", *r), fmtSprintf("%#v", r)} {
		if strings.Contains(s, "165") || !strings.Contains(s, "REDACTED") {
			t.Errorf("root printed as %q", s)
		}
	}
}
