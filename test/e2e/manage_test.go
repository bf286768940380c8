package e2e

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func TestImportGetUpdate(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)

	// RSA: two versions from two local keys.
	n := name("imp-rsa")
	r1 := importKey(t, ctx, c, n, rsaJWK(localRSA(t, 0)))
	v1 := checkKid(t, s, r1.Key.KID, n)
	if *r1.Key.Kty != azkeys.KeyTypeRSAHSM {
		t.Errorf("imported RSA kty = %s, want RSA-HSM", *r1.Key.Kty)
	}
	if !bytes.Equal(r1.Key.N, localRSA(t, 0).N.Bytes()) || !bytes.Equal(r1.Key.E, []byte{1, 0, 1}) {
		t.Error("imported RSA public key differs from the local key")
	}
	noPrivate(t, r1.Key)
	r2 := importKey(t, ctx, c, n, rsaJWK(localRSA(t, 1)))
	v2 := checkKid(t, s, r2.Key.KID, n)
	if v1 == v2 {
		t.Fatal("second import has the same version")
	}
	latest, err := c.GetKey(ctx, n, "", nil)
	must(t, err, "GetKey latest")
	if *latest.Key.KID != *r2.Key.KID || !bytes.Equal(latest.Key.N, localRSA(t, 1).N.Bytes()) {
		t.Errorf("latest is %s, want %s with key 2", *latest.Key.KID, *r2.Key.KID)
	}
	old, err := c.GetKey(ctx, n, v1, nil)
	must(t, err, "GetKey v1")
	if *old.Key.KID != *r1.Key.KID || !bytes.Equal(old.Key.N, localRSA(t, 0).N.Bytes()) {
		t.Errorf("GetKey(v1) = %s, want %s with key 1", *old.Key.KID, *r1.Key.KID)
	}
	_, err = c.GetKey(ctx, n, strings.Repeat("0", 32), nil)
	wantStatus(t, err, 404)
	_, err = c.GetKey(ctx, name("missing"), "", nil)
	wantStatus(t, err, 404)

	// EC (every curve) and oct.
	for _, crv := range []azkeys.CurveName{azkeys.CurveNameP256, azkeys.CurveNameP256K, azkeys.CurveNameP384, azkeys.CurveNameP521} {
		ek := newECKey(t, crv)
		jwk := ek.jwk(t)
		en := name("imp-ec")
		r := importKey(t, ctx, c, en, jwk)
		checkKid(t, s, r.Key.KID, en)
		if *r.Key.Kty != azkeys.KeyTypeECHSM || *r.Key.Crv != crv || !bytes.Equal(r.Key.X, jwk.X) || !bytes.Equal(r.Key.Y, jwk.Y) {
			t.Errorf("%s import: got kty %s crv %s, public key equal %v", crv, *r.Key.Kty, *r.Key.Crv, bytes.Equal(r.Key.X, jwk.X))
		}
		noPrivate(t, r.Key)
	}
	on := name("imp-oct")
	ro := importKey(t, ctx, c, on, octJWK(randBytes(32)))
	checkKid(t, s, ro.Key.KID, on)
	if *ro.Key.Kty != azkeys.KeyTypeOctHSM || len(ro.Key.K) != 0 {
		t.Errorf("oct import: kty %s, k returned %v", *ro.Key.Kty, len(ro.Key.K) != 0)
	}
	// A public-only JWK cannot be imported.
	_, err = c.ImportKey(ctx, name("imp-pub"), azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{
		Kty: ptr(azkeys.KeyTypeRSA), N: localRSA(t, 0).N.Bytes(), E: []byte{1, 0, 1}}}, nil)
	wantStatus(t, err, 400)

	// Update v1 of the RSA key: attributes, tags, key_ops.
	nbf := time.Now().Add(-time.Hour).Truncate(time.Second)
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	tags := map[string]*string{"env": ptr("test"), "owner": ptr("e2e")}
	time.Sleep(1100 * time.Millisecond) // so that "updated" moves
	u, err := c.UpdateKey(ctx, n, v1, azkeys.UpdateKeyParameters{
		KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(false), NotBefore: &nbf, Expires: &exp},
		Tags:          tags,
		KeyOps:        []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign), ptr(azkeys.KeyOperationVerify)},
	}, nil)
	must(t, err, "UpdateKey")
	checkUpdated := func(what string, kb azkeys.KeyBundle) {
		t.Helper()
		a := kb.Attributes
		if *kb.Key.KID != *r1.Key.KID {
			t.Errorf("%s: kid %s, want %s", what, *kb.Key.KID, *r1.Key.KID)
		}
		if *a.Enabled || !a.NotBefore.Equal(nbf) || !a.Expires.Equal(exp) {
			t.Errorf("%s: enabled %v nbf %v exp %v, want false %v %v", what, *a.Enabled, a.NotBefore, a.Expires, nbf, exp)
		}
		if !a.Updated.After(*a.Created) {
			t.Errorf("%s: updated %v not after created %v", what, a.Updated, a.Created)
		}
		if got := opsOf(kb.Key.KeyOps); !slices.Equal(got, []string{"sign", "verify"}) {
			t.Errorf("%s: key_ops %v", what, got)
		}
		if len(kb.Tags) != 2 || *kb.Tags["env"] != "test" || *kb.Tags["owner"] != "e2e" {
			t.Errorf("%s: tags %v", what, kb.Tags)
		}
	}
	checkUpdated("UpdateKey", u.KeyBundle)
	g, err := c.GetKey(ctx, n, v1, nil)
	must(t, err, "GetKey v1 after update")
	checkUpdated("GetKey", g.KeyBundle)
	// The latest version is untouched.
	g2, err := c.GetKey(ctx, n, "", nil)
	must(t, err, "GetKey latest after update")
	if !*g2.Attributes.Enabled || g2.Attributes.Expires != nil || len(g2.Tags) != 0 || len(g2.Key.KeyOps) != 6 {
		t.Errorf("latest version changed by an update of v1: %+v tags %v ops %v", g2.Attributes, g2.Tags, opsOf(g2.Key.KeyOps))
	}
	// Update with an empty version updates the latest; bad key_ops are refused.
	u2, err := c.UpdateKey(ctx, n, "", azkeys.UpdateKeyParameters{Tags: map[string]*string{"v": ptr("latest")}}, nil)
	must(t, err, "UpdateKey latest")
	if *u2.Key.KID != *r2.Key.KID || *u2.Tags["v"] != "latest" {
		t.Errorf("UpdateKey(\"\") touched %s tags %v", *u2.Key.KID, u2.Tags)
	}
	_, err = c.UpdateKey(ctx, on, "", azkeys.UpdateKeyParameters{KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign)}}, nil)
	wantStatus(t, err, 400)
}

// listAll pages through the key list with maxresults=2 and returns the kids
// and the number of pages.
func listAll(t testing.TB, ctx context.Context, c *azkeys.Client) ([]string, int) {
	t.Helper()
	ctx = withMaxResults(ctx, 2)
	var kids []string
	pages := 0
	p := c.NewListKeyPropertiesPager(nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		must(t, err, "list keys page")
		pages++
		if len(page.Value) > 2 {
			t.Fatalf("page of %d items with maxresults=2", len(page.Value))
		}
		for _, it := range page.Value {
			kids = append(kids, string(*it.KID))
		}
	}
	return kids, pages
}

func TestListKeysAndVersions(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	prefix := name("list")
	want := map[string]bool{}
	for i := range 7 {
		n := prefix + "-" + string(rune('a'+i))
		createKey(t, ctx, c, n, octParams(128))
		want["https://"+s.hsmHost()+"/keys/"+n] = true
	}
	// A soft-deleted key is not listed.
	gone := prefix + "-z"
	createKey(t, ctx, c, gone, octParams(128))
	_, err := c.DeleteKey(ctx, gone, nil)
	must(t, err, "DeleteKey")
	kids, pages := listAll(t, ctx, c)
	if pages < 4 {
		t.Errorf("listing took %d pages with maxresults=2; nextLink paging not exercised", pages)
	}
	seen := map[string]int{}
	for _, k := range kids {
		seen[k]++
		if seen[k] > 1 {
			t.Errorf("%s listed twice", k)
		}
		if strings.Count(strings.TrimPrefix(k, "https://"), "/") != 2 {
			t.Errorf("list item kid %s is not a base key id", k)
		}
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("%s seen %d times, want once", k, seen[k])
		}
	}
	if seen["https://"+s.hsmHost()+"/keys/"+gone] != 0 {
		t.Errorf("soft-deleted key %s is listed", gone)
	}

	// Versions: three of one key, in pages of two.
	vn := prefix + "-a"
	versions := map[string]bool{}
	g, err := c.GetKey(ctx, vn, "", nil)
	must(t, err, "GetKey")
	versions[string(*g.Key.KID)] = true
	for range 2 {
		versions[string(*createKey(t, ctx, c, vn, octParams(128)).Key.KID)] = true
	}
	got := map[string]bool{}
	vp := c.NewListKeyPropertiesVersionsPager(vn, nil)
	vpages := 0
	for vp.More() {
		page, err := vp.NextPage(withMaxResults(ctx, 2))
		must(t, err, "list versions page")
		vpages++
		for _, it := range page.Value {
			if got[string(*it.KID)] {
				t.Errorf("version %s listed twice", *it.KID)
			}
			got[string(*it.KID)] = true
			checkKid(t, s, it.KID, vn)
			if it.Attributes == nil || it.Attributes.Enabled == nil || !*it.Attributes.Enabled {
				t.Errorf("version %s attributes %+v", *it.KID, it.Attributes)
			}
		}
	}
	if !maps.Equal(got, versions) {
		t.Errorf("versions listed %v, want %v", slices.Collect(maps.Keys(got)), slices.Collect(maps.Keys(versions)))
	}
	if vpages != 2 {
		t.Errorf("3 versions in %d pages of 2", vpages)
	}
}

// TestKeyNameCase: key names are case-insensitive and keep their first spelling.
func TestKeyNameCase(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	n := name("CaseKey")
	k1 := createKey(t, ctx, c, n, octParams(128))
	k2 := createKey(t, ctx, c, strings.ToLower(n), octParams(128))
	checkKid(t, s, k2.Key.KID, n)
	g, err := c.GetKey(ctx, strings.ToUpper(n), k1.Key.KID.Version(), nil)
	must(t, err, "GetKey upper case")
	if *g.Key.KID != *k1.Key.KID {
		t.Errorf("GetKey(upper) = %s, want %s", *g.Key.KID, *k1.Key.KID)
	}
	if vs := versionsOf(t, c, strings.ToLower(n)); len(vs) != 2 {
		t.Errorf("%d versions under the lower-case name, want 2", len(vs))
	}
	_, err = c.DeleteKey(ctx, strings.ToLower(n), nil)
	must(t, err, "DeleteKey lower case")
	_, err = c.CreateKey(ctx, strings.ToUpper(n), octParams(128), nil)
	wantStatus(t, err, 409)
	_, err = c.PurgeDeletedKey(ctx, strings.ToUpper(n), nil)
	must(t, err, "Purge upper case")
	_, err = c.GetDeletedKey(ctx, n, nil)
	wantStatus(t, err, 404)
}
