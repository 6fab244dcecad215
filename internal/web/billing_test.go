package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// advance moves the seller's clock.
func (a *app) advance(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
}

// useCompute records usage of the test catalog's "compute" meter ($0.22 a
// unit) in the hourly totals, as ingestion keeps them, at any time: the
// usage API only takes recent events.
func (a *app) useCompute(orgID string, at time.Time, units int64) {
	a.t.Helper()
	id, err := strconv.ParseInt(orgID, 10, 64)
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.db.Write().Exec(`INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at)
		VALUES ($1, 'compute', '', $2, $3, 1, $2)`, id, store.Now(at.Truncate(time.Hour)), units*1_000_000); err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.db.Write().Exec(`INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity) VALUES ($1, $2, 'compute', $3)`,
		id, store.Now(at.Truncate(time.Hour)), units*1_000_000); err != nil {
		a.t.Fatal(err)
	}
}

type creditsAnswer struct {
	State   string `json:"state"`
	Credits *struct {
		Committed int64     `json:"committed_micros"`
		Used      int64     `json:"used_micros"`
		Remaining int64     `json:"remaining_micros"`
		TermStart time.Time `json:"term_start"`
		RunOut    string    `json:"run_out_date"`
	} `json:"committed_credits"`
}

// The billing page and API show a contract's committed credits over the
// whole term, as metering draws them: usage from before the link is not
// drawn, usage older than the page's 30-day chart is, and after a renewal
// the new term's credits start fresh (R12, R13).
func TestBilling_R13_CommittedCreditsOverTheTerm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		linked := a.Now()
		b, billing := a.linkNewOrg("term@example.com", a.acceptDemoOffer(), "Term")
		orgID := strings.Split(strings.TrimPrefix(billing, "/orgs/"), "/")[0]
		key := b.createKey("/orgs/" + orgID + "/")
		api := func() creditsAnswer {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+orgID+"/billing", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var out creditsAnswer
			if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.Credits == nil {
				t.Fatalf("billing API = %d %s (%v)", resp.StatusCode, body, err)
			}
			return out
		}

		a.useCompute(orgID, linked.Add(-2*time.Hour), 1000) // before the link: not drawn
		a.useCompute(orgID, linked.Add(time.Hour), 10000)   // $2,200, 40 days old by now
		a.advance(40 * 24 * time.Hour)
		a.useCompute(orgID, a.Now().Add(-20*time.Hour), 5000) // $1,100 yesterday
		b.login("term@example.com", password)                 // the session has expired meanwhile
		page := b.get(billing).body
		for _, want := range []string{"$3,300.00 of $10,000.00 used (33%)", "$6,700.00 remaining", "from 23 Nov 2026",
			"run out around 14 Feb 2027"} { // $6,700 at $1,100 a week: 1,023 hours
			if !strings.Contains(page, want) {
				t.Errorf("the billing page lacks %q", want)
			}
		}
		got := api()
		if c := got.Credits; got.State != "active" || c.Committed != 10_000_000_000 || c.Used != 3_300_000_000 || c.Remaining != 6_700_000_000 ||
			!c.TermStart.Equal(linked) || c.RunOut != "2027-02-14" {
			t.Errorf("billing API: %s %+v, want $3,300 of $10,000 used since %s, running out 2027-02-14", got.State, *c, linked)
		}

		// A renewal twelve hours ago began a new term with fresh credits.
		renewed := a.Now().Add(-12 * time.Hour)
		if _, err := db.Write().Exec(`UPDATE entitlements SET term_start = $1, expires_at = $2`,
			store.Now(renewed), store.Now(renewed.AddDate(1, 0, 0))); err != nil {
			t.Fatal(err)
		}
		a.useCompute(orgID, a.Now().Add(-2*time.Hour), 100) // $22 in the new term
		page = b.get(billing).body
		for _, want := range []string{"$22.00 of $10,000.00 used (0%)", "$9,978.00 remaining", "from 1 Jan 2027"} {
			if !strings.Contains(page, want) {
				t.Errorf("after the renewal the billing page lacks %q", want)
			}
		}
		if got := api(); got.Credits.Used != 22_000_000 || !got.Credits.TermStart.Equal(renewed) {
			t.Errorf("billing API after the renewal: %+v, want $22 used since %s", *got.Credits, renewed)
		}
	})
}
