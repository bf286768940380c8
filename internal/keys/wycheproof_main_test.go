package keys

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// Totals of the Wycheproof tests of this run (wycheproof_test.go).
var (
	wpStarted          atomic.Bool  // a Wycheproof test looked for the vectors
	wpVectors, wpFiles atomic.Int64 // vectors run, files finished
)

// TestMain prints how many Wycheproof vectors ran (go test shows it with
// -v, or for a failing package), and fails the run when
// MHSM_REQUIRE_WYCHEPROOF is set and Wycheproof tests ran no vector at all.
func TestMain(m *testing.M) {
	code := m.Run()
	if wpStarted.Load() {
		fmt.Printf("wycheproof: %d vectors run from %d files\n", wpVectors.Load(), wpFiles.Load())
		if code == 0 && wpVectors.Load() == 0 && os.Getenv("MHSM_REQUIRE_WYCHEPROOF") != "" {
			fmt.Println("FAIL: MHSM_REQUIRE_WYCHEPROOF is set but no Wycheproof vector ran")
			code = 1
		}
	}
	os.Exit(code)
}
