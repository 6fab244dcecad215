package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// eventually polls cond, applying stored notifications between tries, until
// it holds or a generous deadline passes. The emulator delivers
// notifications on its own schedule; this waits for them without asserting
// how long they take.
func (a *app) eventually(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			a.t.Fatalf("gave up waiting: %s", what)
		}
		if _, err := a.market.ApplyPending(context.Background(), 100); err != nil {
			a.t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (a *app) notificationStatus(action string) string {
	var status string
	// No row yet is an answer while polling; any other error is not.
	err := a.db.Read().QueryRow(`SELECT status FROM notifications WHERE action = $1 ORDER BY id DESC LIMIT 1`, action).Scan(&status)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		a.t.Fatal(err)
	}
	return status
}

// A linked PAYG subscription cancelled on AWS: the emulator's signed SNS
// messages move the billing page to cancellation pending (final usage due
// within the hour, R18), then to the 14-day grace (R19), removing only the
// billing link, never the organization (R17).
func TestLifecycle_SNS_CancelledSubscriptionGoesToGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ctx := context.Background()
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b := a.signUp("life@example.com")
		b.fulfill(a.setUpToken(agreement))
		link := b.get("/marketplace/aws/setup").location
		billing := pathOf(b.post(link+"/link", url.Values{"org": {"new"}, "name": {"Life"}}).location)
		orgPath := strings.TrimSuffix(billing, "billing")
		a.eventually("subscribe-success applied", func() bool { return a.notificationStatus("subscribe-success") == "applied" })

		if _, err := a.emu.Market().Cancel(ctx, agreement); err != nil {
			t.Fatal(err)
		}
		a.eventually("billing page shows the cancellation pending", func() bool {
			return strings.Contains(b.get(billing).body, "is being cancelled")
		})
		if _, err := a.emu.Market().AdvanceClock(ctx, time.Hour+time.Minute); err != nil {
			t.Fatal(err)
		}
		a.eventually("billing page shows the grace period", func() bool {
			return strings.Contains(b.get(billing).body, "was cancelled")
		})
		page := b.get(billing).body
		if !strings.Contains(page, "Link a new subscription") || !strings.Contains(page, "not billed through a marketplace") {
			t.Fatalf("grace page:\n%s", page)
		}
		if r := b.get(orgPath); r.status != 200 {
			t.Fatalf("the organization is gone after cancellation: %d", r.status)
		}
		if !strings.Contains(b.get(orgPath+"audit").body, "billing.unlink") {
			t.Error("the audit log does not record the unlink")
		}
		// The vendor's product is told each step, in order (issue 12).
		want := []string{"organization.linked", "subscription.updated active", "subscription.updated cancelling",
			"subscription.updated cancelled", "organization.unlinked", "subscription.updated grace"}
		if got := a.webhookEvents(); !slices.Equal(got, want) {
			t.Errorf("webhook events:\n got %v\nwant %v", got, want)
		}
	})
}

// webhookEvents lists the recorded webhook events in the order of their
// organizations and sequence numbers: each type, and the state of
// subscription.updated.
func (a *app) webhookEvents() []string {
	a.t.Helper()
	rows, err := a.db.Read().Query(`SELECT type, data FROM webhook_events ORDER BY org_id, seq`)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, data string
		if err := rows.Scan(&typ, &data); err != nil {
			a.t.Fatal(err)
		}
		var d struct{ State string }
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(typ+" "+d.State))
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// A notification about a customer whose set-up has not arrived yet is
// kept, and applied when the purchase appears.
func TestLifecycle_NotificationBeforePurchaseIsAppliedLater(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		a.eventually("subscribe-success stored and waiting", func() bool { return a.notificationStatus("subscribe-success") == "waiting" })
		b := a.signUp("late@example.com")
		b.fulfill(a.setUpToken(agreement))
		a.eventually("subscribe-success applied after the set-up", func() bool { return a.notificationStatus("subscribe-success") == "applied" })
		var status string
		var statusAt *time.Time
		if err := db.Read().QueryRow(`SELECT status, status_at FROM subscriptions`).Scan(&status, &statusAt); err != nil || status != "active" || statusAt == nil {
			t.Fatalf("subscription = %s at %v (%v), want active with the event time", status, statusAt, err)
		}
	})
}

func (a *app) postEvent(key, body string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/marketplace/aws/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// EventBridge through an API destination: the shared secret is required,
// and License Deprovisioned ends the link as unsubscribe-success does.
func TestLifecycle_EventBridge_KeyRequiredAndDeprovisionEndsLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		account, agreement := a.subscribe(market.DemoPAYGCode)
		b := a.signUp("eb@example.com")
		b.fulfill(a.setUpToken(agreement))
		link := b.get("/marketplace/aws/setup").location
		billing := pathOf(b.post(link+"/link", url.Values{"org": {"new"}, "name": {"EB"}}).location)
		var license string
		if err := db.Read().QueryRow(`SELECT license_arn FROM subscriptions`).Scan(&license); err != nil {
			t.Fatal(err)
		}
		ev := func(id, detailType string, at time.Time) string {
			return `{"version":"0","id":"` + id + `","detail-type":"` + detailType + `","source":"aws.agreement-marketplace",` +
				`"account":"111122223333","time":"` + at.UTC().Format(time.RFC3339) + `","region":"us-east-1",` +
				`"resources":["arn:aws:aws-marketplace::aws:agreement:` + agreement + `"],` +
				`"detail":{"agreement":{"id":"` + agreement + `"},"product":{"code":"` + market.DemoPAYGCode + `"},` +
				`"license":{"arn":"` + strings.TrimPrefix(license, "arn:") + `"},"acceptor":{"accountId":"` + account + `"},"offer":{"id":"offer-xyz"}}}`
		}
		for _, tc := range []struct {
			name, key, body string
			want            int
		}{
			{"no key", "", ev("e1", "License Deprovisioned - Manufacturer", time.Now()), http.StatusUnauthorized},
			{"wrong key", "eb-secreT", ev("e1", "License Deprovisioned - Manufacturer", time.Now()), http.StatusUnauthorized},
			{"not JSON", "eb-secret", `{"id":`, http.StatusBadRequest},
			{"other source", "eb-secret", strings.Replace(ev("e2", "License Updated - Manufacturer", time.Now()), "aws.agreement-marketplace", "my.app", 1), http.StatusBadRequest},
			{"unknown detail-type", "eb-secret", ev("e3", "Something Else", time.Now()), http.StatusBadRequest},
		} {
			if got := a.postEvent(tc.key, tc.body); got != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
			}
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM notifications WHERE source = 'eventbridge'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d events stored from refused requests", n)
		}
		// Out of order: the deprovisioning (later) arrives before the
		// license grant (earlier); the end state is still cancelled.
		later := time.Now().Add(time.Minute)
		if got := a.postEvent("eb-secret", ev("e4", "License Deprovisioned - Manufacturer", later)); got != http.StatusOK {
			t.Fatalf("deprovision = %d", got)
		}
		if got := a.postEvent("eb-secret", ev("e5", "License Updated - Manufacturer", time.Now())); got != http.StatusOK {
			t.Fatalf("license updated = %d", got)
		}
		a.eventually("the link ends", func() bool { return strings.Contains(b.get(billing).body, "was cancelled") })
		var status, offer string
		if err := db.Read().QueryRow(`SELECT status, offer_id FROM subscriptions`).Scan(&status, &offer); err != nil {
			t.Fatal(err)
		}
		if status != "cancelled" || offer != "offer-xyz" {
			t.Fatalf("subscription %s with offer %q, want cancelled with offer-xyz", status, offer)
		}
	})
}

// The billing state as JSON for the vendor's product, with an API key of
// that organization only.
func TestAPI_BillingNeedsTheOrganizationsKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b := a.signUp("api@example.com")
		b.fulfill(a.setUpToken(agreement))
		link := b.get("/marketplace/aws/setup").location
		orgPath := strings.TrimSuffix(pathOf(b.post(link+"/link", url.Values{"org": {"new"}, "name": {"API"}}).location), "billing")
		key := b.createKey(orgPath)
		other := a.signUp("other@example.com").createOrg("Other")
		get := func(path, key string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		apiPath := "/api/v1/organizations/" + strings.Trim(strings.TrimPrefix(orgPath, "/orgs/"), "/") + "/billing"
		status, body := get(apiPath, key)
		if status != http.StatusOK || !strings.Contains(body, `"state":"active"`) || !strings.Contains(body, `"offer_type":"payg"`) {
			t.Fatalf("billing API = %d %s", status, body)
		}
		otherPath := "/api/v1/organizations/" + strings.Trim(strings.TrimPrefix(other, "/orgs/"), "/") + "/billing"
		for _, tc := range []struct {
			path, key string
			want      int
		}{{apiPath, "", 401}, {apiPath, "mbk_forged", 401}, {otherPath, key, 404}} {
			if status, _ := get(tc.path, tc.key); status != tc.want {
				t.Errorf("GET %s with key %q = %d, want %d", tc.path, tc.key, status, tc.want)
			}
		}
		// A session cookie is not an API credential.
		if r := b.get(apiPath); r.status != http.StatusUnauthorized {
			t.Errorf("API with only a session cookie = %d, want 401", r.status)
		}
	})
}

// The operator view is only for the configured operators; it lists the
// notifications with their result and can run one again.
func TestOperatorView_OnlyOperatorsAndRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ops := a.signUp("ops@example.com")
		user := a.signUp("user@example.com")
		if r := user.get("/operator"); r.status != http.StatusNotFound {
			t.Fatalf("operator view for a non-operator = %d, want 404", r.status)
		}
		if r := a.browser().get("/operator"); r.status != http.StatusSeeOther {
			t.Fatalf("operator view logged out = %d, want a redirect to log in", r.status)
		}
		// A notification for a customer not set up yet waits; the operator
		// sees it and can run it again.
		body := encode(a.sns.notification(t, "op-1", paygTopic, `{"action":"subscribe-success","customer-aws-account-id":"999900001111","product-code":"`+market.DemoPAYGCode+`"}`, time.Now()))
		if got := a.postSNS(body); got != http.StatusOK {
			t.Fatalf("SNS = %d", got)
		}
		r := ops.get("/operator")
		if r.status != http.StatusOK || !strings.Contains(r.body, "subscribe-success") || !strings.Contains(r.body, "waiting") ||
			!strings.Contains(r.body, "Metering this month") {
			t.Fatalf("operator view = %d:\n%s", r.status, r.body)
		}
		var id int64
		if err := db.Read().QueryRow(`SELECT id FROM notifications WHERE message_id = 'op-1'`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if r := user.post(fmt.Sprintf("/operator/notifications/%d/retry", id), nil); r.status != http.StatusNotFound {
			t.Fatalf("retry by a non-operator = %d, want 404", r.status)
		}
		if r := ops.post(fmt.Sprintf("/operator/notifications/%d/retry", id), nil); pathOf(r.location) != "/operator" {
			t.Fatalf("retry = %d → %q", r.status, r.location)
		}
	})
}

// The emulator's own EventBridge events, beside its SNS messages: both
// channels deliver the cancellation, each is stored once, and the state is
// the same as with one channel.
func TestLifecycle_EmulatorEventBridgeAndSNSTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ctx := context.Background()
		if _, err := a.emu.Market().SetEventBridgeTarget(ctx, market.EventBridgeTarget{Endpoint: a.srv.URL + "/marketplace/aws/events",
			HeaderName: "x-api-key", APIKey: "eb-secret"}); err != nil {
			t.Fatal(err)
		}
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b, billing := a.linkNewOrg("both@example.com", agreement, "Both")
		if _, err := a.emu.Market().Cancel(ctx, agreement); err != nil {
			t.Fatal(err)
		}
		if _, err := a.emu.Market().AdvanceClock(ctx, time.Hour+time.Minute); err != nil {
			t.Fatal(err)
		}
		a.eventually("grace shown", func() bool { return strings.Contains(b.get(billing).body, "was cancelled") })
		var fromEB, unapplied int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM notifications WHERE source = 'eventbridge'`).Scan(&fromEB); err != nil {
			t.Fatal(err)
		}
		a.eventually("every notification applied or kept for the record", func() bool {
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM notifications WHERE status IN ('pending', 'failed')`).Scan(&unapplied); err != nil {
				t.Fatal(err)
			}
			return unapplied == 0
		})
		if fromEB == 0 {
			t.Fatal("no EventBridge event arrived from the emulator")
		}
	})
}

// A contract that ends on AWS arrives as entitlement-updated only; the
// re-read entitlements are over, and the billing page says so (R14).
func TestLifecycle_ContractExpiryShowsOnBillingPage_R14(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ctx := context.Background()
		agreement := a.acceptDemoOffer()
		b, billing := a.linkNewOrg("expiry@example.com", agreement, "Expiring")
		if strings.Contains(b.get(billing).body, "contract has ended") {
			t.Fatal("a live contract is shown as ended")
		}
		// The seller's clock is the test's; move AWS's past the term's end.
		if _, err := a.emu.Market().Expire(ctx, agreement); err != nil {
			t.Fatal(err)
		}
		a.eventually("the expiry shows", func() bool { return strings.Contains(b.get(billing).body, "contract has ended") })
	})
}

// The emulator delivers every notification twice (its fault injection):
// each is stored once and the end state is the same as without the fault.
func TestLifecycle_DuplicatedDeliveriesChangeNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ctx := context.Background()
		if _, err := a.emu.Market().AddFault(ctx, market.FaultInput{Kind: market.FaultDuplicateNotification, Count: 100}); err != nil {
			t.Fatal(err)
		}
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b, billing := a.linkNewOrg("dup@example.com", agreement, "Dup")
		if _, err := a.emu.Market().Cancel(ctx, agreement); err != nil {
			t.Fatal(err)
		}
		a.eventually("cancellation pending", func() bool { return strings.Contains(b.get(billing).body, "is being cancelled") })
		a.eventually("every duplicate delivered", func() bool {
			return len(a.emu.Market().Deliveries("", "pending")) == 0
		})
		var rows, distinct int
		if err := db.Read().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT message_id) FROM notifications`).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if rows != distinct || rows == 0 {
			t.Fatalf("%d notifications stored for %d messages", rows, distinct)
		}
		var sent int
		for _, d := range a.emu.Market().Deliveries("", "") {
			if d.Status == "delivered" {
				sent++
			}
		}
		if sent <= rows {
			t.Fatalf("the emulator delivered %d times for %d messages: the duplicate fault did not fire", sent, rows)
		}
	})
}

// A contract whose committed credits are used up shows as in overage, on
// the billing page and in the billing API (R14).
func TestBilling_R14_CreditsExhaustedShownAsOverage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b, billing := a.linkNewOrg("over@example.com", a.acceptDemoOffer(), "Over")
		orgID := strings.Split(strings.TrimPrefix(billing, "/orgs/"), "/")[0]
		key := b.createKey("/orgs/" + orgID + "/")
		a.advance(10 * time.Minute) // the usage below is after the link: earlier usage is not drawn (R13)
		send := func(id, qty string) {
			body := `{"specversion":"1.0","id":"` + id + `","source":"t","type":"compute","time":"` +
				a.Now().Add(-time.Minute).Format(time.RFC3339) + `","data":{"quantity":` + qty + `}}`
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/api/v1/events", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("usage event: %v %v", resp.StatusCode, err)
			}
			resp.Body.Close()
		}
		send("u1", "20000") // $0.22 each in the test catalog's "compute": $4,400 of $10,000
		if page := b.get(billing).body; strings.Contains(page, "are used up") || !strings.Contains(page, "44%") {
			t.Fatalf("at 44%% the page says:\n%s", page)
		}
		send("u2", "30000") // $11,000 in all
		if page := b.get(billing).body; !strings.Contains(page, "are used up") {
			t.Fatalf("past the commitment the page does not say the credits are used up:\n%s", page)
		}
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+orgID+"/billing", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"state":"credits-exhausted"`) {
			t.Fatalf("billing API = %s", body)
		}
	})
}
