package backup

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
)

// An archive is one folder (named by the caller, Azure style
// mhsm-<hsm>-<YYYYMMDDhhmmss><cc>) holding:
//
//	part-000000, part-000001, …   sealed parts, each at most ChunkBytes of records
//	manifest.json                 {"format", "salt", "sealed"}: the sealed manifest
//
// Keys. The archive key is HKDF-SHA256(secret = the HSM's security-domain
// root, salt = 32 random bytes of this archive, info = "mhsm/full-backup/v1").
// The root is the key-hierarchy root a security-domain download splits
// among the officers and an upload recovers, so only an HSM holding that
// domain derives the key: the server's root key (which merely wraps the
// domain root at rest) is not enough, and another domain's HSM cannot open
// the manifest.
//
// Sealing. Each part and the manifest are AES-256-GCM sealed (package
// barrier) under the archive key with additional data naming the archive
// and the part's index, so a part moved, swapped or replayed from another
// archive fails to open. The manifest lists every part with its size,
// record count and SHA-256, the record counts by kind, and a SHA-256 over
// all parts in order. Reader.Each checks all of it: a missing, truncated,
// reordered or modified part, or a manifest of another domain, is an error
// before the last record is handed over, and it returns nil only after
// reading every record the manifest promises.
//
// Records inside a part: kind, key and value, each uvarint-length-prefixed.

// Format names archive version 1.
const Format = "mhsm-full-backup/v1"

// ChunkBytes is the size at which a part is cut (a record never spans
// parts, so a part may exceed it by one record); it bounds the memory a
// backup or restore holds.
const ChunkBytes = 1 << 20

// MaxRecordBytes bounds one record's key plus value.
const MaxRecordBytes = 1 << 20

// maxPartBytes bounds a sealed part a Reader accepts.
const maxPartBytes = ChunkBytes + MaxRecordBytes + 64 + barrier.Overhead

// ManifestName is the manifest's blob name inside the folder.
const ManifestName = "manifest.json"

// maxManifestBytes bounds the manifest a Reader accepts.
const maxManifestBytes = 16 << 20

var hkdfInfo = "mhsm/full-backup/v1"

// Errors. Messages are safe to show callers; none carries key material.
var (
	// ErrNoBackup: the folder holds no manifest.
	ErrNoBackup = errors.New("the folder holds no backup (no " + ManifestName + ")")
	// ErrForeign: the manifest does not open with this security domain's
	// archive key: another domain's backup, or an altered manifest.
	ErrForeign = errors.New("the backup was not made by an HSM of this security domain, or its manifest was altered")
	// ErrCorrupt wraps every inconsistency found after the manifest opened.
	ErrCorrupt = errors.New("the backup is incomplete or was altered")
)

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// Manifest describes an archive; it is sealed with it.
type Manifest struct {
	Format  string         `json:"format"`
	HSM     string         `json:"hsm"`
	Created int64          `json:"created"`
	Parts   []Part         `json:"parts"`
	Counts  map[string]int `json:"counts"`
	Records int            `json:"records"`
	// Digest is the hex SHA-256 over every sealed part, in order.
	Digest string `json:"digest"`
}

// Part is one sealed part as listed in the manifest.
type Part struct {
	Name    string `json:"name"`
	Size    int    `json:"size"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
}

type manifestFile struct {
	Format string `json:"format"`
	Salt   []byte `json:"salt"`
	Sealed []byte `json:"sealed"`
}

func archiveKey(root, salt []byte) (*barrier.DataKey, error) {
	k, err := hkdf.Key(sha256.New, root, salt, hkdfInfo, barrier.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return barrier.NewDataKeyFromRaw(k)
}

func partName(i int) string { return fmt.Sprintf("part-%06d", i) }

func partAAD(salt []byte, i int) []byte {
	return fmt.Appendf(nil, "%s/part/%x/%d", hkdfInfo, salt, i)
}

func manifestAAD(salt []byte) []byte { return fmt.Appendf(nil, "%s/manifest/%x", hkdfInfo, salt) }

// Writer writes an archive part by part; it holds at most one part.
type Writer struct {
	// PartBytes, if set before the first Add, cuts parts at this size
	// instead of ChunkBytes (at most ChunkBytes; tests use small parts).
	PartBytes int

	f      Folder
	key    *barrier.DataKey
	salt   []byte
	m      Manifest
	buf    []byte
	n      int // records in buf
	digest hash.Hash
}

// NewWriter starts an archive in f sealed for the security-domain root
// (which it does not keep).
func NewWriter(f Folder, root []byte, hsm string, created time.Time) (*Writer, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	key, err := archiveKey(root, salt)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, key: key, salt: salt, digest: sha256.New(),
		m: Manifest{Format: Format, HSM: hsm, Created: created.Unix(), Counts: map[string]int{}}}, nil
}

// Add appends a record, writing a part when ChunkBytes are buffered.
func (w *Writer) Add(ctx context.Context, kind, key string, value []byte) error {
	if len(kind) == 0 || len(kind)+len(key)+len(value) > MaxRecordBytes {
		return fmt.Errorf("backup: record %s/%s: bad kind or larger than %d bytes", kind, key, MaxRecordBytes)
	}
	limit := ChunkBytes
	if w.PartBytes > 0 && w.PartBytes < limit {
		limit = w.PartBytes
	}
	if w.buf == nil { // one part's worth, so appends do not double it
		w.buf = make([]byte, 0, limit+16<<10)
	}
	for _, field := range [][]byte{[]byte(kind), []byte(key), value} {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(field)))
		w.buf = append(w.buf, field...)
	}
	w.n++
	w.m.Counts[kind]++
	w.m.Records++
	if len(w.buf) >= limit {
		return w.flush(ctx)
	}
	return nil
}

func (w *Writer) flush(ctx context.Context) error {
	if w.n == 0 {
		return nil
	}
	i := len(w.m.Parts)
	sealed := w.key.Seal(w.buf, partAAD(w.salt, i))
	clear(w.buf)
	w.buf = w.buf[:0]
	sum := sha256.Sum256(sealed)
	w.digest.Write(sealed)
	p := Part{Name: partName(i), Size: len(sealed), Records: w.n, SHA256: hex.EncodeToString(sum[:])}
	w.n = 0
	if err := w.f.Put(ctx, p.Name, sealed); err != nil {
		return fmt.Errorf("backup: write %s: %w", p.Name, err)
	}
	w.m.Parts = append(w.m.Parts, p)
	return nil
}

// Close writes the last part and then the manifest, and returns the
// manifest. The archive exists (a Reader finds it) only once Close
// succeeds.
func (w *Writer) Close(ctx context.Context) (*Manifest, error) {
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	w.m.Digest = hex.EncodeToString(w.digest.Sum(nil))
	body, err := json.Marshal(&w.m)
	if err != nil {
		return nil, err
	}
	mf, err := json.Marshal(&manifestFile{Format: Format, Salt: w.salt, Sealed: w.key.Seal(body, manifestAAD(w.salt))})
	if err != nil {
		return nil, err
	}
	if err := w.f.Put(ctx, ManifestName, mf); err != nil {
		return nil, fmt.Errorf("backup: write %s: %w", ManifestName, err)
	}
	m := w.m
	m.Counts = maps.Clone(w.m.Counts)
	return &m, nil
}

// Reader reads an archive back.
type Reader struct {
	f    Folder
	key  *barrier.DataKey
	salt []byte
	m    Manifest
}

// Open reads and opens the manifest of the archive in f with the
// security-domain root. Errors: ErrNoBackup, ErrForeign, ErrCorrupt, or a
// storage error.
func Open(ctx context.Context, f Folder, root []byte) (*Reader, error) {
	raw, err := f.Get(ctx, ManifestName, maxManifestBytes)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoBackup
	}
	if err != nil {
		return nil, err
	}
	var mf manifestFile
	if err := json.Unmarshal(raw, &mf); err != nil || mf.Format != Format || len(mf.Salt) != 32 {
		return nil, corrupt("the manifest is not an %s manifest", Format)
	}
	key, err := archiveKey(root, mf.Salt)
	if err != nil {
		return nil, err
	}
	body, err := key.Open(mf.Sealed, manifestAAD(mf.Salt))
	if err != nil {
		return nil, ErrForeign
	}
	r := &Reader{f: f, key: key, salt: mf.Salt}
	if err := json.Unmarshal(body, &r.m); err != nil || r.m.Format != Format {
		return nil, corrupt("the manifest does not decode")
	}
	total := 0
	for i, p := range r.m.Parts {
		if p.Name != partName(i) || p.Size <= 0 || p.Size > maxPartBytes || p.Records <= 0 {
			return nil, corrupt("the manifest lists a bad part %d", i)
		}
		total += p.Records
	}
	if total != r.m.Records {
		return nil, corrupt("the manifest's part record counts do not add up")
	}
	return r, nil
}

// Manifest returns the archive's manifest.
func (r *Reader) Manifest() Manifest {
	m := r.m
	m.Counts = maps.Clone(r.m.Counts)
	m.Parts = append([]Part(nil), r.m.Parts...)
	return m
}

// Each reads every part in order, checks it against the manifest, and calls
// fn with each record (value valid only during the call). It returns nil
// only when every part and record the manifest lists was read and every
// count and digest matched; a part that fails is reported before any of
// its records reaches fn. An error of fn is returned unchanged.
func (r *Reader) Each(ctx context.Context, fn func(kind, key string, value []byte) error) error {
	digest := sha256.New()
	counts := map[string]int{}
	records := 0
	for i, p := range r.m.Parts {
		sealed, err := r.f.Get(ctx, p.Name, maxPartBytes)
		if errors.Is(err, ErrNotFound) {
			return corrupt("%s is missing", p.Name)
		}
		if err != nil {
			return err
		}
		sum := sha256.Sum256(sealed)
		want, _ := hex.DecodeString(p.SHA256)
		if len(sealed) != p.Size || subtle.ConstantTimeCompare(sum[:], want) != 1 {
			return corrupt("%s does not match the manifest (truncated, replaced or modified)", p.Name)
		}
		digest.Write(sealed)
		plain, err := r.key.Open(sealed, partAAD(r.salt, i))
		if err != nil {
			return corrupt("%s does not open (moved or modified)", p.Name)
		}
		n, err := eachRecord(plain, func(kind, key string, value []byte) error {
			counts[kind]++
			return fn(kind, key, value)
		})
		clear(plain)
		if err != nil {
			return err
		}
		if n != p.Records {
			return corrupt("%s holds %d records, the manifest says %d", p.Name, n, p.Records)
		}
		records += n
	}
	if hex.EncodeToString(digest.Sum(nil)) != r.m.Digest {
		return corrupt("the digest over all parts does not match the manifest")
	}
	if records != r.m.Records || !maps.Equal(counts, r.m.Counts) {
		return corrupt("the records read do not match the manifest's counts")
	}
	return nil
}

// eachRecord decodes the records of a part; it returns how many it read.
func eachRecord(b []byte, fn func(kind, key string, value []byte) error) (int, error) {
	n := 0
	for len(b) > 0 {
		var fields [3][]byte
		for j := range fields {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return n, corrupt("a part holds a malformed record")
			}
			fields[j], b = b[k:k+int(l)], b[k+int(l):]
		}
		if len(fields[0]) == 0 || bytes.IndexByte(fields[0], 0) >= 0 {
			return n, corrupt("a part holds a record without a kind")
		}
		if err := fn(string(fields[0]), string(fields[1]), fields[2]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
