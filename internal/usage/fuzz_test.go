package usage

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// fuzzMeters is the catalog the fuzz targets check events against.
type fuzzMeters map[string]bool

func (m fuzzMeters) Meter(name string) (Meter, bool) { return Meter{Name: name}, m[name] }

var fuzzNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// Real events: the README's example, and those of the usage and web tests.
var fuzzEvents = []string{
	`{"specversion":"1.0","id":"evt-1","source":"my-service","type":"compute","subject":"db-1",
     "time":"2026-11-23T09:25:00Z","data":{"quantity":2.5}}`,
	`{"specversion":"1.0","id":"e1","source":"//product.example.com","type":"api-calls","subject":"svc-1","time":"2026-11-23T09:00:00Z","data":{"quantity":2.5}}`,
	`{"specversion":"1.0","id":"e2","source":"//product.example.com","type":"api-calls","subject":"svc-1","time":"2026-11-23T09:00:00Z","data":{"quantity":"2.5"}}`,
	`{"data":{"quantity":1.5},"id":"a","source":"//billing.example.com/svc","specversion":"1.0","subject":"svc-1","time":"2026-11-23T09:15:00Z","type":"api-calls"}`,
	`{"specversion":"1.0","id":"c","source":"//billing.example.com/svc","type":"api-calls","time":"2026-11-23T08:59:59.999999Z","data":{"quantity":1e3}}`,
	`{"specversion":"1.0","id":"x","source":"s","type":"storage-gb-hours","time":"2026-11-23T09:15:00+09:00","datacontenttype":"application/json; charset=utf-8","data":{"quantity":0.000001}}`,
	`{"specversion":"1.0","id":"big","source":"s","type":"api-calls","time":"2026-11-23T09:15:00Z","data":{"quantity":1e9}}`,
	`{"specversion":"0.3","id":"","type":"gpu-hours","time":"23/11/2026","datacontenttype":"text/plain","data":5}`,
	`{"specversion":"1.0","id":5,"source":"s","type":"api-calls","time":"2026-11-23T09:15:00Z","data":{"quantity":-1}}`,
	`{"specversion":"1.0","id":"n","source":"s\u0000","type":"api-calls","time":"2026-11-23T09:15:00Z","data":{"quantity":0.0000001}}`,
	`{"specversion":"1.0","id":"q","source":"s","type":"api-calls","time":"2026-11-23T09:15:00Z","data":{"quantity" : 1E+2 , "unit":"x"}}`,
}

// checkInputs is the property every decoded input must have: it is either
// refused with a reason, or an event within every limit of the API.
func checkInputs(t *testing.T, ins []Input) {
	c := checker{meters: fuzzMeters{"api-calls": true, "storage-gb-hours": true, "compute": true}, now: fuzzNow,
		maxAge: 7 * 24 * time.Hour, maxFuture: 5 * time.Minute}
	for i, in := range ins {
		if id := idOf(&in); !utf8.ValidString(id) || len(id) > maxIDLen+len("…") {
			t.Fatalf("input %d: id for the rejection list %q", i, id)
		}
		var ev Event
		err := c.check(1, &in, &ev)
		if err != nil {
			if joinLines(err) == "" || strings.Contains(joinLines(err), "\n") {
				t.Fatalf("input %d: refused without a one-line reason: %q", i, err)
			}
			continue
		}
		for name, v := range map[string]string{"id": ev.ID, "source": ev.Source, "subject": ev.Subject, "type": ev.Meter} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || len(v) > maxSourceLen {
				t.Fatalf("input %d: accepted %s %q", i, name, v)
			}
		}
		if ev.ID == "" || ev.Source == "" || ev.Quantity < 0 || ev.Quantity > MaxQuantity ||
			ev.Time.Before(fuzzNow.Add(-c.maxAge)) || ev.Time.After(fuzzNow.Add(c.maxFuture)) || ev.Time.Location() != time.UTC {
			t.Fatalf("input %d: accepted %+v", i, ev)
		}
		if q, err := ParseQuantity(ev.Quantity.String()); err != nil || q != ev.Quantity {
			t.Fatalf("input %d: quantity %d prints as %q, which reads back as %d, %v", i, ev.Quantity, ev.Quantity.String(), q, err)
		}
		// The fast path for {"quantity": n} agrees with encoding/json's.
		var d dataQuantity
		if err := json.Unmarshal(bytes.TrimSpace(in.Data), &d); err != nil {
			t.Fatalf("input %d: data %s accepted, but not JSON: %v", i, in.Data, err)
		}
		if q, err := parseQuantityField(d.Quantity); err != nil || q != ev.Quantity {
			t.Fatalf("input %d: data %s: %d by the fast path, %d, %v by encoding/json", i, in.Data, ev.Quantity, q, err)
		}
	}
}

// refusedAsInvalid checks that a body the decoder refuses is refused as the
// client's fault, with the message that says what to send.
func refusedAsInvalid(t *testing.T, err error) {
	if fault.KindOf(err) != fault.KindInvalid || fault.Message(err) != ErrNotJSON.Message {
		t.Fatalf("refused with %v (kind %v)", err, fault.KindOf(err))
	}
}

// FuzzDecodeEvent: the body of application/cloudevents+json. No input
// panics; each is refused as invalid, or decodes to one input that is
// refused with a reason or is an event within every limit.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range fuzzEvents {
		f.Add([]byte(s))
	}
	f.Add([]byte(`[` + fuzzEvents[0] + `]`))
	f.Add([]byte(`{"id": ["x"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ins, err := DecodeEvent(body)
		if err != nil {
			refusedAsInvalid(t, err)
			return
		}
		if len(ins) != 1 {
			t.Fatalf("%d inputs from one event", len(ins))
		}
		checkInputs(t, ins)
	})
}

// FuzzDecodeBatch: the body of application/cloudevents-batch+json, the same
// properties for each element.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`[` + strings.Join(fuzzEvents, ",") + `]`))
	for _, s := range fuzzEvents {
		f.Add([]byte(`[` + s + `]`))
	}
	f.Add([]byte(`[{"specversion":"1.0"}, "hello", 5, {"id": ["x"]}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(fuzzEvents[0]))
	f.Fuzz(func(t *testing.T, body []byte) {
		ins, err := DecodeBatch(body)
		if err != nil {
			refusedAsInvalid(t, err)
			return
		}
		checkInputs(t, ins)
	})
}
