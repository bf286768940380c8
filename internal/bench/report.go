package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Goal is one of the goals checked against this run.
type Goal struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	// AtLeast: Value must be >= Target; otherwise Value must be < Target.
	AtLeast bool   `json:"atLeast"`
	Unit    string `json:"unit"`
	Pass    bool   `json:"pass"`
	// Margin says by how much it passed or missed.
	Margin string `json:"margin"`
}

func evaluateGoals(rep *Report) []Goal {
	var gs []Goal
	get := func(op string) *Result {
		for i := range rep.Results {
			if rep.Results[i].Op == op {
				return &rep.Results[i]
			}
		}
		return nil
	}
	ratio := func(name, op string, vsRaw bool, target float64) {
		r := get(op)
		if r == nil {
			return
		}
		v := r.VsFloor
		if vsRaw {
			v = r.VsRaw
		}
		if v == 0 {
			return
		}
		gs = append(gs, goal(Goal{Name: name, Value: v, Target: target, AtLeast: true, Unit: "ratio"}))
	}
	ratio("RSA-2048 sign: full stack / raw crypto/rsa ≥ 0.80", "rsa2048-sign", true, 0.80)
	ratio("ES256 sign: full stack / floor ≥ 0.50", "es256-sign", false, 0.50)
	ratio("A256KW wrap: full stack / floor ≥ 0.50", "a256kw-wrap", false, 0.50)
	for _, r := range rep.Results {
		if r.AuditOff == nil || r.AuditOff.OpsPerSec == 0 {
			continue
		}
		gs = append(gs, goal(Goal{Name: "durable audit costs < 10 % of throughput: " + r.Op, Value: 100 * r.AuditCost, Target: 10, Unit: "%"}))
	}
	for _, r := range rep.Results {
		if r.Half == nil {
			continue
		}
		g := goal(Goal{Name: "p99 at 50 % of max < 10 ms: " + r.Op, Value: r.Half.P99Ms, Target: 10, Unit: "ms"})
		if !g.Pass {
			g.Margin += fmt.Sprintf("; median per-second p99 %.2f ms, p99 from the actual send %.2f ms", r.Half.P99WindowMedianMs, r.Half.P99FromSendMs)
		}
		if r.Half.Errors > 0 {
			g.Pass = false
			g.Margin += fmt.Sprintf("; %d errors", r.Half.Errors)
		}
		gs = append(gs, g)
	}
	return gs
}

func goal(g Goal) Goal {
	if g.AtLeast {
		g.Pass = g.Value >= g.Target
	} else {
		g.Pass = g.Value < g.Target
	}
	diff := g.Value - g.Target
	if diff < 0 {
		diff = -diff
	}
	rel := fmt.Sprintf(" (%.0f %% of the goal)", 100*diff/g.Target)
	if g.Unit == "%" {
		rel = " points"
	}
	if g.Pass {
		g.Margin = "pass by " + num(diff, g.Unit) + rel
	} else {
		g.Margin = "MISS by " + num(diff, g.Unit) + rel
	}
	return g
}

func num(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "%":
		return fmt.Sprintf("%.1f %%", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

func opsStr(v float64) string {
	if v == 0 {
		return "—"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func ratioStr(v float64) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteTable writes the results as an aligned text table and the goals.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tops/s\tp50 ms\tp90 ms\tp99 ms\terrors\traw ops/s\t/raw\t/floor\tp99 @50% ms\taudit-off ops/s\taudit cost\t")
	for _, r := range rep.Results {
		half, off, cost := "—", "—", "—"
		if r.Half != nil {
			half = fmt.Sprintf("%.2f", r.Half.P99Ms)
		}
		if r.AuditOff != nil {
			off, cost = opsStr(r.AuditOff.OpsPerSec), fmt.Sprintf("%.1f%%", 100*r.AuditCost)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Op, opsStr(r.Full.OpsPerSec), r.Full.P50Ms, r.Full.P90Ms, r.Full.P99Ms,
			r.Full.Errors, opsStr(r.RawOpsPerSec), ratioStr(r.VsRaw), ratioStr(r.VsFloor), half, off, cost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, g := range rep.Goals {
		mark := "pass"
		if !g.Pass {
			mark = "MISS"
		}
		fmt.Fprintf(w, "%s  %s: %s — %s\n", mark, g.Name, num(g.Value, g.Unit), g.Margin)
	}
	for _, r := range rep.Results {
		if r.Full.FirstError != "" {
			fmt.Fprintf(w, "first error of %s: %s\n", r.Op, r.Full.FirstError)
		}
	}
	return nil
}

// WriteMarkdown writes the machine, the results table, the goal checks and
// the profile breakdowns as Markdown (docs/performance.md's generated part).
func (rep *Report) WriteMarkdown(w io.Writer) error {
	m := rep.Machine
	d := time.Duration(rep.DurationSec * float64(time.Second))
	fmt.Fprintf(w, "Run %s against %s: %d connections, %s per operation and phase in %d interleaved round(s) of raw, full stack and audit off; then paced at 50 %% of the measured maximum for %s. Load generator on the same cores.\n\n",
		rep.Started, rep.Target, rep.Conns, d, max(rep.Rounds, 1), d)
	fmt.Fprintf(w, "Machine: %d CPUs (GOMAXPROCS %d), %s, %s, %s.\n\n", m.CPUs, m.GOMAXPROCS, m.CPUModel, m.GoVersion, m.OS)
	fmt.Fprintln(w, "| operation | ops/s | p50 ms | p90 ms | p99 ms | errors | raw ops/s | full/raw | full/floor | p99 ms @ 50 % | median 1 s p99 @ 50 % | errors @ 50 % | audit off ops/s | audit cost |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range rep.Results {
		half, hmed, herr, off, cost := "—", "—", "—", "—", "—"
		if r.Half != nil {
			half, hmed, herr = fmt.Sprintf("%.2f", r.Half.P99Ms), fmt.Sprintf("%.2f", r.Half.P99WindowMedianMs), fmt.Sprint(r.Half.Errors)
		}
		if r.AuditOff != nil {
			off, cost = opsStr(r.AuditOff.OpsPerSec), fmt.Sprintf("%.1f %%", 100*r.AuditCost)
		}
		fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %.2f | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Label, opsStr(r.Full.OpsPerSec), r.Full.P50Ms, r.Full.P90Ms, r.Full.P99Ms,
			r.Full.Errors, opsStr(r.RawOpsPerSec), ratioStr(r.VsRaw), ratioStr(r.VsFloor), half, hmed, herr, off, cost)
	}
	fmt.Fprintln(w, "\nraw = the same operation with Go's crypto in-process on GOMAXPROCS goroutines; floor = key get (no crypto), for ES256 sign and A256KW wrap measured again in their own rounds;")
	fmt.Fprintln(w, "audit off = the same closed loop against a second in-process server with `--audit=false`; audit cost = 1 − ops/s ÷ audit-off ops/s;")
	fmt.Fprintln(w, "@ 50 % = paced at half the measured ops/s, latency from each request's scheduled send time; the median of the per-second p99s shows whether a few stalls made the tail.")
	fmt.Fprint(w, "\n### Goals\n\n")
	fmt.Fprintln(w, "| goal | measured | result |")
	fmt.Fprintln(w, "|---|--:|---|")
	for _, g := range rep.Goals {
		fmt.Fprintf(w, "| %s | %s | %s |\n", g.Name, num(g.Value, g.Unit), g.Margin)
	}
	var errs []string
	for _, r := range rep.Results {
		if r.Full.FirstError != "" {
			errs = append(errs, fmt.Sprintf("- %s: %s", r.Op, r.Full.FirstError))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "\nFirst error per operation:\n\n"+strings.Join(errs, "\n"))
	}
	return nil
}

// WriteProfiles writes the per-operation CPU breakdowns as Markdown.
func (rep *Report) WriteProfiles(w io.Writer) error {
	for _, r := range rep.Results {
		p := r.Profile
		if p == nil {
			continue
		}
		fmt.Fprintf(w, "#### %s — %s ops/s; server %.0f µs CPU/request, load generator %.0f µs; cores %.0f %% busy\n\n",
			r.Label, opsStr(r.Full.OpsPerSec), p.ServerUsPerOp, p.ClientUsPerOp, 100*p.CPUUtil)
		fmt.Fprintln(w, "| server layer | µs/request | share |")
		fmt.Fprintln(w, "|---|--:|--:|")
		for _, l := range p.Layers {
			if l.Fraction < 0.005 {
				continue
			}
			fmt.Fprintf(w, "| %s | %.1f | %.0f %% |\n", l.Name, l.UsPerOp, 100*l.Fraction)
		}
		var top []string
		for _, t := range p.Top[:min(len(p.Top), 8)] {
			top = append(top, fmt.Sprintf("`%s` %.0f %%", shortFunc(t.Name), 100*t.Fraction))
		}
		fmt.Fprintf(w, "\nTop self time (server): %s.\n\n", strings.Join(top, ", "))
	}
	return nil
}

// shortFunc drops the module path from a function name.
func shortFunc(s string) string {
	s = strings.TrimPrefix(s, "github.com/mhsm/mhsm/internal/")
	if i := strings.LastIndex(s, "/"); i >= 0 && !strings.Contains(s[:i], "(") {
		s = s[i+1:]
	}
	return s
}
