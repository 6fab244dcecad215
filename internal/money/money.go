package money

import "strconv"

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
