package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
)

// Several mhsm nodes sharing one store (etcd) each write their own audit
// chain per HSM, with their own checkpoints (docs/scale.md). `mhsm audit
// verify --dir A --dir B …` verifies every node's chains one by one, then
// merges them per HSM: the HSM's log is the union of its nodes' chains,
// and it verifies only if every one of them does.

// nodeSources lists the chains of every --dir, naming each "<node>/<chain>"
// where node is the directory's parent (the node's data dir) name.
func (s *logSource) nodeSources(ctx context.Context) ([]*audit.Source, error) {
	var out []*audit.Source
	for _, d := range s.nodes {
		one := *s
		one.nodes, one.dir = nil, d
		srcs, err := one.sources(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		abs, _ := filepath.Abs(d)
		node := filepath.Base(filepath.Dir(abs))
		for _, src := range srcs {
			src.Name = node + "/" + src.Name
			out = append(out, src)
		}
	}
	return out, nil
}

// printMerged prints one line per HSM (and the server chain) over all
// nodes: how many nodes' chains, records and checkpoints, the latest
// verified checkpoint, and whether every chain verified.
func printMerged(w io.Writer, srcs []*audit.Source, reports []*audit.Report, allowTail bool) {
	type merged struct {
		nodes, records, checkpoints int
		last                        time.Time
		ok                          bool
	}
	by := map[string]*merged{}
	for i, r := range reports {
		hsm := srcs[i].HSM
		if hsm == "" {
			hsm = audit.ServerChain
		}
		m := by[hsm]
		if m == nil {
			m = &merged{ok: true}
			by[hsm] = m
		}
		m.nodes++
		m.records += r.Records
		m.checkpoints += r.Checkpoints
		if r.LastCheckpoint.After(m.last) {
			m.last = r.LastCheckpoint
		}
		m.ok = m.ok && len(r.Problems) == 0 && r.Lines > 0 && (allowTail || r.UnverifiedTail == 0)
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m := by[n]
		verdict := "OK"
		if !m.ok {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "%s (merged, %d nodes): %s — %d records, %d checkpoints, latest checkpoint %s\n",
			n, m.nodes, verdict, m.records, m.checkpoints, m.last.Format(time.RFC3339))
	}
}
