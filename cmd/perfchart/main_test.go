package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name, csv string
		args      []string
		want      []string // in the SVG
		err       string
	}{
		{name: "two curves", csv: "events [millions],rate [events/s],resident [MB]\n0,0,50\n1,98000,120\n2,97000,180\n",
			want: []string{"rate [events/s]", "resident [MB]", "events [millions]", "<polyline", "98k"}},
		{name: "log x", csv: "subscriptions,records/s\n1000,5000\n10000,4900\n100000,4500\n1000000,3000\n", args: []string{"-logx"},
			want: []string{">1k<", ">1M<", "<circle"}},
		{name: "title escaped", csv: "x,y\n0,1\n1,2\n", args: []string{"-title", "a<b & c"}, want: []string{"a&lt;b &amp; c"}},
		{name: "not a number", csv: "x,y\n0,1\n1,abc\n", err: `row 3, column 2: "abc" is not a number`},
		{name: "too short", csv: "x,y\n0,1\n", err: "want a header row"},
		{name: "ragged", csv: "x,y\n0,1\n1\n", err: "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.svg")
			if err := os.WriteFile(in, []byte(tt.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			err := run(append([]string{"-in", in, "-out", out}, tt.args...), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if _, statErr := os.Stat(out); statErr == nil {
					t.Fatal("wrote a chart for bad input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(out)
			if err := xml.Unmarshal(raw, new(struct{})); err != nil {
				t.Fatalf("not XML: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(raw), w) {
					t.Errorf("SVG lacks %q", w)
				}
			}
		})
	}
}

// FuzzReadTable: any CSV is drawn as well-formed SVG, or refused.
func FuzzReadTable(f *testing.F) {
	f.Add("x,y\n0,1\n1,2\n")
	f.Add("x [s],y <&>\n1e9,-5\n2e9,NaN\n")
	f.Add("a,b,c\n0,0,0\n0,0,0\n")
	f.Fuzz(func(t *testing.T, s string) {
		tbl, err := readTable(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, logX := range []bool{false, true} {
			svg := draw(tbl, s, logX)
			if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
				t.Fatalf("draw(%q) is not XML: %v", s, err)
			}
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Fatalf("draw(%q) has NaN or Inf coordinates", s)
			}
		}
	})
}
