package marketplace

import (
	"testing"
	"time"
)

// The billing page's totals are exact or absent, never wrong: a fixed
// upfront term's grants carry no unit price and its price is the total, an
// unlimited grant is not a grant of none, sums past int64 micro-units and
// prices that do not read exactly leave the total out, and a renewal term
// that is off says so (#13).
func TestAgreementView_Issue13_TotalsAndRenewal(t *testing.T) {
	on, off := true, false
	start := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name                   string
		terms                  AgreementTerms
		wantTotal, wantRenewal string
		wantLines              []string
		wantTrialEnds          time.Time
	}{
		{name: "configurable upfront, auto-renewing",
			terms: AgreementTerms{Currency: "USD", AutoRenew: &on, Commitments: []Commitment{
				{Dimension: "committed_credits", Quantity: 10_000, UnitPrice: "1.00"},
				{Dimension: "seats", Quantity: 3, UnitPrice: "0.125"}}},
			wantTotal: "$10,000.375", wantRenewal: "automatic", wantLines: []string{"$10,000.00", "$0.375"}},
		{name: "fixed upfront with grants, renewal off",
			terms: AgreementTerms{Currency: "USD", AutoRenew: &off, UpfrontPrice: "1000", Commitments: []Commitment{
				{Dimension: "seats", Quantity: 50}, {Dimension: "api", Unlimited: true}}},
			wantTotal: "$1,000.00", wantRenewal: "manual", wantLines: []string{"", ""}},
		{name: "in euros",
			terms:     AgreementTerms{Currency: "EUR", Commitments: []Commitment{{Dimension: "seats", Quantity: 2, UnitPrice: "1234.5"}}},
			wantTotal: "2,469.00 EUR", wantLines: []string{"2,469.00 EUR"}},
		{name: "a sum past int64 micro-units",
			terms: AgreementTerms{Currency: "USD", Commitments: []Commitment{
				{Dimension: "a", Quantity: 1, UnitPrice: "9000000000000"}, {Dimension: "b", Quantity: 1, UnitPrice: "9000000000000"}}},
			wantTotal: "", wantLines: []string{"$9,000,000,000,000.00", ""}},
		{name: "a line past int64 micro-units",
			terms:     AgreementTerms{Currency: "USD", Commitments: []Commitment{{Dimension: "a", Quantity: 2_000_000, UnitPrice: "9000000000"}}},
			wantTotal: "", wantLines: []string{""}},
		{name: "a price with seven decimal places",
			terms:     AgreementTerms{Currency: "USD", Commitments: []Commitment{{Dimension: "a", Quantity: 1, UnitPrice: "0.0000001"}}},
			wantTotal: "", wantLines: []string{""}},
		{name: "a free trial of 30 days",
			terms: AgreementTerms{FreeTrial: "P30D"}, wantTrialEnds: start.AddDate(0, 0, 30)},
		{name: "a free trial in weeks, which the page does not count",
			terms: AgreementTerms{FreeTrial: "P2W"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := AgreementView{Agreement: Agreement{StartsAt: start, Terms: tc.terms}}
			v.describe(Product{})
			if v.CommittedTotal != tc.wantTotal || v.Renewal != tc.wantRenewal || !v.FreeTrialEnds.Equal(tc.wantTrialEnds) {
				t.Errorf("total %q, renewal %q, trial ends %s; want %q, %q, %s", v.CommittedTotal, v.Renewal, v.FreeTrialEnds,
					tc.wantTotal, tc.wantRenewal, tc.wantTrialEnds)
			}
			if len(v.Commitments) != len(tc.wantLines) {
				t.Fatalf("%d commitment lines, want %d", len(v.Commitments), len(tc.wantLines))
			}
			for i, want := range tc.wantLines {
				if v.Commitments[i].Total != want {
					t.Errorf("line %d = %q, want %q", i, v.Commitments[i].Total, want)
				}
			}
		})
	}
}
