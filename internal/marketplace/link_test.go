package marketplace_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

func TestLink_NewOrganization_R9_MailsAdminsAndShowsBilling(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		account, agreement := w.buyer(market.DemoPAYGCode)
		ada := w.user("ada@example.com")
		p := w.claimed(agreement, ada)
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: "Ada's team"})
		if err != nil || res.Already || res.Org.Role != org.RoleAdmin {
			t.Fatalf("Link = %+v, %v", res, err)
		}
		b, err := w.svc.BillingOf(ctx, res.Org.ID)
		if err != nil || b.Subscription == nil || b.Subscription.Customer.AccountID != account || b.Subscription.Link.OrgID != res.Org.ID {
			t.Fatalf("BillingOf = %+v, %v", b, err)
		}
		msgs, _ := w.outbox.List(ctx, 10)
		if len(msgs) != 1 || msgs[0].To[0] != "ada@example.com" || !strings.Contains(msgs[0].Text, marketplace.FormatAccountID(account)) {
			t.Fatalf("confirmation mail = %+v", msgs)
		}
		if _, pending, _ := w.svc.PendingPurchase(ctx, ada); pending {
			t.Fatal("the purchase is still pending after linking")
		}
	})
}

func TestLink_R6_SamePurchaseTwiceLinksOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("u@example.com")
		o := w.org(u, "Team")
		p := w.claimed(agreement, u)
		for i, wantAlready := range []bool{false, true} {
			res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, OrgID: o.ID})
			if err != nil || res.Already != wantAlready {
				t.Fatalf("link %d = %+v, %v", i+1, res, err)
			}
		}
		// A second "Set up your account" for the linked subscription shows
		// where it is linked (R7) and links nothing new.
		p2 := w.claimed(agreement, u)
		if p2.Subscription.Link == nil || p2.Subscription.Link.OrgID != o.ID {
			t.Fatalf("re-run set-up does not show the link: %+v", p2.Subscription.Link)
		}
		if n := w.count(`SELECT COUNT(*) FROM billing_links`); n != 1 {
			t.Fatalf("%d links, want 1", n)
		}
	})
}

func TestLink_R1_SubscriptionBillsOneOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		a, b := w.user("a@example.com"), w.user("b@example.com")
		oa, ob := w.org(a, "A"), w.org(b, "B")
		pa, pb := w.claimed(agreement, a), w.claimed(agreement, b)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: pa.ID, UserID: a, OrgID: oa.ID}); err != nil {
			t.Fatal(err)
		}
		_, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: pb.ID, UserID: b, OrgID: ob.ID})
		var elsewhere *marketplace.LinkedElsewhereError
		if !errors.As(err, &elsewhere) || elsewhere.OrgID != oa.ID {
			t.Fatalf("linking a linked subscription elsewhere = %v, want LinkedElsewhereError naming A", err)
		}
		// Moving needs admin rights in both organizations (R8): b is not in A.
		_, err = w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: pb.ID, UserID: b, OrgID: ob.ID, Move: true})
		if !errors.As(err, &elsewhere) {
			t.Fatalf("move without rights in A = %v, want refused", err)
		}
	})
}

func TestLink_R8_MoveWithAdminRightsInBoth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("u@example.com")
		first, second := w.org(u, "First"), w.org(u, "Second")
		p := w.claimed(agreement, u)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, OrgID: first.ID}); err != nil {
			t.Fatal(err)
		}
		p2 := w.claimed(agreement, u)
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p2.ID, UserID: u, OrgID: second.ID, Move: true})
		if err != nil || !res.Moved {
			t.Fatalf("move = %+v, %v", res, err)
		}
		if b, _ := w.svc.BillingOf(ctx, first.ID); b.Subscription != nil {
			t.Fatal("the first organization is still billed after the move")
		}
		if b, _ := w.svc.BillingOf(ctx, second.ID); b.Subscription == nil {
			t.Fatal("the second organization is not billed after the move")
		}
	})
}

func TestLink_R2_OnlyAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		admin, dev := w.user("admin@example.com"), w.user("dev@example.com")
		o := w.org(admin, "Team")
		if _, err := db.Write().Exec(`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'developer', $3)`, o.ID, dev, w.Now()); err != nil {
			t.Fatal(err)
		}
		p := w.claimed(agreement, dev)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: dev, OrgID: o.ID}); !errors.Is(err, marketplace.ErrNotAdmin) {
			t.Fatalf("developer linking = %v, want ErrNotAdmin", err)
		}
		outsider := w.user("out@example.com")
		po := w.claimed(agreement, outsider)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: po.ID, UserID: outsider, OrgID: o.ID}); !errors.Is(err, org.ErrNotFound) {
			t.Fatalf("non-member linking = %v, want not found", err)
		}
		// Someone else's purchase cannot be linked, even by an admin.
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: admin, OrgID: o.ID}); !errors.Is(err, marketplace.ErrPurchaseNotFound) {
			t.Fatalf("linking another user's purchase = %v, want ErrPurchaseNotFound", err)
		}
		choices, err := w.svc.LinkChoices(ctx, p, dev)
		if err != nil || len(choices) != 1 || choices[0].Disabled == "" {
			t.Fatalf("choices for a developer = %+v, %v; want the organization disabled", choices, err)
		}
	})
}

func TestLink_R3_OrganizationBilledThroughOneSubscription(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, payg := w.buyer(market.DemoPAYGCode)
		_, other := w.buyer(market.DemoPAYGCode)
		u := w.user("u@example.com")
		o := w.org(u, "Team")
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: w.claimed(payg, u).ID, UserID: u, OrgID: o.ID}); err != nil {
			t.Fatal(err)
		}
		p := w.claimed(other, u)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, OrgID: o.ID}); !errors.Is(err, marketplace.ErrOrgAlreadyBilled) {
			t.Fatalf("second subscription on one organization = %v, want ErrOrgAlreadyBilled", err)
		}
		choices, _ := w.svc.LinkChoices(ctx, p, u)
		if len(choices) != 1 || !strings.Contains(choices[0].Disabled, "Already billed") {
			t.Fatalf("choices = %+v, want the billed organization disabled", choices)
		}
	})
}

// Many users race to link one subscription, each to their own
// organization: exactly one link exists afterwards, and every other user is
// told where it went.
func TestLink_R6_ConcurrentLinksExactlyOneWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		const racers = 12
		inputs := make([]marketplace.LinkInput, racers)
		for i := range inputs {
			u := w.user(fmt.Sprintf("racer%d@example.com", i))
			inputs[i] = marketplace.LinkInput{PurchaseID: w.claimed(agreement, u).ID, UserID: u, OrgID: w.org(u, fmt.Sprintf("Org %d", i)).ID}
		}
		var wg sync.WaitGroup
		errs := make([]error, racers)
		start := make(chan struct{})
		for i, in := range inputs {
			wg.Go(func() {
				<-start
				_, errs[i] = w.svc.Link(ctx, in)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			var elsewhere *marketplace.LinkedElsewhereError
			switch {
			case err == nil:
				won++
			case errors.As(err, &elsewhere):
			default:
				t.Errorf("racer %d: %v, want success or LinkedElsewhereError", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d racers linked, want exactly 1", won)
		}
		if n := w.count(`SELECT COUNT(*) FROM billing_links WHERE ended_at IS NULL`); n != 1 {
			t.Fatalf("%d active links, want 1", n)
		}
	})
}

func TestClaim_R4_PurchaseFollowsTheUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		claim, p := w.fulfill(agreement)
		if _, err := w.svc.PurchaseByClaim(ctx, claim); err != nil {
			t.Fatal(err)
		}
		u := w.user("u@example.com")
		if _, pending, _ := w.svc.PendingPurchase(ctx, u); pending {
			t.Fatal("a purchase is pending for a user who never claimed it")
		}
		if _, err := w.svc.ClaimPurchase(ctx, claim, u); err != nil {
			t.Fatal(err)
		}
		got, pending, err := w.svc.PendingPurchase(ctx, u)
		if err != nil || !pending || got.ID != p.ID {
			t.Fatalf("PendingPurchase = %+v, %v, %v", got, pending, err)
		}
		if _, err := w.svc.PurchaseOf(ctx, p.ID, w.user("other@example.com")); !errors.Is(err, marketplace.ErrPurchaseNotFound) {
			t.Fatalf("another user reading the purchase = %v, want not found", err)
		}
		if _, err := w.svc.ClaimPurchase(ctx, "forged", u); !errors.Is(err, marketplace.ErrPurchaseNotFound) {
			t.Fatalf("claiming with a forged claim = %v", err)
		}
	})
}

// A double click on "Create a new organization and link" links once and
// creates one organization; the second submit is told it is done (R6).
func TestLink_R6_DoubleSubmitOfNewOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("dbl@example.com")
		p := w.claimed(agreement, u)
		in := marketplace.LinkInput{PurchaseID: p.ID, UserID: u, NewOrgName: "Twice"}
		first, err1 := w.svc.Link(ctx, in)
		second, err2 := w.svc.Link(ctx, in)
		if err1 != nil || err2 != nil || !second.Already || second.Org.ID != first.Org.ID {
			t.Fatalf("two submits: %+v %v / %+v %v", first, err1, second, err2)
		}
		if n := w.count(`SELECT COUNT(*) FROM organizations`); n != 1 {
			t.Fatalf("%d organizations after a double submit, want 1", n)
		}
	})
}

// A purchase claimed by one user cannot be taken over by another who logs
// in on the same browser later.
func TestClaim_FirstClaimantKeepsThePurchase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		claim, _ := w.fulfill(agreement)
		alice, bob := w.user("alice@example.com"), w.user("bob@example.com")
		if _, err := w.svc.ClaimPurchase(ctx, claim, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.ClaimPurchase(ctx, claim, bob); !errors.Is(err, marketplace.ErrPurchaseNotFound) {
			t.Fatalf("second user claiming = %v, want ErrPurchaseNotFound", err)
		}
		if _, err := w.svc.ClaimPurchase(ctx, claim, alice); err != nil {
			t.Fatalf("the claimant again = %v", err)
		}
	})
}

// A subscription cancelled on AWS can no longer bill an organization.
func TestLink_CancelledSubscriptionRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("c@example.com")
		p := w.claimed(agreement, u)
		if _, err := db.Write().Exec(`UPDATE subscriptions SET status = 'cancelled'`); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, NewOrgName: "Late"}); !errors.Is(err, marketplace.ErrSubscriptionNotActive) {
			t.Fatalf("linking a cancelled subscription = %v", err)
		}
		if n := w.count(`SELECT COUNT(*) FROM organizations`); n != 0 {
			t.Fatalf("%d organizations created by a refused link", n)
		}
	})
}
