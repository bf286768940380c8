package token_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/token"
)

// benchTokens returns an issuer and n distinct tokens of one tenant, as the
// data plane receives them (app identity, 10 groups).
func benchTokens(b *testing.B, n int) (*token.Issuer, []string) {
	b.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	dk, err := barrier.NewDataKeyFromRaw(raw)
	if err != nil {
		b.Fatal(err)
	}
	iss := token.NewIssuer(store.NewMemory(), dk)
	tid := uuid.NewString()
	var groups []string
	for range 10 {
		groups = append(groups, uuid.NewString())
	}
	toks := make([]string, n)
	for i := range toks {
		oid := uuid.NewString()
		c := token.Claims{TenantID: tid, ObjectID: oid, IDType: token.IDTypeApp, AppID: uuid.NewString(), Groups: groups}
		c.Issuer, c.Subject, c.Audience = issuerOf(tid), oid, []string{aud}
		if toks[i], _, err = iss.Issue(context.Background(), c, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	return iss, toks
}

// newBenchVerifier is a verifier wired as the server wires it: the
// principal check consulted on a generation change.
func newBenchVerifier(iss *token.Issuer) *token.Verifier {
	v := token.NewVerifier(iss, issuerOf)
	v.SetPrincipalCheck(func() uint64 { return 1 }, func(context.Context, string, string) (bool, error) { return true, nil })
	return v
}

// BenchmarkVerify measures one bearer-token check: "cached" is every
// request after a token's first (a SHA-256 of the token and a map lookup),
// "uncached" a token's first use (strict JSON screen, RS256 verification,
// claim checks, cache insert), "cached-parallel" the cached path on every
// core (one mutex guards the cache).
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		iss, toks := benchTokens(b, 1)
		v := newBenchVerifier(iss)
		if _, err := v.Verify(ctx, toks[0], aud); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, toks[0], aud); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		iss, toks := benchTokens(b, 1)
		v := newBenchVerifier(iss)
		if _, err := v.Verify(ctx, toks[0], aud); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(ctx, toks[0], aud); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("uncached", func(b *testing.B) {
		// A fresh verifier every len(toks) checks makes every check a miss;
		// NewVerifier's cost is spread over 64 verifications.
		iss, toks := benchTokens(b, 64)
		var v *token.Verifier
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%len(toks) == 0 {
				v = newBenchVerifier(iss)
			}
			if _, err := v.Verify(ctx, toks[i%len(toks)], aud); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
