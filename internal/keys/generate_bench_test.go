package keys

import (
	"crypto/fips140"
	"testing"
)

// BenchmarkGenerate measures key generation per type. scripts/reliability.sh
// runs it with and without GODEBUG=fips140=on to show what FIPS mode costs
// (the module's pairwise consistency test on every new key pair).
func BenchmarkGenerate(b *testing.B) {
	b.Logf("fips140 enabled: %v", fips140.Enabled())
	for _, c := range []struct {
		name, kty string
		size      int
		crv       string
	}{
		{"EC-P256", "EC", 0, "P-256"}, {"EC-P384", "EC", 0, "P-384"}, {"EC-P521", "EC", 0, "P-521"},
		{"RSA-2048", "RSA", 2048, ""}, {"oct-256", "oct", 256, ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				m, err := Generate(c.kty, c.size, c.crv)
				if err != nil {
					b.Fatal(err)
				}
				m.Zero()
			}
		})
	}
}
