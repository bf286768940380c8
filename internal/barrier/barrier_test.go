package barrier

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newKeyring(t *testing.T) *Keyring {
	t.Helper()
	root := make([]byte, KeySize)
	rand.Read(root)
	k, err := NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newDataKey(t *testing.T, k *Keyring) ([]byte, *DataKey) {
	t.Helper()
	wrapped, dk, err := k.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return wrapped, dk
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKeyring(t)
	wrapped, dk := newDataKey(t, k)
	aad := []byte("hsm/dev/key/k1/v/abc")
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret"), 10000)} {
		sealed := dk.Seal(pt, aad)
		if len(sealed) != len(pt)+Overhead {
			t.Fatalf("sealed len %d, want %d", len(sealed), len(pt)+Overhead)
		}
		if len(pt) > 8 && bytes.Contains(sealed, pt[:8]) {
			t.Fatal("plaintext visible in sealed value")
		}
		got, err := dk.Open(sealed, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) || got == nil {
			t.Fatalf("Open = %q, want %q (non-nil)", got, pt)
		}
		// The unwrapped data key opens it too.
		dk2, err := k.OpenDataKey(wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := dk2.Open(sealed, aad); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open with unwrapped key = %q, %v", got, err)
		}
	}
	// Random nonces: sealing twice differs.
	if bytes.Equal(dk.Seal([]byte("a"), aad), dk.Seal([]byte("a"), aad)) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestOpenWrongAAD(t *testing.T) {
	_, dk := newDataKey(t, newKeyring(t))
	sealed := dk.Seal([]byte("secret"), []byte("hsm/dev/key/k1/v/abc"))
	for _, aad := range []string{"", "hsm/dev/key/k1/v/abd", "hsm/dev/key/k2/v/abc", "hsm/dev/key/k1/v/abc/"} {
		if _, err := dk.Open(sealed, []byte(aad)); err != ErrAuth {
			t.Errorf("Open with aad %q = %v, want ErrAuth", aad, err)
		}
	}
}

func TestOpenBitFlips(t *testing.T) {
	k := newKeyring(t)
	wrapped, dk := newDataKey(t, k)
	aad := []byte("hsm/dev/key/k1/v/abc")
	sealed := dk.Seal([]byte("some secret key material"), aad)
	for i := range len(sealed) * 8 {
		mod := bytes.Clone(sealed)
		mod[i/8] ^= 1 << (i % 8)
		if _, err := dk.Open(mod, aad); err != ErrAuth {
			t.Fatalf("Open with bit %d flipped = %v, want ErrAuth", i, err)
		}
	}
	for i := range len(wrapped) * 8 {
		mod := bytes.Clone(wrapped)
		mod[i/8] ^= 1 << (i % 8)
		if _, err := k.OpenDataKey(mod); err != ErrAuth {
			t.Fatalf("OpenDataKey with bit %d flipped = %v, want ErrAuth", i, err)
		}
	}
	// Truncation and extension.
	for n := range len(sealed) {
		if _, err := dk.Open(sealed[:n], aad); err != ErrAuth {
			t.Fatalf("Open of %d-byte prefix = %v, want ErrAuth", n, err)
		}
	}
	if _, err := dk.Open(append(bytes.Clone(sealed), 0), aad); err != ErrAuth {
		t.Fatalf("Open with extra byte = %v, want ErrAuth", err)
	}
	for n := range len(wrapped) {
		if _, err := k.OpenDataKey(wrapped[:n]); err != ErrAuth {
			t.Fatalf("OpenDataKey of %d-byte prefix = %v, want ErrAuth", n, err)
		}
	}
}

func TestWrongKeys(t *testing.T) {
	k1, k2 := newKeyring(t), newKeyring(t)
	wrapped, dk := newDataKey(t, k1)
	if _, err := k2.OpenDataKey(wrapped); !errors.Is(err, ErrAuth) {
		t.Fatalf("OpenDataKey under another root key = %v, want ErrAuth", err)
	}
	_, other := newDataKey(t, k1)
	sealed := dk.Seal([]byte("x"), nil)
	if _, err := other.Open(sealed, nil); err != ErrAuth {
		t.Fatalf("Open with another data key = %v, want ErrAuth", err)
	}
	// A sealed value is not a wrapped data key and vice versa.
	if _, err := k1.OpenDataKey(dk.Seal(dk.Raw(), nil)); err != ErrAuth {
		t.Fatalf("OpenDataKey of a sealed value = %v, want ErrAuth", err)
	}
}

func TestRawAndFromRaw(t *testing.T) {
	_, dk := newDataKey(t, newKeyring(t))
	raw := dk.Raw()
	if len(raw) != KeySize {
		t.Fatalf("Raw len %d", len(raw))
	}
	raw[0] ^= 0xff // a copy: the key is unaffected
	raw[0] ^= 0xff
	sealed := dk.Seal([]byte("x"), []byte("a"))
	r2 := dk.Raw()
	r2[0] ^= 0xff
	if _, err := dk.Open(sealed, []byte("a")); err != nil {
		t.Fatal("mutating Raw's result changed the key")
	}
	dk2, err := NewDataKeyFromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	clear(raw) // NewDataKeyFromRaw copied it
	if got, err := dk2.Open(sealed, []byte("a")); err != nil || string(got) != "x" {
		t.Fatalf("rebuilt key Open = %q, %v", got, err)
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewDataKeyFromRaw(make([]byte, n)); err == nil {
			t.Errorf("NewDataKeyFromRaw(%d bytes) succeeded", n)
		}
		if _, err := NewKeyring(make([]byte, n)); err == nil {
			t.Errorf("NewKeyring(%d bytes) succeeded", n)
		}
	}
}

func TestNewKeyringCopiesRoot(t *testing.T) {
	root := make([]byte, KeySize)
	rand.Read(root)
	k, err := NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := newDataKey(t, k)
	clear(root)
	if _, err := k.OpenDataKey(wrapped); err != nil {
		t.Fatalf("clearing the caller's root slice broke the keyring: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	k := newKeyring(t)
	wrapped, dk := newDataKey(t, k)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aad := []byte(fmt.Sprint("k/", i))
			for range 100 {
				if got, err := dk.Open(dk.Seal(aad, aad), aad); err != nil || !bytes.Equal(got, aad) {
					t.Errorf("round trip: %q %v", got, err)
					return
				}
				if _, err := k.OpenDataKey(wrapped); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestLoadOrCreateRootKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	k, err := LoadOrCreateRootKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("root key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if fi.Size() != KeySize {
		t.Fatalf("root key file size %d, want %d", fi.Size(), KeySize)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries after create, want 1 (no temp files left)", len(entries))
	}
	wrapped, dk := newDataKey(t, k)
	aad := []byte("hsm/dev/key/k1/v/abc")
	sealed := dk.Seal([]byte("persisted secret"), aad)

	for _, load := range []func(string) (*Keyring, error){LoadOrCreateRootKey, LoadRootKey} {
		k2, err := load(path)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		dk2, err := k2.OpenDataKey(wrapped)
		if err != nil {
			t.Fatalf("OpenDataKey after reload: %v", err)
		}
		if got, err := dk2.Open(sealed, aad); err != nil || string(got) != "persisted secret" {
			t.Fatalf("Open after reload = %q, %v", got, err)
		}
	}
}

func TestLoadRootKeyNeverCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if _, err := LoadRootKey(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadRootKey(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("LoadRootKey created the file")
	}
}

func TestLoadOrCreateRootKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	const n = 8
	keys := make([]*Keyring, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateRootKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || !bytes.Equal(k.root, keys[0].root) {
			t.Fatal("concurrent creators ended up with different root keys")
		}
	}
}

func TestRootKeyFileFormats(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	b64 := base64.StdEncoding.EncodeToString(key)
	hx := hex.EncodeToString(key)
	good := map[string]string{
		"raw":           string(key),
		"base64":        b64,
		"base64 LF":     b64 + "\n",
		"base64 CRLF":   b64 + "\r\n",
		"hex":           hx,
		"hex LF":        hx + "\n",
		"hex uppercase": strings.ToUpper(hx),
	}
	bad := map[string]string{
		"empty":          "",
		"31 bytes":       string(key[:31]),
		"33 bytes":       string(key) + "x",
		"raw plus LF":    string(key) + "\n",
		"base64 url":     strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16))),
		"bad base64":     strings.Repeat("!", 44),
		"bad hex":        strings.Repeat("zz", 32),
		"hex two LF":     hx + "\n\n",
		"short base64":   base64.StdEncoding.EncodeToString(key[:16]),
		"large":          strings.Repeat("a", 10000),
		"hex with space": " " + hx,
	}
	dir := t.TempDir()
	i := 0
	write := func(content string) string {
		i++
		p := filepath.Join(dir, fmt.Sprint("k", i))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want, _ := NewKeyring(key)
	wrapped, _ := newDataKey(t, want)
	for name, content := range good {
		for _, load := range []func(string) (*Keyring, error){LoadRootKey, LoadOrCreateRootKey} {
			k, err := load(write(content))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if _, err := k.OpenDataKey(wrapped); err != nil {
				t.Errorf("%s: loaded a different key", name)
			}
		}
	}
	for name, content := range bad {
		for _, load := range []func(string) (*Keyring, error){LoadRootKey, LoadOrCreateRootKey} {
			p := write(content)
			if _, err := load(p); err == nil {
				t.Errorf("%s: accepted", name)
			} else if strings.Contains(err.Error(), hx) || strings.Contains(err.Error(), b64) {
				t.Errorf("%s: error leaks the key: %v", name, err)
			}
			if got, _ := os.ReadFile(p); string(got) != content {
				t.Errorf("%s: file was modified", name)
			}
		}
	}
}

func TestRootKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, KeySize)
	rand.Read(key)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o666, 0o700 | 0o070} {
		p := filepath.Join(dir, fmt.Sprintf("key-%04o", mode))
		if err := os.WriteFile(p, key, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		for _, load := range []func(string) (*Keyring, error){LoadRootKey, LoadOrCreateRootKey} {
			_, err := load(p)
			if err == nil {
				t.Fatalf("mode %04o accepted", mode)
			}
			if !strings.Contains(err.Error(), "group or others") {
				t.Errorf("mode %04o: unclear error %q", mode, err)
			}
		}
	}
	for _, mode := range []os.FileMode{0o400, 0o600, 0o700} {
		p := filepath.Join(dir, fmt.Sprintf("ok-%04o", mode))
		if err := os.WriteFile(p, key, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadRootKey(p); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
	// A directory is not a key file.
	sub := filepath.Join(dir, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateRootKey(sub); err == nil {
		t.Error("directory accepted as root key file")
	}
}

func TestRedaction(t *testing.T) {
	root := make([]byte, KeySize)
	rand.Read(root)
	k, err := NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	_, dk := newDataKey(t, k)
	secrets := map[string][]byte{"root": root, "data": dk.Raw()}

	var outputs []string
	for _, v := range []any{k, *k, dk, *dk} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		outputs = append(outputs, fmt.Sprint(v), fmt.Sprintln(v), fmt.Sprintf("%v", []any{v}),
			fmt.Sprintf("%+v", struct{ X any }{v}))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("keys", "keyring", k, "datakey", dk, "kv", *k, "dv", *dk)
		l.Info("group", slog.Group("g", slog.Any("k", k), slog.Any("d", dk)))
	}
	outputs = append(outputs, buf.String())
	if !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("slog output lacks the redaction marker: %s", buf.String())
	}
	for _, out := range outputs {
		for name, s := range secrets {
			for enc, needle := range map[string]string{
				"raw":       string(s),
				"hex":       hex.EncodeToString(s),
				"HEX":       strings.ToUpper(hex.EncodeToString(s)),
				"base64":    base64.StdEncoding.EncodeToString(s),
				"base64url": base64.RawURLEncoding.EncodeToString(s),
				"decimal":   strings.Trim(fmt.Sprint(s[:8]), "[]"),
			} {
				if strings.Contains(out, needle) {
					t.Fatalf("%s key leaked as %s in output %q", name, enc, out)
				}
			}
		}
	}
}

// TestWrapDataKey: a data key rebuilt from raw bytes (a recovered
// key-hierarchy root) wraps under another root key and opens as the same key.
func TestWrapDataKey(t *testing.T) {
	k1, k2 := newKeyring(t), newKeyring(t)
	_, dk := newDataKey(t, k1)
	sealed := dk.Seal([]byte("x"), []byte("a"))
	raw := dk.Raw()
	rebuilt, err := NewDataKeyFromRaw(raw)
	clear(raw)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := k2.WrapDataKey(rebuilt)
	if _, err := k1.OpenDataKey(wrapped); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrapped under k2 opened with k1: %v", err)
	}
	back, err := k2.OpenDataKey(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := back.Open(sealed, []byte("a")); err != nil || string(got) != "x" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}
