package market

import (
	"fmt"
	"sort"
	"time"
)

// RecordFilter selects ledger records; empty fields match all.
type RecordFilter struct {
	ProductCode string
	AccountID   string
	Month       string // YYYY-MM of the usage timestamp
}

// Records lists accepted metering records by timestamp.
func (m *Market) Records(f RecordFilter) []MeteringRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []MeteringRecord
	for _, r := range m.records {
		if (f.ProductCode == "" || r.ProductCode == f.ProductCode) && (f.AccountID == "" || r.AccountID == f.AccountID) &&
			(f.Month == "" || r.Timestamp.Format("2006-01") == f.Month) {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Timestamp.Before(out[j].Timestamp) || out[i].Timestamp.Equal(out[j].Timestamp) && out[i].ID < out[j].ID
	})
	return out
}

// InvoiceLine is one product dimension at one unit price.
type InvoiceLine struct {
	ProductCode     string `json:"product_code"`
	ProductTitle    string `json:"product_title"`
	Dimension       string `json:"dimension"`
	Kind            string `json:"kind"` // usage, or the contract charge reason (purchase, upgrade, renewal)
	Quantity        int64  `json:"quantity"`
	UnitPriceMicros Micros `json:"unit_price_micros"`
	AmountMicros    Micros `json:"amount_micros"`
	AmountCents     int64  `json:"amount_cents"`
}

// Invoice is what AWS would bill one buyer account for one calendar month (UTC).
type Invoice struct {
	AccountID  string        `json:"account_id"`
	Month      string        `json:"month"`
	Lines      []InvoiceLine `json:"lines"`
	TotalCents int64         `json:"total_cents"`
}

// Invoices builds invoices from the ledger, for one account and month or all.
// Each line sums micro-dollars exactly and is rounded to cents once; the
// total is the sum of the rounded lines, as on a printed invoice.
func (m *Market) Invoices(accountID, month string) ([]Invoice, error) {
	if month != "" {
		if _, err := time.Parse("2006-01", month); err != nil {
			return nil, errorf(KindInvalid, "month %q: want YYYY-MM", month)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	type lineKey struct {
		account, month, product, dim, kind string
		price                              Micros
	}
	lines := map[lineKey]*InvoiceLine{}
	add := func(k lineKey, qty int64, amount Micros) {
		if (accountID != "" && k.account != accountID) || (month != "" && k.month != month) {
			return
		}
		l, ok := lines[k]
		if !ok {
			title := ""
			if p := m.products[k.product]; p != nil {
				title = p.Title
			}
			l = &InvoiceLine{ProductCode: k.product, ProductTitle: title, Dimension: k.dim, Kind: k.kind, UnitPriceMicros: k.price}
			lines[k] = l
		}
		l.Quantity += qty
		l.AmountMicros += amount
	}
	for _, r := range m.records {
		add(lineKey{r.AccountID, r.Timestamp.Format("2006-01"), r.ProductCode, r.Dimension, "usage", r.UnitPriceMicros}, r.Quantity, r.AmountMicros)
	}
	for _, c := range m.charges {
		add(lineKey{c.AccountID, c.At.Format("2006-01"), c.ProductCode, c.Dimension, c.Reason, c.UnitPriceMicros}, c.Quantity, c.AmountMicros)
	}
	invoices := map[string]*Invoice{}
	for k, l := range lines {
		id := k.account + "|" + k.month
		inv, ok := invoices[id]
		if !ok {
			inv = &Invoice{AccountID: k.account, Month: k.month}
			invoices[id] = inv
		}
		l.AmountCents = l.AmountMicros.Cents()
		inv.Lines = append(inv.Lines, *l)
		inv.TotalCents += l.AmountCents
	}
	out := make([]Invoice, 0, len(invoices))
	for _, inv := range invoices {
		sort.Slice(inv.Lines, func(i, j int) bool {
			a, b := inv.Lines[i], inv.Lines[j]
			return fmt.Sprint(a.ProductCode, a.Dimension, a.Kind, a.UnitPriceMicros) < fmt.Sprint(b.ProductCode, b.Dimension, b.Kind, b.UnitPriceMicros)
		})
		out = append(out, *inv)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].AccountID < out[j].AccountID || out[i].AccountID == out[j].AccountID && out[i].Month < out[j].Month
	})
	return out, nil
}
