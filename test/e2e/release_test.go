package e2e

import (
	"encoding/json"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestReleasePolicy drives the release_policy round trip and the refusals
// of Release that need no attestation service (a full release needs an
// attestation token carrying x-ms-runtime keys, covered in internal/hsm).
func TestReleasePolicy(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	authority := "https://" + s.host("login") + "/" + s.dev.TenantID + "/v2.0"
	policy := func(tid string) *azkeys.KeyReleasePolicy {
		b, _ := json.Marshal(map[string]any{"version": "1.0.0", "anyOf": []any{map[string]any{
			"authority": authority, "allOf": []any{map[string]any{"claim": "tid", "equals": tid}}}}})
		return &azkeys.KeyReleasePolicy{EncodedPolicy: b, ContentType: ptr("application/json; charset=utf-8")}
	}
	exportable := func(n string, p *azkeys.KeyReleasePolicy) azkeys.CreateKeyResponse {
		return createKey(t, ctx, c, n, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveNameP256),
			KeyAttributes: &azkeys.KeyAttributes{Exportable: ptr(true)}, ReleasePolicy: p})
	}
	ok, deny := name("rel-ok"), name("rel-deny")
	k := exportable(ok, policy(s.dev.TenantID))
	exportable(deny, policy("00000000-0000-0000-0000-000000000000"))
	if k.Attributes.Exportable == nil || !*k.Attributes.Exportable || k.ReleasePolicy == nil {
		t.Fatalf("exportable key: exportable %v policy %v", k.Attributes.Exportable, k.ReleasePolicy)
	}
	g, err := c.GetKey(ctx, ok, "", nil)
	must(t, err, "GetKey")
	var got map[string]any
	if g.ReleasePolicy == nil || json.Unmarshal(g.ReleasePolicy.EncodedPolicy, &got) != nil || got["version"] != "1.0.0" {
		t.Errorf("release policy did not round-trip: %+v", g.ReleasePolicy)
	}

	plain := name("rel-plain")
	createKey(t, ctx, c, plain, ecParams(azkeys.CurveNameP256))
	tok := s.token(t, "https://"+s.host("managedhsm"))
	release := func(n, target string) error {
		_, err := c.Release(ctx, n, "", azkeys.ReleaseParameters{TargetAttestationToken: ptr(target)}, nil)
		return err
	}
	wantStatus(t, release(plain, tok), 400)        // not exportable
	wantStatus(t, release(ok, "not-a-token"), 400) // untrusted attestation
	wantStatus(t, release(deny, tok), 403)         // policy not satisfied
	wantStatus(t, release(ok, tok), 400)           // satisfied, but no runtime key to wrap to
	_, err = c.CreateKey(ctx, name("rel-nover"), azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM),
		KeyAttributes: &azkeys.KeyAttributes{Exportable: ptr(true)},
		ReleasePolicy: &azkeys.KeyReleasePolicy{EncodedPolicy: []byte(`{"anyOf":[{"authority":"x","allOf":[]}]}`)}}, nil)
	wantStatus(t, err, 400) // MHSM requires a policy version
}
