package azuremp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The scalar types below read what Microsoft writes as loosely as its
// documentation shows it (contract §3.1), and no more loosely: a value that
// is none of the documented forms is an error, not a guess.

// Seats is a count of seats (a subscription's or operation's "quantity", a
// plan's minQuantity/maxQuantity), which Microsoft writes as 20, "20",
// null or "", or leaves out for flat-rate plans.
type Seats struct {
	Count int64
	// Valid is false when the field was absent, null or "".
	Valid bool
}

// SeatCount is a set Seats.
func SeatCount(n int64) Seats { return Seats{Count: n, Valid: true} }

// UnmarshalJSON reads 20, "20", " 20 ", 20.0, null and "".
func (s *Seats) UnmarshalJSON(b []byte) error {
	text, isNull, err := scalarText(b)
	if err != nil || isNull || text == "" {
		*s = Seats{}
		return err
	}
	d, err := ParseDecimal(text)
	if err != nil {
		return fmt.Errorf("quantity %q: %w", text, err)
	}
	if d.Scale != 0 || d.Units < 0 {
		return fmt.Errorf("quantity %q: want a whole number of seats", text)
	}
	*s = Seats{Count: d.Units, Valid: true}
	return nil
}

// MarshalJSON writes a number, or null when unset.
func (s Seats) MarshalJSON() ([]byte, error) {
	if !s.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, s.Count, 10), nil
}

// scalarText returns the text of a JSON string (trimmed of spaces) or
// number, and whether it was null.
func scalarText(b []byte) (text string, isNull bool, err error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "", true, nil
	case string(b) == "null":
		return "", true, nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, err
		}
		return strings.TrimSpace(s), false, nil
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		return string(b), false, nil
	}
	return "", false, fmt.Errorf("want a number or a string, got %.20s", b)
}

// Time is a date Microsoft wrote, in any of its forms: RFC 3339 with up to
// seven fraction digits, no zone (read as UTC), or a date alone. The zero
// Time is "unset": absent, null, "" or 0001-01-01T00:00:00.
type Time struct{ time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999", // no zone: UTC, as Microsoft means it
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// UnmarshalJSON reads every form listed on Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: want a string: %w", err)
	}
	parsed, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

// ParseTime reads one of Microsoft's dates (see Time).
func ParseTime(s string) (Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Time{}, nil
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			if v.Year() <= 1 {
				return Time{}, nil // 0001-01-01: Microsoft's "not set"
			}
			return Time{v.UTC()}, nil
		}
	}
	return Time{}, fmt.Errorf("date %q: not a form Microsoft writes", s)
}

// Micros is an amount of money in millionths of the currency unit, read
// exactly from the decimal text of a JSON number: 0.01 is 10,000 micros.
// No float ever holds a price.
type Micros int64

// UnmarshalJSON reads a JSON number (or a numeric string) exactly; a price
// with more than six decimals, or too large for int64 micros, is an error
// rather than a rounded amount.
func (m *Micros) UnmarshalJSON(b []byte) error {
	text, isNull, err := scalarText(b)
	if err != nil || isNull || text == "" {
		*m = 0
		return err
	}
	d, err := ParseDecimal(text)
	if err != nil {
		return fmt.Errorf("price %q: %w", text, err)
	}
	v, err := d.Micros()
	if err != nil {
		return fmt.Errorf("price %q: %w", text, err)
	}
	*m = v
	return nil
}

// String writes the amount with six decimals, e.g. "0.010000".
func (m Micros) String() string { return Decimal{Units: int64(m), Scale: 6}.text(true) }

// Decimal is an exact decimal number, Units × 10^-Scale: usage quantities,
// which Microsoft takes as JSON numbers (doubles) and which marketbridge
// keeps exact. Decimal{Units: 5} is 5; Decimal{Units: 125, Scale: 2} is 1.25.
type Decimal struct {
	Units int64
	Scale uint8 // at most MaxScale
}

// MaxScale is the most decimals a Decimal holds.
const MaxScale = 18

// Int is the whole number n as a Decimal.
func Int(n int64) Decimal { return Decimal{Units: n} }

var errDecimalSyntax = errors.New("not a decimal number")

// ParseDecimal reads the text of a JSON number exactly: "5", "5.0",
// "-0.25", "1e3", "1.5E-2". It fails rather than round: more than MaxScale
// significant decimals, or more than int64 holds, is an error.
func ParseDecimal(s string) (Decimal, error) {
	if len(s) == 0 || len(s) > 64 {
		return Decimal{}, errDecimalSyntax
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expText, hasExp := s, "", false
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText, hasExp = s[:i], s[i+1:], true
	}
	intPart, frac, hasDot := strings.Cut(mant, ".")
	if !allDigits(intPart) || hasDot && !allDigits(frac) {
		return Decimal{}, errDecimalSyntax
	}
	exp := 0
	if hasExp {
		sign := byte('+')
		if expText != "" && (expText[0] == '+' || expText[0] == '-') {
			sign, expText = expText[0], expText[1:]
		}
		if len(expText) > 3 || !allDigits(expText) {
			return Decimal{}, errDecimalSyntax
		}
		exp, _ = strconv.Atoi(expText)
		if sign == '-' {
			exp = -exp
		}
		if exp > 40 || exp < -40 {
			return Decimal{}, errors.New("exponent out of range")
		}
	}
	frac = strings.TrimRight(frac, "0")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return Decimal{}, nil
	}
	scale := len(frac) - exp
	for scale > 0 && strings.HasSuffix(digits, "0") {
		digits, scale = digits[:len(digits)-1], scale-1
	}
	if scale < 0 {
		digits, scale = digits+strings.Repeat("0", -scale), 0
	}
	if scale > MaxScale {
		return Decimal{}, fmt.Errorf("more than %d decimals", MaxScale)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Decimal{}, errors.New("too large")
	}
	if neg {
		v = -v
	}
	return Decimal{Units: v, Scale: uint8(scale)}, nil
}

// allDigits is true for a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normal strips trailing zero decimals: 1.50 and 1.5 are one value.
func (d Decimal) normal() Decimal {
	for d.Scale > 0 && d.Units%10 == 0 {
		d.Units /= 10
		d.Scale--
	}
	if d.Units == 0 {
		d.Scale = 0
	}
	return d
}

// Equal says whether d and e are the same number.
func (d Decimal) Equal(e Decimal) bool { return d.normal() == e.normal() }

// Sign is -1, 0 or 1.
func (d Decimal) Sign() int {
	switch {
	case d.Units < 0:
		return -1
	case d.Units > 0:
		return 1
	}
	return 0
}

// Micros is d in millionths, if it is exactly that.
func (d Decimal) Micros() (Micros, error) {
	d = d.normal()
	if d.Scale > 6 {
		return 0, errors.New("finer than a millionth")
	}
	v := d.Units
	for s := d.Scale; s < 6; s++ {
		if v > math.MaxInt64/10 || v < math.MinInt64/10 {
			return 0, errors.New("too large")
		}
		v *= 10
	}
	return Micros(v), nil
}

// String writes d in plain decimal notation, e.g. "1.25", "5".
func (d Decimal) String() string { return d.text(false) }

func (d Decimal) text(keepZeros bool) string {
	if d.Scale > MaxScale {
		return "NaN"
	}
	if !keepZeros {
		d = d.normal()
	}
	neg := d.Units < 0
	var digits string
	if neg {
		digits = strconv.FormatUint(uint64(-(d.Units+1))+1, 10)
	} else {
		digits = strconv.FormatInt(d.Units, 10)
	}
	if s := int(d.Scale); s > 0 {
		if len(digits) <= s {
			digits = strings.Repeat("0", s-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-s] + "." + digits[len(digits)-s:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// MarshalJSON writes d as a JSON number, digit for digit.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d.Scale > MaxScale {
		return nil, fmt.Errorf("decimal scale %d exceeds %d", d.Scale, MaxScale)
	}
	return []byte(d.String()), nil
}

// UnmarshalJSON reads a JSON number (or numeric string) exactly.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	text, isNull, err := scalarText(b)
	if err != nil || isNull || text == "" {
		*d = Decimal{}
		return err
	}
	v, err := ParseDecimal(text)
	if err != nil {
		return fmt.Errorf("quantity %q: %w", text, err)
	}
	*d = v
	return nil
}

// trimmed reads a JSON string with the spaces Microsoft's examples pad
// some values with removed (" Subscribed "); null is "".
func trimmed(b []byte) (string, error) {
	if string(bytes.TrimSpace(b)) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}
