package audit

import (
	"bytes"
	"testing"
)

// FuzzVerify feeds the verifier arbitrary logs. It must never panic, and
// with the chain's key pinned it may accept only the valid log itself or a
// prefix of it that ends with a checkpoint (the one loss no self-contained
// log can show): any other change is detected.
func FuzzVerify(f *testing.F) {
	valid := validLog(f, 12)
	pub := testPub(f, "dev")
	lines := splitLines(valid)
	accepted := map[string]bool{}
	for i, l := range lines {
		if h, err := parseHead(l); err == nil && h.Category == CategoryCheckpoint {
			accepted[string(joinLines(lines[:i+1]))] = true
		}
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(bytes.Replace(valid, []byte("KeySign"), []byte("KeyWrap"), 1))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := verifyBytes(data, pub)
		if r.OK() && !accepted[string(data)] {
			t.Fatalf("accepted a log that is not the valid one or a checkpointed prefix of it:\n%q\n%+v", data, r)
		}
		// Unpinned verification must not panic either.
		_ = verifyBytes(data, nil)
	})
}
