package usage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// slowBatch and slowEvent are what encoding/json makes of a body the fast
// decoder accepts: the reference it must match.
func slowBatch(body []byte) ([]Input, error) {
	var ins []Input
	err := json.Unmarshal(body, &ins)
	return ins, err
}

func slowEvent(body []byte) (Input, error) {
	var in Input
	err := json.Unmarshal(body, &in)
	return in, err
}

// sameInputs compares decoded inputs field by field; an absent data and an
// empty one are the same to every reader.
func sameInputs(a, b []Input) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !bytes.Equal(x.Data, y.Data) || x.decodeErr != nil || y.decodeErr != nil {
			return false
		}
		x.Data, y.Data = nil, nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

var fastDecodeSeeds = []string{
	`[]`, ` [ ] `, `{}`,
	`[{"specversion":"1.0","id":"e1","source":"//p","type":"api-calls","data":{"quantity":2.5},"traceparent":"00-ab","n":[1,{"x":null}]}]`,
	`{"specversion":"1.0","ID":"e1"}`, `{"id":"a","id":"b"}`, `{"data":null}`, `{"data":-0.5e+3}`, `{"data":01}`,
	`{"id":"\u00e9"}`, `{"id":"é"}`, `{"id":"\xff"}`, `{"x":"\xff"}`, `{"data":"\xff"}`, `{"x":"\ud800"}`, `{"x":"\q"}`,
	`{"ſource":"x"}`, `{"id":null}`, `{"id":5}`, `{"data":tru}`, `{"data":true}`, `{"data":[1,]}`, `{"data":{"a":1,}}`,
	`[{"id":"a"},]`, `[{"id":"a"}] x`, `[{"id":"a"}`, `{"data":1.}`, `{"data":-}`, `{"data":1e}`, `{"data":[[[[[[[[1]]]]]]]]}`,
	`{"id":"a"` + "\t\r\n" + `}`, `{"id":"tab` + "\t" + `"}`,
}

// FuzzFastDecode: whenever the fast decoder accepts a body, encoding/json
// accepts it too and reads the very same inputs. (Which bodies it takes at
// all is TestFastDecode_Reach's.)
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastDecodeSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzEvents {
		f.Add([]byte(s))
		f.Add([]byte(`[` + s + `,` + s + `]`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if ins, ok := fastBatch(body); ok {
			want, err := slowBatch(body)
			if err != nil || !sameInputs(ins, want) {
				t.Fatalf("fast batch %q = %+v; encoding/json: %+v, %v", body, ins, want, err)
			}
		}
		if in, ok := fastEvent(body); ok {
			want, err := slowEvent(body)
			if err != nil || !sameInputs([]Input{in}, []Input{want}) {
				t.Fatalf("fast event %q = %+v; encoding/json: %+v, %v", body, in, want, err)
			}
		}
	})
}

// The fast decoder takes the events products send, extensions included,
// so that they do not pay for encoding/json; what it leaves to encoding/json
// is what it cannot read exactly.
func TestFastDecode_Reach(t *testing.T) {
	tests := []struct {
		body string
		fast bool
	}{
		{`[` + strings.Join(fuzzEvents[:7], ",") + `]`, true},
		{`[{"specversion":"1.0","id":"e","traceparent":"00-4bf9-01","ext":{"a":[1,true,null,"\n"]}}]`, true},
		{`{"specversion":"1.0","id":"e","source":"//p","data":{"quantity":1}}`, true},
		{`[]`, true},
		{`[{"id":"a\"b"}]`, false},     // an escape: encoding/json unquotes it
		{`[{"ID":"a"}]`, false},        // another case: encoding/json folds it
		{`[{"id":5}]`, false},          // a type error, reported per element
		{`[{"id":"a"},"x"]`, false},    // not an object
		{`[{"id":"a"}] [`, false},      // trailing data
		{"[{\"id\":\"\xff\"}]", false}, // encoding/json replaces invalid UTF-8
	}
	for _, tt := range tests {
		_, ok := fastBatch([]byte(tt.body))
		if !strings.HasPrefix(tt.body, "[") {
			_, ok = fastEvent([]byte(tt.body))
		}
		if ok != tt.fast {
			t.Errorf("fast decode of %s: %v, want %v", tt.body, ok, tt.fast)
		}
		// Either way, DecodeBatch/DecodeEvent answer as encoding/json does.
		if strings.HasPrefix(tt.body, "[") {
			got, err := DecodeBatch([]byte(tt.body))
			if want, werr := slowBatch([]byte(tt.body)); werr == nil && (err != nil || !sameInputs(got, want)) {
				t.Errorf("DecodeBatch(%s) = %+v, %v; want %+v", tt.body, got, err, want)
			}
		}
	}
}

// BenchmarkDecodeBatch: one op decodes a batch of 1,000 events shaped like
// the ingest benchmark's; "fast" is DecodeBatch, "encoding-json" what it
// did before.
func BenchmarkDecodeBatch(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"specversion":"1.0","id":"5f0c2a9e8b7d4c3a1f6e9d8c7b6a5f4e","source":"//product.example.com/eu-west-1","type":"api-calls","subject":"svc-7","time":"2026-11-23T09:15:42.123Z","data":{"quantity":1.234567}}`)
	}
	sb.WriteByte(']')
	body := []byte(sb.String())
	for _, bc := range []struct {
		name   string
		decode func([]byte) ([]Input, error)
	}{{"fast", DecodeBatch}, {"encoding-json", slowBatch}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				ins, err := bc.decode(body)
				if err != nil || len(ins) != 1000 {
					b.Fatal(len(ins), err)
				}
			}
		})
	}
}
