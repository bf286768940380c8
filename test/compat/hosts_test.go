package compat

import (
	"fmt"
	"os"
	"strings"
)

const (
	hostsFile   = "/etc/hosts"
	hostsMarker = "# mhsm-compat-test"
)

// addHosts appends "127.0.0.1 <name>" lines for names, each tagged with
// hostsMarker, after removing any left by an earlier run.
func addHosts(names ...string) error {
	if err := removeHosts(); err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "127.0.0.1 %s %s\n", n, hostsMarker)
	}
	f, err := os.OpenFile(hostsFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("add names to %s: %w", hostsFile, err)
	}
	defer f.Close()
	_, err = f.WriteString(b.String())
	return err
}

// removeHosts drops every line tagged with hostsMarker.
func removeHosts() error {
	b, err := os.ReadFile(hostsFile)
	if err != nil {
		return err
	}
	var keep []string
	changed := false
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if strings.Contains(l, hostsMarker) {
			changed = true
			continue
		}
		keep = append(keep, l)
	}
	if !changed {
		return nil
	}
	// Rewrite in place: /etc/hosts may be a bind mount that cannot be
	// replaced by rename.
	return os.WriteFile(hostsFile, []byte(strings.Join(keep, "")), 0o644)
}
