package main

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
)

// outputExempt are runnable commands without -o/--query, and why.
var outputExempt = map[string]string{
	"mhsm server":              "runs the server",
	"mhsm hosts":               "prints /etc/hosts lines",
	"mhsm bench":               "prints its report; --json and --markdown write it",
	"mhsm logout":              "prints nothing",
	"mhsm audit public-key":    "prints a PEM key to save",
	"mhsm keyvault key backup": "writes the backup file, prints nothing",
	"mhsm keyvault security-domain init-recovery": "writes the transfer key file, prints nothing",
	"mhsm keyvault security-domain restore-blob":  "offline; writes the restore blob, prints nothing",
	"mhsm dev export": "writes the state file, prints nothing",
}

// walkCommands calls f for every command of a freshly built tree.
func walkCommands(f func(c *cobra.Command)) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		f(c)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot())
}

// TestEveryCommandHasExamples walks the command tree: every command has a
// one-sentence description in az's voice (capitalised, ending with a
// period, not repeating the command's name in lower case), every runnable
// command has an example, and every runnable command that prints a result
// takes -o and --query.
func TestEveryCommandHasExamples(t *testing.T) {
	n := 0
	walkCommands(func(c *cobra.Command) {
		path := c.CommandPath()
		s := c.Short
		if s == "" || !unicode.IsUpper([]rune(s)[0]) || !strings.HasSuffix(s, ".") || strings.HasPrefix(s, c.Name()+" ") {
			t.Errorf("%s: description %q is not one capitalised sentence ending with a period", path, s)
		}
		if !c.Runnable() {
			return
		}
		n++
		if !strings.Contains(c.Example, "mhsm ") {
			t.Errorf("%s: no example in --help", path)
		}
		if _, ok := outputExempt[path]; !ok && (c.Flags().Lookup("output") == nil || c.Flags().Lookup("query") == nil) {
			t.Errorf("%s: no -o/--query", path)
		}
	})
	if n < 90 {
		t.Fatalf("walked only %d runnable commands", n)
	}
}

// TestExamplesParse runs the parser on every example line of every
// command's help: the command path exists and takes the flags shown.
func TestExamplesParse(t *testing.T) {
	lines := 0
	walkCommands(func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "mhsm ") {
				continue
			}
			lines++
			want := c.CommandPath()
			if !c.HasParent() { // the root's examples are a session of many commands
				want = ""
			}
			if err := parseExample(line, want); err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
			}
		}
	})
	if lines < 100 {
		t.Fatalf("only %d example lines", lines)
	}
}

// parseExample checks one example command line against a fresh tree: it
// names a runnable command (want, when not empty) and its flags parse.
func parseExample(line, want string) error {
	words, err := shellWords(line)
	if err != nil {
		return err
	}
	for i, w := range words { // stop at a pipe or a redirection
		if w == "|" || w == ">" || w == ">>" {
			words = words[:i]
			break
		}
	}
	root := newRoot()
	cmd, rest, err := root.Find(azListArgs(words[1:]))
	if err != nil {
		return err
	}
	if want != "" && cmd.CommandPath() != want {
		return errorf("runs %q, not %q", cmd.CommandPath(), want)
	}
	if !cmd.Runnable() {
		return errorf("%q is a group", cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if args := cmd.Flags().Args(); len(args) > 0 {
		return errorf("stray arguments %q", args)
	}
	return nil
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// shellWords splits a command line as sh does for the quoting our
// examples use: single quotes, double quotes (with $(…) kept as text) and
// backslash escapes outside quotes; "|" and ">" are words of their own.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	r := []rune(line)
	for i := 0; i < len(r); i++ {
		switch ch := r[i]; {
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				j++
			}
			if j == len(r) {
				return nil, errorf("unterminated single quote")
			}
			cur.WriteString(string(r[i+1 : j]))
			inWord, i = true, j
		case ch == '"':
			j := i + 1
			for j < len(r) && r[j] != '"' {
				if r[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(r) {
				return nil, errorf("unterminated double quote")
			}
			cur.WriteString(string(r[i+1 : j]))
			inWord, i = true, j
		case ch == '\\' && i+1 < len(r):
			i++
			cur.WriteRune(r[i])
			inWord = true
		case (ch == '|' || ch == '>') && !inWord:
			words = append(words, string(ch))
		default:
			cur.WriteRune(ch)
			inWord = true
		}
	}
	flush()
	return words, nil
}

// TestTableColumnsNameCommands: every registered table names an existing
// command that has -o, and every column is a valid JMESPath expression.
func TestTableColumnsNameCommands(t *testing.T) {
	paths := map[string]*cobra.Command{}
	walkCommands(func(c *cobra.Command) { paths[strings.TrimPrefix(c.CommandPath(), "mhsm ")] = c })
	for path, cols := range tableColumns {
		c, ok := paths[path]
		if !ok || c.Flags().Lookup("output") == nil {
			t.Errorf("tables.go: %q is not a command with -o", path)
		}
		var b strings.Builder
		if err := writeColumns(&b, []any{map[string]any{}}, cols); err != nil {
			t.Errorf("tables.go %q: %v", path, err)
		}
	}
}
