package hsm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// BenchmarkServiceOp measures the data-plane use cases below HTTP, on the
// bbolt store the server uses, with the key material and the decoded key
// and version records already cached (cache.go, recordcache.go): the
// difference from the raw crypto (docs/performance.md) is what the service
// adds per request — the two cache lookups, the per-request checks and the
// result. Before the record cache (issue #9) every request also opened a
// store read transaction and JSON-decoded both records.
func BenchmarkServiceOp(b *testing.B) {
	ctx := context.Background()
	ring, err := barrier.NewKeyring(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := hsm.NewService(ctx, st, ring, hsm.Options{BaseURL: func(n string) string { return "https://" + n }})
	if err != nil {
		b.Fatal(err)
	}
	h, err := s.Create(ctx, hsm.CreateParams{Name: "bench", TenantID: "t", Admins: []string{"11111111-1111-1111-1111-111111111111"}, Activated: true})
	if err != nil {
		b.Fatal(err)
	}
	size := func(n int) *int { return &n }
	create := func(name string, p wire.KeyCreateParameters) {
		if _, err := s.CreateKey(ctx, h, name, &p); err != nil {
			b.Fatal(err)
		}
	}
	create("rsa", wire.KeyCreateParameters{Kty: "RSA-HSM", KeySize: size(2048)})
	create("ec", wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"})
	create("aes", wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: size(256)})
	digest := sha256.Sum256([]byte("bench"))
	cases := []struct {
		name string
		op   func() error
	}{
		{"key-get/rsa2048", func() error { _, err := s.GetKey(ctx, h, "rsa", ""); return err }},
		{"key-get/ec-p256", func() error { _, err := s.GetKey(ctx, h, "ec", ""); return err }},
		{"sign/rsa2048-RS256", func() error {
			_, err := s.Sign(ctx, h, "rsa", "", &wire.KeySignParameters{Alg: "RS256", Value: digest[:]})
			return err
		}},
		{"sign/ec-ES256", func() error {
			_, err := s.Sign(ctx, h, "ec", "", &wire.KeySignParameters{Alg: "ES256", Value: digest[:]})
			return err
		}},
		{"wrap/aes-A256KW", func() error {
			_, err := s.WrapKey(ctx, h, "aes", "", &wire.KeyOperationsParameters{Alg: "A256KW", Value: digest[:]})
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if err := c.op(); err != nil { // loads the material into the cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
