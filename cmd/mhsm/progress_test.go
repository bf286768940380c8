package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestProgressQuietInPipes: progress says nothing when stderr is not a
// terminal (a pipe, a file, a buffer) and never touches stdout;
// MHSM_PROGRESS=1 forces plain lines, =0 silences it.
func TestProgressQuietInPipes(t *testing.T) {
	for _, c := range []struct {
		env  string
		want bool
	}{{"", false}, {"1", true}, {"0", false}} {
		t.Setenv("MHSM_PROGRESS", c.env)
		var stdout, stderr bytes.Buffer
		cmd := &cobra.Command{}
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		p := newProgress(cmd, "upload")
		p.Update("step %d", 1)
		_, _ = p.Log().Write([]byte("phase line\n"))
		p.Done("done")
		if got := stderr.String(); (got != "") != c.want {
			t.Errorf("MHSM_PROGRESS=%q: stderr %q", c.env, got)
		} else if c.want && (!strings.Contains(got, "upload: step 1") || !strings.Contains(got, "upload: done in") || !strings.Contains(got, "phase line")) {
			t.Errorf("MHSM_PROGRESS=1: stderr %q", got)
		}
		if stdout.Len() != 0 {
			t.Errorf("progress wrote to stdout: %q", stdout.String())
		}
	}
}
