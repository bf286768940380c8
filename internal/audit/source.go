package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Files is a read-only tree of log files: a local directory (DirFiles) or
// a blob container (BlobFiles). Names use "/" separators.
type Files interface {
	List(ctx context.Context) ([]string, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// DirFiles reads a local directory.
type DirFiles string

// List implements Files.
func (d DirFiles) List(context.Context) ([]string, error) {
	root := string(d)
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, err
}

// Open implements Files.
func (d DirFiles) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
}

// Source is one chain's files, in order.
type Source struct {
	// Name is the chain name (server log) or the resource id (delivered).
	Name string
	// HSM is the HSM name in lower case ("" for the server chain).
	HSM string
	// Delivered marks Azure's delivery layout (…/PT1H.json): lines may
	// repeat and the log may start mid-chain.
	Delivered bool
	Files     []string
	from      Files
}

var (
	segmentFile   = regexp.MustCompile(`^(?:(.*)/)?([0-9]{20})\.jsonl$`)
	deliveredFile = regexp.MustCompile(`(?i)^(?:.*/)?resourceId=(/.*?/MANAGEDHSMS/([^/]+))/y=[0-9]{4}/m=[0-9]{2}/d=[0-9]{2}/h=[0-9]{2}/m=00/PT1H\.json$`)
)

// FindSources groups the files of f into chains: the server's layout
// (<chain>/<seq>.jsonl, or the segments of one chain directory, named
// base) and Azure's delivery layout (resourceId=<id>/y=/m=/d=/h=/m=00/PT1H.json).
func FindSources(ctx context.Context, f Files, base string) ([]*Source, error) {
	names, err := f.List(ctx)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	by := map[string]*Source{}
	var out []*Source
	add := func(key string, s *Source, file string) {
		if by[key] == nil {
			by[key] = s
			out = append(out, s)
		}
		by[key].Files = append(by[key].Files, file)
	}
	for _, n := range names {
		if m := deliveredFile.FindStringSubmatch(n); m != nil {
			add("d"+strings.ToUpper(m[1]), &Source{Name: strings.ToUpper(m[1]), HSM: strings.ToLower(m[2]), Delivered: true, from: f}, n)
			continue
		}
		if m := segmentFile.FindStringSubmatch(n); m != nil {
			chain := m[1]
			if chain == "" {
				chain = base
			}
			if strings.Contains(chain, "/") {
				continue
			}
			hsm := chain
			if chain == ServerChain {
				hsm = ""
			}
			add("p"+chain, &Source{Name: chain, HSM: hsm, from: f}, n)
		}
	}
	return out, nil
}

// lineFunc receives each line (without its newline) and where it is.
type lineFunc func(where string, line []byte) error

// forEachLine reads every line of s in file order. A final line without a
// newline is passed to partial instead.
func (s *Source) forEachLine(ctx context.Context, fn lineFunc, partial func(where string)) error {
	for _, name := range s.Files {
		if err := s.readFile(ctx, name, fn, partial); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) readFile(ctx context.Context, name string, fn lineFunc, partial func(string)) error {
	rc, err := s.from.Open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	// The open segment of a running (or crashed) server ends in
	// preallocated zeros (prealloc.go).
	br := bufio.NewReaderSize(&untilNUL{r: rc}, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		where := fmt.Sprintf("%s:%d", name, n)
		if errors.Is(err, io.EOF) {
			if len(line) > 0 && partial != nil {
				partial(where)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := fn(where, line); err != nil {
			return err
		}
	}
}

// readLine returns the next line without its newline; a line longer than
// twice maxLine is returned cut short (it fails verification anyway).
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(buf)+len(part) <= 2*maxLine {
			buf = append(buf, part...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(buf, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return buf, err
		}
	}
}

// Verify checks the chain of s. Delivered logs are deduplicated (identical
// lines) and ordered by seq first, and may start mid-chain.
func (s *Source) Verify(ctx context.Context, pub ed25519.PublicKey) (*Report, error) {
	v := NewVerifier(VerifyOptions{PublicKey: pub, Partial: s.Delivered})
	if !s.Delivered {
		if err := s.forEachLine(ctx, func(w string, l []byte) error { v.Line(w, l); return nil }, v.Partial); err != nil {
			return nil, err
		}
		return v.Report(), nil
	}
	type entry struct {
		where string
		seq   uint64
		sum   digest
		line  []byte
	}
	var es []entry
	seen := map[uint64]digest{}
	err := s.forEachLine(ctx, func(w string, l []byte) error {
		h, err := parseHead(l)
		if err != nil {
			v.r.Lines++
			v.problem(w, 0, "malformed", "%v", err)
			return nil
		}
		sum := hashLine(l)
		if prev, ok := seen[*h.Seq]; ok {
			if prev == sum {
				v.Duplicate()
			} else {
				v.problem(w, *h.Seq, "duplicate", "a different line with seq %d was already seen (inserted record)", *h.Seq)
			}
			return nil
		}
		seen[*h.Seq] = sum
		es = append(es, entry{w, *h.Seq, sum, append([]byte(nil), l...)})
		return nil
	}, v.Partial)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	for _, e := range es {
		v.Line(e.where, e.line)
	}
	return v.Report(), nil
}
