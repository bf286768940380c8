package securitydomain

import (
	"math/rand/v2"
	"testing"
)

// TestFieldArithmetic checks the branch-free GF(257) operations against
// plain modular arithmetic for every pair of field elements.
func TestFieldArithmetic(t *testing.T) {
	t.Parallel()
	for a := uint32(0); a < prime; a++ {
		for b := uint32(0); b < prime; b++ {
			if got, want := gfAdd(a, b), (a+b)%prime; got != want {
				t.Fatalf("gfAdd(%d,%d) = %d, want %d", a, b, got, want)
			}
			if got, want := gfSub(a, b), (a+prime-b)%prime; got != want {
				t.Fatalf("gfSub(%d,%d) = %d, want %d", a, b, got, want)
			}
			if got, want := gfMul(a, b), (a*b)%prime; got != want {
				t.Fatalf("gfMul(%d,%d) = %d, want %d", a, b, got, want)
			}
		}
		inv := gfInv(a)
		if a == 0 && inv != 0 || a != 0 && gfMul(a, inv) != 1 {
			t.Fatalf("gfInv(%d) = %d", a, inv)
		}
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	edge := []uint32{0, 1, 255, 256, 257, 65535, 65536, 1<<24 - 1, 1 << 24, 0xff00ff00, 0x00ff00ff, 0xffffffff}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		edge = append(edge, r.Uint32())
	}
	for _, x := range edge {
		if got, want := gfFold(x), x%prime; got != want {
			t.Fatalf("gfFold(%#x) = %d, want %d", x, got, want)
		}
	}
}

// TestRandomCoversField is a sanity check that random coefficients take
// every value 0..256 (256 included: a byte-sized draw never would).
func TestRandomCoversField(t *testing.T) {
	t.Parallel()
	seen := make([]bool, prime)
	buf := make([]uint32, 50000)
	gfRandom(buf)
	for _, v := range buf {
		if v >= prime {
			t.Fatalf("gfRandom gave %d", v)
		}
		seen[v] = true
	}
	for v, ok := range seen {
		if !ok {
			t.Errorf("value %d never drawn in %d draws", v, len(buf))
		}
	}
}
