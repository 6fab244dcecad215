// Package money is how the seller side writes amounts of money for people:
// micro-dollars, cents and whole dollars as US dollars the way AWS
// Marketplace shows them ("$7,500.00", "-$0.25"). Amounts stay integers
// everywhere (style habit 7); this package only turns them into text, and
// holds the one rule for rounding micro-dollars to cents (Micros.Cents).
//
// The AWS Marketplace emulator keeps its own formatter: it shares no code
// with the seller side.
package money
