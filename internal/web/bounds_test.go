package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

type eventsAnswer struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index  int    `json:"index"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	} `json:"rejected"`
}

// postEvents sends a batch of CloudEvents with an API key.
func (a *app) postEvents(key string, events []string) (int, eventsAnswer) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/api/v1/events", strings.NewReader("["+strings.Join(events, ",")+"]"))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out eventsAnswer
	if err := json.Unmarshal(body, &out); err != nil {
		a.t.Fatalf("POST /api/v1/events = %d %s", resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

func computeEvent(id string, at time.Time, quantity string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"//product.example.com","type":"compute","subject":"svc-%d","time":%q,"data":{"quantity":%s}}`,
		id, len(id)%7, at.UTC().Format(time.RFC3339), quantity)
}

// meterNow makes the metering records of every closed hour, as the worker
// does, with the test catalog.
func (a *app) meterNow() *metering.Maker {
	a.t.Helper()
	catalog, err := marketplace.NewCatalog(demoProducts, marketplace.Meter{Name: "compute", PriceMicros: 220_000})
	if err != nil {
		a.t.Fatal(err)
	}
	maker, err := metering.NewMaker(metering.MakerConfig{DB: a.db, Subscriptions: a.market, Usage: usage.NewTotals(a.db), Prices: catalog,
		Logger: slog.New(slog.DiscardHandler), Now: a.Now, ZeroRecords: true})
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := maker.MakeRecords(context.Background()); err != nil {
		a.t.Fatalf("MakeRecords: %v", err)
	}
	return maker
}

// TestUsageAPI_11_TheAttackIsRefusedAndBillingGoesOn sends issue #11's
// attack through the API: two batches of 9,000 events of the largest
// quantity (1e9 vCPU-hours, $220 million each) in one hour, both answered
// 200 before, which overflowed the totals, broke the billing page and
// stopped metering. Each event is refused on its own with a 422 and the
// reason (an hour holds at most $20,000,000 of usage), nothing of them is
// stored, and usage, the billing page and API, and metering go on.
func TestUsageAPI_11_TheAttackIsRefusedAndBillingGoesOn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b, billing := a.linkNewOrg("attack@example.com", agreement, "Attacker")
		orgID := strings.Split(strings.TrimPrefix(billing, "/orgs/"), "/")[0]
		key := b.createKey("/orgs/" + orgID + "/")
		a.advance(30 * time.Minute)
		at := a.Now().Add(-10 * time.Minute)
		for batch := range 2 {
			events := make([]string, 9000)
			for i := range events {
				events[i] = computeEvent(fmt.Sprintf("attack-%d-%d", batch, i), at, "1e9")
			}
			status, got := a.postEvents(key, events)
			if status != http.StatusMultiStatus || got.Accepted != 0 || len(got.Rejected) != 9000 {
				t.Fatalf("batch %d: %d, %d accepted, %d rejected; want 207 with all 9000 rejected", batch, status, got.Accepted, len(got.Rejected))
			}
			for _, r := range got.Rejected {
				if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Error, "past $20,000,000.00 at the catalog's prices") {
					t.Fatalf("batch %d: rejection %+v, want 422 with the bound", batch, r)
				}
			}
		}
		if status, got := a.postEvents(key, []string{computeEvent("real-1", at, "2.5")}); status != http.StatusOK || got.Accepted != 1 {
			t.Fatalf("usage after the attack: %d %+v", status, got)
		}
		var events, quantity, hourly int64
		if err := db.Read().QueryRow(`SELECT COUNT(*), COALESCE(SUM(quantity), 0), (SELECT COALESCE(SUM(quantity), 0) FROM usage_meter_hourly)
			FROM usage_events`).Scan(&events, &quantity, &hourly); err != nil {
			t.Fatal(err)
		}
		if events != 1 || quantity != 2_500_000 || hourly != quantity {
			t.Errorf("stored %d events of %d micro-units, %d in the hourly totals; want the one event of 2.5", events, quantity, hourly)
		}
		// The billing API and page work and show the usage: $0.55.
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+orgID+"/billing", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"state":"active"`)) {
			t.Errorf("billing API = %d %s", resp.StatusCode, body)
		}
		if r := b.get(billing); r.status != http.StatusOK || !strings.Contains(r.body, "0.55") || strings.Contains(r.body, "$-") {
			t.Errorf("billing page = %d, want it to show $0.55", r.status)
		}
		// Metering meters the hour: 55 cents.
		a.advance(time.Hour)
		a.meterNow()
		var cents int64
		if err := db.Read().QueryRow(`SELECT COALESCE(SUM(quantity), 0) FROM metering_records`).Scan(&cents); err != nil {
			t.Fatal(err)
		}
		if cents != 55 {
			t.Errorf("metered %d cents, want 55", cents)
		}
	})
}

// TestOperatorView_11_ListsUsageHoursNotMetered: an hour whose stored
// usage cannot be rated is listed in the operator view, with its
// subscription, organization and reason.
func TestOperatorView_11_ListsUsageHoursNotMetered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ops := a.signUp("ops@example.com")
		if r := ops.get("/operator"); r.status != http.StatusOK || !strings.Contains(r.body, "None: every hour was rated.") {
			t.Fatalf("operator view before = %d:\n%s", r.status, r.body)
		}
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b, billing := a.linkNewOrg("poisoned@example.com", agreement, "Poisoned")
		orgID := strings.Split(strings.TrimPrefix(billing, "/orgs/"), "/")[0]
		key := b.createKey("/orgs/" + orgID + "/")
		a.advance(30 * time.Minute)
		if status, got := a.postEvents(key, []string{computeEvent("u1", a.Now(), "10")}); status != http.StatusOK || got.Accepted != 1 {
			t.Fatalf("usage: %d %+v", status, got)
		}
		// A total beyond the bounds, as usage accepted before #11 could
		// leave behind.
		if _, err := db.Write().Exec(`UPDATE usage_meter_hourly SET quantity = 5000000000000000000`); err != nil {
			t.Fatal(err)
		}
		a.advance(time.Hour)
		a.meterNow()
		var sub int64
		if err := db.Read().QueryRow(`SELECT id FROM subscriptions`).Scan(&sub); err != nil {
			t.Fatal(err)
		}
		r := ops.get("/operator")
		for _, want := range []string{"Usage hours not metered", fmt.Sprintf("#%d %s", sub, market.DemoPAYGCode), "#" + orgID,
			"2026-11-23 09:00 UTC", "5000000000000 units, beyond the bound"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("the operator view lacks %q", want)
			}
		}
	})
}
