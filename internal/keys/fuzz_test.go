package keys

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzFromJWK imports arbitrary JWK JSON. An error means no material and
// wraps ErrInvalidKeyParams; success means the private JWK exported again
// imports to the same key (same type, size, curve and members), and so
// does the stored form (Marshal, Unmarshal). Seeds (testdata/fuzz) hold a
// valid key of every type, size class and curve.
func FuzzFromJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"oct","k":"AAECAwQFBgcICQoLDA0ODw"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AQ"}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQ","p":"Aw","q":"BQ"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var j JSONWebKey
		if json.Unmarshal(data, &j) != nil {
			return
		}
		m, err := FromJWK(&j)
		if err != nil {
			if m != nil {
				t.Fatalf("FromJWK returned material with error %v", err)
			}
			if !errors.Is(err, ErrInvalidKeyParams) {
				t.Fatalf("error %v does not wrap ErrInvalidKeyParams", err)
			}
			return
		}
		pj := m.PrivateJWK()
		m2, err := FromJWK(&pj)
		if err != nil {
			t.Fatalf("exported private JWK does not import: %v", err)
		}
		if m2.Kty() != m.Kty() || m2.Size() != m.Size() || m2.Curve() != m.Curve() || !jwkEqual(m2.PrivateJWK(), pj) {
			t.Fatalf("round trip changed the key: %v -> %v", m, m2)
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m3, err := Unmarshal(b)
		if err != nil || !jwkEqual(m3.PrivateJWK(), pj) {
			t.Fatalf("stored form does not round-trip: %v", err)
		}
		if pub := m.PublicJWK(); pub.HasPrivate() {
			t.Fatal("public JWK carries private members")
		}
	})
}
