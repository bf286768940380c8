package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// progress shows a long-running command's progress on stderr when stderr
// is a terminal, one line rewritten in place, and stays silent in pipes,
// files and tests. Results never go through it: they go to stdout, so a
// script reading the output sees the same bytes with or without a
// terminal. MHSM_PROGRESS=0 silences it, =1 forces it (plain lines).
//
//	p := newProgress(cmd, "security domain download")
//	p.Update("waiting for the HSM (%d/%d)", try, tries)
//	p.Done("done")
type progress struct {
	w     io.Writer // nil: silent
	tty   bool      // rewrite one line in place
	label string
	start time.Time
}

// newProgress returns the progress of cmd's long-running work.
func newProgress(cmd *cobra.Command, label string) *progress {
	p := &progress{label: label, start: time.Now()}
	w := cmd.ErrOrStderr()
	switch os.Getenv("MHSM_PROGRESS") {
	case "0":
		return p
	case "1":
		p.w = w
		return p
	}
	if isTerminal(w) {
		p.w, p.tty = w, true
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update shows the current step, with the time elapsed.
func (p *progress) Update(format string, a ...any) {
	if p.w == nil {
		return
	}
	msg := fmt.Sprintf("%s: %s (%s)", p.label, fmt.Sprintf(format, a...), time.Since(p.start).Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", msg)
		return
	}
	fmt.Fprintln(p.w, msg)
}

// Done ends the progress line with a last word ("" clears it).
func (p *progress) Done(msg string) {
	if p.w == nil {
		return
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	if msg != "" {
		fmt.Fprintf(p.w, "%s: %s in %s\n", p.label, msg, time.Since(p.start).Round(100*time.Millisecond))
	}
}

// Log is a writer for libraries that print progress lines themselves
// (bench.Config.Log): stderr when progress shows, else discarded.
func (p *progress) Log() io.Writer {
	if p.w == nil {
		return io.Discard
	}
	return p.w
}
