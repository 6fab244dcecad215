package money

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Micros is an amount in millionths of a US dollar, the unit usage is rated
// in.
type Micros int64

// Cents is an amount in hundredths of a US dollar, the unit usage is
// reported to AWS Marketplace in.
type Cents int64

// Dollars is an amount in whole US dollars, the unit of a contract's
// committed credits.
type Dollars int64

// Cents is m to the cent, rounded toward zero: a charge is never shown as
// more than it is, nor a refund as more than it is. This is the one rounding
// rule for showing micro-dollars.
func (m Micros) Cents() Cents { return Cents(m / 10_000) }

// String is m as dollars to the cent: Micros(7_500_000_000) is "$7,500.00".
func (m Micros) String() string { return m.Cents().String() }

// String is c as dollars with thousands separators: "$7,500.00", "-$0.05".
func (c Cents) String() string {
	neg, mag := magnitude(int64(c))
	return format(neg, mag/100, mag%100)
}

// String is d as dollars with thousands separators and cents, as AWS
// writes a contract's amount: "$7,500.00".
func (d Dollars) String() string {
	neg, mag := magnitude(int64(d))
	return format(neg, mag, 0)
}

// magnitude splits n into its sign and absolute value; unsigned, so that
// math.MinInt64 has one too.
func magnitude(n int64) (neg bool, mag uint64) {
	if n < 0 {
		return true, -uint64(n)
	}
	return false, uint64(n)
}

// format writes whole dollars and cents (below 100) with a sign that is
// left out for zero, so that nothing reads "-$0.00".
func format(neg bool, whole, cents uint64) string {
	b := make([]byte, 0, 32)
	if neg && (whole != 0 || cents != 0) {
		b = append(b, '-')
	}
	b = group(append(b, '$'), whole)
	return string(append(b, '.', byte('0'+cents/10), byte('0'+cents%10)))
}

// group appends n in decimal with a comma between each group of three
// digits.
func group(b []byte, n uint64) []byte {
	digits := strconv.FormatUint(n, 10)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, digits[i])
	}
	return b
}

// Grouped is n with thousands separators, for counts shown next to money
// ("7,500 committed credits").
func Grouped(n int64) string {
	neg, mag := magnitude(n)
	var b []byte
	if neg {
		b = append(b, '-')
	}
	return string(group(b, mag))
}

// ParseMicros reads a decimal amount as a marketplace writes prices and
// charges ("12000", "0.0125", "-3.50") into micro-units, exactly: more than
// six decimal places, an exponent, a sign other than a leading minus, or a
// value beyond int64 micro-units is an error, never a rounding.
func ParseMicros(s string) (Micros, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, hasPoint := strings.Cut(digits, ".")
	if whole == "" || (hasPoint && frac == "") || len(frac) > 6 || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("amount %q is not a decimal number with at most 6 decimal places", s)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxInt64/1_000_000 {
		return 0, fmt.Errorf("amount %q is out of range", s)
	}
	f, _ := strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	m := int64(w)*1_000_000 + int64(f)
	if m < 0 {
		return 0, fmt.Errorf("amount %q is out of range", s)
	}
	if neg {
		m = -m
	}
	return Micros(m), nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Exact is m with every significant decimal place, at least two, and
// thousands separators, without a currency: "12,000.00", "0.0125". Unit
// prices below a cent are shown as they are, not as $0.00.
func (m Micros) Exact() string {
	neg, mag := magnitude(int64(m))
	var b []byte
	if neg && mag != 0 {
		b = append(b, '-')
	}
	b = group(b, mag/1_000_000)
	frac := strings.TrimRight(fmt.Sprintf("%06d", mag%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return string(append(append(b, '.'), frac...))
}

// Decimal is m as a plain decimal number, with every significant decimal
// place and at least two, no separators and no currency: "10000.00",
// "0.0125", as APIs carry amounts.
func (m Micros) Decimal() string { return strings.ReplaceAll(m.Exact(), ",", "") }

// InCurrency is m with its ISO 4217 currency: "$12,000.00" for US dollars,
// as the rest of the product writes them, "12,000.00 EUR" for any other.
func (m Micros) InCurrency(code string) string {
	if code == "" || code == "USD" {
		neg, mag := magnitude(int64(m))
		if neg && mag != 0 {
			return "-$" + Micros(mag).Exact()
		}
		return "$" + m.Exact()
	}
	return m.Exact() + " " + code
}
