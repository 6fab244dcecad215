package market

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// QuantityScale is how many parts of a unit the ledger counts: quantities
// are kept exactly in millionths of a unit.
const QuantityScale = 1_000_000

// maxQuantityUnits bounds one event; far above anything real, and it keeps
// every sum of a day's events inside int64 millionths.
const maxQuantityUnits = 1_000_000_000

// Quantity is a usage quantity as the seller sent it. The wire type is a
// JSON number (a double in the spec); the emulator never reads it into a
// float but parses the decimal text into an exact count of millionths, and
// rejects text that has finer steps than that (BadArgument) rather than
// round it.
type Quantity struct {
	Millionths int64
}

// ParseQuantity parses a JSON number's text: digits with an optional
// fraction and exponent. Negative and zero values parse, so that the caller
// can answer InvalidQuantity for them.
func ParseQuantity(text string) (Quantity, error) {
	if text == "" {
		return Quantity{}, errors.New("quantity is empty")
	}
	if !json.Valid([]byte(text)) || strings.ContainsAny(text, "\"{}[]tfn ") {
		return Quantity{}, fmt.Errorf("quantity %q is not a JSON number", text)
	}
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		// big.Rat would expand 1e999999999 digit by digit.
		if exp, err := strconv.Atoi(text[i+1:]); err != nil || exp > 30 || exp < -30 {
			return Quantity{}, fmt.Errorf("quantity %q: exponent out of range", text)
		}
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return Quantity{}, fmt.Errorf("quantity %q is not a number", text)
	}
	r.Mul(r, big.NewRat(QuantityScale, 1))
	if !r.IsInt() {
		return Quantity{}, fmt.Errorf("quantity %s has more than 6 decimal places; the emulator bills exact millionths of a unit", text)
	}
	n := r.Num()
	if n.CmpAbs(big.NewInt(maxQuantityUnits*QuantityScale)) > 0 {
		return Quantity{}, fmt.Errorf("quantity %s is larger than %d", text, maxQuantityUnits)
	}
	return Quantity{Millionths: n.Int64()}, nil
}

// String is the shortest exact decimal text.
func (q Quantity) String() string {
	neg := q.Millionths < 0
	v := q.Millionths
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v/QuantityScale, 10)
	if frac := v % QuantityScale; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes the quantity as a JSON number, exactly.
func (q Quantity) MarshalJSON() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalJSON reads a JSON number (or a numeric string, which the docs'
// loose examples show) exactly.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	text := string(b)
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		text = s
	}
	v, err := ParseQuantity(text)
	if err != nil {
		return err
	}
	*q = v
	return nil
}
