package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var testSeed = SeedKeys{1, 2, 3}

// openTest opens a log in dir with test keys; mod adjusts the options.
func openTest(t testing.TB, dir string, mod func(*Options)) *Log {
	t.Helper()
	o := Options{Dir: dir, Keys: testSeed, MinFreeBytes: -1}
	if mod != nil {
		mod(&o)
	}
	l, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testPub(t testing.TB, chain string) ed25519.PublicKey {
	k, err := testSeed.ChainKeys(context.Background(), chain)
	if err != nil {
		t.Fatal(err)
	}
	return k.Sign.Public().(ed25519.PublicKey)
}

func event(hsm string, i int) *Event {
	yes := true
	return &Event{
		Time: time.Date(2026, 11, 26, 10, 0, 0, i*1000, time.UTC), HSM: hsm, TenantID: "8a1f0c1e-0000-4000-8000-000000000001",
		Operation: "KeySign", OperationVersion: "7.6", Status: 200, Duration: time.Millisecond,
		CallerIP: "127.0.0.1", RequestID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		RequestURI: "https://dev.managedhsm.mhsm.localhost/keys/k1/sign?api-version=7.6",
		Caller:     Caller{ObjectID: "11111111-1111-4111-8111-111111111111", TenantID: "8a1f0c1e-0000-4000-8000-000000000001", AppID: "22222222-2222-4222-8222-222222222222", IDType: "app"},
		DataAction: "Microsoft.KeyVault/managedHsm/keys/sign/action", Scope: "/keys/k1", Authorized: &yes,
		AssignmentID: "33333333-3333-4333-8333-333333333333",
	}
}

// record writes n events to hsm's chain.
func record(t testing.TB, l *Log, hsm string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Record(context.Background(), event(hsm, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyDir verifies the chain in dir (the chain directory).
func verifyDir(t testing.TB, dir string, pub ed25519.PublicKey) *Report {
	t.Helper()
	srcs, err := FindSources(context.Background(), DirFiles(dir), filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 {
		t.Fatalf("%d sources in %s", len(srcs), dir)
	}
	r, err := srcs[0].Verify(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readChain returns the concatenated segments of a chain directory.
// readChain returns the records of every segment of the chain in dir, in
// order, without the open segment's zero padding (prealloc.go).
func readChain(t testing.TB, dir string) []byte {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		all = append(all, b...)
	}
	return all
}

// verifyBytes verifies log as one segment.
func verifyBytes(log []byte, pub ed25519.PublicKey) *Report {
	v := NewVerifier(VerifyOptions{PublicKey: pub})
	lines := bytes.Split(log, []byte("\n"))
	for i, l := range lines {
		where := fmt.Sprintf("log:%d", i+1)
		if i == len(lines)-1 {
			if len(l) > 0 {
				v.Partial(where)
			}
			break
		}
		v.Line(where, l)
	}
	return v.Report()
}

// memFiles is an in-memory Files.
type memFiles map[string][]byte

func (m memFiles) List(context.Context) ([]string, error) {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out, nil
}

func (m memFiles) Open(_ context.Context, name string) (io.ReadCloser, error) {
	b, ok := m[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// memSource is the one source of files.
func memSource(t testing.TB, files map[string][]byte) *Source {
	t.Helper()
	srcs, err := FindSources(context.Background(), memFiles(files), "")
	if err != nil || len(srcs) != 1 {
		t.Fatalf("sources %v %v", srcs, err)
	}
	return srcs[0]
}

// encodeRecord returns the line for an encoded event object.
func encodeRecord(body []byte, seq uint64, prev digest) []byte {
	return appendRecord(nil, body, seq, prev)
}
