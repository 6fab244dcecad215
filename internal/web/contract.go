package web

import (
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/money"
)

// contractTerm is one entitlement of a contract as a person reads it: what
// the dimension is, from the catalog's description, and how much of it, with
// its unit ("7,500 committed credits ($7,500.00)").
type contractTerm struct {
	Dimension string // the catalog's description; the dimension's name when it has none
	Amount    string
	Ends      time.Time // zero when AWS gave no end
	Committed bool      // the contract's committed credits: Amount says what it is
}

// EndDate is the term's end as the billing pages write dates: "2 Dec 2027".
func (c contractTerm) EndDate() string {
	if c.Ends.IsZero() {
		return ""
	}
	return c.Ends.UTC().Format("2 Jan 2006")
}

// contractTerms describes the entitlements of a subscription to a product of
// the catalog. A contract's committed dimension counts credits of $1 (R11,
// R12), so its amount is also shown in dollars.
func contractTerms(catalog *marketplace.Catalog, sub marketplace.Subscription) []contractTerm {
	p, _ := catalog.Product(sub.ProductCode)
	out := make([]contractTerm, 0, len(sub.Entitlements))
	for _, e := range sub.Entitlements {
		t := contractTerm{Dimension: e.Dimension, Ends: e.ExpiresAt, Committed: e.Dimension == p.CommittedDimension}
		for _, d := range p.Dimensions {
			if d.Name == e.Dimension && d.Description != "" {
				t.Dimension = d.Description
			}
		}
		switch {
		case e.Kind != "integer":
			t.Amount = e.Text
		case t.Committed:
			t.Amount = money.Grouped(e.Integer) + " committed credits (" + money.Dollars(e.Integer).String() + ")"
		default:
			t.Amount = money.Grouped(e.Integer)
		}
		out = append(out, t)
	}
	return out
}
