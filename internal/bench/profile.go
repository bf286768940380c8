package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Breakdown is where the CPU went during one operation's full-stack run,
// from a CPU profile of the whole process (--self: server and load
// generator share it). Samples of the load generator carry the pprof label
// side=client; everything else is the server.
type Breakdown struct {
	// ServerUsPerOp and ClientUsPerOp are CPU microseconds per completed
	// request.
	ServerUsPerOp float64 `json:"serverUsPerOp"`
	ClientUsPerOp float64 `json:"clientUsPerOp"`
	// CPUUtil is (server + client CPU) / (wall time × cores): 1 means the
	// cores were saturated.
	CPUUtil float64 `json:"cpuUtil"`
	// Layers splits the server's CPU per request by layer (µs), largest first.
	Layers []Share `json:"layers"`
	// Top lists the server's functions with the most self CPU.
	Top []Share `json:"top"`
}

// Share is CPU time per request (µs) and its fraction of the server's CPU.
type Share struct {
	Name     string  `json:"name"`
	UsPerOp  float64 `json:"usPerOp"`
	Fraction float64 `json:"fraction"`
}

// layerRules assign a sample to a layer: the stack is walked from the leaf
// up, and the first frame matching a rule decides. Frames matching no rule
// (runtime allocation, crypto primitives, syscalls, sync) are charged to
// the first layer above them, so "token" includes the RSA verification
// the token check does, and "json" the allocations of encoding.
var layerRules = []struct{ prefix, layer string }{
	{"github.com/mhsm/mhsm/internal/token.", "token verification"},
	{"github.com/mhsm/mhsm/internal/rbac.", "rbac decision"},
	{"github.com/mhsm/mhsm/internal/audit.", "audit"},
	{"github.com/mhsm/mhsm/internal/keys.B64", "json"},
	{"github.com/mhsm/mhsm/internal/keys.(*B64)", "json"},
	{"github.com/mhsm/mhsm/internal/keys.DecodeB64", "json"},
	{"github.com/mhsm/mhsm/internal/keys.Unmarshal", "key material load"},
	{"github.com/mhsm/mhsm/internal/keys.", "key crypto"},
	{"go.etcd.io/bbolt.", "store (bbolt)"},
	{"github.com/mhsm/mhsm/internal/store.", "store (bbolt)"},
	{"github.com/mhsm/mhsm/internal/barrier.", "barrier"},
	{"encoding/json.", "json"},
	{"github.com/mhsm/mhsm/internal/hsm.", "hsm service"},
	{"github.com/mhsm/mhsm/internal/mgmt.", "management plane"},
	{"github.com/mhsm/mhsm/internal/directory.", "directory (groups)"},
	{"github.com/mhsm/mhsm/internal/throttle.", "pipeline (httpapi)"},
	{"github.com/prometheus/", "metrics"},
	{"github.com/mhsm/mhsm/internal/ops.", "metrics"},
	{"github.com/mhsm/mhsm/internal/httpapi.", "pipeline (httpapi)"},
	{"github.com/google/uuid.", "pipeline (httpapi)"},
	{"crypto/tls.", "tls"},
	{"net/http.", "http"},
	{"runtime.gcBgMarkWorker", "gc (background)"},
}

// auditFrames mark a sample as audit wherever it sits in the stack: the
// edge's recorder, the audit package and what they call (encoding, the
// resource id lookup, write, fsync).
var auditFrames = []string{
	"github.com/mhsm/mhsm/internal/audit.",
	"github.com/mhsm/mhsm/internal/httpapi.(*auditor)",
	"github.com/mhsm/mhsm/internal/app.(*resourceIDs)",
}

// categorize returns the layer of a stack given leaf first. json is split
// by its caller: store records (hsm) or the request/response (httpapi).
func categorize(stack []string) string {
	for _, fn := range stack {
		for _, a := range auditFrames {
			if strings.HasPrefix(fn, a) {
				return "audit"
			}
		}
	}
	sawSyscall := false
	for i, fn := range stack {
		if strings.HasPrefix(fn, "syscall.") || strings.HasPrefix(fn, "internal/poll.") || strings.HasPrefix(fn, "internal/runtime/syscall") {
			sawSyscall = true
		}
		for _, r := range layerRules {
			if !strings.HasPrefix(fn, r.prefix) {
				continue
			}
			switch r.layer {
			case "tls", "http":
				if sawSyscall {
					return "network syscalls"
				}
			case "json":
				for _, up := range stack[i+1:] {
					if strings.HasPrefix(up, "github.com/mhsm/mhsm/internal/hsm.") {
						return "json (store records)"
					}
					if strings.HasPrefix(up, "github.com/mhsm/mhsm/internal/token.") {
						return "token verification"
					}
					if strings.HasPrefix(up, "github.com/mhsm/mhsm/internal/mgmt.") {
						return "management plane"
					}
					if strings.HasPrefix(up, "github.com/mhsm/mhsm/internal/httpapi.") {
						return "json (request/response)"
					}
				}
			}
			return r.layer
		}
	}
	if sawSyscall {
		return "network syscalls"
	}
	return "runtime (scheduler, netpoll, gc assist)"
}

// analyze turns CPU profiles into a Breakdown for n completed requests
// over wallSec seconds on cores CPUs.
func analyze(profiles [][]byte, n int, wallSec float64, cores int) (*Breakdown, error) {
	p := &profile{}
	for _, gz := range profiles {
		q, err := parseProfile(gz)
		if err != nil {
			return nil, err
		}
		p.samples = append(p.samples, q.samples...)
	}
	if n == 0 {
		return nil, errors.New("no completed requests")
	}
	var server, client int64
	layers := map[string]int64{}
	flat := map[string]int64{}
	for _, s := range p.samples {
		if s.client {
			client += s.nanos
			continue
		}
		server += s.nanos
		layers[categorize(s.stack)] += s.nanos
		if len(s.stack) > 0 {
			flat[s.stack[0]] += s.nanos
		}
	}
	per := func(ns int64) float64 { return float64(ns) / 1e3 / float64(n) }
	b := &Breakdown{ServerUsPerOp: per(server), ClientUsPerOp: per(client),
		CPUUtil: float64(server+client) / 1e9 / (wallSec * float64(cores))}
	share := func(m map[string]int64, limit int) []Share {
		var out []Share
		for k, v := range m {
			f := 0.0
			if server > 0 {
				f = float64(v) / float64(server)
			}
			out = append(out, Share{Name: k, UsPerOp: per(v), Fraction: f})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].UsPerOp != out[j].UsPerOp {
				return out[i].UsPerOp > out[j].UsPerOp
			}
			return out[i].Name < out[j].Name
		})
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out
	}
	b.Layers = share(layers, 0)
	b.Top = share(flat, 12)
	return b, nil
}

// profile is the part of a pprof profile the breakdown needs.
type profile struct {
	samples []sample
}

type sample struct {
	stack  []string // function names, leaf first (inlined frames included)
	nanos  int64
	client bool
}

// parseProfile decodes the gzipped profile.proto that runtime/pprof writes
// (just the fields used here) to avoid a dependency for one report.
func parseProfile(gz []byte) (*profile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	r := &rawProfile{locFuncs: map[uint64][]uint64{}, funcNames: map[uint64]int64{}}
	if err := eachField(raw, r.field); err != nil {
		return nil, err
	}
	return r.resolve()
}

// rawProfile is profile.proto as decoded, before ids and string indexes
// are resolved.
type rawProfile struct {
	strs      []string
	types     [][2]int64 // sample_type: type, unit (string indexes)
	samples   []rawSample
	locFuncs  map[uint64][]uint64 // location → function ids, leaf first
	funcNames map[uint64]int64    // function → name string index
}

type rawSample struct {
	locs   []uint64
	values []int64
	labels [][2]int64 // key, str (string indexes)
}

// field decodes one top-level field of a Profile message.
func (r *rawProfile) field(f, _ int, _ uint64, b []byte) error {
	switch f {
	case 1: // sample_type
		t, u, err := pair(b, 1, 2)
		r.types = append(r.types, [2]int64{t, u})
		return err
	case 2:
		return r.sample(b)
	case 4:
		return r.location(b)
	case 5: // function
		id, name, err := pair(b, 1, 2)
		r.funcNames[uint64(id)] = name
		return err
	case 6:
		r.strs = append(r.strs, string(b))
	}
	return nil
}

func (r *rawProfile) sample(b []byte) error {
	var s rawSample
	err := eachField(b, func(f, wt int, v uint64, b []byte) error {
		switch f {
		case 1:
			s.locs = appendPacked(s.locs, wt, v, b)
		case 2:
			for _, x := range appendPacked(nil, wt, v, b) {
				s.values = append(s.values, int64(x))
			}
		case 3:
			k, str, err := pair(b, 1, 2)
			s.labels = append(s.labels, [2]int64{k, str})
			return err
		}
		return nil
	})
	r.samples = append(r.samples, s)
	return err
}

func (r *rawProfile) location(b []byte) error {
	var id uint64
	var fns []uint64
	err := eachField(b, func(f, _ int, v uint64, b []byte) error {
		switch f {
		case 1:
			id = v
		case 4: // line
			fid, _, err := pair(b, 1, 0)
			fns = append(fns, uint64(fid))
			return err
		}
		return nil
	})
	r.locFuncs[id] = fns
	return err
}

// pair returns the varint fields fa and fb of msg (0 when absent).
func pair(msg []byte, fa, fb int) (a, b int64, err error) {
	err = eachField(msg, func(f, _ int, v uint64, _ []byte) error {
		switch f {
		case fa:
			a = int64(v)
		case fb:
			b = int64(v)
		}
		return nil
	})
	return a, b, err
}

func (r *rawProfile) str(i int64) string {
	if i < 0 || int(i) >= len(r.strs) {
		return ""
	}
	return r.strs[i]
}

// resolve turns ids and string indexes into stacks of function names.
func (r *rawProfile) resolve() (*profile, error) {
	valueIdx := -1
	for i, t := range r.types {
		if r.str(t[1]) == "nanoseconds" {
			valueIdx = i
		}
	}
	if valueIdx < 0 {
		return nil, errors.New("profile has no nanoseconds sample type")
	}
	p := &profile{}
	for _, rs := range r.samples {
		if valueIdx >= len(rs.values) {
			continue
		}
		s := sample{nanos: rs.values[valueIdx]}
		for _, l := range rs.labels {
			if r.str(l[0]) == "side" && r.str(l[1]) != "" {
				s.client = true
			}
		}
		for _, loc := range rs.locs {
			for _, fid := range r.locFuncs[loc] {
				s.stack = append(s.stack, r.str(r.funcNames[fid]))
			}
		}
		p.samples = append(p.samples, s)
	}
	return p, nil
}

// appendPacked appends a repeated varint field given either packed (wire
// type 2) or one value at a time (wire type 0).
func appendPacked(dst []uint64, wt int, v uint64, b []byte) []uint64 {
	if wt == 0 {
		return append(dst, v)
	}
	for len(b) > 0 {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return dst
		}
		dst = append(dst, x)
		b = b[n:]
	}
	return dst
}

// eachField calls fn for each field of a protobuf message: varints as v,
// length-delimited fields as b.
func eachField(msg []byte, fn func(field, wiretype int, v uint64, b []byte) error) error {
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return errors.New("profile: bad field key")
		}
		msg = msg[n:]
		field, wt := int(key>>3), int(key&7)
		var v uint64
		var b []byte
		switch wt {
		case 0:
			v, n = binary.Uvarint(msg)
			if n <= 0 {
				return errors.New("profile: bad varint")
			}
			msg = msg[n:]
		case 1:
			if len(msg) < 8 {
				return errors.New("profile: short fixed64")
			}
			v = binary.LittleEndian.Uint64(msg)
			msg = msg[8:]
		case 2:
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return errors.New("profile: bad length")
			}
			b = msg[n : n+int(l)]
			msg = msg[n+int(l):]
		case 5:
			if len(msg) < 4 {
				return errors.New("profile: short fixed32")
			}
			v = uint64(binary.LittleEndian.Uint32(msg))
			msg = msg[4:]
		default:
			return fmt.Errorf("profile: wire type %d", wt)
		}
		if err := fn(field, wt, v, b); err != nil {
			return err
		}
	}
	return nil
}
