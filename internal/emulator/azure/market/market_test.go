package market

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	pubTenant   = "11111111-1111-4111-8111-111111111111"
	pubApp      = "22222222-2222-4222-8222-222222222222"
	buyerTenant = "33333333-3333-4333-8333-333333333333"
	otherTenant = "44444444-4444-4444-8444-444444444444"
)

// fixture is a market on a hand-moved clock with one publisher and an offer
// of a flat-rate metered plan, a per-user plan and a private plan.
type fixture struct {
	m   *Market
	now time.Time
}

func newFixture(t *testing.T, s Settings) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)}
	m, err := Open(context.Background(), Config{Settings: s, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	ctx := context.Background()
	if _, err := m.PutPublisher(ctx, PublisherInput{ID: "contoso", TenantID: pubTenant, AppID: pubApp,
		LandingURL: "https://seller.example/landing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutOffer(ctx, fixtureOffer()); err != nil {
		t.Fatal(err)
	}
	return f
}

// fixtureOffer is the fixture offer.
func fixtureOffer() OfferInput {
	return OfferInput{ID: "cloud", PublisherID: "contoso", DisplayName: "Cloud",
		Dimensions: []Dimension{{ID: "emails", DisplayName: "Emails", UnitOfMeasure: "per email"}, {ID: "gb", DisplayName: "GB", UnitOfMeasure: "per GB"}},
		Plans: []Plan{
			{ID: "flat", DisplayName: "Flat", Terms: []TermPrice{{Unit: "P1M", PriceMicros: 100_000_000}, {Unit: "P1Y", PriceMicros: 1_000_000_000}},
				Meters: []PlanMeter{{DimensionID: "emails", PriceMicros: 10_000, IncludedMonthly: 1000}, {DimensionID: "gb", Unlimited: true}}},
			{ID: "flat-big", DisplayName: "Flat big", Terms: []TermPrice{{Unit: "P1M", PriceMicros: 300_000_000}},
				Meters: []PlanMeter{{DimensionID: "emails", PriceMicros: 5_000}}},
			{ID: "seats", DisplayName: "Seats", PricePerSeat: true, MinQuantity: 1, MaxQuantity: 50, Terms: []TermPrice{{Unit: "P1M", PriceMicros: 12_000_000}}},
			{ID: "seats-trial", DisplayName: "Seats trial", PricePerSeat: true, FreeTrial: true, Terms: []TermPrice{{Unit: "P1M", PriceMicros: 12_000_000}}},
			{ID: "deal", DisplayName: "Private deal", Private: true, Audience: []string{buyerTenant},
				Terms: []TermPrice{{Unit: "P1Y", PriceMicros: 50_000_000_000}}, Meters: []PlanMeter{{DimensionID: "emails", PriceMicros: 1_000}}},
		}}
}

func (f *fixture) buy(t *testing.T, plan string, qty int) Subscription {
	t.Helper()
	s, _, err := f.m.Purchase(context.Background(), PurchaseInput{OfferID: "cloud", PlanID: plan, Quantity: qty, Name: "mine",
		Beneficiary: Identity{TenantID: buyerTenant, EmailID: "ann@buyer.example"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) activate(t *testing.T, s Subscription) {
	t.Helper()
	var q *int
	if s.Quantity > 0 {
		q = &s.Quantity
	}
	if err := f.m.Activate(context.Background(), "contoso", s.ID, s.PlanID, q); err != nil {
		t.Fatal(err)
	}
}

// active buys and activates; change makes a buyer's change of it.
func (f *fixture) active(t *testing.T, plan string, qty int) Subscription {
	t.Helper()
	s := f.buy(t, plan, qty)
	f.activate(t, s)
	return s
}

func (f *fixture) change(t *testing.T, id string, in ChangeInput) Operation {
	t.Helper()
	op, err := f.m.BuyerChange(context.Background(), id, in)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func (f *fixture) advance(t *testing.T, d time.Duration) {
	t.Helper()
	f.now = f.now.Add(d)
	if err := f.m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPurchaseResolveActivate(t *testing.T) {
	f := newFixture(t, Settings{})
	ctx := context.Background()
	s, tok, err := f.m.Purchase(ctx, PurchaseInput{OfferID: "cloud", PlanID: "seats", Quantity: 3, Name: "mine",
		Beneficiary: Identity{TenantID: buyerTenant, EmailID: "ann@buyer.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusPending || !s.AutoRenew || len(s.AllowedCustomerOperations) != 3 {
		t.Fatalf("purchase: %+v", s)
	}
	for range 2 { // resolvable repeatedly
		got, err := f.m.Resolve("contoso", tok.Token)
		if err != nil || got.ID != s.ID {
			t.Fatalf("resolve: %v %v", got.ID, err)
		}
	}
	three, two := 3, 2
	cases := []struct {
		name string
		plan string
		qty  *int
		kind Kind
	}{
		{"missing plan", "", &three, KindInvalid},
		{"other plan", "flat", &three, KindInvalid},
		{"missing quantity", "seats", nil, KindInvalid},
		{"other quantity", "seats", &two, KindInvalid},
		{"ok", "seats", &three, ""},
		{"again", "seats", &three, KindInvalid},
	}
	for _, c := range cases {
		err := f.m.Activate(ctx, "contoso", s.ID, c.plan, c.qty)
		if c.kind == "" && err != nil || c.kind != "" && !IsKind(err, c.kind) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.kind)
		}
	}
	got, _ := f.m.Subscription(s.ID)
	if got.Status != StatusSubscribed || !got.Term.Start.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) ||
		!got.Term.End.Equal(time.Date(2026, 4, 9, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("after activate: %+v", got)
	}
	if _, err := f.m.Resolve("other", tok.Token); !IsKind(err, KindForbidden) {
		t.Fatalf("other publisher resolve: %v", err)
	}
	f.advance(t, 25*time.Hour)
	if _, err := f.m.Resolve("contoso", tok.Token); !IsKind(err, KindInvalid) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestPrivatePlanVisibility(t *testing.T) {
	f := newFixture(t, Settings{})
	_, _, err := f.m.Purchase(context.Background(), PurchaseInput{OfferID: "cloud", PlanID: "deal", Name: "x",
		Beneficiary: Identity{TenantID: otherTenant, EmailID: "bob@other.example"}})
	if !IsKind(err, KindNotFound) {
		t.Fatalf("private plan bought outside its audience: %v", err)
	}
	plans, _ := f.m.PlansFor("cloud", otherTenant)
	for _, p := range plans {
		if p.ID == "deal" {
			t.Fatal("private plan listed outside its audience")
		}
	}
	s := f.buy(t, "deal", 0)
	if s.PlanID != "deal" {
		t.Fatal(s)
	}
	// An audience written in capitals still names the same tenant: GUIDs
	// have no case.
	const lettered = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	if _, err := f.m.SetAudience(context.Background(), "cloud", "deal", []string{strings.ToUpper(lettered)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.m.Purchase(context.Background(), PurchaseInput{OfferID: "cloud", PlanID: "deal", Name: "y",
		Beneficiary: Identity{TenantID: lettered, EmailID: "eve@lettered.example"}}); err != nil {
		t.Fatalf("private plan whose audience names the tenant in capitals: %v", err)
	}
}

func TestRenewalSuspensionAndGrace(t *testing.T) {
	f := newFixture(t, Settings{})
	ctx := context.Background()
	s := f.buy(t, "flat", 0)
	f.activate(t, s)
	f.advance(t, 31*24*time.Hour) // past the term's end: renewed
	got, _ := f.m.Subscription(s.ID)
	if got.Status != StatusSubscribed || !got.Term.Start.Equal(time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("renewal: %+v", got.Term)
	}
	if _, err := f.m.Suspend(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	f.advance(t, 29*24*time.Hour)
	if got, _ := f.m.Subscription(s.ID); got.Status != StatusSuspended {
		t.Fatalf("within grace: %s", got.Status)
	}
	f.advance(t, 2*24*time.Hour)
	if got, _ := f.m.Subscription(s.ID); got.Status != StatusUnsubscribed {
		t.Fatalf("after grace: %s", got.Status)
	}
	var actions []string
	for _, op := range f.m.Operations(s.ID) {
		actions = append(actions, op.Action)
	}
	want := []string{ActionRenew, ActionSuspend, ActionUnsubscribe}
	if len(actions) != len(want) || actions[0] != want[0] || actions[1] != want[1] || actions[2] != want[2] {
		t.Fatalf("operations %v, want %v", actions, want)
	}
}

func TestAutoRenewOffEndsTheTerm(t *testing.T) {
	f := newFixture(t, Settings{})
	s := f.buy(t, "flat", 0)
	f.activate(t, s)
	if _, err := f.m.SetAutoRenew(context.Background(), s.ID, false); err != nil {
		t.Fatal(err)
	}
	f.advance(t, 40*24*time.Hour)
	if got, _ := f.m.Subscription(s.ID); got.Status != StatusUnsubscribed {
		t.Fatalf("status %s", got.Status)
	}
}

func TestFreeTrialConverts(t *testing.T) {
	f := newFixture(t, Settings{})
	s := f.buy(t, "seats-trial", 2)
	if !s.IsFreeTrial {
		t.Fatal("no trial")
	}
	f.activate(t, s)
	f.advance(t, 32*24*time.Hour)
	got, _ := f.m.Subscription(s.ID)
	if got.IsFreeTrial || got.Status != StatusSubscribed {
		t.Fatalf("after the trial: %+v", got)
	}
	inv, _ := f.m.InvoiceFor(s.ID)
	if len(inv.Lines) != 1 || inv.TotalCents != 2400 {
		t.Fatalf("invoice %+v", inv)
	}
}

func TestBuyerChangeWaitsForAck(t *testing.T) {
	f := newFixture(t, Settings{})
	ctx := context.Background()
	s := f.active(t, "flat", 0)
	op := f.change(t, s.ID, ChangeInput{PlanID: "flat-big"})
	if _, err := f.m.BuyerChange(ctx, s.ID, ChangeInput{PlanID: "flat-big"}); !IsKind(err, KindInvalid) {
		t.Fatalf("second change while locked: %v", err)
	}
	if _, err := f.m.AckOperation(ctx, "contoso", s.ID, op.ID, "Failure"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.m.Subscription(s.ID); got.PlanID != "flat" {
		t.Fatalf("plan after a Failure ACK: %s", got.PlanID)
	}
	if _, err := f.m.AckOperation(ctx, "contoso", s.ID, op.ID, "Success"); !IsKind(err, KindConflict) {
		t.Fatalf("ACK of a finished operation: %v", err)
	}
	op2, err := f.m.BuyerChange(ctx, s.ID, ChangeInput{PlanID: "flat-big"})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(t, 11*time.Second) // no webhook URL: the ACK window runs from the change
	got, _ := f.m.GetOperation("contoso", s.ID, op2.ID)
	if got.Status != OpSucceeded {
		t.Fatalf("unacknowledged change: %s", got.Status)
	}
	if sub, _ := f.m.Subscription(s.ID); sub.PlanID != "flat-big" {
		t.Fatalf("plan %s", sub.PlanID)
	}
}

func TestQuantityParse(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5", 5_000_000, true}, {"5.0", 5_000_000, true}, {"0.000001", 1, true}, {"1e2", 100_000_000, true},
		{"2.5E-1", 250_000, true}, {"-1", -1_000_000, true}, {"0", 0, true},
		{"0.0000001", 0, false}, {"1e999999999", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1e10", 0, false},
	}
	for _, c := range cases {
		q, err := ParseQuantity(c.in)
		if (err == nil) != c.ok || c.ok && q.Millionths != c.want {
			t.Errorf("ParseQuantity(%q) = %d, %v", c.in, q.Millionths, err)
		}
		if c.ok {
			back, err := ParseQuantity(q.String())
			if err != nil || back != q {
				t.Errorf("round trip of %q: %q", c.in, q.String())
			}
		}
	}
}

func TestErrorsAreTyped(t *testing.T) {
	var e *Error
	if !errors.As(ErrNoAckNeeded, &e) || e.Kind != KindInvalid {
		t.Fatal("ErrNoAckNeeded")
	}
}

func TestReinstate(t *testing.T) {
	cases := []struct {
		name       string
		settings   Settings
		ack        string
		wantStatus string
		wantOp     string
	}{
		{"ACK success", Settings{}, "Success", StatusSubscribed, OpSucceeded},
		{"ACK failure", Settings{}, "Failure", StatusSuspended, OpFailed},
		{"no ACK: succeeds after the window", Settings{}, "", StatusSubscribed, OpSucceeded},
		{"without ACK", Settings{ReinstateWithoutAck: true}, "", StatusSubscribed, OpSucceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.settings)
			ctx := context.Background()
			s := f.buy(t, "flat", 0)
			f.activate(t, s)
			if _, err := f.m.Suspend(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
			op, err := f.m.Reinstate(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c.ack != "" {
				if _, err := f.m.AckOperation(ctx, "contoso", s.ID, op.ID, c.ack); err != nil {
					t.Fatal(err)
				}
			}
			f.advance(t, 11*time.Second)
			got, _ := f.m.Subscription(s.ID)
			gotOp, _ := f.m.GetOperation("contoso", s.ID, op.ID)
			if got.Status != c.wantStatus || gotOp.Status != c.wantOp {
				t.Fatalf("subscription %s, operation %s; want %s, %s", got.Status, gotOp.Status, c.wantStatus, c.wantOp)
			}
		})
	}
}

func TestOfferValidation(t *testing.T) {
	trial := fixtureOffer()
	trial.Plans[0].FreeTrial = true // flat with meters
	cases := []struct {
		name  string
		in    OfferInput
		allow bool
		ok    bool
	}{
		{"fixture", fixtureOffer(), false, true},
		{"metered trial refused", trial, false, false},
		{"metered trial allowed by setting", trial, true, true},
	}
	for _, c := range cases {
		if err := c.in.Validate(c.allow); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestCancelFailsOperationsInProgress(t *testing.T) {
	f := newFixture(t, Settings{})
	ctx := context.Background()
	s := f.buy(t, "flat", 0)
	f.activate(t, s)
	op, err := f.m.UpdateSubscription(ctx, "contoso", s.ID, ChangeInput{PlanID: "flat-big"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Cancel(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	f.advance(t, time.Minute)
	if got, _ := f.m.GetOperation("contoso", s.ID, op.ID); got.Status != OpFailed {
		t.Fatalf("operation %s", got.Status)
	}
	if got, _ := f.m.Subscription(s.ID); got.PlanID != "flat" || got.Status != StatusUnsubscribed {
		t.Fatalf("subscription %+v", got)
	}
}

func TestTrialRules(t *testing.T) {
	f := newFixture(t, Settings{})
	ctx := context.Background()
	s := f.active(t, "seats-trial", 2)
	op := f.change(t, s.ID, ChangeInput{PlanID: "seats"})
	if _, err := f.m.AckOperation(ctx, "contoso", s.ID, op.ID, "Success"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.m.Subscription(s.ID)
	if got.IsFreeTrial || !got.Term.Start.Equal(day(f.now)) {
		t.Fatalf("after switching to a plan without a trial: %+v", got)
	}
	again := f.buy(t, "seats-trial", 1)
	if again.IsFreeTrial {
		t.Fatal("a tenant that paid got the trial again")
	}
}
