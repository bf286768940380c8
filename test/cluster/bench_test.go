package cluster

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkSign is RSA-2048 RS256 signing over HTTPS through 1 node, then
// spread over 2 nodes on the same etcd (the same process here: the CPU is
// shared, as two nodes on one machine would share it). A sign reads
// nothing from etcd once the key's records and material are cached, so
// the store is not on its path; docs/scale.md says where the time goes.
func BenchmarkSign(b *testing.B) {
	w := newWorld(b)
	name := "bench-" + uuid.NewString()[:8]
	w.mustCall(b, 0, "", "POST", "/keys/"+name+"/create?api-version=7.4", map[string]any{"kty": "RSA-HSM", "key_size": 2048}, http.StatusOK)
	body := signBody()
	body["alg"] = "RS256"
	for _, nodes := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1)) % nodes
					if st, out := w.call(i, "", "POST", "/keys/"+name+"/sign?api-version=7.4", body); st != http.StatusOK {
						b.Fatalf("sign through node %d: %d %s", i, st, out)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
		})
	}
}
