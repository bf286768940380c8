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
// -v, or for a failing package; scripts/test.sh shows it from the file
// MHSM_WYCHEPROOF_REPORT names), and fails the run when
// MHSM_REQUIRE_WYCHEPROOF is set and Wycheproof tests ran no vector at all.
func TestMain(m *testing.M) {
	code := m.Run()
	if wpStarted.Load() {
		line := fmt.Sprintf("wycheproof: %d vectors run from %d files\n", wpVectors.Load(), wpFiles.Load())
		fmt.Print(line)
		if f := os.Getenv("MHSM_WYCHEPROOF_REPORT"); f != "" {
			_ = os.WriteFile(f, []byte(line), 0o644) // scripts/test.sh prints it after the run
		}
		if code == 0 && wpVectors.Load() == 0 && os.Getenv("MHSM_REQUIRE_WYCHEPROOF") != "" {
			fmt.Println("FAIL: MHSM_REQUIRE_WYCHEPROOF is set but no Wycheproof vector ran")
			code = 1
		}
	}
	os.Exit(code)
}
