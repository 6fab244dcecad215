package market

import "testing"

// FuzzParseQuantity: no panic, and what parses prints back to the same value.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"5", "5.0", "0.000001", "1e2", "2.5E-1", "-3", "1e999999999", "0.1234567", "00", "1.", "nan"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			return
		}
		back, err := ParseQuantity(q.String())
		if err != nil || back != q {
			t.Fatalf("%q parsed to %d, printed %q, reparsed %d %v", s, q.Millionths, q.String(), back.Millionths, err)
		}
	})
}

func FuzzParseEffectiveStartTime(f *testing.F) {
	for _, s := range []string{"2018-12-01T08:30:14", "2020-01-12T11:03:28.14Z", "2021-12-04T19:48:06.7054737Z", "2026-03-10T11:00", "2019-05-31", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, ok := ParseEffectiveStartTime(s); ok && tm.Location().String() != "UTC" {
			t.Fatalf("%q parsed to a non-UTC time %v", s, tm)
		}
	})
}

// FuzzPurchaseInputValidate: validation never panics on any text fields.
func FuzzPurchaseInputValidate(f *testing.F) {
	f.Add("cloud", "flat", "P1M", "name", "33333333-3333-4333-8333-333333333333", "a@b.example", "DryRun", "Csp", 3)
	f.Fuzz(func(t *testing.T, offer, plan, term, name, tenant, email, mode, sandbox string, qty int) {
		in := PurchaseInput{OfferID: offer, PlanID: plan, TermUnit: term, Name: name, Quantity: qty,
			Beneficiary: Identity{TenantID: tenant, EmailID: email}, SessionMode: mode, SandboxType: sandbox}
		in.Validate() //nolint:errcheck // no panic is the property
	})
}
