package e2e

import (
	"crypto"
	"crypto/rsa"
	"maps"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func TestDeleteRecoverPurge(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	n := name("del")
	created := createKey(t, ctx, c, n, octParams(256))

	before := time.Now().Add(-2 * time.Second)
	d, err := c.DeleteKey(ctx, n, nil)
	must(t, err, "DeleteKey")
	if d.RecoveryID == nil || *d.RecoveryID != "https://"+s.hsmHost()+"/deletedkeys/"+n {
		t.Errorf("recoveryId = %v", d.RecoveryID)
	}
	if d.DeletedDate == nil || d.DeletedDate.Before(before) || d.ScheduledPurgeDate == nil ||
		!d.ScheduledPurgeDate.Equal(d.DeletedDate.Add(90*24*time.Hour)) {
		t.Errorf("deletedDate %v scheduledPurgeDate %v, want now and +90d", d.DeletedDate, d.ScheduledPurgeDate)
	}
	if *d.Key.KID != *created.Key.KID {
		t.Errorf("deleted bundle kid %s, want %s", *d.Key.KID, *created.Key.KID)
	}
	_, err = c.GetKey(ctx, n, "", nil)
	wantStatus(t, err, 404)
	_, err = c.Encrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmA256GCM), Value: []byte("x")}, nil)
	wantStatus(t, err, 404)
	gd, err := c.GetDeletedKey(ctx, n, nil)
	must(t, err, "GetDeletedKey")
	if *gd.Key.KID != *created.Key.KID || !gd.ScheduledPurgeDate.Equal(*d.ScheduledPurgeDate) {
		t.Errorf("GetDeletedKey = %s purge %v", *gd.Key.KID, gd.ScheduledPurgeDate)
	}
	if !deletedListed(t, c, n) {
		t.Errorf("%s not in the deleted key list", n)
	}
	// The name of a soft-deleted key cannot be reused.
	_, err = c.CreateKey(ctx, n, octParams(256), nil)
	wantStatus(t, err, 409)
	_, err = c.ImportKey(ctx, n, azkeys.ImportKeyParameters{Key: octJWK(randBytes(16))}, nil)
	wantStatus(t, err, 409)
	_, err = c.DeleteKey(ctx, n, nil)
	wantStatus(t, err, 404)

	rec, err := c.RecoverDeletedKey(ctx, n, nil)
	must(t, err, "RecoverDeletedKey")
	if *rec.Key.KID != *created.Key.KID {
		t.Errorf("recovered %s, want %s", *rec.Key.KID, *created.Key.KID)
	}
	enc, err := c.Encrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmA256GCM), Value: []byte("after recover")}, nil)
	must(t, err, "Encrypt after recover")
	dec, err := c.Decrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmA256GCM),
		Value: enc.Result, IV: enc.IV, AuthenticationTag: enc.AuthenticationTag}, nil)
	must(t, err, "Decrypt after recover")
	if string(dec.Result) != "after recover" {
		t.Errorf("round trip after recover = %q", dec.Result)
	}
	_, err = c.GetDeletedKey(ctx, n, nil)
	wantStatus(t, err, 404)

	// Delete again and purge.
	_, err = c.DeleteKey(ctx, n, nil)
	must(t, err, "DeleteKey again")
	_, err = c.PurgeDeletedKey(ctx, n, nil)
	must(t, err, "PurgeDeletedKey")
	_, err = c.GetDeletedKey(ctx, n, nil)
	wantStatus(t, err, 404)
	_, err = c.PurgeDeletedKey(ctx, n, nil)
	wantStatus(t, err, 404)
	if deletedListed(t, c, n) {
		t.Errorf("%s still listed as deleted after purge", n)
	}
	again := createKey(t, ctx, c, n, octParams(128))
	if v := checkKid(t, s, again.Key.KID, n); v == created.Key.KID.Version() {
		t.Error("re-created key reuses the purged version")
	}
	vs := 0
	for p := c.NewListKeyPropertiesVersionsPager(n, nil); p.More(); {
		page, err := p.NextPage(ctx)
		must(t, err, "list versions")
		vs += len(page.Value)
	}
	if vs != 1 {
		t.Errorf("re-created key has %d versions, want 1 (purge must remove old versions)", vs)
	}
}

// deletedListed pages the deleted-key list (maxresults=2) looking for n.
func deletedListed(t testing.TB, c *azkeys.Client, n string) bool {
	t.Helper()
	ctx := withMaxResults(ctxT(t), 2)
	found := 0
	for p := c.NewListDeletedKeyPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		must(t, err, "list deleted keys")
		for _, it := range page.Value {
			if it.KID.Name() == n {
				found++
				if it.RecoveryID == nil || it.DeletedDate == nil || it.ScheduledPurgeDate == nil {
					t.Errorf("deleted item %s lacks deletion fields", n)
				}
			}
		}
	}
	if found > 1 {
		t.Errorf("%s listed %d times as deleted", n, found)
	}
	return found == 1
}

func TestBackupRestore(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	n := name("bak")
	k1 := importKey(t, ctx, c, n, rsaJWK(localRSA(t, 0)))
	k2 := createKey(t, ctx, c, n, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM), KeySize: ptr[int32](2048),
		Tags: map[string]*string{"t": ptr("v2")}})
	digest := digestOf(crypto.SHA256, "backed up")
	sig1, err := c.Sign(ctx, n, k1.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: digest}, nil)
	must(t, err, "Sign v1")

	b, err := c.BackupKey(ctx, n, nil)
	must(t, err, "BackupKey")
	if len(b.Value) == 0 {
		t.Fatal("empty backup blob")
	}
	// Restoring over an existing key is refused.
	_, err = c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: b.Value}, nil)
	wantStatus(t, err, 409)
	_, err = c.DeleteKey(ctx, n, nil)
	must(t, err, "DeleteKey")
	_, err = c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: b.Value}, nil)
	wantStatus(t, err, 409) // soft-deleted names are not free either
	_, err = c.PurgeDeletedKey(ctx, n, nil)
	must(t, err, "PurgeDeletedKey")

	for _, i := range []int{len(b.Value) / 2, len(b.Value) - 1, 3} {
		bad := append([]byte(nil), b.Value...)
		bad[i] ^= 0x01
		_, err = c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: bad}, nil)
		wantStatus(t, err, 400)
	}
	_, err = c.GetKey(ctx, n, "", nil)
	wantStatus(t, err, 404) // a refused restore leaves nothing behind

	r, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: b.Value}, nil)
	must(t, err, "RestoreKey")
	if *r.Key.KID != *k2.Key.KID || *r.Tags["t"] != "v2" {
		t.Errorf("restored latest %s tags %v, want %s", *r.Key.KID, r.Tags, *k2.Key.KID)
	}
	got := map[string]bool{}
	for p := c.NewListKeyPropertiesVersionsPager(n, nil); p.More(); {
		page, err := p.NextPage(ctx)
		must(t, err, "list versions")
		for _, it := range page.Value {
			got[string(*it.KID)] = true
		}
	}
	if want := map[string]bool{string(*k1.Key.KID): true, string(*k2.Key.KID): true}; !maps.Equal(got, want) {
		t.Errorf("restored versions %v, want %v", got, want)
	}
	// Old signature verifies, on the server and locally; new ones too.
	v, err := c.Verify(ctx, n, k1.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Digest: digest, Signature: sig1.Result}, nil)
	must(t, err, "Verify old signature")
	if !*v.Value {
		t.Error("old signature does not verify after restore")
	}
	sig2, err := c.Sign(ctx, n, "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: digest}, nil)
	must(t, err, "Sign after restore")
	if *sig2.KID != *k2.Key.KID {
		t.Errorf("signed with %s, want %s", *sig2.KID, *k2.Key.KID)
	}
	if err := rsa.VerifyPKCS1v15(rsaPub(k2.Key), crypto.SHA256, digest, sig2.Result); err != nil {
		t.Errorf("signature by restored key does not verify with the pre-backup public key: %v", err)
	}
	s1, err := c.Sign(ctx, n, k1.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: digest}, nil)
	must(t, err, "Sign v1 after restore")
	if err := rsa.VerifyPKCS1v15(&localRSA(t, 0).PublicKey, crypto.SHA256, digest, s1.Result); err != nil {
		t.Errorf("restored v1 signs with another key: %v", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	n := name("rot")
	k := createKey(t, ctx, c, n, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveNameP384),
		KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign), ptr(azkeys.KeyOperationVerify)}, Tags: map[string]*string{"a": ptr("b")}})

	// A key without a policy has Key Vault's default one (reference
	// managed-hsm.md §9): Notify 30 days before expiry, no expiry time.
	p, err := c.GetKeyRotationPolicy(ctx, n, nil)
	must(t, err, "GetKeyRotationPolicy")
	if len(p.LifetimeActions) != 1 || p.LifetimeActions[0].Trigger == nil || p.LifetimeActions[0].Trigger.TimeBeforeExpiry == nil ||
		*p.LifetimeActions[0].Trigger.TimeBeforeExpiry != "P30D" || p.LifetimeActions[0].Trigger.TimeAfterCreate != nil ||
		p.LifetimeActions[0].Action == nil || p.LifetimeActions[0].Action.Type == nil ||
		*p.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionNotify {
		t.Errorf("fresh key's policy is not the default (Notify P30D before expiry): %+v", p.KeyRotationPolicy)
	}
	if p.Attributes == nil || p.Attributes.ExpiryTime != nil {
		t.Errorf("default policy attributes %+v, want present without expiryTime", p.Attributes)
	}
	if p.ID == nil || *p.ID != "https://"+s.hsmHost()+"/keys/"+n+"/rotationpolicy" {
		t.Errorf("policy id %v", p.ID)
	}
	// On-demand rotation needs no policy; the new version has no expiry.
	r0, err := c.RotateKey(ctx, n, nil)
	must(t, err, "RotateKey without a policy")
	if v := checkKid(t, s, r0.Key.KID, n); v == k.Key.KID.Version() {
		t.Fatal("rotation without a policy kept the version")
	}
	if r0.Attributes == nil || r0.Attributes.Expires != nil || *r0.Key.Kty != azkeys.KeyTypeECHSM || *r0.Key.Crv != azkeys.CurveNameP384 {
		t.Errorf("rotated without a policy: %+v %+v", r0.Key, r0.Attributes)
	}
	k.KeyBundle = r0.KeyBundle

	rotate := ptr(azkeys.KeyRotationPolicyActionRotate)
	policy := func(expiry, after string) azkeys.KeyRotationPolicy {
		return azkeys.KeyRotationPolicy{Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: ptr(expiry)},
			LifetimeActions: []*azkeys.LifetimeAction{{Action: &azkeys.LifetimeActionType{Type: rotate},
				Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: ptr(after)}}}}
	}
	for _, bad := range []azkeys.KeyRotationPolicy{policy("P27D", "P30D"), policy("P90D", "P7D"), policy("P90D", "PT1H")} {
		_, err = c.UpdateKeyRotationPolicy(ctx, n, bad, nil)
		wantStatus(t, err, 400)
	}
	up, err := c.UpdateKeyRotationPolicy(ctx, n, policy("P90D", "P30D"), nil)
	must(t, err, "UpdateKeyRotationPolicy")
	check := func(what string, p azkeys.KeyRotationPolicy) {
		t.Helper()
		if p.Attributes == nil || p.Attributes.ExpiryTime == nil || *p.Attributes.ExpiryTime != "P90D" || len(p.LifetimeActions) != 1 ||
			*p.LifetimeActions[0].Trigger.TimeAfterCreate != "P30D" || *p.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionRotate {
			t.Errorf("%s: policy not as set: %+v", what, p)
		}
	}
	check("UpdateKeyRotationPolicy", up.KeyRotationPolicy)
	got, err := c.GetKeyRotationPolicy(ctx, n, nil)
	must(t, err, "GetKeyRotationPolicy")
	check("GetKeyRotationPolicy", got.KeyRotationPolicy)

	start := time.Now()
	r, err := c.RotateKey(ctx, n, nil)
	must(t, err, "RotateKey")
	v := checkKid(t, s, r.Key.KID, n)
	if v == k.Key.KID.Version() {
		t.Fatal("rotation kept the version")
	}
	if *r.Key.Kty != azkeys.KeyTypeECHSM || *r.Key.Crv != azkeys.CurveNameP384 {
		t.Errorf("rotated key is %s %v", *r.Key.Kty, r.Key.Crv)
	}
	if string(r.Key.X) == string(k.Key.X) {
		t.Error("rotated key has the same public key")
	}
	want := start.AddDate(0, 0, 90)
	if e := r.Attributes.Expires; e == nil || e.Sub(want).Abs() > time.Minute {
		t.Errorf("rotated expiry %v, want about %v", e, want)
	}
	if len(r.Tags) != 1 || *r.Tags["a"] != "b" || len(r.Key.KeyOps) != 2 {
		t.Errorf("rotation did not inherit tags/key_ops: %v %v", r.Tags, opsOf(r.Key.KeyOps))
	}
	latest, err := c.GetKey(ctx, n, "", nil)
	must(t, err, "GetKey")
	if *latest.Key.KID != *r.Key.KID {
		t.Errorf("latest %s, want rotated %s", *latest.Key.KID, *r.Key.KID)
	}
	// The old version still works.
	digest := digestOf(crypto.SHA384, "rotated")
	sig, err := c.Sign(ctx, n, k.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES384), Value: digest}, nil)
	must(t, err, "Sign with the old version")
	if !verifyEC(t, k.Key, digest, sig.Result) {
		t.Error("old version's signature does not verify")
	}
}
