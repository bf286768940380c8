package e2e

import (
	"crypto"
	"crypto/rsa"
	"maps"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// versionsOf lists every version kid of key n.
func versionsOf(t testing.TB, c *azkeys.Client, n string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for p := c.NewListKeyPropertiesVersionsPager(n, nil); p.More(); {
		page, err := p.NextPage(ctxT(t))
		must(t, err, "list versions")
		for _, it := range page.Value {
			out[string(*it.KID)] = true
		}
	}
	return out
}

// TestRestart stops the server and starts it again on the same data dir
// and port: keys, versions and the dev principal's secret survive.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1, err := startServer(dir, "127.0.0.1:0")
	must(t, err, "start")
	t.Cleanup(s1.stop)
	c1 := s1.client(t)
	ctx := ctxT(t)

	ecName, rsaName := name("rs-ec"), name("rs-rsa")
	type signed struct {
		ver    string
		key    *azkeys.JSONWebKey
		digest []byte
		sig    []byte
	}
	var ecSigs []signed
	for range 3 {
		k := createKey(t, ctx, c1, ecName, ecParams(azkeys.CurveNameP256))
		d := digestOf(crypto.SHA256, "before restart "+k.Key.KID.Version())
		r, err := c1.Sign(ctx, ecName, k.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: d}, nil)
		must(t, err, "Sign")
		ecSigs = append(ecSigs, signed{k.Key.KID.Version(), k.Key, d, r.Result})
	}
	r1 := importKey(t, ctx, c1, rsaName, rsaJWK(localRSA(t, 0)))
	createKey(t, ctx, c1, rsaName, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM)})
	rsaDigest := digestOf(crypto.SHA256, "rsa before restart")
	rsaSig, err := c1.Sign(ctx, rsaName, r1.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmPS256), Value: rsaDigest}, nil)
	must(t, err, "Sign RSA")
	delName := name("rs-del")
	createKey(t, ctx, c1, delName, octParams(128))
	_, err = c1.DeleteKey(ctx, delName, nil)
	must(t, err, "DeleteKey")
	ecVersions, rsaVersions := versionsOf(t, c1, ecName), versionsOf(t, c1, rsaName)
	if len(ecVersions) != 3 || len(rsaVersions) != 2 {
		t.Fatalf("before restart: %d and %d versions", len(ecVersions), len(rsaVersions))
	}
	before := s1.dev

	s1.stop()
	// The port was just released; retry briefly in case a client socket
	// happens to hold it as its ephemeral port.
	var s2 *server
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if s2, err = startServer(dir, s1.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	must(t, err, "restart on "+s1.addr)
	t.Cleanup(s2.stop)
	if s2.addr != s1.addr {
		t.Fatalf("restarted on %s, want %s", s2.addr, s1.addr)
	}
	if s2.dev != before {
		t.Errorf("dev.json changed across restart:\n%+v\n%+v", before, s2.dev)
	}
	c2 := s2.client(t) // a new credential from the reread dev.json

	if got := versionsOf(t, c2, ecName); !maps.Equal(got, ecVersions) {
		t.Errorf("EC versions after restart %v, want %v", got, ecVersions)
	}
	if got := versionsOf(t, c2, rsaName); !maps.Equal(got, rsaVersions) {
		t.Errorf("RSA versions after restart %v, want %v", got, rsaVersions)
	}
	for _, sg := range ecSigs {
		g, err := c2.GetKey(ctx, ecName, sg.ver, nil)
		must(t, err, "GetKey after restart")
		if string(g.Key.X) != string(sg.key.X) || string(g.Key.Y) != string(sg.key.Y) {
			t.Errorf("version %s has another public key after restart", sg.ver)
		}
		if !serverVerify(t, c2, ecName, sg.ver, azkeys.SignatureAlgorithmES256, sg.digest, sg.sig) {
			t.Errorf("version %s: old signature does not verify after restart", sg.ver)
		}
		r, err := c2.Sign(ctx, ecName, sg.ver, azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: sg.digest}, nil)
		must(t, err, "Sign after restart")
		if !verifyEC(t, sg.key, sg.digest, r.Result) {
			t.Errorf("version %s signs with another key after restart", sg.ver)
		}
	}
	if !serverVerify(t, c2, rsaName, r1.Key.KID.Version(), azkeys.SignatureAlgorithmPS256, rsaDigest, rsaSig.Result) {
		t.Error("RSA signature does not verify after restart")
	}
	r, err := c2.Sign(ctx, rsaName, r1.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: rsaDigest}, nil)
	must(t, err, "Sign RSA after restart")
	if err := rsa.VerifyPKCS1v15(&localRSA(t, 0).PublicKey, crypto.SHA256, rsaDigest, r.Result); err != nil {
		t.Errorf("imported RSA key signs with another key after restart: %v", err)
	}
	// Soft-deleted keys stay soft-deleted.
	if _, err := c2.GetDeletedKey(ctx, delName, nil); err != nil {
		t.Errorf("deleted key lost across restart: %v", err)
	}
	_, err = c2.GetKey(ctx, delName, "", nil)
	wantStatus(t, err, 404)
}
