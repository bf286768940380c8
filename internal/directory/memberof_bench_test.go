package directory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/store"
)

// memberWorld is a tenant with 10,000 group memberships: 1,000 service
// principals and 500 groups, each principal in about 9 groups and one
// group in five nested in another, so transitive resolution has depth.
// The caller is a principal directly in `direct` groups.
func memberWorld(b *testing.B, direct int) (store.Backend, string, string) {
	b.Helper()
	ctx := context.Background()
	st := store.NewMemory()
	d := directory.New(st)
	tn, err := d.CreateTenant(ctx, "Bench", "bench.test")
	if err != nil {
		b.Fatal(err)
	}
	groups := make([]string, 500)
	for i := range groups {
		g, err := d.CreateGroup(ctx, tn.ID, directory.NewGroup{DisplayName: fmt.Sprint("g", i)})
		if err != nil {
			b.Fatal(err)
		}
		groups[i] = g.ID
	}
	sps := make([]string, 1000)
	for i := range sps {
		sp, err := d.CreateServicePrincipal(ctx, tn.ID, fmt.Sprint("sp", i))
		if err != nil {
			b.Fatal(err)
		}
		sps[i] = sp.ObjectID
	}
	rng := rand.New(rand.NewPCG(7, 8))
	n := 0
	add := func(g, m string) {
		if err := d.AddMember(ctx, tn.ID, g, m); err == nil {
			n++
		}
	}
	for i := 0; i+1 < len(groups); i += 5 { // nesting: g[i] ∈ g[i+1]
		add(groups[i+1], groups[i])
	}
	caller := sps[0]
	for i := 0; i < direct; i++ {
		add(groups[i*(len(groups)/direct)], caller)
	}
	for n < 10000 {
		add(groups[rng.IntN(len(groups))], sps[1+rng.IntN(len(sps)-1)])
	}
	return st, tn.ID, caller
}

// BenchmarkTransitiveMemberOf measures the group resolution the data plane
// does for every request (httpapi authenticate) in a tenant of 10,000
// memberships: "cached" is every request while the directory is unchanged,
// "uncached" the first request of a principal after any directory change
// (a store read per group level, breadth first).
func BenchmarkTransitiveMemberOf(b *testing.B) {
	ctx := context.Background()
	for _, direct := range []int{10, 100} {
		st, tid, caller := memberWorld(b, direct)
		d := directory.New(st)
		groups, err := d.TransitiveMemberOf(ctx, tid, caller)
		if err != nil || len(groups) < direct {
			b.Fatalf("%d groups, %v", len(groups), err)
		}
		b.Run(fmt.Sprintf("direct=%d/cached", direct), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.TransitiveMemberOf(ctx, tid, caller); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("direct=%d/uncached", direct), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := directory.New(st).TransitiveMemberOf(ctx, tid, caller); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(groups)), "groups")
		})
	}
}
