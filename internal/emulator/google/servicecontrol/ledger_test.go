package servicecontrol

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// Money is exact: quantity × micro-dollar price summed in integers, cents
// only at the end of each invoice, the sub-cent remainder carried into the
// account's next month so that nothing is lost over months.
func TestInvoice_ExactMicrosAndCarry(t *testing.T) {
	pst := time.FixedZone("PST", -8*60*60)
	e := newEnv(t, func(c *Config) { c.InvoiceLocation = pst })
	e.consumers.byID[consumerA] = Consumer{Entitlement: "ent-a", Account: "acct-1", Product: testService, Plan: "standard",
		Metrics: map[string]int64{testMetric: 3_333}, Active: true} // a third of a cent
	e.clock.Set(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC))
	reports := []struct {
		id    string
		start time.Time
		qty   int64
	}{
		{"nov", time.Date(2026, 11, 15, 10, 0, 0, 0, time.UTC), 10},
		// 05:00 UTC on Dec 1 is still November in Pacific time.
		{"nov-pacific", time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC), 1},
		{"dec", time.Date(2026, 12, 15, 10, 0, 0, 0, time.UTC), 20},
	}
	for _, r := range reports {
		if resp, err := e.report(t, usageOp(r.id, consumerA, r.start, r.qty)); err != nil || len(resp.ReportErrors) != 0 {
			t.Fatalf("%s: %v", r.id, err)
		}
	}
	tests := []struct {
		month                 string
		usage, in, cents, out int64
	}{
		{"2026-10", 0, 0, 0, 0},
		{"2026-11", 36_663, 0, 3, 6_663},     // 11 × 3 333
		{"2026-12", 66_660, 6_663, 7, 3_323}, // 20 × 3 333 + carry
		{"2027-01", 0, 3_323, 0, 3_323},      // nothing new; the remainder waits
	}
	for _, tt := range tests {
		inv, err := e.s.Invoice(t.Context(), "acct-1", tt.month)
		if err != nil {
			t.Fatal(err)
		}
		if inv.UsageMicros != tt.usage || inv.CarriedInMicros != tt.in || inv.Cents != tt.cents || inv.CarriedOutMicros != tt.out {
			t.Errorf("%s: %s, want usage %d in %d cents %d out %d", tt.month, mustJSON(inv), tt.usage, tt.in, tt.cents, tt.out)
		}
	}
	// Over all months: cents plus the last remainder is the exact total.
	if total := int64(31 * 3_333); 3*MicrosPerCent+7*MicrosPerCent+3_323 != total {
		t.Errorf("carry lost micros: %d", total)
	}
	if _, err := e.s.Invoice(t.Context(), "acct-1", "2026-13"); err == nil {
		t.Error("accepted month 2026-13")
	}
}

// The inspection endpoints (ours) show the ledger and invoices as JSON.
func TestInspectionEndpoints(t *testing.T) {
	e := newEnv(t)
	if _, err := e.report(t, usageOp("op-1", consumerA, hour0, 250)); err != nil {
		t.Fatal(err)
	}
	get := func(path string, v any) int {
		resp, err := e.srv.Client().Get(e.srv.URL + mountPrefix + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil && resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var page struct{ Entries []Entry }
	if code := get("/v1/emulator/ledger", &page); code != 200 || len(page.Entries) != 1 || page.Entries[0].AmountMicros != 2_500_000 ||
		page.Entries[0].Labels["cloudmarketplace.googleapis.com/resource_name"] != "r1" {
		t.Fatalf("ledger %d %s", code, mustJSON(page))
	}
	var inv Invoice
	if code := get("/v1/emulator/invoices/acct-1/2026-12", &inv); code != 200 || inv.Cents != 250 || len(inv.Lines) != 1 {
		t.Fatalf("invoice %d %s", code, mustJSON(inv))
	}
	if code := get("/v1/emulator/invoices/acct-1/december", nil); code != http.StatusBadRequest {
		t.Fatalf("bad month: %d", code)
	}
}
