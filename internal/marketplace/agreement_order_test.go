package marketplace_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// lifecycleEvents are the EventBridge events the emulator sent, as AWS
// would, for one buyer's PAYG agreement from its purchase to its end:
// Purchase Agreement Created and Ended in their Manufacturer and Proposer
// copies, License Updated and License Deprovisioned.
func (w *world) lifecycleEvents(email string) (marketplace.Purchase, int64, []marketplace.Notification) {
	w.t.Helper()
	ctx := context.Background()
	p, orgID := w.linkedPAYG(email)
	var agreementID string
	for _, a := range w.emu.Market().Agreements(p.Subscription.Customer.AccountID, p.Subscription.ProductCode) {
		if a.LicenseArn == p.Subscription.Customer.LicenseArn {
			agreementID = a.ID
		}
	}
	if _, err := w.emu.Market().Cancel(ctx, agreementID); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.emu.Market().AdvanceClock(ctx, 61*time.Minute); err != nil {
		w.t.Fatal(err)
	}
	if err := w.emu.Market().Tick(ctx); err != nil {
		w.t.Fatal(err)
	}
	var out []marketplace.Notification
	for _, d := range w.emu.Market().Deliveries("eventbridge", "") {
		if !strings.Contains(d.Body, agreementID) {
			continue
		}
		n, err := awsmp.ParseEvent([]byte(d.Body), awsmp.Origins{})
		if err != nil {
			w.t.Fatalf("the emulator's event does not parse: %v\n%s", err, d.Body)
		}
		out = append(out, n)
	}
	return p, orgID, out
}

// Whatever order AWS's EventBridge events of an agreement arrive in,
// Manufacturer and Proposer copies and redeliveries included, each change
// is applied once: the subscription ends cancelled, its link is removed
// once, the admins are told each state at most once, and the webhook
// events name no state twice (#13, R17-R19).
func TestNotifications_Issue13_AgreementEventsInAnyOrderApplyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(sink.Close)
		if _, err := w.emu.Market().SetEventBridgeTarget(context.Background(), market.EventBridgeTarget{Endpoint: sink.URL,
			HeaderName: "x-api-key", APIKey: "k"}); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(13, 13))
		orders := []string{"as sent", "reversed", "shuffled", "shuffled", "shuffled", "each twice, shuffled"}
		for i, order := range orders {
			t.Run(fmt.Sprintf("%d %s", i, order), func(t *testing.T) {
				p, orgID, events := w.lifecycleEvents(fmt.Sprintf("order%d@example.com", i))
				kinds := map[string]int{}
				for _, n := range events {
					kinds[n.Action]++
				}
				if len(events) != 6 || kinds[marketplace.ActionUnsubscribePending] != 2 || kinds[marketplace.ActionAgreementCreated] != 2 {
					t.Fatalf("the emulator sent %d events %v; want Created and Ended in two copies each, License Updated and Deprovisioned", len(events), kinds)
				}
				switch order {
				case "reversed":
					slices.Reverse(events)
				case "shuffled":
					rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
				case "each twice, shuffled":
					events = append(events, events...)
					rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
				}
				w.apply(events...)
				var status string
				if err := db.Read().QueryRow(`SELECT status FROM subscriptions WHERE id = $1`, p.Subscription.ID).Scan(&status); err != nil {
					t.Fatal(err)
				}
				if status != marketplace.StatusCancelled {
					t.Errorf("subscription %s, want cancelled", status)
				}
				if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND action = 'billing.unlink'`, orgID); n != 1 {
					t.Errorf("%d unlink entries, want 1", n)
				}
				for _, told := range []string{"unsubscribe-pending", "cancelled"} {
					if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND action = 'billing.status' AND detail LIKE $2`,
						orgID, "%"+told); n > 1 {
						t.Errorf("%d audit entries for %s, want at most 1", n, told)
					}
				}
				seen := map[string]bool{}
				for _, e := range names(w.events(orgID)) {
					if seen[e] {
						t.Errorf("webhook event %s recorded twice: %v", e, names(w.events(orgID)))
					}
					seen[e] = true
				}
				if !seen["subscription.updated:grace"] || !seen["organization.unlinked:cancelled"] {
					t.Errorf("webhook events %v lack the unlink and the grace", names(w.events(orgID)))
				}
			})
		}
	})
}
