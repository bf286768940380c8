package securitydomain

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

// subsets returns up to limit k-subsets of 0..n-1: all of them when there
// are at most limit, else limit random ones (always including the first
// and last in lexicographic order).
func subsets(r *mrand.Rand, n, k, limit int) [][]int {
	var all [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			all = append(all, append([]int(nil), cur...))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
	if len(all) <= limit {
		return all
	}
	out := [][]int{all[0], all[len(all)-1]}
	for len(out) < limit {
		out = append(out, all[r.IntN(len(all))])
	}
	return out
}

func pick(shares []Share, idx []int) []Share {
	out := make([]Share, len(idx))
	for i, j := range idx {
		out[i] = shares[j]
	}
	return out
}

func cloneShare(s Share) Share {
	return Share{X: s.X, Values: append([]uint16(nil), s.Values...)}
}

// TestQuorum is the quorum property for every N in 3..10 and M in 2..N:
// every sampled M-subset rebuilds the secret, every sampled (M-1)-subset is
// refused, a duplicated share counts once, and a share from another split
// or an altered share is either refused (when a further share exposes the
// inconsistency) or rebuilds something that is not the secret.
func TestQuorum(t *testing.T) {
	t.Parallel()
	for n := 3; n <= 10; n++ {
		for m := 2; m <= n; m++ {
			t.Run(fmt.Sprintf("N%d_M%d", n, m), func(t *testing.T) {
				t.Parallel()
				r := mrand.New(mrand.NewPCG(uint64(n), uint64(m)))
				secret := make([]byte, 32)
				_, _ = rand.Read(secret)
				shares, err := Split(secret, n, m)
				if err != nil {
					t.Fatal(err)
				}
				other, err := Split(bytes.Repeat([]byte{7}, 32), n, m)
				if err != nil {
					t.Fatal(err)
				}
				for _, idx := range subsets(r, n, m, 24) {
					got, err := Combine(pick(shares, idx), m)
					if err != nil || !bytes.Equal(got, secret) {
						t.Fatalf("subset %v: got %x, %v; want the secret", idx, got, err)
					}
					// Foreign share in place of one of the quorum: no error
					// is possible with exactly M shares, but the result is
					// not the secret (the domain's MAC then rejects it).
					mixed := pick(shares, idx)
					mixed[0] = other[idx[0]]
					if got, err := Combine(mixed, m); err == nil && bytes.Equal(got, secret) {
						t.Fatalf("subset %v with a foreign share rebuilt the secret", idx)
					}
					// Altered share: same.
					alt := pick(shares, idx)
					alt[0] = cloneShare(alt[0])
					j := r.IntN(32)
					alt[0].Values[j] = (alt[0].Values[j] + 1) % prime
					if got, err := Combine(alt, m); err == nil && bytes.Equal(got, secret) {
						t.Fatalf("subset %v with an altered share rebuilt the secret", idx)
					}
					if m < n {
						// One more share than the quorum exposes both.
						rest := -1
						for x := range n {
							if !contains(idx, x) {
								rest = x
								break
							}
						}
						if _, err := Combine(append(mixed, shares[rest]), m); !errors.Is(err, ErrInconsistentShares) {
							t.Fatalf("subset %v + foreign: err = %v, want ErrInconsistentShares", idx, err)
						}
						if _, err := Combine(append(alt, shares[rest]), m); !errors.Is(err, ErrInconsistentShares) {
							t.Fatalf("subset %v + altered: err = %v, want ErrInconsistentShares", idx, err)
						}
						got, err := Combine(append(pick(shares, idx), shares[rest]), m)
						if err != nil || !bytes.Equal(got, secret) {
							t.Fatalf("subset %v + a valid extra share: %v", idx, err)
						}
					}
				}
				for _, idx := range subsets(r, n, m-1, 24) {
					few := pick(shares, idx)
					if _, err := Combine(few, m); !errors.Is(err, ErrTooFewShares) {
						t.Fatalf("M-1 subset %v: err = %v, want ErrTooFewShares", idx, err)
					}
					// A duplicated share counts once.
					dup := append(pick(shares, idx), cloneShare(shares[idx[0]]))
					if _, err := Combine(dup, m); !errors.Is(err, ErrTooFewShares) {
						t.Fatalf("M-1 subset %v + duplicate: err = %v, want ErrTooFewShares", idx, err)
					}
					// Claiming a smaller quorum does not reveal the secret.
					if m-1 >= 2 {
						if got, err := Combine(few, m-1); err == nil && bytes.Equal(got, secret) {
							t.Fatalf("M-1 subset %v rebuilt the secret as a quorum of %d", idx, m-1)
						}
					}
				}
			})
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCombineRejectsConflictingDuplicates(t *testing.T) {
	t.Parallel()
	shares, _ := Split([]byte("0123456789abcdef0123456789abcdef"), 3, 2)
	alt := cloneShare(shares[0])
	alt.Values[0] ^= 1
	if _, err := Combine([]Share{shares[0], alt, shares[1]}, 2); !errors.Is(err, ErrInconsistentShares) {
		t.Fatalf("err = %v", err)
	}
	short := Share{X: 3, Values: shares[2].Values[:5]}
	if _, err := Combine([]Share{shares[0], short}, 2); !errors.Is(err, ErrInconsistentShares) {
		t.Fatalf("length mismatch: err = %v", err)
	}
	if _, err := Combine([]Share{shares[0], {X: 0, Values: shares[1].Values}}, 2); !errors.Is(err, ErrMalformedShare) {
		t.Fatalf("x=0: err = %v", err)
	}
}

func TestSplitLimits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, m int }{{3, 1}, {3, 4}, {127, 2}} {
		if _, err := Split([]byte{1}, c.n, c.m); err == nil {
			t.Errorf("Split(n=%d, m=%d) succeeded", c.n, c.m)
		}
	}
	if _, err := Split(nil, 3, 2); err == nil {
		t.Error("empty secret accepted")
	}
}

// TestShareEncoding pins the packing the file format and the Azure CLI
// use: little-endian uint16 (x<<9)|v.
func TestShareEncoding(t *testing.T) {
	t.Parallel()
	s := Share{X: 3, Values: []uint16{256, 5, 0}}
	got := MarshalShare(s)
	want := []byte{0x00, 0x07, 0x05, 0x06, 0x00, 0x06}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalShare = % x, want % x", got, want)
	}
	back, err := ParseShare(got)
	if err != nil || back.X != 3 || fmt.Sprint(back.Values) != fmt.Sprint(s.Values) {
		t.Fatalf("ParseShare = %+v, %v", back, err)
	}
	for _, bad := range [][]byte{nil, {1}, {0x00, 0x00}, {0x01, 0x07, 0x00, 0x09}, {0xff, 0x07}} {
		if _, err := ParseShare(bad); !errors.Is(err, ErrMalformedShare) {
			t.Errorf("ParseShare(% x) err = %v", bad, err)
		}
	}
}
