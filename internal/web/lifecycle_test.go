package web_test

import (
	"context"
	"net/url"
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
	a.db.Read().QueryRow(`SELECT status FROM notifications WHERE action = $1 ORDER BY id DESC LIMIT 1`, action).Scan(&status)
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
		billing := b.post(link+"/link", url.Values{"org": {"new"}, "name": {"Life"}}).location
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
	})
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
