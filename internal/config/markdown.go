package config

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

// MarkdownTable writes every flag of cmds as one Markdown table, for the
// README: a flag that means the same in several commands is one row naming
// them all; one whose meaning or default differs between commands gets a row
// per meaning. Generating it from the flag definitions keeps the README from
// falling behind them.
func MarkdownTable(cmds []*Command) string {
	type row struct {
		name, usage, def string
		cmds             []string
	}
	var rows []*row
	index := map[[3]string]*row{}
	for _, c := range cmds {
		c.Flags.VisitAll(func(f *flag.Flag) {
			key := [3]string{f.Name, f.Usage, f.DefValue}
			r := index[key]
			if r == nil {
				r = &row{name: f.Name, usage: f.Usage, def: f.DefValue}
				index[key] = r
				rows = append(rows, r)
			}
			r.cmds = append(r.cmds, c.Name)
		})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	var b strings.Builder
	b.WriteString("| flag | commands | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		def := "none"
		if r.def != "" {
			def = "`" + r.def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", r.name, strings.Join(r.cmds, ", "), def,
			strings.ReplaceAll(r.usage, "|", `\|`))
	}
	return b.String()
}
