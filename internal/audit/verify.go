package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"time"
)

// Problem is one integrity failure found by the verifier.
type Problem struct {
	Where string // "file:line" or "seq N"
	Seq   uint64 // 0 when unknown
	Kind  string // malformed, partial, sequence, chain, signature, key, checkpoint, duplicate, head
	What  string
}

func (p Problem) String() string { return p.Where + ": " + p.Kind + ": " + p.What }

// Report is the verdict on one chain.
type Report struct {
	Chain       string // from the checkpoints ("" if none)
	Lines       int
	Records     int
	Checkpoints int
	FirstSeq    uint64
	LastSeq     uint64
	// VerifiedThrough is the seq of the last checkpoint whose signature and
	// chain verified: every line up to it is authentic.
	VerifiedThrough uint64
	LastCheckpoint  time.Time
	KeyID           string
	// Pinned is true when signatures were checked against a key the caller
	// supplied rather than the key the log carries.
	Pinned bool
	// UnverifiedTail counts lines after the last verified checkpoint: a
	// truncated or still-open log.
	UnverifiedTail int
	// Duplicates counts identical lines dropped (delivered logs, which are
	// at-least-once, may repeat lines).
	Duplicates int
	Problems   []Problem
}

// OK reports a log with no problems whose every line a checkpoint covers.
func (r *Report) OK() bool { return len(r.Problems) == 0 && r.UnverifiedTail == 0 && r.Lines > 0 }

// VerifyOptions control verification.
type VerifyOptions struct {
	// PublicKey pins the checkpoint key. Nil trusts the key in the first
	// checkpoint (Report.Pinned is false) and requires every later
	// checkpoint to use the same one.
	PublicKey ed25519.PublicKey
	// Partial accepts a log that starts after seq 1 (a delivered log starts
	// when its diagnostic setting was made).
	Partial bool
}

// Verifier checks one chain fed line by line, in order. It never panics on
// any input and holds O(1) state.
type Verifier struct {
	opts   VerifyOptions
	r      Report
	key    ed25519.PublicKey
	next   uint64 // expected seq; 0 = take the first line's
	prev   digest
	known  bool // prev is known
	clean  bool // no problem since the last verified checkpoint
	sinceV int  // lines since the last verified checkpoint
}

// NewVerifier returns a verifier.
func NewVerifier(o VerifyOptions) *Verifier {
	v := &Verifier{opts: o, key: o.PublicKey, clean: true}
	v.r.Pinned = o.PublicKey != nil
	if !o.Partial {
		v.next, v.known = 1, true
	}
	if v.key != nil {
		v.r.KeyID = KeyID(v.key)
	}
	return v
}

func (v *Verifier) problem(where string, seq uint64, kind, format string, args ...any) {
	v.clean = false
	if len(v.r.Problems) < 1000 {
		v.r.Problems = append(v.r.Problems, Problem{Where: where, Seq: seq, Kind: kind, What: fmt.Sprintf(format, args...)})
	}
}

// Partial reports a final line with no newline at where.
func (v *Verifier) Partial(where string) {
	v.problem(where, 0, "partial", "the last line has no line end (truncated write or tampering)")
}

// Line checks the next line (without its newline). where locates it for
// the report.
func (v *Verifier) Line(where string, line []byte) {
	v.r.Lines++
	v.sinceV++
	h, err := parseHead(line)
	if err != nil {
		v.problem(where, 0, "malformed", "%v", err)
		v.prev, v.known = hashLine(line), true
		if v.next != 0 {
			v.next++
		}
		return
	}
	seq := *h.Seq
	if v.r.FirstSeq == 0 {
		v.r.FirstSeq = seq
	}
	switch {
	case v.next == 0:
	case seq != v.next && v.r.Lines == 1 && !v.opts.Partial:
		v.problem(where, seq, "head", "the log starts at seq %d: lines 1..%d are missing", seq, seq-1)
	case seq != v.next:
		v.problem(where, seq, "sequence", "seq %d where %d was expected (a line was deleted, inserted or moved)", seq, v.next)
	}
	if v.known && h.PrevHash != v.prev.String() {
		v.problem(where, seq, "chain", "prevHash does not match the previous line (it or this line was modified, or a line was removed or inserted)")
	}
	v.r.LastSeq = seq
	if h.Category == CategoryCheckpoint {
		v.checkpoint(where, seq, line)
	} else {
		v.r.Records++
	}
	v.prev, v.known, v.next = hashLine(line), true, seq+1
}

func (v *Verifier) checkpoint(where string, seq uint64, line []byte) {
	v.r.Checkpoints++
	cp, err := parseCheckpoint(line)
	if err != nil {
		v.problem(where, seq, "checkpoint", "%v", err)
		return
	}
	emb, err := cp.embeddedKey()
	if err != nil {
		v.problem(where, seq, "checkpoint", "%v", err)
		return
	}
	if v.key == nil {
		v.key = emb
		v.r.KeyID = KeyID(emb)
	}
	if !bytes.Equal(emb, v.key) || cp.KeyID != KeyID(v.key) {
		v.problem(where, seq, "key", "checkpoint signed by key %s, expected %s", cp.KeyID, KeyID(v.key))
		return
	}
	if !cp.checkSignature(v.key) {
		v.problem(where, seq, "signature", "checkpoint signature does not verify")
		return
	}
	if v.r.Chain == "" {
		v.r.Chain = cp.Chain
	} else if cp.Chain != v.r.Chain {
		v.problem(where, seq, "checkpoint", "checkpoint of chain %q inside chain %q", cp.Chain, v.r.Chain)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, cp.Time)
	if err != nil {
		v.problem(where, seq, "checkpoint", "bad time")
		return
	}
	if !v.clean {
		// The signature is good but something before it failed: the
		// checkpoint vouches for lines other than these.
		v.clean = true
		return
	}
	v.r.VerifiedThrough, v.r.LastCheckpoint, v.sinceV = seq, t, 0
}

// Duplicate counts an identical repeated line (delivered logs).
func (v *Verifier) Duplicate() { v.r.Duplicates++ }

// Report ends verification.
func (v *Verifier) Report() *Report {
	r := v.r
	r.UnverifiedTail = v.sinceV
	if r.Lines == 0 {
		r.Problems = append(r.Problems, Problem{Where: "log", Kind: "head", What: "the log is empty"})
	}
	return &r
}

// seqOf is "seq N" for problems located by seq.
func seqOf(n uint64) string { return "seq " + strconv.FormatUint(n, 10) }
