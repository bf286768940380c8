package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// Sizes of the round trip (the numbers). Keys are mostly EC P-256
// and AES (cheap to generate under -race); every 100th is RSA-2048.
const (
	rtKeys        = 1000
	rtDeleted     = 50
	rtAssignments = 100
)

// populateLarge fills HSM name below the API: rtKeys keys with 1 to 3
// versions (tags, a rotation policy on every tenth), rtDeleted soft-deleted
// keys and rtAssignments role assignments, plus a setting.
func populateLarge(t *testing.T, s *testserver.Server, name, oid string) {
	t.Helper()
	ctx := context.Background()
	svc := s.App.HSMs()
	h, _ := svc.Get(name)
	size := func(n int) *int { return &n }
	for i := range rtKeys {
		p := &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256", Tags: map[string]string{"n": fmt.Sprint(i)}}
		switch {
		case i%100 == 7:
			p = &wire.KeyCreateParameters{Kty: "RSA-HSM", KeySize: size(2048)}
		case i%2 == 1:
			p = &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: size(256)}
		}
		kn := fmt.Sprintf("k%04d", i)
		for range 1 + i%3 {
			if _, err := svc.CreateKey(ctx, h, kn, p); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 == 0 {
			if _, err := svc.SetRotationPolicy(ctx, h, kn, &wire.KeyRotationPolicy{
				LifetimeActions: []wire.LifetimeAction{{Trigger: wire.LifetimeTrigger{TimeAfterCreate: "P90D"}, Action: wire.LifetimeType{Type: "Rotate"}}},
				Attributes:      &wire.RotationPolicyAttributes{ExpiryTime: "P1Y"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range rtDeleted {
		kn := fmt.Sprintf("deleted%03d", i)
		if _, err := svc.CreateKey(ctx, h, kn, &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DeleteKey(ctx, h, kn); err != nil {
			t.Fatal(err)
		}
	}
	for i := range rtAssignments {
		grant(t, s, name, rbac.RoleCryptoUser, fmt.Sprintf("/keys/k%04d", i), oid)
	}
	if _, err := svc.PutRoleDefinition(ctx, h, rbac.RoleDefinition{ID: "6f1b3c9e-8d1a-4b7e-9b52-2c1f0e3d4a5b", RoleName: "Signer only",
		Type: "CustomRole", AssignableScopes: []string{"/"},
		Permissions: []rbac.Permission{{DataActions: []string{string(rbac.KeysSign), string(rbac.KeysRead)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateSetting(ctx, h, "AllowKeyManagementOperationsThroughARM", "true"); err != nil {
		t.Fatal(err)
	}
}

// makeContainer creates a container in Azurite, as a customer does before
// handing out a SAS for it.
func makeContainer(t *testing.T, acct, cont string) {
	t.Helper()
	cred, _ := container.NewSharedKeyCredential("devstoreaccount1", azuriteKey)
	c, err := container.NewClientWithSharedKeyCredential(acct+"/"+cont, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// containerSAS is a container SAS for Azurite's account (read, add,
// create, write, list), as a customer would hand to az.
func containerSAS(t *testing.T, cont string) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential("devstoreaccount1", azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, List: true}
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(24 * time.Hour),
		Permissions: perms.String(), ContainerName: cont}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

// copyBlobs copies backup folder src to dst in Azurite, letting damage
// change each blob (name relative to the folder) on the way.
func copyBlobs(t *testing.T, acct, cont, src, dst string, damage func(name string, b []byte) []byte) {
	t.Helper()
	ctx := context.Background()
	cred, _ := container.NewSharedKeyCredential("devstoreaccount1", azuriteKey)
	c, err := container.NewClientWithSharedKeyCredential(acct+"/"+cont, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &[]string{src + "/"}[0]})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			resp, err := c.NewBlobClient(*it.Name).DownloadStream(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			rel := strings.TrimPrefix(*it.Name, src+"/")
			b := damage(rel, raw)
			if b == nil {
				continue
			}
			if _, err := c.NewBlockBlobClient(dst+"/"+rel).UploadBuffer(ctx, b, nil); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no blobs copied from %s", src)
	}
}

type signed struct {
	key, alg string
	digest   []byte
	sig      []byte
}

// TestRoundTripAzurite: 1,000 keys with versions, 50 soft-deleted keys
// and 100 role assignments backed up to Azurite with a SAS; the HSM
// recovered from its security domain on another, empty server; restored
// there with the server's own credential (useManagedIdentity); the
// canonical dumps before and after are identical and signatures made
// before verify after. Then a selective restore, and damaged and foreign
// backups refused with the HSM unchanged.
func TestRoundTripAzurite(t *testing.T) {
	acct := azurite(t)
	a := startWithAccount(t, acct)
	tokA, err := a.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	ca := &client{t: t, s: a, tok: tokA}
	officers, sdFile := activate(t, ca, "orig")
	oidA := tokenOID(t, tokA)
	grant(t, a, "orig", rbac.RoleCryptoUser, "/", oidA)
	start := time.Now()
	populateLarge(t, a, "orig", oidA)
	t.Logf("populated %d keys in %s", rtKeys+rtDeleted, time.Since(start).Round(time.Millisecond))
	origA := a.HSMURL("orig")

	// Signatures made before the backup.
	var sigs []signed
	for _, k := range []struct{ key, alg string }{{"k0000", "ES256"}, {"k0007", "RS256"}, {"k0002", "ES256"}, {"k0107", "RS256"}} {
		d := sha256.Sum256([]byte("before the backup " + k.key))
		var res wire.KeyOperationResult
		ca.must(200, "POST", origA+"/keys/"+k.key+"/sign", map[string]string{"alg": k.alg, "value": base64.RawURLEncoding.EncodeToString(d[:])}, &res)
		sigs = append(sigs, signed{k.key, k.alg, d[:], res.Value})
	}

	cont := fmt.Sprintf("bk%d", time.Now().UnixNano())
	uri := "https://bkacct.blob.core.windows.net/" + cont
	makeContainer(t, acct, cont)
	start = time.Now()
	st := ca.job(origA, "POST", "/backup", sasParams(uri, containerSAS(t, cont)))
	t.Logf("backup: %s in %s", deref(st.StatusDetails), time.Since(start).Round(time.Millisecond))
	if st.Status != wire.JobSucceeded || st.Error != nil || st.EndTime == nil || st.AzureStorageBlobContainerURI == nil {
		t.Fatalf("backup ended %+v %+v", st, st.Error)
	}
	folder := st.FolderName
	if !regexp.MustCompile(`^mhsm-orig-[0-9]{16}$`).MatchString(folder) || *st.AzureStorageBlobContainerURI != uri+"/"+folder {
		t.Fatalf("folder %q, azureStorageBlobContainerUri %q", folder, *st.AzureStorageBlobContainerURI)
	}
	// Polled again long after: still there.
	var again wire.BackupOperation
	ca.must(200, "GET", origA+"/backup/"+st.JobID+"/pending", nil, &again)
	if again.Status != wire.JobSucceeded || again.JobID != st.JobID {
		t.Fatalf("second poll %+v", again)
	}
	before := dump(t, a, "orig")

	// The disaster: an empty server, the HSM recovered from its security domain.
	b := startWithAccount(t, acct)
	tokB, err := b.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	cb := &client{t: t, s: b, tok: tokB}
	recoverHSM(t, cb, "orig", officers, sdFile)
	origB := b.HSMURL("orig")
	if d := dumpDiff(before, dump(t, b, "orig")); d == "" {
		t.Fatal("the recovered HSM equals the original before any restore")
	}
	// Full restore with the server's own credential for the account. The
	// restore replaces the role assignments with the original's (server
	// A's principals), so this server's caller loses access when it
	// commits, as on Azure: the end is read below the API.
	start = time.Now()
	var op wire.BackupOperation
	cb.must(202, "PUT", origB+"/restore", map[string]any{"sasTokenParameters": map[string]any{"storageResourceUri": uri, "useManagedIdentity": true},
		"folderToRestore": folder}, &op)
	final := waitJob(t, b, "orig", op.JobID)
	t.Logf("restore: %s in %s", deref(final.StatusDetails), time.Since(start).Round(time.Millisecond))
	if final.Status != wire.JobSucceeded {
		t.Fatalf("restore ended %+v %+v", final, final.Error)
	}
	after := dump(t, b, "orig")
	if d := dumpDiff(before, after); d != "" {
		t.Fatalf("canonical dump after restore differs from before:\n%s", d)
	}
	if len(after) < rtKeys+rtDeleted+rtAssignments {
		t.Fatalf("dump holds only %d records", len(after))
	}

	// This server's caller may act again; signatures made before verify.
	oidB := tokenOID(t, tokB)
	grant(t, b, "orig", rbac.RoleCryptoUser, "/", oidB)
	grant(t, b, "orig", rbac.RoleAdministrator, "/", oidB)
	grant(t, b, "orig", rbac.RoleCryptoOfficer, "/", oidB)
	for _, s := range sigs {
		var v wire.KeyVerifyResult
		cb.must(200, "POST", origB+"/keys/"+s.key+"/verify", map[string]string{"alg": s.alg,
			"digest": base64.RawURLEncoding.EncodeToString(s.digest), "value": base64.RawURLEncoding.EncodeToString(s.sig)}, &v)
		if !v.Value {
			t.Fatalf("signature by %s made before the backup does not verify after the restore", s.key)
		}
	}
	var dk wire.DeletedKeyBundle
	cb.must(200, "GET", origB+"/deletedkeys/deleted007", nil, &dk)

	// Selective restore: one purged key comes back with all its versions.
	svcB := b.App.HSMs()
	hb, _ := svcB.Get("orig")
	ctx := context.Background()
	baseline := dump(t, b, "orig")
	if _, err := svcB.DeleteKey(ctx, hb, "k0005"); err != nil {
		t.Fatal(err)
	}
	if err := svcB.PurgeKey(ctx, hb, "k0005"); err != nil {
		t.Fatal(err)
	}
	sas := containerSAS(t, cont)
	sel := cb.job(origB, "PUT", "/keys/k0005/restore", map[string]any{"sasTokenParameters": sasParams(uri, sas), "folder": folder})
	if sel.Status != wire.JobSucceeded || deref(sel.StatusDetails) != "Number of successful key versions restored: 3, Number of key versions could not overwrite: 0" {
		t.Fatalf("selective restore %+v %s", sel, deref(sel.StatusDetails))
	}
	if d := dumpDiff(baseline, dump(t, b, "orig")); d != "" {
		t.Fatalf("after the selective restore the HSM differs:\n%s", d)
	}

	// Refused: damaged copies and another domain's backup; the HSM is unchanged.
	foreign := cb.job(b.HSMURL("dev"), "POST", "/backup", sasParams(uri, sas))
	if foreign.Status != wire.JobSucceeded {
		t.Fatalf("backup of the dev HSM %+v", foreign)
	}
	copyBlobs(t, acct, cont, folder, folder+"-flip", func(name string, b []byte) []byte {
		if name == "part-000000" {
			b[len(b)/2] ^= 0x10
		}
		return b
	})
	copyBlobs(t, acct, cont, folder, folder+"-trunc", func(name string, b []byte) []byte {
		if name == "part-000001" {
			return b[:len(b)-100]
		}
		return b
	})
	copyBlobs(t, acct, cont, folder, folder+"-partmissing", func(name string, b []byte) []byte {
		if name == "part-000000" || name == "manifest.json" {
			return b
		}
		return nil // only the first part survives
	})
	for _, f := range []string{foreign.FolderName, folder + "-flip", folder + "-trunc", folder + "-partmissing"} {
		before := dump(t, b, "orig")
		for _, path := range []string{"/restore", "/keys/k0005/restore"} {
			body := map[string]any{"sasTokenParameters": sasParams(uri, sas), "folderToRestore": f, "folder": f}
			if path == "/restore" {
				delete(body, "folder")
			} else {
				delete(body, "folderToRestore")
			}
			r := cb.job(origB, "PUT", path, body)
			if r.Status != wire.JobFailed || r.Error == nil || r.Error.Code != "InvalidBackup" {
				t.Fatalf("%s from %s: %+v %+v", path, f, r, r.Error)
			}
			t.Logf("%s from %s refused: %s", path, f, r.Error.Message)
		}
		if d := dumpDiff(before, dump(t, b, "orig")); d != "" {
			t.Fatalf("a refused restore of %s changed the HSM:\n%s", f, d)
		}
	}
}

// waitJob polls a job below the API (for a caller the job itself may
// lock out).
func waitJob(t *testing.T, s *testserver.Server, name, id string) *wire.BackupOperation {
	t.Helper()
	h, _ := s.App.HSMs().Get(name)
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st, err := s.App.HSMs().JobStatus(context.Background(), h, "restore", id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != wire.JobInProgress {
			return st
		}
	}
	t.Fatalf("job %s did not finish", id)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
