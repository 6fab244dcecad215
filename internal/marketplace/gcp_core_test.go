package marketplace_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// gcpProduct is the seller's catalog entry of a Google Cloud Marketplace
// product: its code is the product's service name (#16).
var gcpProduct = marketplace.Product{Marketplace: marketplace.GCP, Code: "example-cloud.gcpmarketplace.example.com", Name: "Example Cloud on Google Cloud",
	OfferType: marketplace.OfferPAYG, MeteredDimension: "usage_cents", Dimensions: []marketplace.Dimension{{Name: "usage_cents"}}}

func newGCPWorld(t *testing.T, db *store.DB) *azureWorld {
	w := newWorld(t, db, append(append([]marketplace.Product{}, demoProducts...), gcpProduct)...)
	fake := newFakeProvider()
	w.cfg.Providers = map[string]marketplace.Provider{marketplace.GCP: fake}
	w.withEvents(nil)
	return &azureWorld{world: w, fake: fake}
}

// TestGCP_PendingCancellationRunsToTermAndReverts_R18 walks an
// entitlement of Google's through the states Google's, alone among the
// three marketplaces, has: an account approved at the link (pending), a
// usageReportingId that arrives after the entitlement is active and stays
// when a later read lacks it, a pending cancellation that runs to the
// term's end (cancellation-pending, still metered), withdrawn (active
// again, told as such, not as a reinstatement after a failed payment),
// then a cancellation. Account events, about no entitlement, are kept and
// need nothing done.
func TestGCP_PendingCancellationRunsToTermAndReverts_R18(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newGCPWorld(t, db)
		key, token := w.fake.buy("E-1234-5678-ABCD-EFGH", "standard", 0)
		w.fake.set(key, func(r *marketplace.Remote) {
			r.ProductCode, r.Name, r.Email = gcpProduct.Code, "", ""
			r.OfferID = "projects/123/services/example-cloud.gcpmarketplace.example.com/privateOffers/po-1"
		})
		ada := w.user("ada@example.com")
		claim, _, err := w.svc.Land(ctx, marketplace.GCP, token)
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.svc.ClaimPurchase(ctx, claim, ada)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: "Ada's team"})
		if err != nil || !res.Activating {
			t.Fatalf("Link = %+v, %v", res, err)
		}
		orgID := res.Org.ID
		usageID := func() string {
			t.Helper()
			var id string
			if err := db.Read().QueryRow(`SELECT customer_identifier FROM subscriptions WHERE agreement_key = $1`, key).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		if got := usageID(); got != "" {
			t.Fatalf("usage id before Google issued one = %q", got)
		}
		apply := func(id, action string, change func(*marketplace.Remote)) {
			t.Helper()
			if change != nil {
				w.fake.set(key, change)
			}
			if _, _, err := w.svc.RecordNotice(ctx, marketplace.GCP, marketplace.Notice{ID: id, SubscriptionKey: key, Action: action, SentAt: w.Now(), Payload: "{}"}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.ApplyNotices(ctx, 10); err != nil {
				t.Fatal(err)
			}
		}
		apply("ev-usage-id", "ENTITLEMENT_ACTIVE", func(r *marketplace.Remote) { r.UsageID = "project_number:123456789012" })
		apply("ev-renewed", "ENTITLEMENT_RENEWED", func(r *marketplace.Remote) { r.UsageID = "" })
		if got := usageID(); got != "project_number:123456789012" {
			t.Fatalf("usage id after a read without it = %q, want the one Google issued", got)
		}
		b, err := w.svc.BillingOf(ctx, orgID)
		if err != nil || b.State != marketplace.BillingActive || b.Subscription.OfferID == "" {
			t.Fatalf("billing = %s offer %q, %v", b.State, b.Subscription.OfferID, err)
		}

		apply("ev-pending-cancel", "ENTITLEMENT_PENDING_CANCELLATION", func(r *marketplace.Remote) { r.Status = marketplace.StatusUnsubscribePending })
		if b, _ := w.svc.BillingOf(ctx, orgID); b.State != marketplace.BillingCancellationPending {
			t.Fatalf("after the pending cancellation: %s", b.State)
		}
		metered, err := w.svc.MeteredSubscriptions(ctx)
		if err != nil || !slices.ContainsFunc(metered, func(m marketplace.Metered) bool { return m.OrgID == orgID }) {
			t.Fatalf("a pending cancellation is no longer metered: %v, %v", metered, err)
		}
		apply("ev-reverted", "ENTITLEMENT_CANCELLATION_REVERTED", func(r *marketplace.Remote) { r.Status = marketplace.StatusActive })
		if b, _ := w.svc.BillingOf(ctx, orgID); b.State != marketplace.BillingActive {
			t.Fatalf("after the revert: %s", b.State)
		}
		apply("ev-pending-cancel-2", "ENTITLEMENT_PENDING_CANCELLATION", func(r *marketplace.Remote) { r.Status = marketplace.StatusUnsubscribePending })
		apply("ev-cancelled", "ENTITLEMENT_CANCELLED", func(r *marketplace.Remote) { r.Status = marketplace.StatusCancelled })
		if b, _ := w.svc.BillingOf(ctx, orgID); b.State != marketplace.BillingGrace {
			t.Fatalf("after the cancellation: %s", b.State)
		}

		// Deleted: Google's get answers 404, which the adapter reads as a
		// cancelled entitlement it knows nothing else of; what was
		// recorded stays.
		apply("ev-deleted", "ENTITLEMENT_DELETED", func(r *marketplace.Remote) { *r = marketplace.Remote{Key: key, Status: marketplace.StatusCancelled} })
		var plan, offer, product string
		if err := db.Read().QueryRow(`SELECT plan_id, offer_id, product_code FROM subscriptions WHERE agreement_key = $1`, key).Scan(&plan, &offer, &product); err != nil ||
			plan != "standard" || offer == "" || product != gcpProduct.Code {
			t.Fatalf("after the deletion: plan %q offer %q product %q, %v", plan, offer, product, err)
		}

		var states []string
		for _, e := range w.events(orgID) {
			states = append(states, e.String())
		}
		want := []string{"organization.linked", "subscription.updated:active", "subscription.updated:cancelling", "subscription.updated:reinstated",
			"subscription.updated:cancelling", "subscription.updated:cancelled", "organization.unlinked:cancelled", "subscription.updated:grace"}
		if !slices.Equal(states, want) {
			t.Fatalf("webhook events =\n%v\nwant\n%v", states, want)
		}
		msgs, _ := w.outbox.List(ctx, 20)
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
		}
		got := strings.Join(subjects, "\n")
		for _, s := range []string{"Your Google Cloud Marketplace subscription is being cancelled",
			"Your Google Cloud Marketplace subscription is no longer being cancelled", "Your Google Cloud Marketplace subscription was cancelled"} {
			if !strings.Contains(got, s) {
				t.Errorf("no mail %q among:\n%s", s, got)
			}
		}
		for _, m := range msgs {
			if strings.Contains(m.Subject, "reinstated") || (strings.Contains(m.Subject, "was cancelled") && !strings.Contains(m.Text, "within an hour")) {
				t.Errorf("mail %q says:\n%s", m.Subject, m.Text)
			}
		}

		// An account event names no entitlement: kept, applied, nothing to do.
		id, isNew, err := w.svc.RecordNotice(ctx, marketplace.GCP, marketplace.Notice{ID: "ev-account", Action: "ACCOUNT_ACTIVE", SentAt: w.Now(), Payload: "{}"})
		if err != nil || !isNew {
			t.Fatal(err)
		}
		var status string
		if err := db.Read().QueryRow(`SELECT status FROM marketplace_notices WHERE id = $1`, id).Scan(&status); err != nil || status != "applied" {
			t.Fatalf("account notice status %q, %v", status, err)
		}
	})
}

func TestCatalog_GoogleServiceNames(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"example-cloud.gcpmarketplace.example.com", true},
		{"example-cloud.endpoints.example-project.cloud.goog", true},
		{"example-cloud", false},
		{"Example.Cloud.com", false},
		{"-bad.example.com", false},
		{strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63), false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			p := gcpProduct
			p.Code = tc.code
			_, err := marketplace.NewCatalog([]marketplace.Product{p})
			if (err == nil) != tc.ok {
				t.Fatalf("NewCatalog(%q) = %v, want ok %v", tc.code, err, tc.ok)
			}
		})
	}

}
