package barrier

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Root key files.
//
// The root key is the 32-byte key-encryption key kept in the data dir (0600)
// or given by --root-key-file. A root key file holds exactly 32 raw bytes, or
// the key as 44 characters of standard base64 or 64 hex characters (one
// trailing newline allowed). It must not be accessible by group or others.
//
// Losing the root key loses every secret in the store (short of a security
// domain restore); back it up separately from the database.

// maxRootKeyFile bounds how much of a (wrong) file is read.
const maxRootKeyFile = 1024

// LoadOrCreateRootKey loads the root key file at path, creating it with a new
// random key (mode 0600, written atomically) if it does not exist. The
// directory must exist.
func LoadOrCreateRootKey(path string) (*Keyring, error) {
	k, err := LoadRootKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := createRootKey(path); err != nil {
		if errors.Is(err, fs.ErrExist) { // lost a race with another creator
			return LoadRootKey(path)
		}
		return nil, err
	}
	return LoadRootKey(path)
}

// LoadRootKey loads the root key file at path; it never creates it. A missing
// file is an error wrapping fs.ErrNotExist.
func LoadRootKey(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("barrier: root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("barrier: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("barrier: root key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("barrier: root key file %s has mode %04o: it must not be accessible by group or others (run: chmod 600 %s)", path, perm, path)
	}
	buf := make([]byte, maxRootKeyFile+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("barrier: read root key file: %w", err)
	}
	key, err := parseRootKey(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("barrier: root key file %s: %w", path, err)
	}
	defer clear(key)
	return NewKeyring(key)
}

// parseRootKey decodes the contents of a root key file. Errors never include
// the contents.
func parseRootKey(data []byte) ([]byte, error) {
	if len(data) == KeySize {
		return append([]byte(nil), data...), nil
	}
	text := data
	if bytes.HasSuffix(text, []byte("\n")) {
		text = text[:len(text)-1]
		text = bytes.TrimSuffix(text, []byte("\r"))
	}
	switch len(text) {
	case base64.StdEncoding.EncodedLen(KeySize): // 44
		key := make([]byte, KeySize)
		n, err := base64.StdEncoding.Strict().Decode(key, text)
		if err != nil || n != KeySize {
			clear(key)
			return nil, errors.New("44-character contents are not valid standard base64 of 32 bytes")
		}
		return key, nil
	case hex.EncodedLen(KeySize): // 64
		key := make([]byte, KeySize)
		if _, err := hex.Decode(key, text); err != nil {
			clear(key)
			return nil, errors.New("64-character contents are not valid hex")
		}
		return key, nil
	}
	size := fmt.Sprintf("%d bytes", len(data))
	if len(data) > maxRootKeyFile {
		size = fmt.Sprintf("more than %d bytes", maxRootKeyFile)
	}
	return nil, fmt.Errorf("has %s; want exactly %d raw bytes, or the key as %d base64 or %d hex characters",
		size, KeySize, base64.StdEncoding.EncodedLen(KeySize), hex.EncodedLen(KeySize))
}

// createRootKey writes a new random raw 32-byte key to path atomically: a
// 0600 temp file in the same directory is written and fsync'd, then linked
// into place (never replacing an existing file; fs.ErrExist if one appeared),
// and the directory is fsync'd.
func createRootKey(path string) (err error) {
	dir := filepath.Dir(path)
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("barrier: generate root key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("barrier: create root key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link this only drops the extra name
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("barrier: create root key file: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return fmt.Errorf("barrier: write root key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("barrier: sync root key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("barrier: close root key file: %w", err)
	}
	// Link is rename without replacing: two processes racing to create the
	// key can never both succeed with different keys.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// Filesystems without hard links: fall back to rename.
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("barrier: install root key file: %w", err)
		}
	}
	if err := os.Remove(tmpName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("barrier: remove temporary root key file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("barrier: sync root key directory: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
