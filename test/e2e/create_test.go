package e2e

import (
	"bytes"
	"crypto/ecdh"
	"math/big"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// checkKid checks kid is https://dev.managedhsm.mhsm.localhost:<port>/keys/<name>/<32 hex>
// and returns its version.
func checkKid(t testing.TB, s *server, kid *azkeys.ID, keyName string) string {
	t.Helper()
	if kid == nil {
		t.Fatal("kid missing")
	}
	re := regexp.MustCompile(`^https://` + regexp.QuoteMeta(s.hsmHost()) + `/keys/` + regexp.QuoteMeta(keyName) + `/([0-9a-f]{32})$`)
	m := re.FindStringSubmatch(string(*kid))
	if m == nil {
		t.Fatalf("kid %q does not match %s", *kid, re)
	}
	if kid.Name() != keyName || kid.Version() != m[1] {
		t.Fatalf("SDK parses kid %q as name %q version %q", *kid, kid.Name(), kid.Version())
	}
	return m[1]
}

func opsOf(ops []*azkeys.KeyOperation) []string {
	var out []string
	for _, o := range ops {
		out = append(out, string(*o))
	}
	slices.Sort(out)
	return out
}

// checkFreshAttributes checks the attributes of a key created just now.
func checkFreshAttributes(t testing.TB, a *azkeys.KeyAttributes, start time.Time) {
	t.Helper()
	if a == nil || a.Enabled == nil || !*a.Enabled {
		t.Fatalf("attributes.enabled = %v, want true", a)
	}
	if a.Created == nil || a.Updated == nil {
		t.Fatal("attributes.created/updated missing")
	}
	if a.Created.Before(start.Add(-2*time.Second)) || a.Created.After(time.Now().Add(2*time.Second)) {
		t.Errorf("created %v not near now (%v)", a.Created, start)
	}
	if !a.Updated.Equal(*a.Created) {
		t.Errorf("updated %v != created %v on a new key", a.Updated, a.Created)
	}
	if a.Expires != nil || a.NotBefore != nil {
		t.Errorf("unexpected exp/nbf %v/%v", a.Expires, a.NotBefore)
	}
	if a.RecoverableDays == nil || *a.RecoverableDays != 90 {
		t.Errorf("recoverableDays = %v, want 90", a.RecoverableDays)
	}
	if a.RecoveryLevel == nil || *a.RecoveryLevel != "Recoverable+Purgeable" {
		t.Errorf("recoveryLevel = %v, want Recoverable+Purgeable", a.RecoveryLevel)
	}
	if a.Exportable != nil && *a.Exportable {
		t.Error("exportable = true on a plain key")
	}
}

// noPrivate fails if any private JWK member came back.
func noPrivate(t testing.TB, k *azkeys.JSONWebKey) {
	t.Helper()
	if len(k.D)+len(k.P)+len(k.Q)+len(k.DP)+len(k.DQ)+len(k.QI)+len(k.K)+len(k.T) != 0 {
		t.Fatal("private key material returned")
	}
}

var ecCoordSize = map[azkeys.CurveName]int{
	azkeys.CurveNameP256: 32, azkeys.CurveNameP256K: 32, azkeys.CurveNameP384: 48, azkeys.CurveNameP521: 66,
}

// checkECPoint checks x, y are a point of crv.
func checkECPoint(t testing.TB, crv azkeys.CurveName, x, y []byte) {
	t.Helper()
	n := ecCoordSize[crv]
	if len(x) != n || len(y) != n {
		t.Fatalf("%s: x/y are %d/%d bytes, want %d", crv, len(x), len(y), n)
	}
	pt := append(append([]byte{4}, x...), y...)
	var err error
	switch crv {
	case azkeys.CurveNameP256K:
		_, err = secp256k1.ParsePubKey(pt)
	case azkeys.CurveNameP256:
		_, err = ecdh.P256().NewPublicKey(pt)
	case azkeys.CurveNameP384:
		_, err = ecdh.P384().NewPublicKey(pt)
	case azkeys.CurveNameP521:
		_, err = ecdh.P521().NewPublicKey(pt)
	}
	if err != nil {
		t.Fatalf("%s public key is not on the curve: %v", crv, err)
	}
}

func TestCreateKeys(t *testing.T) {
	s, c := shared(t)
	rsaOps := []string{"decrypt", "encrypt", "sign", "unwrapKey", "verify", "wrapKey"}
	ecOps := []string{"sign", "verify"}
	octOps := []string{"decrypt", "encrypt", "unwrapKey", "wrapKey"}
	cases := []struct {
		label   string
		kty     azkeys.KeyType
		size    int32
		crv     azkeys.CurveName
		wantKty azkeys.KeyType
		ops     []string
	}{
		{"RSA-default", azkeys.KeyTypeRSA, 0, "", azkeys.KeyTypeRSAHSM, rsaOps},
		{"RSA-2048", azkeys.KeyTypeRSAHSM, 2048, "", azkeys.KeyTypeRSAHSM, rsaOps},
		{"RSA-3072", azkeys.KeyTypeRSAHSM, 3072, "", azkeys.KeyTypeRSAHSM, rsaOps},
		{"RSA-4096", azkeys.KeyTypeRSAHSM, 4096, "", azkeys.KeyTypeRSAHSM, rsaOps},
		{"EC-P256", azkeys.KeyTypeECHSM, 0, azkeys.CurveNameP256, azkeys.KeyTypeECHSM, ecOps},
		{"EC-P256K", azkeys.KeyTypeECHSM, 0, azkeys.CurveNameP256K, azkeys.KeyTypeECHSM, ecOps},
		{"EC-P384", azkeys.KeyTypeECHSM, 0, azkeys.CurveNameP384, azkeys.KeyTypeECHSM, ecOps},
		{"EC-P521", azkeys.KeyTypeECHSM, 0, azkeys.CurveNameP521, azkeys.KeyTypeECHSM, ecOps},
		{"oct-128", azkeys.KeyTypeOctHSM, 128, "", azkeys.KeyTypeOctHSM, octOps},
		{"oct-192", azkeys.KeyTypeOctHSM, 192, "", azkeys.KeyTypeOctHSM, octOps},
		{"oct-256", azkeys.KeyTypeOctHSM, 256, "", azkeys.KeyTypeOctHSM, octOps},
	}
	for _, tc := range cases {
		t.Run(tc.label, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			n := name("create")
			p := azkeys.CreateKeyParameters{Kty: ptr(tc.kty)}
			if tc.size != 0 {
				p.KeySize = ptr(tc.size)
			}
			if tc.crv != "" {
				p.Curve = ptr(tc.crv)
			}
			start := time.Now()
			resp, err := c.CreateKey(ctx, n, p, nil)
			must(t, err, "CreateKey")
			k := resp.Key
			ver := checkKid(t, s, k.KID, n)
			if *k.Kty != tc.wantKty {
				t.Errorf("kty = %s, want %s", *k.Kty, tc.wantKty)
			}
			if got := opsOf(k.KeyOps); !slices.Equal(got, tc.ops) {
				t.Errorf("key_ops = %v, want %v", got, tc.ops)
			}
			checkFreshAttributes(t, resp.Attributes, start)
			noPrivate(t, k)
			if len(resp.Tags) != 0 {
				t.Errorf("tags = %v, want none", resp.Tags)
			}
			switch tc.wantKty {
			case azkeys.KeyTypeRSAHSM:
				want := int(tc.size)
				if want == 0 {
					want = 2048
				}
				if bits := new(big.Int).SetBytes(k.N).BitLen(); bits != want {
					t.Errorf("modulus is %d bits, want %d", bits, want)
				}
				if !bytes.Equal(k.E, []byte{1, 0, 1}) {
					t.Errorf("e = %x, want 010001", k.E)
				}
			case azkeys.KeyTypeECHSM:
				if k.Crv == nil || *k.Crv != tc.crv {
					t.Fatalf("crv = %v, want %s", k.Crv, tc.crv)
				}
				checkECPoint(t, tc.crv, k.X, k.Y)
			}
			// A second create makes a new version; GetKey returns it as latest.
			if tc.wantKty != azkeys.KeyTypeRSAHSM {
				r2, err := c.CreateKey(ctx, n, p, nil)
				must(t, err, "CreateKey v2")
				v2 := checkKid(t, s, r2.Key.KID, n)
				if v2 == ver {
					t.Fatal("second create returned the same version")
				}
				g, err := c.GetKey(ctx, n, "", nil)
				must(t, err, "GetKey")
				if *g.Key.KID != *r2.Key.KID {
					t.Errorf("latest = %s, want %s", *g.Key.KID, *r2.Key.KID)
				}
			}
		})
	}
}

func TestCreateKeyRejects(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	bad := []struct {
		label string
		p     azkeys.CreateKeyParameters
	}{
		{"RSA-1024", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM), KeySize: ptr[int32](1024)}},
		{"oct-512", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM), KeySize: ptr[int32](512)}},
		{"EC-P-192", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveName("P-192"))}},
		{"EC-sign-on-oct", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM), KeySize: ptr[int32](256),
			KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign)}}},
	}
	for _, b := range bad {
		_, err := c.CreateKey(ctx, name("bad"), b.p, nil)
		if err == nil {
			t.Errorf("%s: created", b.label)
			continue
		}
		wantStatus(t, err, 400)
	}
	_, err := c.CreateKey(ctx, "bad_name!", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM)}, nil)
	wantStatus(t, err, 400)
}

func TestRandomBytes(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	r1, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: ptr[int32](32)}, nil)
	must(t, err, "GetRandomBytes")
	r2, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: ptr[int32](32)}, nil)
	must(t, err, "GetRandomBytes")
	if len(r1.Value) != 32 || len(r2.Value) != 32 {
		t.Fatalf("got %d and %d bytes, want 32", len(r1.Value), len(r2.Value))
	}
	if bytes.Equal(r1.Value, r2.Value) {
		t.Fatal("two random draws are equal")
	}
	_, err = c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: ptr[int32](129)}, nil)
	wantStatus(t, err, 400)
}
