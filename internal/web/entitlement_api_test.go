package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

type entitlementAnswer struct {
	OrganizationID int64      `json:"organization_id"`
	Billable       bool       `json:"billable"`
	State          string     `json:"state"`
	Channel        *string    `json:"channel"`
	GraceUntil     *time.Time `json:"grace_until"`
	SuspendedAt    *time.Time `json:"suspended_at"`
	Contract       *struct {
		OfferType string     `json:"offer_type"`
		TermEnd   *time.Time `json:"term_end"`
		Credits   *int64     `json:"credits_micros"`
		Used      *int64     `json:"credits_used_micros"`
		Remaining *int64     `json:"credits_remaining_micros"`
		Overage   bool       `json:"overage"`
	} `json:"contract"`
	Subscription *struct {
		ProductCode string `json:"product_code"`
		Account     string `json:"customer_account_id"`
		Status      string `json:"status"`
	} `json:"subscription"`
}

// entitlement calls the entitlement endpoint with the key, sending etag in
// If-None-Match when not empty.
func (a *app) entitlement(orgID, key, etag string) (response, entitlementAnswer) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+orgID+"/entitlement", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, body: string(body), header: resp.Header}
	var out entitlementAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &out); err != nil {
			a.t.Fatalf("entitlement body %s: %v", body, err)
		}
	}
	return r, out
}

// orgIDOf is the organization id in a console path such as /orgs/7/billing.
func orgIDOf(path string) string { return strings.Split(strings.TrimPrefix(path, "/orgs/"), "/")[0] }

// The entitlement endpoint follows an organization through its billing
// states, says which are billable, and answers 304 without a body while
// nothing changed (R14, R17, R19).
func TestEntitlement_R19_BillableThroughTheLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ctx := context.Background()

		// Never linked: none, not billable, nothing to show.
		b := a.signUp("none@example.com")
		plain := b.createOrg("Plain")
		r, got := a.entitlement(orgIDOf(plain), b.createKey(plain), "")
		if r.status != http.StatusOK || got.State != "none" || got.Billable || got.Channel != nil || got.Contract != nil || got.Subscription != nil ||
			got.GraceUntil != nil || got.SuspendedAt != nil {
			t.Fatalf("unlinked organization: %d %s", r.status, r.body)
		}
		for _, null := range []string{`"channel":null`, `"contract":null`, `"subscription":null`, `"grace_until":null`} {
			if !strings.Contains(r.body, null) {
				t.Errorf("unlinked organization's body lacks %s: %s", null, r.body)
			}
		}

		// Linked pay-as-you-go: active through AWS.
		account, agreement := a.subscribe(market.DemoPAYGCode)
		b, billing := a.linkNewOrg("payg@example.com", agreement, "Payg")
		orgID := orgIDOf(billing)
		key := b.createKey("/orgs/" + orgID + "/")
		r, got = a.entitlement(orgID, key, "")
		if r.status != http.StatusOK || got.State != "active" || !got.Billable || got.Channel == nil || *got.Channel != "aws" ||
			got.Subscription == nil || got.Subscription.Account != account || got.Subscription.ProductCode != market.DemoPAYGCode ||
			got.Contract == nil || got.Contract.OfferType != "payg" || got.Contract.Credits != nil {
			t.Fatalf("linked PAYG: %d %s", r.status, r.body)
		}
		etag := r.header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || r.header.Get("Cache-Control") != "private, no-cache" {
			t.Fatalf("ETag %q, Cache-Control %q: want a strong ETag and private, no-cache", etag, r.header.Get("Cache-Control"))
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			if r, _ := a.entitlement(orgID, key, inm); r.status != http.StatusNotModified || r.body != "" || r.header.Get("ETag") != etag {
				t.Errorf("If-None-Match %s: %d %q, want 304 without a body", inm, r.status, r.body)
			}
		}
		if r, _ := a.entitlement(orgID, key, `"other"`); r.status != http.StatusOK {
			t.Errorf("another ETag: %d, want 200", r.status)
		}
		// Another organization's id with this key: not found (s.api).
		if r, _ := a.entitlement(orgIDOf(plain), key, ""); r.status != http.StatusNotFound {
			t.Errorf("another organization's entitlement: %d, want 404", r.status)
		}

		// Cancelled: 14 days of grace, still billable, then suspended.
		if _, err := db.Write().Exec(`UPDATE subscriptions SET status = 'cancelled', cancelled_at = $1`, store.Now(a.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write().Exec(`UPDATE billing_links SET ended_at = $1, end_reason = 'cancelled' WHERE org_id = $2`, store.Now(a.Now()), orgID); err != nil {
			t.Fatal(err)
		}
		graceEnd := store.Now(a.Now().Add(marketplace.GracePeriod))
		r, got = a.entitlement(orgID, key, etag)
		if r.status != http.StatusOK || got.State != "grace" || !got.Billable || got.Channel != nil || got.GraceUntil == nil ||
			!got.GraceUntil.Equal(graceEnd) || got.SuspendedAt != nil || got.Subscription == nil || got.Subscription.Status != "cancelled" {
			t.Fatalf("in grace, with the old ETag: %d %s", r.status, r.body)
		}
		a.advance(marketplace.GracePeriod)
		r, got = a.entitlement(orgID, key, "")
		if got.State != "suspended" || got.Billable || got.SuspendedAt == nil || !got.SuspendedAt.Equal(graceEnd) {
			t.Fatalf("after grace: %d %s", r.status, r.body)
		}

		// A contract: its credits, then overage once metering drew them all.
		b, billing = a.linkNewOrg("contract@example.com", a.acceptDemoOffer(), "Contract")
		orgID = orgIDOf(billing)
		key = b.createKey("/orgs/" + orgID + "/")
		r, got = a.entitlement(orgID, key, "")
		if got.State != "active" || got.Contract == nil || got.Contract.OfferType != "contract" || got.Contract.Credits == nil ||
			*got.Contract.Credits != 10_000_000_000 || *got.Contract.Used != 0 || *got.Contract.Remaining != 10_000_000_000 ||
			got.Contract.TermEnd == nil || got.Contract.Overage {
			t.Fatalf("linked contract: %d %s", r.status, r.body)
		}
		var subID int64
		if err := db.Read().QueryRow(`SELECT subscription_id FROM billing_links WHERE org_id = $1`, orgID).Scan(&subID); err != nil {
			t.Fatal(err)
		}
		if err := a.market.RecordCreditUse(ctx, marketplace.CreditUse{SubscriptionID: subID, Term: marketplace.Term{Credits: 10_000},
			UsedMicros: 2_500_000_000}); err != nil {
			t.Fatal(err)
		}
		if _, got = a.entitlement(orgID, key, ""); *got.Contract.Used != 2_500_000_000 || *got.Contract.Remaining != 7_500_000_000 {
			t.Fatalf("a quarter used: %+v", *got.Contract)
		}
		if err := a.market.RecordCreditUse(ctx, marketplace.CreditUse{SubscriptionID: subID, Term: marketplace.Term{Credits: 10_000},
			UsedMicros: 10_000_000_000}); err != nil {
			t.Fatal(err)
		}
		r, got = a.entitlement(orgID, key, "")
		if got.State != "credits-exhausted" || !got.Billable || !got.Contract.Overage || *got.Contract.Remaining != 0 {
			t.Fatalf("credits used up: %s", r.body)
		}
		// The term ended: contract-expired, not billable.
		if _, err := db.Write().Exec(`UPDATE entitlements SET expires_at = $1 WHERE subscription_id = $2`, store.Now(a.Now().Add(-time.Hour)), subID); err != nil {
			t.Fatal(err)
		}
		if r, got = a.entitlement(orgID, key, ""); got.State != "contract-expired" || got.Billable {
			t.Fatalf("contract over: %s", r.body)
		}
	})
}

type usageReportAnswer struct {
	Granularity string `json:"granularity"`
	Periods     []struct {
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
		Meters []struct {
			Meter    string `json:"meter"`
			Quantity string `json:"quantity"`
			Rated    int64  `json:"rated_micros"`
			Billed   int64  `json:"billed_micros"`
			Unbilled int64  `json:"unbilled_micros"`
			Parts    []struct {
				Reason   string `json:"reason"`
				Quantity string `json:"quantity"`
				Micros   int64  `json:"micros"`
			} `json:"unbilled"`
		} `json:"meters"`
	} `json:"periods"`
	Totals struct {
		Rated    int64 `json:"rated_micros"`
		Billed   int64 `json:"billed_micros"`
		Unbilled int64 `json:"unbilled_micros"`
	} `json:"totals"`
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields"`
}

func (a *app) usageReport(orgID, key, query string) (int, usageReportAnswer) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+orgID+"/usage?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out usageReportAnswer
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			a.t.Fatalf("usage report body %s: %v", body, err)
		}
	}
	return resp.StatusCode, out
}

// The usage report splits rated usage into what AWS bills and what it
// does not: before the link nothing bills it; from the link's hour AWS
// does (R12, R20, R23). Bad queries get every field's error at once.
func TestUsageReport_R20_BilledFromTheLinkUnbilledBefore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b, billing := a.linkNewOrg("usage@example.com", agreement, "Usage")
		orgID := orgIDOf(billing)
		key := b.createKey("/orgs/" + orgID + "/")
		linkHour := a.Now().Truncate(time.Hour)
		a.useCompute(orgID, linkHour.Add(-2*time.Hour), 10) // $2.20, before the link (the organization existed)
		a.useCompute(orgID, linkHour, 5)                    // $1.10, the link's hour: billed
		a.advance(2 * time.Hour)

		from, to := linkHour.Add(-3*time.Hour).Format(time.RFC3339), linkHour.Add(2*time.Hour).Format(time.RFC3339)
		status, got := a.usageReport(orgID, key, "from="+from+"&to="+to+"&granularity=hour")
		if status != http.StatusOK || len(got.Periods) != 2 {
			t.Fatalf("hourly report: %d %+v", status, got)
		}
		before, linked := got.Periods[0].Meters[0], got.Periods[1].Meters[0]
		if before.Quantity != "10" || before.Rated != 2_200_000 || before.Billed != 0 || before.Unbilled != 2_200_000 ||
			len(before.Parts) != 1 || before.Parts[0].Reason != "no_link" || before.Parts[0].Micros != 2_200_000 {
			t.Errorf("the hour before the link: %+v", before)
		}
		if linked.Rated != 1_100_000 || linked.Billed != 1_100_000 || linked.Unbilled != 0 || len(linked.Parts) != 0 {
			t.Errorf("the link's hour: %+v", linked)
		}
		if got.Totals.Rated != 3_300_000 || got.Totals.Billed != 1_100_000 || got.Totals.Unbilled != 2_200_000 {
			t.Errorf("totals: %+v", got.Totals)
		}
		day := linkHour.Truncate(24 * time.Hour)
		status, got = a.usageReport(orgID, key, "from="+day.Format(time.RFC3339)+"&to="+day.Add(24*time.Hour).Format(time.RFC3339)+"&granularity=day")
		if status != http.StatusOK || len(got.Periods) != 1 || got.Periods[0].Meters[0].Quantity != "15" ||
			got.Periods[0].Meters[0].Unbilled != 2_200_000 || got.Periods[0].Meters[0].Billed != 1_100_000 {
			t.Errorf("daily report: %d %+v", status, got)
		}

		status, got = a.usageReport(orgID, key, "from=2026-11-23T09:30:00Z&to=soon&granularity=minute")
		if status != http.StatusBadRequest || got.Fields["from"] == "" || got.Fields["to"] == "" || got.Fields["granularity"] == "" {
			t.Errorf("bad query: %d %+v, want 400 naming from, to and granularity", status, got)
		}
		if status, _ := a.usageReport(orgID, "mbk_wrong", "from="+from+"&to="+to); status != http.StatusUnauthorized {
			t.Errorf("a wrong key: %d, want 401", status)
		}
		other := a.signUp("other@example.com").createOrg("Other")
		if status, _ := a.usageReport(orgIDOf(other), key, "from="+from+"&to="+to); status != http.StatusNotFound {
			t.Errorf("another organization's usage: %d, want 404", status)
		}
	})
}
