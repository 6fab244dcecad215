package market

import (
	"math/big"
	"sort"
	"time"
)

// LedgerFilter selects accepted usage events; empty fields match all.
type LedgerFilter struct {
	PublisherID    string
	SubscriptionID string
	OfferID        string
	PlanID         string
	Dimension      string
	From, To       time.Time // on effectiveStartTime: From inclusive, To exclusive
}

// Ledger lists accepted usage events by effectiveStartTime: what Microsoft
// would bill.
func (m *Market) Ledger(f LedgerFilter) []UsageEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []UsageEvent{}
	for _, u := range m.usage {
		if (f.PublisherID == "" || u.PublisherID == f.PublisherID) && (f.SubscriptionID == "" || u.ResourceID == f.SubscriptionID) &&
			(f.OfferID == "" || u.OfferID == f.OfferID) && (f.PlanID == "" || u.PlanID == f.PlanID) &&
			(f.Dimension == "" || u.Dimension == f.Dimension) &&
			(f.From.IsZero() || !u.EffectiveStartTime.Before(f.From)) && (f.To.IsZero() || u.EffectiveStartTime.Before(f.To)) {
			out = append(out, *u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].EffectiveStartTime.Before(out[j].EffectiveStartTime) ||
			out[i].EffectiveStartTime.Equal(out[j].EffectiveStartTime) && out[i].ID < out[j].ID
	})
	return out
}

// DailyUsage is one row of GET /usageEvents: a day's events of one
// resource, plan and dimension.
type DailyUsage struct {
	Day         time.Time
	ResourceID  string
	Dimension   string
	PlanID      string
	PlanName    string
	OfferID     string
	OfferName   string
	ReconStatus string // always Accepted: the emulator has no analytics pipeline
	Quantity    Quantity
	Count       int
}

// DailyUsageFor aggregates the ledger per UTC day, resource, plan and
// dimension, for GET /usageEvents. reconStatus filters on the row's status.
func (m *Market) DailyUsageFor(f LedgerFilter, reconStatus string) []DailyUsage {
	events := m.Ledger(f)
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := map[string]int{}
	var out []DailyUsage
	for _, u := range events {
		// DryRun is a documented reconStatus the spec's enum lacks; the
		// emulator answers within the spec.
		status := "Accepted"
		if reconStatus != "" && reconStatus != status {
			continue
		}
		d := day(u.EffectiveStartTime)
		k := d.Format(time.DateOnly) + "|" + u.ResourceID + "|" + u.PlanID + "|" + u.Dimension
		i, ok := idx[k]
		if !ok {
			row := DailyUsage{Day: d, ResourceID: u.ResourceID, Dimension: u.Dimension, PlanID: u.PlanID,
				OfferID: u.OfferID, ReconStatus: status}
			if o := m.offers[u.OfferID]; o != nil {
				row.OfferName = o.DisplayName
				if p := o.plan(u.PlanID); p != nil {
					row.PlanName = p.DisplayName
				}
			}
			out = append(out, row)
			i = len(out) - 1
			idx[k] = i
		}
		out[i].Quantity.Millionths += u.Quantity.Millionths
		out[i].Count++
	}
	return out
}

// InvoiceLine is one priced line: a dimension's usage at its unit price, or
// a recurring fee.
type InvoiceLine struct {
	Kind          string `json:"kind"` // usage, activation or renewal
	PlanID        string `json:"plan_id"`
	Dimension     string `json:"dimension,omitempty"`
	TermUnit      string `json:"term_unit,omitempty"`
	Quantity      string `json:"quantity"` // exact decimal
	UnitMicros    Micros `json:"unit_price_micros"`
	AmountMicros  string `json:"amount_micros"` // exact, may have a fraction of a micro-dollar
	AmountCents   int64  `json:"amount_cents"`
	EventCount    int    `json:"event_count,omitempty"`
	ChargedAtTerm string `json:"charged_at,omitempty"`
}

// Invoice is what Microsoft would bill for one subscription: its recurring
// fees and its usage, every line priced exactly and rounded once to cents
// (half up), the total being the sum of the rounded lines, as printed.
type Invoice struct {
	SubscriptionID string        `json:"subscription_id"`
	Lines          []InvoiceLine `json:"lines"`
	TotalCents     int64         `json:"total_cents"`
}

// InvoiceFor builds a subscription's invoice from the ledger and charges.
// Usage is priced at the plan's price for the dimension on the plan the
// event named; included quantities are not subtracted, because the seller
// reports only usage above them (§5).
func (m *Market) InvoiceFor(subscriptionID string) (Invoice, error) {
	events := m.Ledger(LedgerFilter{SubscriptionID: subscriptionID})
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subscriptions[subscriptionID]
	if !ok {
		return Invoice{}, notFoundf("subscriptionId", "Subscription %s not found", subscriptionID)
	}
	inv := Invoice{SubscriptionID: s.ID, Lines: []InvoiceLine{}}
	var charges []*Charge
	for _, c := range m.charges {
		if c.SubscriptionID == s.ID {
			charges = append(charges, c)
		}
	}
	sort.Slice(charges, func(i, j int) bool {
		return charges[i].At.Before(charges[j].At) || charges[i].At.Equal(charges[j].At) && charges[i].ID < charges[j].ID
	})
	for _, c := range charges {
		amount := big.NewRat(int64(c.AmountMicros), 1)
		inv.Lines = append(inv.Lines, InvoiceLine{Kind: c.Reason, PlanID: c.PlanID, TermUnit: c.TermUnit,
			Quantity: big.NewInt(int64(c.Quantity)).String(), UnitMicros: c.UnitMicros, AmountMicros: c.AmountMicros.String(),
			AmountCents: centsHalfUp(amount), ChargedAtTerm: c.At.Format(time.DateOnly)})
	}
	type key struct{ plan, dim string }
	sums := map[key]*InvoiceLine{}
	var order []key
	qty := map[key]int64{}
	o := m.offers[s.OfferID]
	for _, u := range events {
		k := key{u.PlanID, u.Dimension}
		if _, ok := sums[k]; !ok {
			var price Micros
			if p := o.plan(u.PlanID); p != nil {
				mt, _ := p.meter(u.Dimension)
				price = mt.PriceMicros
			}
			sums[k] = &InvoiceLine{Kind: "usage", PlanID: u.PlanID, Dimension: u.Dimension, UnitMicros: price}
			order = append(order, k)
		}
		sums[k].EventCount++
		qty[k] += u.Quantity.Millionths
	}
	for _, k := range order {
		l := sums[k]
		// quantity (millionths) × price (micros) / 10^6 = micro-dollars, exactly.
		amount := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(qty[k]), big.NewInt(int64(l.UnitMicros))), big.NewInt(QuantityScale))
		l.Quantity = Quantity{Millionths: qty[k]}.String()
		l.AmountMicros = ratString(amount)
		l.AmountCents = centsHalfUp(amount)
		inv.Lines = append(inv.Lines, *l)
	}
	for _, l := range inv.Lines {
		inv.TotalCents += l.AmountCents
	}
	return inv, nil
}

// centsHalfUp rounds micro-dollars to cents, half up: the one rounding
// rule of the invoice (amounts are never negative).
func centsHalfUp(micros *big.Rat) int64 {
	cents := new(big.Rat).Quo(micros, big.NewRat(10000, 1))
	cents.Add(cents, big.NewRat(1, 2))
	return new(big.Int).Quo(cents.Num(), cents.Denom()).Int64()
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}

// String is the amount in micro-dollars as a decimal integer.
func (v Micros) String() string { return big.NewInt(int64(v)).String() }
