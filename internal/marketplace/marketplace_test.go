package marketplace_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

func TestFulfill_R4_RecordsPurchaseNeverTheToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		account, agreement := w.buyer(market.DemoPAYGCode)
		token := w.setUp(agreement)
		claim, p, err := w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: token})
		if err != nil {
			t.Fatal(err)
		}
		sub := p.Subscription
		if sub.Customer.AccountID != account || sub.ProductCode != market.DemoPAYGCode || sub.OfferType != marketplace.OfferPAYG || sub.Link != nil {
			t.Fatalf("subscription = %+v", sub)
		}
		if sub.Customer.LicenseArn == "" && sub.Customer.Identifier == "" {
			t.Fatal("neither a license ARN nor a customer identifier was kept")
		}
		for _, table := range []string{"subscriptions", "purchases", "entitlements"} {
			for _, secret := range []string{token, claim} {
				rows, err := db.Read().Query(`SELECT * FROM ` + table)
				if err != nil {
					t.Fatal(err)
				}
				cols, err := rows.Columns()
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					for i, v := range vals {
						if strings.Contains(fmt.Sprint(v), secret) {
							t.Errorf("%s.%s holds a raw token or claim", table, cols[i])
						}
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				rows.Close()
			}
		}
	})
}

func TestFulfill_R5_SameTokenResolvesAgainToTheSameSubscription(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		token := w.setUp(agreement)
		_, p1, err1 := w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: token})
		_, p2, err2 := w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: token})
		if err1 != nil || err2 != nil || p1.Subscription.ID != p2.Subscription.ID || p1.ID == p2.ID {
			t.Fatalf("two resolutions: %v/%v, subscriptions %d/%d, purchases %d/%d", err1, err2, p1.Subscription.ID, p2.Subscription.ID, p1.ID, p2.ID)
		}
		if n := w.count(`SELECT COUNT(*) FROM subscriptions`); n != 1 {
			t.Fatalf("%d subscriptions, want 1", n)
		}
	})
}

func TestFulfill_Contract_KeepsEveryEntitlement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		res, err := w.emu.Market().AcceptOffer(ctx, w.demo.Buyer.ID, w.demo.PrivateOffer.ID, "PO-1")
		if err != nil {
			t.Fatal(err)
		}
		_, p := w.fulfill(res.Agreement.ID)
		sub := p.Subscription
		if sub.OfferType != marketplace.OfferContract || len(sub.Entitlements) == 0 {
			t.Fatalf("contract subscription = %+v", sub)
		}
		var committed *marketplace.Entitlement
		for i, e := range sub.Entitlements {
			if e.Kind == "integer" && e.Integer > 0 {
				committed = &sub.Entitlements[i]
			}
		}
		if committed == nil || committed.ExpiresAt.IsZero() {
			t.Fatalf("no committed quantity with an end date among %+v", sub.Entitlements)
		}
	})
}

func TestFulfill_R24_FreeTrialRecognised(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		_, p, err := w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: w.setUp(agreement), OfferType: "free-trial"})
		if err != nil || !p.Subscription.FreeTrial {
			t.Fatalf("free trial = %v, %v", p.Subscription.FreeTrial, err)
		}
		// A later set-up without the field keeps the trial marked.
		_, p, _ = w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: w.setUp(agreement)})
		if !p.Subscription.FreeTrial {
			t.Fatal("the free trial mark was lost on a second set-up")
		}
	})
}

// Every way "Set up your account" can fail leaves nothing behind and says
// what to do next.
func TestFulfill_R5_ErrorsChangeNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		expiring := w.setUp(agreement)
		if _, err := w.emu.Market().AdvanceClock(ctx, 4*time.Hour+time.Second); err != nil {
			t.Fatal(err)
		}
		onlyContract := newWorld(t, db, demoProducts[1])
		_, paygAgreement := onlyContract.buyer(market.DemoPAYGCode)
		tests := []struct {
			name  string
			w     *world
			token string
			want  error
			kind  fault.Kind
		}{
			{"empty token", w, "  ", marketplace.ErrTokenInvalid, fault.KindInvalid},
			{"made-up token", w, "not-a-token", marketplace.ErrTokenInvalid, fault.KindInvalid},
			{"expired after 4 hours", w, expiring, marketplace.ErrTokenExpired, fault.KindInvalid},
			{"product not in the catalog", onlyContract, onlyContract.setUp(paygAgreement), marketplace.ErrProductNotConfigured, fault.KindInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := tt.w.svc.Fulfill(ctx, marketplace.FulfillInput{Token: tt.token})
				if !errors.Is(err, tt.want) || fault.KindOf(err) != tt.kind {
					t.Fatalf("Fulfill = %v, want %v", err, tt.want)
				}
				if !strings.Contains(fault.Message(err), "AWS Marketplace") && tt.want != marketplace.ErrProductNotConfigured {
					t.Errorf("message %q does not send the buyer back to AWS Marketplace", fault.Message(err))
				}
			})
		}
		if n := w.count(`SELECT COUNT(*) FROM purchases`) + w.count(`SELECT COUNT(*) FROM subscriptions`); n != 0 {
			t.Fatalf("%d rows left behind by failed set-ups", n)
		}
	})
}

func TestFulfill_AWSUnavailable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		_, agreement := w.buyer(market.DemoPAYGCode)
		token := w.setUp(agreement)
		if _, err := w.emu.Market().AddFault(context.Background(), market.FaultInput{Operation: "ResolveCustomer", Kind: market.FaultInternalError, Count: 10}); err != nil {
			t.Fatal(err)
		}
		_, _, err := w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: token})
		if !errors.Is(err, marketplace.ErrMarketplaceUnavailable) || fault.KindOf(err) != fault.KindUnavailable {
			t.Fatalf("Fulfill during an AWS outage = %v, want ErrMarketplaceUnavailable", err)
		}
		if n := w.count(`SELECT COUNT(*) FROM purchases`); n != 0 {
			t.Fatalf("%d purchases recorded during an outage", n)
		}
	})
}
