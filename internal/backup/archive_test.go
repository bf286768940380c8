package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

// memFolder is a Folder in memory.
type memFolder map[string][]byte

func (m memFolder) Put(_ context.Context, name string, data []byte) error {
	m[name] = bytes.Clone(data)
	return nil
}

func (m memFolder) Get(_ context.Context, name string, limit int) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, ErrNotFound
	}
	if len(b) > limit {
		return nil, corrupt("too large")
	}
	return bytes.Clone(b), nil
}

type rec struct{ kind, key, value string }

func newRoot(t testing.TB) []byte {
	r := make([]byte, 32)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func write(t testing.TB, f Folder, root []byte, recs []rec, partBytes int) *Manifest {
	t.Helper()
	ctx := context.Background()
	w, err := NewWriter(f, root, "h", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	w.PartBytes = partBytes
	for _, r := range recs {
		if err := w.Add(ctx, r.kind, r.key, []byte(r.value)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readAll(f Folder, root []byte) ([]rec, error) {
	r, err := Open(context.Background(), f, root)
	if err != nil {
		return nil, err
	}
	var out []rec
	err = r.Each(context.Background(), func(kind, key string, value []byte) error {
		out = append(out, rec{kind, key, string(value)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func records(n int) []rec {
	var out []rec
	for i := range n {
		out = append(out, rec{[]string{"key", "version", "roleAssignment"}[i%3], fmt.Sprintf("k/%05d", i), fmt.Sprintf(`{"i":%d,"pad":"%0200d"}`, i, i)})
	}
	return out
}

func TestArchiveRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 500} {
		f, root := memFolder{}, newRoot(t)
		recs := records(n)
		m := write(t, f, root, recs, 4096)
		if m.Records != n || (n > 10 && len(m.Parts) < 2) {
			t.Fatalf("n=%d: manifest %d records in %d parts", n, m.Records, len(m.Parts))
		}
		got, err := readAll(f, root)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(recs[:len(got)]) || len(got) != n {
			t.Fatalf("n=%d: read back %d records, different", n, len(got))
		}
	}
}

// TestArchiveRefused: every kind of damage is an error, and Each hands
// over no record of a part that fails.
func TestArchiveRefused(t *testing.T) {
	root := newRoot(t)
	base := memFolder{}
	m := write(t, base, root, records(300), 4096)
	if len(m.Parts) < 3 {
		t.Fatalf("%d parts", len(m.Parts))
	}
	clone := func() memFolder {
		c := memFolder{}
		for k, v := range base {
			c[k] = bytes.Clone(v)
		}
		return c
	}
	other := memFolder{}
	write(t, other, newRoot(t), records(3), 0)
	cases := map[string]struct {
		f    memFolder
		want error
	}{
		"another root": {other, ErrForeign},
		"no manifest":  {func() memFolder { c := clone(); delete(c, ManifestName); return c }(), ErrNoBackup},
		"part missing": {func() memFolder { c := clone(); delete(c, "part-000002"); return c }(), ErrCorrupt},
		"part truncated": {func() memFolder {
			c := clone()
			c["part-000001"] = c["part-000001"][:len(c["part-000001"])-1]
			return c
		}(), ErrCorrupt},
		"parts swapped": {func() memFolder {
			c := clone()
			c["part-000000"], c["part-000001"] = c["part-000001"], c["part-000000"]
			return c
		}(), ErrCorrupt},
		"extra part appended to manifest list impossible; part replaced from another archive": {func() memFolder {
			c := clone()
			c["part-000000"] = other["part-000000"]
			return c
		}(), ErrCorrupt},
	}
	for bit := 0; bit < 8*len(base["part-000001"]); bit += 997 {
		c := clone()
		c["part-000001"][bit/8] ^= 1 << (bit % 8)
		cases[fmt.Sprintf("part bit %d", bit)] = struct {
			f    memFolder
			want error
		}{c, ErrCorrupt}
	}
	for bit := 0; bit < 8*len(base[ManifestName]); bit += 211 {
		c := clone()
		c[ManifestName][bit/8] ^= 1 << (bit % 8)
		cases[fmt.Sprintf("manifest bit %d", bit)] = struct {
			f    memFolder
			want error
		}{c, nil}
	}
	for name, c := range cases {
		got, err := readAll(c.f, root)
		if err == nil {
			t.Fatalf("%s: accepted (%d records)", name, len(got))
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", name, err, c.want)
		}
		if c.want == nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// FuzzArchive: whatever a part holds, Open and Each either fail or hand
// back exactly the records written (a sealed part cannot be forged without
// the root, so the fuzzer mutates a part and the property is "error").
func FuzzArchive(f *testing.F) {
	root := newRoot(f)
	base := memFolder{}
	write(f, base, root, records(40), 1024)
	f.Add(base["part-000000"], 0)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, part []byte, which int) {
		c := memFolder{}
		for k, v := range base {
			c[k] = v
		}
		name := fmt.Sprintf("part-%06d", (which%3+3)%3)
		same := bytes.Equal(c[name], part)
		c[name] = part
		got, err := readAll(c, root)
		if same && err != nil {
			t.Fatalf("unchanged archive refused: %v", err)
		}
		if !same && err == nil {
			t.Fatalf("modified part accepted (%d records)", len(got))
		}
	})
}

func TestEachRecordMalformed(t *testing.T) {
	for _, b := range [][]byte{{0x05}, {0x01, 'k'}, {0x00, 0x00, 0x00}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := eachRecord(b, func(string, string, []byte) error { return nil }); err == nil {
			t.Fatalf("%x accepted", b)
		}
	}
}

func TestParseContainerURI(t *testing.T) {
	for uri, want := range map[string]string{
		"https://acct.blob.core.windows.net/backups":   "acct/backups",
		"https://Acct.blob.core.windows.net/backups/":  "acct/backups",
		"http://127.0.0.1:10000/devstoreaccount1/bk01": "devstoreaccount1/bk01",
		"https://acct.blob.core.windows.net/a/b/c":     "",
		"https://acct.blob.core.windows.net/b?sv=1":    "",
		"ftp://acct.blob.core.windows.net/backups":     "",
		"https://acct.blob.core.windows.net/UPPER":     "",
		"https://acct.blob.core.windows.net/":          "",
		"https://../x":                                 "",
	} {
		a, c, err := ParseContainerURI(uri)
		got := a + "/" + c
		if err != nil {
			got = ""
		}
		if got != want {
			t.Errorf("%s: %q %v, want %q", uri, got, err, want)
		}
	}
}

func TestDirFolder(t *testing.T) {
	ctx := context.Background()
	f := Dir(t.TempDir()).Folder("mhsm-h-1")
	if _, err := f.Get(ctx, "x", 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	if err := f.Put(ctx, "x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b, err := f.Get(ctx, "x", 10); err != nil || string(b) != "hello" {
		t.Fatalf("%q %v", b, err)
	}
	if _, err := f.Get(ctx, "x", 4); err == nil {
		t.Fatal("a blob over the limit was read")
	}
	if err := Dir(t.TempDir()).Folder("../escape").Put(ctx, "x", nil); err == nil {
		t.Fatal("a folder name with .. was accepted")
	}
}
