package keys_test

import (
	"encoding/json"
	"testing"

	"github.com/mhsm/mhsm/internal/keys"
)

// benchKeys are the key types whose JWK form is on a hot path: material is
// decoded from its stored private JWK on a cache miss, and every key GET
// encodes the public JWK.
var benchKeys = []struct {
	name string
	kty  string
	size int
	crv  string
}{
	{"RSA-2048", "RSA", 2048, ""},
	{"RSA-4096", "RSA", 4096, ""},
	{"EC-P256", "EC", 0, "P-256"},
	{"oct-256", "oct", 256, ""},
}

// BenchmarkJWK measures JWK encoding and decoding: "store-encode" and
// "store-decode" are Marshal and Unmarshal of the private JWK kept (sealed)
// in the store — decode includes the key checks FromJWK does (RSA
// precomputation, EC point on curve); "public-encode" and
// "public-decode" are the wire JSON of the public JWK a key GET returns and
// an import or client reads.
func BenchmarkJWK(b *testing.B) {
	for _, k := range benchKeys {
		m, err := keys.Generate(k.kty, k.size, k.crv)
		if err != nil {
			b.Fatal(err)
		}
		stored, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		pub := m.PublicJWK()
		pubJSON, err := json.Marshal(&pub)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.name+"/store-encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/store-decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m2, err := keys.Unmarshal(stored)
				if err != nil {
					b.Fatal(err)
				}
				m2.Zero()
			}
		})
		b.Run(k.name+"/public-encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				j := m.PublicJWK()
				if _, err := json.Marshal(&j); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/public-decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var j keys.JSONWebKey
				if err := json.Unmarshal(pubJSON, &j); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
