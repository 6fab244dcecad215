package usage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// Limits of one event's attributes. They keep rows small and bound what one
// request can make the database hold.
const (
	maxIDLen      = 256
	maxSourceLen  = 512
	maxSubjectLen = 256
)

// MaxBatch is the most events one request may carry.
const MaxBatch = 10_000

// Input is one event as received, in the CloudEvents 1.0 JSON format, not
// yet checked. The quantity is in data, as {"quantity": <JSON number>}.
type Input struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`

	// decodeErr is set when this element of a batch is not an event object
	// at all (e.g. a string, or an attribute of the wrong JSON type).
	decodeErr error
}

// Event is a valid usage event of one organization.
type Event struct {
	OrgID    int64
	ID       string
	Source   string
	Meter    string
	Subject  string
	Time     time.Time // usage time, UTC, to the microsecond
	Quantity Quantity
}

// ErrNotJSON answers a body that is not the JSON its content type promises.
var ErrNotJSON = fault.New(fault.KindInvalid, "The body is not valid CloudEvents JSON: send one event object with application/cloudevents+json, or an array of them with application/cloudevents-batch+json.")

// DecodeEvent reads the body of a single-event request
// (application/cloudevents+json): one JSON object.
func DecodeEvent(body []byte) ([]Input, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, ErrNotJSON
	}
	if in, ok := fastEvent(body); ok {
		return []Input{in}, nil
	}
	var in Input
	if err := json.Unmarshal(body, &in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return nil, fault.Wrap(fault.KindInvalid, err, ErrNotJSON.Message)
		}
		in = Input{decodeErr: describeTypeError(typeErr)}
	}
	return []Input{in}, nil
}

// DecodeBatch reads the body of a batch request
// (application/cloudevents-batch+json): a JSON array of event objects. An
// element that is not an event is reported at its index, not as a failure
// of the whole batch.
func DecodeBatch(body []byte) ([]Input, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, ErrNotJSON
	}
	if ins, ok := fastBatch(body); ok {
		return ins, nil
	}
	var ins []Input
	err := json.Unmarshal(body, &ins)
	if err == nil {
		return ins, nil
	}
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return nil, fault.Wrap(fault.KindInvalid, err, ErrNotJSON.Message)
	}
	// Some element has the wrong shape, and encoding/json does not say
	// which: decode them one by one (slow, but only for bad batches).
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fault.Wrap(fault.KindInvalid, err, ErrNotJSON.Message)
	}
	ins = make([]Input, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &ins[i]); err != nil {
			ins[i] = Input{decodeErr: errors.New("not a CloudEvents object")}
			if errors.As(err, &typeErr) {
				ins[i].decodeErr = describeTypeError(typeErr)
			}
		}
	}
	return ins, nil
}

func describeTypeError(e *json.UnmarshalTypeError) error {
	if e.Field == "" {
		return errors.New("not a CloudEvents object")
	}
	return fmt.Errorf("%s: must be a JSON %s", e.Field, e.Type.Kind())
}

// checker validates inputs against the meters and the accepted time window.
type checker struct {
	meters    Meters
	now       time.Time
	maxAge    time.Duration
	maxFuture time.Duration
}

// check fills ev with the event in makes for orgID, or reports every
// problem with in at once, one "attribute: problem" per line; ev then
// means nothing. It runs on a request's goroutine, whose
// stack starts small and is copied when it grows (5 µs a request at its
// depth in a one-event request, #14): in and ev are not copied, the
// rarer problems are worded in functions of their own, and a valid event
// allocates nothing here.
func (c *checker) check(orgID int64, in *Input, ev *Event) error {
	if in.decodeErr != nil {
		return in.decodeErr
	}
	var errs []error
	if in.SpecVersion != "1.0" {
		errs = append(errs, errors.New(`specversion: must be "1.0"`))
	}
	for _, err := range [...]error{checkText("id", in.ID, maxIDLen, true), checkText("source", in.Source, maxSourceLen, true),
		checkText("subject", in.Subject, maxSubjectLen, false)} {
		if err != nil { // a valid event allocates no list of problems
			errs = append(errs, err)
		}
	}
	if in.Type == "" {
		errs = append(errs, errors.New("type: is required: the name of a meter"))
	} else if _, ok := c.meters.Meter(in.Type); !ok {
		errs = append(errs, notAMeter(in.Type))
	}
	*ev = Event{OrgID: orgID, ID: in.ID, Source: in.Source, Meter: in.Type, Subject: in.Subject}
	if err := c.checkTime(in.Time, &ev.Time); err != nil {
		errs = append(errs, err)
	}
	if in.DataContentType != "" {
		if mt, _, err := mime.ParseMediaType(in.DataContentType); err != nil || mt != "application/json" {
			errs = append(errs, errors.New(`datacontenttype: must be "application/json" or absent`))
		}
	}
	q, err := parseData(in.Data)
	if err != nil {
		errs = append(errs, err)
	}
	ev.Quantity = q
	return errors.Join(errs...)
}

func notAMeter(name string) error {
	return fmt.Errorf("type: %q is not a meter of the catalog", truncate(name, 100))
}

// checkTime reads an event's time into *t, if it is one usage may have.
func (c *checker) checkTime(s string, t *time.Time) error {
	if s == "" {
		return errors.New("time: is required: when the usage happened, RFC 3339")
	}
	u, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New(`time: must be RFC 3339, e.g. "2026-05-10T13:45:00Z"`)
	}
	switch u = u.UTC().Truncate(time.Microsecond); {
	case u.Before(c.now.Add(-c.maxAge)):
		return fmt.Errorf("time: is more than %s in the past: too late to bill", c.maxAge)
	case u.After(c.now.Add(c.maxFuture)):
		return fmt.Errorf("time: is more than %s in the future: check the sender's clock", c.maxFuture)
	case u.Before(keyEpoch) || !u.Before(lastUsageHour):
		// Only a server clock far off lets such a time through the window;
		// the bounds' arithmetic counts on it (limits.go).
		return fmt.Errorf("time: usage can be stored from %s until %s only", keyEpoch.Format(time.DateOnly), lastUsageHour.Format(time.DateOnly))
	}
	*t = u
	return nil
}

func checkText(name, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%s: is required", name)
	case len(v) > max:
		return fmt.Errorf("%s: is longer than %d bytes", name, max)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s: is not valid UTF-8", name)
	case strings.IndexByte(v, 0) >= 0:
		// PostgreSQL's text cannot hold it: such an event could never be
		// stored there.
		return fmt.Errorf("%s: must not contain the NUL character", name)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// dataQuantity is the data of a usage event. The number is kept as its
// JSON text so that it is parsed exactly.
type dataQuantity struct {
	Quantity json.RawMessage `json:"quantity"`
}

func parseData(raw json.RawMessage) (Quantity, error) {
	raw = bytes.TrimSpace(raw)
	if num, ok := quantityFast(raw); ok {
		return parseQuantityField(num)
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, errors.New(`data: is required: {"quantity": <number>}`)
	}
	if raw[0] != '{' {
		return 0, errors.New(`data: must be an object, {"quantity": <number>}`)
	}
	var d dataQuantity
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, errors.New(`data: must be an object, {"quantity": <number>}`)
	}
	if len(d.Quantity) == 0 || bytes.Equal(d.Quantity, []byte("null")) {
		return 0, errors.New("data.quantity: is required")
	}
	return parseQuantityField(d.Quantity)
}

func parseQuantityField(num []byte) (Quantity, error) {
	q, err := ParseQuantity(string(num))
	if err != nil {
		return 0, fmt.Errorf("data.quantity: %w", err)
	}
	return q, nil
}

// quantityFast reads the common shape of data, {"quantity":<number>} with
// optional spaces, without a second pass of encoding/json; anything else
// (other members, escapes, other types) takes the general path.
func quantityFast(raw []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(raw, []byte("{"))
	if !ok {
		return nil, false
	}
	rest = bytes.TrimLeft(rest, " \t\r\n")
	if rest, ok = bytes.CutPrefix(rest, []byte(`"quantity"`)); !ok {
		return nil, false
	}
	rest = bytes.TrimLeft(rest, " \t\r\n")
	if rest, ok = bytes.CutPrefix(rest, []byte(":")); !ok {
		return nil, false
	}
	rest = bytes.TrimLeft(rest, " \t\r\n")
	end := 0
	for end < len(rest) && (rest[end] >= '0' && rest[end] <= '9' || rest[end] == '.' || rest[end] == '-' || rest[end] == '+' ||
		rest[end] == 'e' || rest[end] == 'E') {
		end++
	}
	if end == 0 || strings.TrimRight(string(rest[end:]), " \t\r\n") != "}" {
		return nil, false
	}
	return rest[:end], true
}

// keyEpoch is where slot hours start counting: 20 bits of hours from here
// last until 2139.
var keyEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	slotHashBits = 43
	slotHashMask = 1<<slotHashBits - 1
)

// key is an event's place in usage_keys; see 0007_usage.sql.
type key struct {
	slot int64
	chk  int64
}

// keyOf hashes (organization, source, id). Source and id are
// length-prefixed so that no two pairs hash the same input.
func keyOf(ev *Event) key {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ev.OrgID))
	h.Write(b[:])
	binary.BigEndian.PutUint32(b[:4], uint32(len(ev.Source)))
	h.Write(b[:4])
	h.Write([]byte(ev.Source))
	h.Write([]byte(ev.ID))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	hour := int64(ev.Time.Sub(keyEpoch) / time.Hour)
	return key{
		slot: hour<<slotHashBits | int64(binary.BigEndian.Uint64(sum[0:8])&slotHashMask),
		chk:  int64(binary.BigEndian.Uint64(sum[8:16])),
	}
}

// next is the slot to try when k's is taken by another event: the next one
// of the same hour, wrapping around.
func (k key) next() key {
	hour := k.slot &^ slotHashMask
	return key{slot: hour | (k.slot+1)&slotHashMask, chk: k.chk}
}

// String is for the JSON of the rejection list: never empty.
func idOf(in *Input) string {
	return strings.ToValidUTF8(truncate(in.ID, maxIDLen), "\uFFFD")
}
