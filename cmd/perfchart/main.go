// Command perfchart draws the charts of docs/performance.md from the CSV
// files the benchmarks write: the first column is the x axis, every other
// column a curve in its own panel, one above the other, sharing that axis.
// The header row names them, with the unit in brackets: "rate [events/s]".
//
//	go run ./cmd/perfchart -in trace.csv -out docs/ingest-over-time.svg -title "…"
//
// It writes plain SVG with the standard library only, so that the charts can
// be drawn again on any machine that runs the tests.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "perfchart:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("perfchart", flag.ContinueOnError)
	in := fs.String("in", "", "the CSV file to draw (required)")
	out := fs.String("out", "", "the SVG file to write; standard output when empty")
	title := fs.String("title", "", "the chart's title")
	logX := fs.Bool("logx", false, "a logarithmic x axis, for sizes that grow tenfold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("-in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	tbl, err := readTable(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	svg := draw(tbl, *title, *logX)
	if *out == "" {
		_, err = io.WriteString(stdout, svg)
		return err
	}
	return os.WriteFile(*out, []byte(svg), 0o644)
}

// table is the CSV: names[0] is the x axis, rows[i][0] its values.
type table struct {
	names []string
	rows  [][]float64
}

func readTable(r io.Reader) (table, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return table{}, err
	}
	if len(recs) < 3 || len(recs[0]) < 2 {
		return table{}, errors.New("want a header row and at least two rows of an x column and one or more curves")
	}
	t := table{names: recs[0]}
	for i, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(v) || math.Abs(v) > maxValue {
				return table{}, fmt.Errorf("row %d, column %d: %q is not a number of at most %g", i+2, j+1, s, maxValue)
			}
			row[j] = v
		}
		t.rows = append(t.rows, row)
	}
	return t, nil
}

// maxValue bounds what is drawn: far above any figure measured, far below
// where the arithmetic of positions would overflow.
const maxValue = 1e18

const (
	width       = 760
	panelHeight = 200
	left        = 78
	right       = 24
	top         = 40
	gap         = 44
)

// draw lays the curves out one under the other, with the x axis labelled
// under the last.
func draw(t table, title string, logX bool) string {
	curves := len(t.names) - 1
	height := top + curves*(panelHeight+gap) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, escape(title))
	xs := column(t, 0)
	xlo, xhi := bounds(xs, logX)
	xpos := func(v float64) float64 {
		return left + (scale(v, logX)-xlo)/(xhi-xlo)*float64(width-left-right)
	}
	for c := 1; c <= curves; c++ {
		y0 := float64(top + (c-1)*(panelHeight+gap))
		ys := column(t, c)
		ylo, yhi := 0.0, niceCeil(maxOf(ys))
		ypos := func(v float64) float64 { return y0 + panelHeight - (v-ylo)/(yhi-ylo)*panelHeight }
		// Frame, grid and labels.
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-6, escape(t.names[c]))
		for i := 0; i <= 4; i++ {
			v := ylo + (yhi-ylo)*float64(i)/4
			y := ypos(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, number(v))
		}
		for _, v := range ticks(xlo, xhi, logX) {
			x := xpos(v)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#eee"/>`+"\n", x, y0, x, y0+panelHeight)
			if c == curves {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x, y0+panelHeight+16, number(v))
			}
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", left, y0, width-left-right, panelHeight)
		// The curve, with a dot at each measurement when they are few.
		var pts strings.Builder
		for i, v := range ys {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xpos(xs[i]), ypos(v))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#1f5fa8" stroke-width="1.6"/>`+"\n", strings.TrimSpace(pts.String()))
		if len(ys) <= 12 {
			for i, v := range ys {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1f5fa8"><title>%s: %s</title></circle>`+"\n",
					xpos(xs[i]), ypos(v), number(xs[i]), number(v))
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (left+width-right)/2, height-4, escape(t.names[0]))
	b.WriteString("</svg>\n")
	return b.String()
}

func column(t table, c int) []float64 {
	out := make([]float64, 0, len(t.rows))
	for _, r := range t.rows {
		v := 0.0
		if c < len(r) {
			v = r[c]
		}
		out = append(out, v)
	}
	return out
}

func scale(v float64, logX bool) float64 {
	if logX {
		return math.Log10(math.Max(v, 1e-9))
	}
	return v
}

func bounds(xs []float64, logX bool) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range xs {
		lo, hi = math.Min(lo, scale(v, logX)), math.Max(hi, scale(v, logX))
	}
	if logX {
		lo, hi = math.Floor(lo), math.Ceil(hi)
	} else {
		lo, hi = math.Min(lo, 0), niceCeil(hi)
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// ticks are the x values to label: each power of ten on a log axis, five
// even steps otherwise.
func ticks(lo, hi float64, logX bool) []float64 {
	var out []float64
	if logX {
		for e := lo; e <= hi; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	for i := 0; i <= 5; i++ {
		out = append(out, lo+(hi-lo)*float64(i)/5)
	}
	return out
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so that the
// grid's labels are round.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// number prints v briefly: 1.5M, 250k, 0.25.
func number(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// escape makes s text of an XML document: markup escaped, and characters
// XML cannot hold (controls, invalid UTF-8) dropped.
func escape(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 && r != '\t' || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
