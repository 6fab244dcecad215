package emulator_test

import (
	"context"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// Each new demo buyer is another AWS account, with full access, no
// subscriptions and its own copy of the demo's private offer, so that the
// flows can be walked again and again (#11).
func TestNewDemoBuyer_EachAFreshAccountWithAnOfferOfItsOwn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	demo := must(e.emu.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "http://127.0.0.1:1/fulfillment"}))
	must(e.m.Subscribe(ctx, market.SubscribeInput{AccountID: demo.Buyer.ID, ProductCode: demo.PAYG.Code}))
	seen := map[string]bool{demo.Buyer.ID: true, demo.ReadOnlyBuyer.ID: true}
	for _, want := range []string{"Demo Buyer 2", "Demo Buyer 3"} {
		a := must(e.m.NewDemoBuyer(ctx))
		if a.Name != want || seen[a.ID] || !a.CanViewPrivateOffers() || len(e.m.Agreements(a.ID, "")) != 0 {
			t.Fatalf("new demo buyer %+v, want %s: a new account with full access and no subscriptions", a, want)
		}
		seen[a.ID] = true
		offers := e.m.OffersFor(a.ID)
		if len(offers) != 1 || offers[0].ProductCode != demo.Contract.Code || offers[0].ID == demo.PrivateOffer.ID {
			t.Fatalf("%s's private offers: %+v, want its own copy of the demo's", a.Name, offers)
		}
		if _, err := e.m.Subscribe(ctx, market.SubscribeInput{AccountID: a.ID, ProductCode: demo.PAYG.Code}); err != nil {
			t.Fatalf("%s cannot subscribe to what the first buyer holds: %v", a.Name, err)
		}
	}
}
