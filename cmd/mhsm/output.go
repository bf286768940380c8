package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/spf13/cobra"
)

// output is az's output handling, shared by every command: -o/--output
// json|jsonc|table|tsv|none and --query (JMESPath). Bind it to a command
// with bind, print results with print. A command's table columns (what a
// person scans) are registered by command path in tables.go; without
// them a table shows the top-level scalar fields, as az's does.
type output struct {
	format string
	query  string
	cmd    *cobra.Command
}

func (o *output) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "json", "output format: json, jsonc, table, tsv or none")
	cmd.Flags().StringVar(&o.query, "query", "", "JMESPath query applied to the result, e.g. \"[].id\" or id")
	o.cmd = cmd
	markGlobal(cmd, "output", "query") // help.go
}

// defaultOutput changes a command's default -o (after bind): commands
// whose result is mostly read by people default to table.
func defaultOutput(cmd *cobra.Command, format string) {
	f := cmd.Flags().Lookup("output")
	_ = f.Value.Set(format)
	f.DefValue = format
}

// columns are the command's registered table columns (tables.go), if any.
func (o *output) columns() []column {
	if o.cmd == nil {
		return nil
	}
	return tableColumns[strings.TrimPrefix(o.cmd.CommandPath(), "mhsm ")]
}

// table reports whether the output is a table of the command's registered
// columns (-o table, no --query): commands may then add fields the columns
// show (e.g. a key's version count).
func (o *output) table() bool {
	return o.format == "table" && o.query == "" && o.columns() != nil
}

// print writes v (any JSON-encodable value) after the query, in the
// chosen format.
func (o *output) print(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var data any
	if err := json.Unmarshal(b, &data); err != nil {
		return err
	}
	if o.query != "" {
		if data, err = jmespath.Search(o.query, data); err != nil {
			return fmt.Errorf("--query: %w", err)
		}
	}
	switch o.format {
	case "json", "jsonc", "":
		b, err := json.MarshalIndent(data, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "tsv":
		return writeTSV(w, data)
	case "table":
		if cols := o.columns(); cols != nil && o.query == "" {
			return writeColumns(w, data, cols)
		}
		return writeTable(w, data)
	case "none":
		return nil
	}
	return fmt.Errorf("--output %q: use json, jsonc, table, tsv or none", o.format)
}

// scalar renders a scalar as az's tsv and table do.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), "."), true
	}
	return "", false
}

// writeTSV prints a scalar as itself, an object as its scalar values
// (keys sorted) joined by tabs, and a list one item per line.
func writeTSV(w io.Writer, data any) error {
	rows := []any{data}
	if l, ok := data.([]any); ok {
		rows = l
	}
	for _, r := range rows {
		var cells []string
		if m, ok := r.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				if s, ok := scalar(m[k]); ok {
					cells = append(cells, s)
				}
			}
		} else if s, ok := scalar(r); ok {
			cells = []string{s}
		} else if l, ok := r.([]any); ok {
			for _, x := range l {
				if s, ok := scalar(x); ok {
					cells = append(cells, s)
				}
			}
		}
		if _, err := fmt.Fprintln(w, strings.Join(cells, "\t")); err != nil {
			return err
		}
	}
	return nil
}

// preferred columns come first in tables, in this order.
var preferred = []string{"displayName", "name", "userPrincipalName", "appId", "id", "clientId", "principalId"}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@odata.") {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		ia, ib := slices.Index(preferred, keys[a]), slices.Index(preferred, keys[b])
		if ia < 0 {
			ia = len(preferred)
		}
		if ib < 0 {
			ib = len(preferred)
		}
		if ia != ib {
			return ia < ib
		}
		return keys[a] < keys[b]
	})
	return keys
}

// writeTable prints objects as rows of their scalar fields.
func writeTable(w io.Writer, data any) error {
	rows, ok := data.([]any)
	if !ok {
		rows = []any{data}
	}
	var cols []string
	for _, r := range rows {
		if m, ok := r.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				if _, isScalar := scalar(m[k]); isScalar && !slices.Contains(cols, k) {
					cols = append(cols, k)
				}
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(cols) == 0 { // scalars
		fmt.Fprintln(tw, "Result")
		fmt.Fprintln(tw, "------")
		for _, r := range rows {
			s, _ := scalar(r)
			fmt.Fprintln(tw, s)
		}
		return tw.Flush()
	}
	head := make([]string, len(cols))
	dash := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c[:1]) + c[1:]
		dash[i] = strings.Repeat("-", len(c))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	fmt.Fprintln(tw, strings.Join(dash, "\t"))
	for _, r := range rows {
		m, _ := r.(map[string]any)
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i], _ = scalar(m[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
