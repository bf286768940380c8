package hsm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// newFuzzHSM returns a Service on an in-memory store with one activated
// HSM and a real backup blob of an AES key "k" whose name is free again
// (the key was deleted and purged after the backup).
func newFuzzHSM(tb testing.TB) (*Service, *HSM, []byte) {
	tb.Helper()
	ctx := context.Background()
	root := make([]byte, 32)
	_, _ = rand.Read(root)
	ring, err := barrier.NewKeyring(root)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewService(ctx, store.NewMemory(), ring, Options{BaseURL: func(n string) string { return "https://" + n + ".managedhsm.mhsm.test" }})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := s.Create(ctx, CreateParams{Name: "f1", TenantID: "00000000-0000-0000-0000-000000000001", Activated: true, SoftDeleteDays: 7})
	if err != nil {
		tb.Fatal(err)
	}
	size := 256
	for range 2 { // two versions
		if _, err := s.CreateKey(ctx, h, "k", &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: &size, Tags: map[string]string{"a": "b"}}); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := s.BackupKey(ctx, h, "k")
	if err != nil {
		tb.Fatal(err)
	}
	dropKey(tb, s, h, "k")
	return s, h, b.Value
}

func dropKey(tb testing.TB, s *Service, h *HSM, name string) {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.DeleteKey(ctx, h, name); err != nil {
		tb.Fatal(err)
	}
	if err := s.PurgeKey(ctx, h, name); err != nil {
		tb.Fatal(err)
	}
}

// FuzzRestoreKey feeds the key backup parser three kinds of blobs. Mode 0:
// arbitrary bytes. Mode 1: the real blob with one byte flipped (idx, mask).
// Mode 2: arbitrary plaintext sealed as a backup by this HSM, which
// reaches the document checks behind the seal. Nothing panics; every
// refusal is a 400-class error (never one the edge would turn into a
// 500); modes 0 and 1 are always refused unless the input is the real
// blob; and a restore that succeeds leaves a key whose every version
// reads back and whose latest version works.
func FuzzRestoreKey(f *testing.F) {
	s, h, real := newFuzzHSM(f)
	f.Add(uint8(0), uint32(0), uint8(0), []byte("mhsm-key-backup-v1:"))
	f.Add(uint8(0), uint32(0), uint8(0), real)
	f.Add(uint8(1), uint32(0), uint8(1), []byte(nil))
	f.Add(uint8(1), uint32(len(backupMagic)+3), uint8(0x80), []byte(nil))
	f.Add(uint8(1), uint32(len(real)-1), uint8(1), []byte(nil))
	plain, _ := s.openBackup(h, real)
	f.Add(uint8(2), uint32(0), uint8(0), plain)
	f.Add(uint8(2), uint32(0), uint8(0), []byte(`{"key":{"name":"x","latest":"v"},"versions":[{"record":{"version":"v"},"material":"AAAA"}]}`))
	f.Add(uint8(2), uint32(0), uint8(0), []byte(`{"key":{"name":"x","latest":"../k"},"versions":[{"record":{"version":"../k"}}]}`))
	f.Fuzz(func(t *testing.T, mode uint8, idx uint32, mask uint8, data []byte) {
		ctx := context.Background()
		blob := data
		switch mode % 3 {
		case 1:
			blob = bytes.Clone(real)
			if mask == 0 {
				mask = 1
			}
			blob[int(idx)%len(blob)] ^= mask
		case 2:
			blob = append(bytes.Clone(backupMagic), h.dk.Seal(data, backupAAD)...)
		}
		out, err := s.RestoreKey(ctx, h, blob)
		if err != nil {
			if e, ok := AsError(err); !ok || (e.Kind != KindBadRequest && e.Kind != KindConflict) {
				t.Fatalf("RestoreKey error %v is not a client error", err)
			}
			return
		}
		if mode%3 != 2 && !bytes.Equal(blob, real) {
			t.Fatalf("a blob that is not the real one was restored (mode %d)", mode%3)
		}
		checkRestored(t, s, h, out)
	})
}

// checkRestored reads back every version of a restored key, uses its
// latest version, and then deletes and purges it so the name is free.
func checkRestored(t *testing.T, s *Service, h *HSM, out *wire.KeyBundle) {
	t.Helper()
	ctx := context.Background()
	name := keyNameOf(out.Key.Kid)
	vs, err := s.ListVersions(ctx, h, name, "", 25)
	if err != nil {
		t.Fatalf("restored key does not list: %v", err)
	}
	for _, it := range vs.Items {
		if _, err := s.GetKey(ctx, h, name, lastSeg(it.Kid)); err != nil {
			t.Fatalf("restored version %s does not read: %v", it.Kid, err)
		}
	}
	if _, err := s.GetKey(ctx, h, name, ""); err != nil {
		t.Fatalf("restored key does not read: %v", err)
	}
	dropKey(t, s, h, name)
}

func lastSeg(kid string) string {
	i := bytes.LastIndexByte([]byte(kid), '/')
	return kid[i+1:]
}

func keyNameOf(kid string) string {
	rest := kid[:bytes.LastIndexByte([]byte(kid), '/')]
	return lastSeg(rest)
}

// openBackup returns the plaintext document of a blob (tests only).
func (s *Service) openBackup(h *HSM, blob []byte) ([]byte, error) {
	p, err := h.dk.Open(blob[len(backupMagic):], backupAAD)
	if err != nil {
		return nil, err
	}
	var doc backupDoc
	return p, json.Unmarshal(p, &doc)
}

// TestRestoreRefusesMalformedDocuments keeps what FuzzRestoreKey found:
// a sealed backup document whose records are not whole (a version id
// that is not one, material that is not a key or not the recorded key,
// a latest version that is missing) used to be stored as it was, giving
// kids such as /keys/x/../k and versions that fail when used.
func TestRestoreRefusesMalformedDocuments(t *testing.T) {
	s, h, real := newFuzzHSM(t)
	plain, err := s.openBackup(h, real)
	if err != nil {
		t.Fatal(err)
	}
	var good backupDoc
	if err := json.Unmarshal(plain, &good); err != nil {
		t.Fatal(err)
	}
	ec, err := keys.Generate("EC", 0, "P-256")
	if err != nil {
		t.Fatal(err)
	}
	ecMaterial, _ := ec.Marshal()
	other, _ := json.Marshal(keys.B64(ecMaterial))
	small, _ := keys.Generate("oct", 128, "")
	smallMaterial, _ := small.Marshal()
	otherSize, _ := json.Marshal(keys.B64(smallMaterial))
	cases := map[string]func(d map[string]any){
		"path in version id": func(d map[string]any) { ver(d, 0)["record"].(map[string]any)["version"] = "../k" },
		"upper-case id": func(d map[string]any) {
			ver(d, 0)["record"].(map[string]any)["version"] = "ABCDEF0123456789ABCDEF0123456789"
		},
		"material garbage": func(d map[string]any) { ver(d, 0)["material"] = "AAAA" },
		"material of another type": func(d map[string]any) {
			var m string
			_ = json.Unmarshal(other, &m)
			ver(d, 0)["material"] = m
		},
		"material of another size": func(d map[string]any) {
			var m string
			_ = json.Unmarshal(otherSize, &m)
			ver(d, 0)["material"] = m
		},
		"latest missing":    func(d map[string]any) { d["key"].(map[string]any)["latest"] = "00000000000000000000000000000000" },
		"duplicate version": func(d map[string]any) { d["versions"] = []any{ver(d, 0), ver(d, 0)} },
		"no versions":       func(d map[string]any) { d["versions"] = []any{} },
		"bad name":          func(d map[string]any) { d["key"].(map[string]any)["name"] = "a/b" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(plain, &d); err != nil {
				t.Fatal(err)
			}
			mutate(d)
			b, _ := json.Marshal(d)
			blob := append(bytes.Clone(backupMagic), h.dk.Seal(b, backupAAD)...)
			if _, err := s.RestoreKey(context.Background(), h, blob); err == nil {
				t.Fatal("restored")
			} else if e, ok := AsError(err); !ok || e.Kind != KindBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
		})
	}
	if _, err := s.RestoreKey(context.Background(), h, real); err != nil {
		t.Fatalf("the real blob no longer restores: %v", err)
	}
}

func ver(d map[string]any, i int) map[string]any { return d["versions"].([]any)[i].(map[string]any) }
