package audit

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// Segments are written into space preallocated ahead of the records.
//
// Why: an fsync of an appended record changes the file's size, so ext4
// (and most journaling file systems) commits a journal transaction for the
// inode as well as flushing the data. Measured on this kind of VM (ext4 on
// a virtio disk, 1 KiB records, machine CPU from /proc/stat):
//
//	append + fsync                       ~220 µs   ~130 µs of CPU
//	append + fdatasync                   ~220 µs   ~130 µs  (the size still changes)
//	overwrite zeroed space + fdatasync   ~124 µs   ~62–76 µs
//
// So the open segment is extended with zeros ahead of its records (one
// full fsync makes the new size and extents durable), and every group
// commit overwrites zeros at the logical end and calls fdatasync, which
// then has only data to flush: the approach of PostgreSQL's zero-filled
// WAL segments. A segment is cut back to its logical end when it is closed
// or rotated, so only the open segment of a running (or crashed) server
// carries padding.
//
// The rule for readers: a segment's records end at its first NUL byte. A
// record line never holds one (JSON escapes control characters), so a NUL
// can only be padding or what a torn write left, and nothing after it was
// acknowledged.
//
// How far ahead: as much as the segment already holds, at least
// minPrealloc and at most maxPrealloc, so a quiet chain (an idle HSM) pads
// at most 64 KiB while a busy one extends 1 MiB at a time — one full fsync
// per ~1,000 records of ~1 KiB.
const (
	minPrealloc = 64 << 10
	maxPrealloc = 1 << 20
)

// zeros is written to extend a segment.
var zeros = make([]byte, 64<<10)

// place writes buf at the logical end of the open segment, extending the
// file with zeros first when buf does not fit in what is preallocated. It
// reports whether it extended the file: the commit must then fsync, not
// fdatasync, so that the new size is durable too.
func (w *writer) place(buf []byte) (grew bool, err error) {
	end := w.size + int64(len(buf))
	if end > w.alloc {
		chunk := min(max(w.size, minPrealloc), maxPrealloc)
		target := (end + chunk - 1) / chunk * chunk
		for off := w.alloc; off < target; off += int64(len(zeros)) {
			if _, err := w.f.WriteAt(zeros[:min(int64(len(zeros)), target-off)], off); err != nil {
				return false, err
			}
		}
		w.alloc, grew = target, true
	}
	_, err = w.f.WriteAt(buf, w.size)
	return grew, err
}

// flush makes what place wrote durable: fsync when the file grew,
// fdatasync otherwise.
func (w *writer) flush(grew bool) error {
	if grew {
		return w.f.Sync()
	}
	return datasync(w.f)
}

// trim cuts the open segment back to its logical end, durably, dropping
// the padding (before a rotation or close).
func (w *writer) trim() error {
	if w.alloc == w.size {
		return nil
	}
	if err := w.f.Truncate(w.size); err != nil {
		return err
	}
	w.alloc = w.size
	return w.f.Sync()
}

// contentEnd returns where the records of a segment of size bytes end:
// before the run of NUL padding at its end. A torn write can leave NULs
// inside the last line too; lastRecord drops such a line.
func contentEnd(f io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		n := min(end, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				return end - n + i + 1, nil
			}
		}
		end -= n
	}
	return 0, nil
}

// lastRecord returns the last complete line of a segment of size bytes
// (nil if none) and the offset just after it: past the padding, and past
// a last line holding a NUL (a torn write: never acknowledged).
func lastRecord(f io.ReaderAt, size int64) ([]byte, int64, error) {
	end, err := contentEnd(f, size)
	if err != nil {
		return nil, 0, err
	}
	for {
		line, after, err := tailLine(f, end)
		if err != nil || line == nil || bytes.IndexByte(line, 0) < 0 {
			return line, after, err
		}
		end = after - int64(len(line)) - 1
	}
}

// untilNUL reads r up to its first NUL byte (a segment's padding).
type untilNUL struct {
	r    io.Reader
	done bool
}

func (u *untilNUL) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n, err := u.r.Read(p)
	if i := bytes.IndexByte(p[:n], 0); i >= 0 {
		u.done = true
		return i, nil
	}
	return n, err
}

// openSegment opens a segment for writing at its logical end.
func openSegment(path string, create bool) (*os.File, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	return os.OpenFile(path, flag, 0o600)
}
