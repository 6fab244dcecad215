package market

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

const (
	svc = "example-cloud.gcpmarketplace.example.com"
	ba  = "billingAccounts/01A2B3-C4D5E6-F7A8B9"
)

type memStore struct {
	mu   sync.Mutex
	recs map[[2]string][]byte
	fail bool
}

func (s *memStore) LoadAll(context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for k, v := range s.recs {
		out = append(out, Record{Kind: k[0], ID: k[1], Body: v})
	}
	return out, nil
}

func (s *memStore) Apply(_ context.Context, rs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk full")
	}
	for _, r := range rs {
		if r.Body == nil {
			delete(s.recs, [2]string{r.Kind, r.ID})
		} else {
			s.recs[[2]string{r.Kind, r.ID}] = r.Body
		}
	}
	return nil
}

func newTestMarket(t *testing.T, store Store) *Market {
	t.Helper()
	if store == nil {
		store = &memStore{recs: map[[2]string][]byte{}}
	}
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	m, err := Open(context.Background(), Config{ProviderID: "example-cloud-provider", Store: store, Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.PutProduct(context.Background(), demoProduct()); err != nil {
		t.Fatal(err)
	}
	return m
}

func demoProduct() Product {
	metric := map[string]int64{svc + "/usage_cents": 10000}
	return Product{ServiceName: svc, Plans: []Plan{
		{Name: "standard", Metrics: metric},
		{Name: "team", Metrics: metric},
		{Name: "annual", Metrics: metric, ChangeAtCycleEnd: true},
		{Name: "enterprise", Metrics: metric, Private: true},
	}, PrivateOffers: []PrivateOffer{
		{ID: "offer-ent", BillingAccount: ba, Plan: "enterprise"},
		{ID: "offer-auto", BillingAccount: "billingAccounts/AUTO", Plan: "enterprise", AutoApprove: true,
			StartTime: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
	}}
}

const gone = "(gone)"

// step is one action of a scenario; want is the entitlement state after
// it ("" = not checked), code the refusal expected.
type step struct {
	do      string
	arg     string
	advance time.Duration
	code    string
	want    string
}

func TestEntitlementStateMachine(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"approve then activate after delay", []step{
			{do: "approveAccount", want: StateActivationRequested},
			{do: "approve", want: StateActivationRequested},
			{do: "approve", want: StateActivationRequested}, // duplicate: 200
			{advance: 2 * time.Second, want: StateActive},
			{do: "approve", want: StateActive}, // already active: idempotent
		}},
		{"approve before signup approval", []step{
			{do: "approve", code: FailedPrecondition, want: StateActivationRequested},
		}},
		{"reject removes", []step{
			{do: "reject", want: gone},
			{do: "reject", code: NotFound, want: gone},
		}},
		{"cancel before activation", []step{
			{do: "cancel", want: StateCancelled},
			{do: "revert", code: FailedPrecondition, want: StateCancelled},
			{advance: 25 * time.Hour, want: gone},
		}},
		{"plan change immediate", []step{
			{do: "approveAccount"}, {do: "approve"}, {advance: time.Minute, want: StateActive},
			{do: "patch", code: FailedPrecondition, want: StateActive},
			{do: "change", arg: "team", want: StatePendingPlanChangeApprov},
			{do: "patch", want: StatePendingPlanChangeApprov},
			{do: "change", arg: "team", code: FailedPrecondition, want: StatePendingPlanChangeApprov},
			{do: "approveChange", arg: "standard", code: InvalidArgument, want: StatePendingPlanChangeApprov},
			{do: "approveChange", arg: "team", want: StateActive},
			{do: "approveChange", arg: "team", want: StateActive},
		}},
		{"plan change at cycle end", []step{
			{do: "approveAccount"}, {do: "approve"}, {advance: time.Minute},
			{do: "change", arg: "annual"},
			{do: "approveChange", arg: "annual", want: StatePendingPlanChange},
			{advance: 700 * time.Hour, want: StatePendingPlanChange},
			{advance: 21 * time.Hour, want: StateActive},
		}},
		{"plan change rejected", []step{
			{do: "approveAccount"}, {do: "approve"}, {advance: time.Minute},
			{do: "change", arg: "team"},
			{do: "rejectChange", want: StateActive},
			{do: "rejectChange", code: FailedPrecondition, want: StateActive},
		}},
		{"cancel, revert, cancel, end term, deleted", []step{
			{do: "approveAccount"}, {do: "approve"}, {advance: time.Minute},
			{do: "cancel", want: StatePendingCancellation},
			{do: "cancel", want: StatePendingCancellation},
			{do: "change", arg: "team", code: FailedPrecondition, want: StatePendingCancellation},
			{do: "revert", want: StateActive},
			{do: "cancel", want: StatePendingCancellation},
			{do: "endTerm", want: StateCancelled},
			{do: "endTerm", want: StateCancelled},
			{advance: 24 * time.Hour, want: gone},
		}},
		{"pending cancellation ends at term end", []step{
			{do: "approveAccount"}, {do: "approve"}, {advance: time.Minute},
			{do: "cancel"}, {advance: 8761 * time.Hour, want: StateCancelled},
		}},
		{"account reset cancels", []step{
			{do: "approveAccount"}, {do: "approve"}, {advance: time.Minute},
			{do: "resetAccount", want: StateCancelled},
		}},
		{"account deleted", []step{
			{do: "deleteAccount", want: gone},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := newTestMarket(t, nil)
			e, a, err := m.Order(ctx, OrderRequest{BillingAccount: ba, Product: svc, Plan: "standard"})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				var err error
				switch s.do {
				case "approveAccount":
					_, err = m.ApproveAccount(ctx, a.ID, "", "", nil)
				case "approve":
					_, err = m.ApproveEntitlement(ctx, e.ID)
				case "reject":
					err = m.RejectEntitlement(ctx, e.ID, "no")
				case "cancel":
					_, err = m.Cancel(ctx, ba, e.ID)
				case "revert":
					_, err = m.RevertCancellation(ctx, ba, e.ID)
				case "change":
					_, err = m.RequestPlanChange(ctx, ba, e.ID, s.arg)
				case "approveChange":
					_, err = m.ApprovePlanChange(ctx, e.ID, s.arg)
				case "rejectChange":
					_, err = m.RejectPlanChange(ctx, e.ID, "")
				case "patch":
					_, err = m.PatchMessage(ctx, e.ID, "hello")
				case "endTerm":
					_, err = m.EndTerm(ctx, e.ID)
				case "resetAccount":
					err = m.ResetAccount(ctx, a.ID)
				case "deleteAccount":
					err = m.DeleteAccount(ctx, a.ID)
				}
				if s.advance > 0 {
					_, err = m.AdvanceClock(ctx, s.advance)
				}
				if got := CodeOf(err); got != s.code || (err != nil && s.code == "") {
					t.Fatalf("step %d %s: err %v, want code %q", i, s.do, err, s.code)
				}
				if s.want == "" {
					continue
				}
				got, ok := m.Entitlement(e.ID)
				switch {
				case s.want == gone && ok:
					t.Fatalf("step %d %s: entitlement still there in %s", i, s.do, got.State)
				case s.want != gone && !ok:
					t.Fatalf("step %d %s: entitlement gone, want %s", i, s.do, s.want)
				case ok && got.State != s.want:
					t.Fatalf("step %d %s: state %s, want %s", i, s.do, got.State, s.want)
				}
				if ok && got.State != StatePendingPlanChangeApprov && got.State != StateActivationRequested && got.MessageToUser != "" {
					t.Fatalf("step %d: messageToUser not cleared", i)
				}
			}
		})
	}
}

func TestActiveEntitlementDetails(t *testing.T) {
	ctx := context.Background()
	m := newTestMarket(t, nil)
	e, a, _ := m.Order(ctx, OrderRequest{BillingAccount: ba, Product: svc, PrivateOffer: "offer-ent"})
	if _, err := m.ApproveAccount(ctx, a.ID, "signup", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ApproveEntitlement(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AdvanceClock(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Entitlement(e.ID)
	if got.Plan != "enterprise" || got.State != StateActive || len(got.UsageReportingID) != len("project_number:123456789012") {
		t.Fatalf("got %+v", got)
	}
	if len(a.ID) != len("E-XXXX-XXXX-XXXX-XXXX") || a.ID[:2] != "E-" {
		t.Fatalf("account id %q", a.ID)
	}
	c, ok := m.ConsumerOf(svc, got.UsageReportingID)
	if !ok || !c.Active || c.Metrics[svc+"/usage_cents"] != 10000 {
		t.Fatalf("consumer %+v %v", c, ok)
	}
	var types []string
	evs, _ := m.PendingEvents(ctx, 0)
	for _, d := range evs {
		types = append(types, d.Event.EventType)
	}
	want := []string{"ACCOUNT_ACTIVE", "ENTITLEMENT_CREATION_REQUESTED", "ENTITLEMENT_ACTIVE"}
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
	if err := m.MarkDelivered(ctx, evs[0].Event.EventID); err != nil {
		t.Fatal(err)
	}
	if evs, _ = m.PendingEvents(ctx, 1); len(evs) != 1 || evs[0].Event.EventType != "ENTITLEMENT_CREATION_REQUESTED" {
		t.Fatalf("after delivery %+v", evs)
	}
	// Private plans are not for sale to others.
	if _, _, err := m.Order(ctx, OrderRequest{BillingAccount: "billingAccounts/OTHER", Product: svc, Plan: "enterprise"}); CodeOf(err) != PermissionDenied {
		t.Fatalf("private plan ordered publicly: %v", err)
	}
	if ps := m.ProductsFor("billingAccounts/OTHER"); len(ps[0].Plans) != 3 || len(ps[0].PrivateOffers) != 0 {
		t.Fatalf("products for other %+v", ps)
	}
}

func TestAutoApprovedScheduledOffer(t *testing.T) {
	ctx := context.Background()
	m := newTestMarket(t, nil)
	e, _, err := m.Order(ctx, OrderRequest{BillingAccount: "billingAccounts/AUTO", Product: svc, PrivateOffer: "offer-auto"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AdvanceClock(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Entitlement(e.ID); got.State != StateActivationRequested || got.NewOfferStartTime.IsZero() {
		t.Fatalf("before start: %+v", got)
	}
	if _, err := m.AdvanceClock(ctx, 31*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Entitlement(e.ID); got.State != StateActive {
		t.Fatalf("after start: %s", got.State)
	}
	evs := m.Events()
	if evs[1].Event.EventType != "ENTITLEMENT_OFFER_ACCEPTED" || evs[1].Event.Entitlement.NewOfferStartTime == "" {
		t.Fatalf("events %+v", evs[1].Event)
	}
}

func TestUsageIDDelayAndSettings(t *testing.T) {
	ctx := context.Background()
	m := newTestMarket(t, nil)
	if err := m.SetSettings(ctx, Settings{AllowUnapprovedAccount: true, UsageIDDelay: Duration(time.Minute), ActivationDelay: -1}); err != nil {
		t.Fatal(err)
	}
	e, _, _ := m.Order(ctx, OrderRequest{BillingAccount: ba, Product: svc, Plan: "standard"})
	if got, err := m.ApproveEntitlement(ctx, e.ID); err != nil || got.State != StateActive || got.UsageReportingID != "" {
		t.Fatalf("approve: %+v %v", got, err)
	}
	m.AdvanceClock(ctx, time.Minute)
	if got, _ := m.Entitlement(e.ID); got.UsageReportingID == "" {
		t.Fatal("usage id never appeared")
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	store := &memStore{recs: map[[2]string][]byte{}}
	m := newTestMarket(t, store)
	e, _, _ := m.Order(ctx, OrderRequest{BillingAccount: ba, Product: svc, Plan: "standard"})
	m.AdvanceClock(ctx, time.Hour)
	m2, err := Open(ctx, Config{ProviderID: "example-cloud-provider", Store: store, Now: func() time.Time { return time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m2.Entitlement(e.ID); !ok || got.State != StateActivationRequested {
		t.Fatalf("reloaded %+v %v", got, ok)
	}
	if m2.ClockOffset() != time.Hour || len(m2.Events()) != 2 || len(m2.Products()) != 1 {
		t.Fatalf("reloaded offset %v events %d", m2.ClockOffset(), len(m2.Events()))
	}
	if err := m2.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	m3, _ := Open(ctx, Config{ProviderID: "p", Store: store})
	if len(m3.Entitlements()) != 0 || len(m3.Products()) != 0 {
		t.Fatal("reset did not persist")
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	m := newTestMarket(t, nil)
	m.SetSettings(ctx, Settings{AllowUnapprovedAccount: true})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, _, err := m.Order(ctx, OrderRequest{BillingAccount: "billingAccounts/B" + string(rune('A'+i)), Product: svc, Plan: "standard"})
			if err != nil {
				t.Error(err)
				return
			}
			m.ApproveEntitlement(ctx, e.ID)
			m.Tick(ctx)
		}(i)
	}
	wg.Wait()
	if len(m.Entitlements()) != 8 {
		t.Fatal("lost entitlements")
	}
}
