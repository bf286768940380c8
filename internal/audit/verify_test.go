package audit

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validLog builds a chain of n records with a checkpoint every 5 records
// and at the end, with a fixed clock: the same bytes on every call.
func validLog(t testing.TB, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	clock := func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }
	l := openTest(t, dir, func(o *Options) { o.CheckpointRecords, o.Now = 5, clock })
	record(t, l, "dev", 0, n)
	l.Close()
	return readChain(t, filepath.Join(dir, "dev"))
}

func splitLines(b []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func joinLines(ls [][]byte) []byte {
	return append(bytes.Join(ls, []byte("\n")), '\n')
}

func TestVerifyValid(t *testing.T) {
	log := validLog(t, 12)
	r := verifyBytes(log, testPub(t, "dev"))
	if !r.OK() || r.Records != 12 || r.Checkpoints != 3 || r.VerifiedThrough != r.LastSeq || !r.Pinned {
		t.Fatalf("%+v", r)
	}
	// Unpinned: the log's own key, reported as such.
	if r := verifyBytes(log, nil); !r.OK() || r.Pinned {
		t.Fatalf("unpinned: %+v", r)
	}
}

// TestTamperDetected applies each kind of tampering to a valid log and
// expects the verifier to reject it.
func TestTamperDetected(t *testing.T) {
	log := validLog(t, 12)
	lines := splitLines(log)
	pub := testPub(t, "dev")
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	mod := func(f func(ls [][]byte) [][]byte) []byte {
		ls := make([][]byte, len(lines))
		for i := range lines {
			ls[i] = append([]byte(nil), lines[i]...)
		}
		return joinLines(f(ls))
	}
	cases := []struct {
		name string
		log  []byte
		pub  ed25519.PublicKey
		kind string
	}{
		{"modified byte in a record", mod(func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"httpStatusCode":200`), []byte(`"httpStatusCode":201`), 1)
			return ls
		}), pub, "chain"},
		{"modified caller", mod(func(ls [][]byte) [][]byte {
			ls[0] = bytes.Replace(ls[0], []byte("1111-4111"), []byte("1111-4112"), 1)
			return ls
		}), pub, "chain"},
		{"deleted record", mod(func(ls [][]byte) [][]byte { return append(ls[:3], ls[4:]...) }), pub, "sequence"},
		{"deleted first record", mod(func(ls [][]byte) [][]byte { return ls[1:] }), pub, "head"},
		{"deleted checkpoint", mod(func(ls [][]byte) [][]byte { return append(ls[:5], ls[6:]...) }), pub, "sequence"},
		{"inserted record", mod(func(ls [][]byte) [][]byte {
			return append(ls[:3], append([][]byte{ls[2]}, ls[3:]...)...)
		}), pub, "sequence"},
		{"reordered records", mod(func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }), pub, "sequence"},
		{"truncated tail", mod(func(ls [][]byte) [][]byte { return ls[:len(ls)-2] }), pub, "tail"},
		{"last checkpoint removed", mod(func(ls [][]byte) [][]byte { return ls[:len(ls)-1] }), pub, "tail"},
		{"half a line at the end", append(log, `{"time":"20`...), pub, "partial"},
		{"empty line", mod(func(ls [][]byte) [][]byte { return append(ls[:4], append([][]byte{{}}, ls[4:]...)...) }), pub, "malformed"},
		{"checkpoint re-signed with another key", mod(func(ls [][]byte) [][]byte {
			h, _ := parseHead(ls[len(ls)-1])
			var prev digest
			copy(prev[:], mustHex(h.PrevHash))
			ls[len(ls)-1] = encodeCheckpoint("dev", *h.Seq, prev, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), other)
			return ls
		}), pub, "key"},
		{"whole log re-signed with another key (pinned)", resign(t, lines, other), pub, "key"},
		{"final checkpoint not canonical", mod(func(ls [][]byte) [][]byte {
			ls[len(ls)-1] = bytes.Replace(ls[len(ls)-1], []byte(`,"alg"`), []byte(` ,"alg"`), 1)
			return ls
		}), pub, "checkpoint"},
		{"checkpoint signature altered", mod(func(ls [][]byte) [][]byte {
			l := ls[len(ls)-1]
			i := bytes.Index(l, []byte(`"sig":"`)) + 8
			if l[i] == 'A' {
				l[i] = 'B'
			} else {
				l[i] = 'A'
			}
			return ls
		}), pub, "signature"},
		{"checkpoint time altered", mod(func(ls [][]byte) [][]byte {
			ls[5] = bytes.Replace(ls[5], []byte(`"time":"2026`), []byte(`"time":"2027`), 1)
			return ls
		}), pub, "signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := verifyBytes(c.log, c.pub)
			if r.OK() {
				t.Fatalf("not detected: %+v", r)
			}
			if c.kind == "tail" {
				if r.UnverifiedTail == 0 {
					t.Fatalf("tail not reported: %+v", r)
				}
				return
			}
			found := false
			for _, p := range r.Problems {
				found = found || p.Kind == c.kind
			}
			if !found {
				t.Fatalf("no %q problem in %v", c.kind, r.Problems)
			}
		})
	}
}

// resign rebuilds every checkpoint with key: a consistent forgery that only
// a pinned key catches.
func resign(t testing.TB, lines [][]byte, key ed25519.PrivateKey) []byte {
	var out [][]byte
	prev := genesis
	for _, l := range lines {
		h, err := parseHead(l)
		if err != nil {
			t.Fatal(err)
		}
		if h.Category == CategoryCheckpoint {
			l = encodeCheckpoint("dev", *h.Seq, prev, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), key)
		} else {
			l = append([]byte(nil), l...)
			l = bytes.Replace(l, []byte(`"prevHash":"`+h.PrevHash), []byte(`"prevHash":"`+prev.String()), 1)
		}
		out = append(out, l)
		prev = hashLine(l)
	}
	forged := joinLines(out)
	if r := verifyBytes(forged, nil); !r.OK() {
		t.Fatalf("the forgery is not self-consistent: %+v", r)
	}
	return forged
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return b
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// TestTruncationAtCheckpoint documents the limit of any self-contained
// log: cut exactly after a checkpoint, what remains verifies. The report
// says how far and until when, so an auditor comparing it with an earlier
// report (or with delivered copies) sees the loss.
func TestTruncationAtCheckpoint(t *testing.T) {
	lines := splitLines(validLog(t, 12))
	full := verifyBytes(joinLines(lines), testPub(t, "dev"))
	cut := verifyBytes(joinLines(lines[:12]), testPub(t, "dev"))
	if !cut.OK() || cut.VerifiedThrough >= full.VerifiedThrough {
		t.Fatalf("full %+v cut %+v", full, cut)
	}
}

func TestVerifyPartialDeliveredLog(t *testing.T) {
	lines := splitLines(validLog(t, 12))
	// A delivered log that starts at seq 4 (setting made later), with a
	// repeated line (at-least-once) and lines out of file order.
	part := [][]byte{lines[3], lines[4], lines[5], lines[5]}
	part = append(part, lines[7:]...)
	part = append(part, lines[6])
	files := map[string][]byte{
		"resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/DEV/y=2026/m=11/d=26/h=10/m=00/PT1H.json": joinLines(part),
	}
	src := memSource(t, files)
	if !src.Delivered || src.HSM != "dev" {
		t.Fatalf("source %+v", src)
	}
	r, err := src.Verify(t.Context(), testPub(t, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Duplicates != 1 || r.FirstSeq != 4 {
		t.Fatalf("%+v", r)
	}
	// A different line claiming an existing seq is an insertion.
	bad := bytes.Replace(lines[8], []byte("KeySign"), []byte("KeyPurge"), 1)
	files[strings.Replace(firstKey(files), "h=10", "h=11", 1)] = joinLines([][]byte{bad})
	r, _ = memSource(t, files).Verify(t.Context(), testPub(t, "dev"))
	if r.OK() {
		t.Fatal("a conflicting duplicate was accepted")
	}
}

func firstKey(m map[string][]byte) string {
	for k := range m {
		return k
	}
	return ""
}
