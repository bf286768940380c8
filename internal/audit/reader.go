package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// chainLine is one line read back from a chain.
type chainLine struct {
	seq  uint64
	time time.Time
	line []byte
}

// chainReader reads a chain's segments forward from after seq, never past
// the durable position.
type chainReader struct {
	dir string
	seq uint64 // last seq returned
	seg string
	off int64
}

// next returns up to about limit bytes of lines after r.seq.
func (r *chainReader) next(pos position, limit int) ([]chainLine, error) {
	if r.seg == "" {
		if err := r.seek(); err != nil {
			return nil, err
		}
	}
	var out []chainLine
	size := 0
	for size < limit {
		end := pos.Off
		if r.seg != pos.Seg {
			st, err := os.Stat(r.seg)
			if err != nil {
				return nil, err
			}
			end = st.Size()
		}
		if r.off >= end {
			if r.seg == pos.Seg {
				return out, nil
			}
			if !r.advance() {
				return out, nil
			}
			continue
		}
		buf, err := readRange(r.seg, r.off, min(end-r.off, int64(limit-size)+maxLine))
		if err != nil {
			return nil, err
		}
		used := 0
		for {
			i := indexNL(buf[used:])
			if i < 0 {
				break
			}
			line := buf[used : used+i]
			used += i + 1
			h, err := parseHead(line)
			if err != nil {
				return nil, fmt.Errorf("audit: %s: corrupt line at offset %d", r.seg, r.off+int64(used-i-1))
			}
			if *h.Seq <= r.seq {
				continue
			}
			t, _ := time.Parse(time.RFC3339Nano, h.Time)
			out = append(out, chainLine{seq: *h.Seq, time: t, line: append([]byte(nil), line...)})
			r.seq = *h.Seq
			size += len(line) + 1
			if size >= limit {
				break
			}
		}
		if used == 0 {
			return nil, fmt.Errorf("audit: %s: line too long at offset %d", r.seg, r.off)
		}
		r.off += int64(used)
	}
	return out, nil
}

// seek positions the reader in the segment holding r.seq+1.
func (r *chainReader) seek() error {
	segs, err := listSegments(r.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("audit: %s holds no segments", r.dir)
	}
	r.seg, r.off = segs[0], 0
	for _, s := range segs {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(s), ".jsonl"), 10, 64)
		if err == nil && first <= r.seq+1 {
			r.seg = s
		}
	}
	return nil
}

// advance moves to the segment after r.seg.
func (r *chainReader) advance() bool {
	segs, err := listSegments(r.dir)
	if err != nil {
		return false
	}
	for _, s := range segs {
		if s > r.seg {
			r.seg, r.off = s, 0
			return true
		}
	}
	return false
}

func readRange(path string, off, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}
