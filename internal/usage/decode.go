package usage

import (
	"encoding/json"
	"unicode/utf8"
)

// The fast decoder reads the shape products send, an array of flat event
// objects whose attributes are plain strings, in one pass and without
// reflection, and gives up on anything else: escapes, attribute names in
// another case, values of the wrong JSON type, syntax errors. What it gives
// up on goes to encoding/json, whose answer (events, per-element errors or
// the body's error) is the reference: FuzzFastDecode checks that the two
// agree on every input the fast decoder accepts.
//
// It was the largest cost of a batch outside the writer (encoding/json's
// validation pass, reflection and a string for every attribute). Here every
// attribute is a substring of one copy of the body, so a batch of a
// thousand events costs one allocation for the text and one for the slice.

// fastBatch decodes body, an array with nothing around it, or reports
// ok == false.
func fastBatch(body []byte) (ins []Input, ok bool) {
	d := fastDecoder{b: body, s: string(body)}
	ins = make([]Input, 0, estimateEvents(body))
	ok = d.list('[', ']', func() bool {
		var in Input
		if !d.object(&in) {
			return false
		}
		ins = append(ins, in)
		return true
	})
	if !ok || !d.end() {
		return nil, false
	}
	return ins, true
}

// fastEvent decodes body, one object with nothing around it, or reports
// ok == false.
func fastEvent(body []byte) (in Input, ok bool) {
	d := fastDecoder{b: body, s: string(body)}
	if !d.object(&in) {
		return Input{}, false
	}
	return in, d.end()
}

// estimateEvents guesses a batch's length from its size, so that appending
// rarely copies, without reserving much more than it needs: events of
// products are 150-300 bytes.
func estimateEvents(body []byte) int {
	return min(len(body)/160+1, MaxBatch+1)
}

type fastDecoder struct {
	b []byte
	s string // the same bytes: attributes are substrings of it
	i int
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (d *fastDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end says whether only space is left.
func (d *fastDecoder) end() bool {
	d.space()
	return d.i == len(d.b)
}

// object reads one event object into in. Attributes it does not know are
// skipped (CloudEvents extensions), after checking their syntax.
func (d *fastDecoder) object(in *Input) bool {
	return d.list('{', '}', func() bool {
		name, ok := d.str()
		if !ok || !d.colon() {
			return false
		}
		var field *string
		switch name {
		case "specversion":
			field = &in.SpecVersion
		case "id":
			field = &in.ID
		case "source":
			field = &in.Source
		case "type":
			field = &in.Type
		case "subject":
			field = &in.Subject
		case "time":
			field = &in.Time
		case "datacontenttype":
			field = &in.DataContentType
		case "data":
			start := d.i
			if !d.value(0) {
				return false
			}
			in.Data = json.RawMessage(d.b[start:d.i:d.i])
			return true
		default:
			// encoding/json matches names without regard to case: a name
			// that folds to an attribute's is its to read.
			return !foldsToAttribute(name) && d.value(0)
		}
		v, ok := d.str() // null or another type: encoding/json's to answer
		*field = v
		return ok
	})
}

// list reads open, then elements separated by commas, then close, with
// space around them; each reads one element.
func (d *fastDecoder) list(open, close byte, each func() bool) bool {
	if !d.byte(open) {
		return false
	}
	d.space()
	if d.byte(close) {
		return true
	}
	for {
		if !each() {
			return false
		}
		d.space()
		if d.byte(close) {
			return true
		}
		if !d.byte(',') {
			return false
		}
		d.space()
	}
}

// colon reads the ':' after a member's name, with space around it.
func (d *fastDecoder) colon() bool {
	d.space()
	if !d.byte(':') {
		return false
	}
	d.space()
	return true
}

// attributeNames are the members of Input, as encoding/json matches them.
var attributeNames = [...]string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"}

// foldsToAttribute reports whether encoding/json could take name for one
// of the attributes: it equals one ignoring ASCII case, or it is not ASCII
// (Unicode folding maps, e.g., the Kelvin sign to k).
func foldsToAttribute(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, a := range attributeNames {
		if len(a) == len(name) && equalFoldASCII(a, name) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// str reads a string without escapes, of valid UTF-8 (encoding/json would
// replace invalid bytes), as a substring of the body.
func (d *fastDecoder) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start, ascii := d.i, true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			v := d.s[start:d.i]
			d.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// maxDepth bounds the nesting of a skipped value; deeper documents go to
// encoding/json, which has its own bound.
const maxDepth = 64

// value skips one JSON value, checking its syntax as strictly as
// encoding/json: a value it would refuse is refused here.
func (d *fastDecoder) value(depth int) bool {
	if d.i >= len(d.b) || depth > maxDepth {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.skipString()
	case c == '{':
		return d.list('{', '}', func() bool { return d.skipString() && d.colon() && d.value(depth+1) })
	case c == '[':
		return d.list('[', ']', func() bool { return d.value(depth + 1) })
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	default:
		return d.literal("true") || d.literal("false") || d.literal("null")
	}
}

func (d *fastDecoder) literal(word string) bool {
	if len(d.s)-d.i >= len(word) && d.s[d.i:d.i+len(word)] == word {
		d.i += len(word)
		return true
	}
	return false
}

// skipString skips a string, escapes included, as long as it is valid.
func (d *fastDecoder) skipString() bool {
	if !d.byte('"') {
		return false
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return false
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if len(d.b)-d.i < 5 {
					return false
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				d.i += 5
			default:
				return false
			}
		default:
			d.i++ // invalid UTF-8 in a skipped value is replaced, never an error
		}
	}
	return false
}

// number skips a number of JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *fastDecoder) number() bool {
	d.byte('-')
	switch {
	case d.byte('0'):
	case d.i < len(d.b) && '1' <= d.b[d.i] && d.b[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.byte('.') && !d.digits() {
		return false
	}
	if d.byte('e') || d.byte('E') {
		if !d.byte('+') {
			d.byte('-')
		}
		if !d.digits() {
			return false
		}
	}
	return true
}

// digits skips one or more digits.
func (d *fastDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
