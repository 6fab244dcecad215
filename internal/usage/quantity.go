package usage

import (
	"errors"
	"strconv"
)

// Quantity is an exact amount of a meter's unit in millionths (micro-units):
// 12.5 is 12500000. Quantities are parsed from the decimal text of the JSON
// number, never through float64, so that what a product sends is what is
// rated, to the last digit.
type Quantity int64

// QuantityScale is the number of micro-units in one unit.
const QuantityScale = 1_000_000

// quantityDecimals is how many decimal places a quantity may carry.
const quantityDecimals = 6

// MaxQuantity bounds one event's quantity (one billion units). It keeps
// hourly totals far from the int64 limit: 9,223 maximal events of one meter
// and subject in the same hour would be needed to reach it.
const MaxQuantity Quantity = 1_000_000_000 * QuantityScale

var (
	errNotNumber     = errors.New("must be a JSON number, e.g. 12.5")
	errNegative      = errors.New("must not be negative")
	errTooPrecise    = errors.New("has more than 6 decimal places")
	errTooLarge      = errors.New("must be at most 1000000000")
	errEmptyQuantity = errors.New("is required")
)

// ParseQuantity reads a JSON number (e.g. "12.5", "3", "1e3", "2.5E-2")
// exactly. It refuses negative numbers, more than six significant decimal
// places, and values above MaxQuantity; trailing zeros are fine.
func ParseQuantity(s string) (Quantity, error) {
	if s == "" {
		return 0, errEmptyQuantity
	}
	i := 0
	if s[0] == '-' {
		// "-0" is zero; any other negative is refused after parsing, so
		// that a malformed "-x" still reads as "not a number".
		i++
	}
	// Integer part: JSON forbids leading zeros except "0" itself.
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, errNotNumber
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return 0, errNotNumber
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == ds {
			return 0, errNotNumber
		}
		e, err := strconv.Atoi(s[es:i])
		if err != nil || e > 100 || e < -100 {
			// Such exponents make the number either zero-with-too-many
			// places or too large; no product sends them on purpose.
			return 0, errTooLarge
		}
		exp = e
	}
	if i != len(s) {
		return 0, errNotNumber
	}
	// The value is digits × 10^(exp - len(frac)); in micro-units, the
	// decimal point moves six places right.
	digits := trimLeadingZeros(intPart + frac)
	shift := exp - len(frac) + quantityDecimals
	if shift < 0 {
		// Digits below a micro-unit must all be zero.
		cut := len(digits) + shift
		if cut < 0 {
			cut = 0
		}
		for _, c := range digits[cut:] {
			if c != '0' {
				return 0, errTooPrecise
			}
		}
		digits = digits[:cut]
		shift = 0
	}
	if digits == "" {
		return 0, nil
	}
	if s[0] == '-' {
		return 0, errNegative
	}
	// MaxQuantity has 16 digits; anything longer is too large.
	if len(digits)+shift > 16 {
		return 0, errTooLarge
	}
	var q int64
	for _, c := range digits {
		q = q*10 + int64(c-'0')
	}
	for range shift {
		q *= 10
	}
	if Quantity(q) > MaxQuantity {
		return 0, errTooLarge
	}
	return Quantity(q), nil
}

func trimLeadingZeros(s string) string {
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// String formats q as a decimal without trailing zeros: "12.5", "3".
func (q Quantity) String() string {
	neg := q < 0
	u := uint64(q)
	if neg {
		u = uint64(-q)
	}
	whole := strconv.FormatUint(u/QuantityScale, 10)
	frac := u % QuantityScale
	out := whole
	if frac != 0 {
		f := strconv.FormatUint(frac+QuantityScale, 10)[1:] // zero-padded to 6
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		out += "." + f
	}
	if neg {
		out = "-" + out
	}
	return out
}
