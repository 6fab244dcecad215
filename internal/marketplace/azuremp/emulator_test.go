package azuremp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/azurespec"
	"github.com/marketbridge/marketbridge/internal/emulator/azure"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
	"github.com/marketbridge/marketbridge/internal/emulator/entra"
	"github.com/marketbridge/marketbridge/internal/marketplace/azuremp"
)

// TestEmulatorWire drives the seller's real client through every operation of
// Microsoft's SaaS Fulfillment and Metering APIs against the emulator and its
// Entra ID stand-in, in process behind one TLS server, and checks every
// request and answer against Microsoft's published OpenAPI documents
// (package azurespec) on the way (#15, "checked by a client built from
// Microsoft's published OpenAPI documents"). Webhooks go from the emulator's
// sender to a receiver that verifies them as the seller must.
//
// Where the client or the emulator and the documents disagree, the last
// subtests fail and list each difference with the step that showed it: the
// packages are fixed, not the test. Every other assertion runs whether or not
// the documents are present.
func TestEmulatorWire(t *testing.T) {
	w := newWire(t)
	w.purchase(t)
	// In order: each step leaves the subscriptions as the next expects.
	for _, step := range []struct {
		name string
		test func(t *testing.T)
	}{
		{"Resolve", w.testResolve},
		{"Activate", w.testActivate},
		{"Subscription", w.testSubscription},
		{"ListSubscriptions", w.testListSubscriptions},
		{"ListAvailablePlans", w.testListAvailablePlans},
		{"BatchUsage", w.testBatchUsage},
		{"faults", w.testFaults},
		{"GetUsageEvents", w.testGetUsageEvents},
		{"changes refused", w.testChangesRefused},
		{"seller operations", w.testSellerOperations},
		{"webhooks", w.testWebhooks},
		{"usageEvent (emulator only)", w.testSingleUsageEvent},
	} {
		t.Run(step.name, func(t *testing.T) {
			w.log.setStep(t.Name())
			step.test(t)
		})
	}
	t.Run("every documented operation exercised", w.testCoverage)
	t.Run("every exchange as Microsoft's documents say", w.testMismatches)
}

// purchase buys the subscriptions of the walk, each for one part of it.
// "meter" is activated at once, so that the hours before the clock moves
// (for the expired token) are billable.
func (w *wire) purchase(t *testing.T) {
	ctx := t.Context()
	for _, p := range []struct {
		name, plan, tenant string
		seats              int
	}{
		{"meter", "flat", buyerTenant, 0},
		{"flat", "flat", buyerTenant, 0},
		{"seats", "seats", buyerTenant, 3},
		{"private", "private", privateTenant, 0},
		{"life", "flat", buyerTenant, 0},
		{"cancel", "seats", buyerTenant, 2},
		{"pending", "flat", buyerTenant, 0}, // never activated
	} {
		s, tok, err := w.mk.Purchase(ctx, market.PurchaseInput{OfferID: offerID, PlanID: p.plan, Quantity: p.seats, Name: p.name,
			Beneficiary: market.Identity{TenantID: p.tenant, EmailID: p.name + "@buyer.example"}})
		if err != nil {
			t.Fatalf("purchase %s: %v", p.name, err)
		}
		w.subs[p.name], w.tokens[p.name] = s, tok.Token
	}
	if err := w.client.Activate(ctx, w.sub("meter"), "flat", azuremp.Seats{}); err != nil {
		t.Fatalf("activate the metered subscription: %v", err)
	}
}

// sub is the id of the subscription bought as name.
func (w *wire) sub(name string) string { return w.subs[name].ID }

// testResolve: a token is resolved at once, and refused (ErrTokenInvalid)
// when Microsoft does not know it or it expired.
func (w *wire) testResolve(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  string // subscription name; empty: the token is refused
		sent  bool   // whether the call reaches Microsoft
	}{
		{name: "valid", token: func(*testing.T) string { return w.tokens["flat"] }, want: "flat", sent: true},
		{name: "valid, private plan", token: func(*testing.T) string { return w.tokens["private"] }, want: "private", sent: true},
		{name: "malformed", token: func(*testing.T) string { return "bm90LWEtdG9rZW4=" }, sent: true},
		{name: "not printable", token: func(*testing.T) string { return "abc\x00def" }},
		{name: "expired", sent: true, token: func(t *testing.T) string {
			tok, err := w.mk.NewLandingToken(ctx, w.sub("pending"))
			if err != nil {
				t.Fatal(err)
			}
			w.advance(t, w.mk.Settings().TokenTTL+time.Minute)
			return tok.Token
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token(t)
			before := w.log.count("POST", "/saas/subscriptions/resolve")
			got, err := w.client.Resolve(ctx, token)
			if sent := w.log.count("POST", "/saas/subscriptions/resolve") > before; sent != tt.sent {
				t.Errorf("request sent: %v, want %v", sent, tt.sent)
			}
			if tt.want == "" {
				if !errors.Is(err, azuremp.ErrTokenInvalid) {
					t.Fatalf("want ErrTokenInvalid, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := w.subs[tt.want]
			if got.ID != s.ID || got.Subscription.ID != s.ID || got.PlanID != s.PlanID || got.OfferID != offerID ||
				got.Subscription.Status != azuremp.SubscriptionPendingFulfillmentStart || got.Subscription.Beneficiary.TenantID != s.Beneficiary.TenantID {
				t.Errorf("resolved %+v, want subscription %s (%s) pending", got, s.ID, tt.want)
			}
		})
	}
}

// testActivate: one request per call, however it ends; a second activation
// is refused with 400.
func (w *wire) testActivate(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name, sub, plan string
		seats           azuremp.Seats
		want            error
		status          int
	}{
		{name: "flat rate", sub: w.sub("flat"), plan: "flat"},
		{name: "again", sub: w.sub("flat"), plan: "flat", want: azuremp.ErrBadRequest, status: 400},
		{name: "per user", sub: w.sub("seats"), plan: "seats", seats: azuremp.SeatCount(3)},
		{name: "private plan", sub: w.sub("private"), plan: "private"},
		{name: "lifecycle", sub: w.sub("life"), plan: "flat"},
		{name: "to be cancelled", sub: w.sub("cancel"), plan: "seats", seats: azuremp.SeatCount(2)},
		{name: "unknown subscription", sub: unknownSub, plan: "flat", want: azuremp.ErrNotFound, status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.log.count("POST", "/saas/subscriptions/{}/activate")
			err := w.client.Activate(ctx, tt.sub, tt.plan, tt.seats)
			// Activate is not idempotent: one request, whatever the answer.
			if n := w.log.count("POST", "/saas/subscriptions/{}/activate") - before; n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			wantAPIError(t, err, tt.want, tt.status)
			if tt.name == "again" && !strings.Contains(err.Error(), "already") {
				t.Errorf("the error does not say the subscription is already active: %v", err)
			}
		})
	}
}

func (w *wire) testSubscription(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name, sub string
		plan      string
		seats     azuremp.Seats
		want      error
	}{
		{name: "flat rate", sub: w.sub("flat"), plan: "flat"},
		{name: "per user", sub: w.sub("seats"), plan: "seats", seats: azuremp.SeatCount(3)},
		{name: "unknown", sub: unknownSub, want: azuremp.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := w.client.Subscription(ctx, tt.sub)
			if tt.want != nil {
				wantAPIError(t, err, tt.want, 404)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.sub || got.Status != azuremp.SubscriptionSubscribed || got.PlanID != tt.plan || got.Quantity != tt.seats ||
				got.OfferID != offerID || got.PublisherID != publisherID || got.Term.StartDate.IsZero() || got.Term.EndDate.IsZero() {
				t.Errorf("got %+v, want %s Subscribed on %s with %+v seats and a term", got, tt.sub, tt.plan, tt.seats)
			}
		})
	}
}

func (w *wire) testListSubscriptions(t *testing.T) {
	ctx := t.Context()
	before := w.log.count("GET", "/saas/subscriptions")
	var got []string
	status := map[azuremp.SubscriptionStatus]int{}
	if err := w.client.ListSubscriptions(ctx, func(s azuremp.Subscription) error {
		got = append(got, s.ID)
		status[s.Status]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range w.subs {
		want = append(want, s.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	pages := (len(w.subs) + pageSize - 1) / pageSize
	if n := w.log.count("GET", "/saas/subscriptions") - before; n != pages {
		t.Errorf("%d pages requested, want %d of %d", n, pages, pageSize)
	}
	if status[azuremp.SubscriptionSubscribed] != len(w.subs)-1 || status[azuremp.SubscriptionPendingFulfillmentStart] != 1 {
		t.Errorf("statuses %v", status)
	}
}

func (w *wire) testListAvailablePlans(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name, sub, plan string
		want            []string
	}{
		{name: "public plans only", sub: w.sub("flat"), want: []string{"flat", "flat-plus", "seats"}},
		{name: "the private plan for its audience", sub: w.sub("private"), want: []string{"flat", "flat-plus", "private", "seats"}},
		{name: "private plan asked for outside its audience", sub: w.sub("flat"), plan: "private"},
		{name: "one plan", sub: w.sub("seats"), plan: "seats", want: []string{"seats"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plans, err := w.client.ListAvailablePlans(ctx, tt.sub, tt.plan)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range plans {
				got = append(got, p.PlanID)
				switch p.PlanID {
				case "private":
					if !p.IsPrivate {
						t.Errorf("plan private: isPrivate false")
					}
				case "seats":
					if !p.IsPricePerSeat || p.MinQuantity != azuremp.SeatCount(2) || p.MaxQuantity != azuremp.SeatCount(10) {
						t.Errorf("plan seats: %+v, want per seat, 2 to 10", p)
					}
				case "flat":
					if p.IsPricePerSeat || len(p.PlanComponents.MeteringDimensions) != len(dimensions) {
						t.Errorf("plan flat: %+v, want flat rate with %d dimensions", p, len(dimensions))
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("plans %q, want %q", got, tt.want)
			}
		})
	}
}

// testBatchUsage: one outcome per event, matched to it, for every status
// the seller acts on; a batch over MaxBatch never leaves the client.
func (w *wire) testBatchUsage(t *testing.T) {
	ctx := t.Context()
	now := w.mk.Now()
	hour := now.Truncate(time.Hour)
	// at is k hours ago, k >= 1: inside the window, after the activation.
	at := func(k int) time.Time { return hour.Add(-time.Duration(k) * time.Hour) }
	event := func(sub, dim, qty string, when time.Time) azuremp.UsageEvent {
		return azuremp.UsageEvent{ResourceID: sub, PlanID: "flat", Dimension: dim, Quantity: decimal(t, qty), EffectiveStart: when}
	}
	first := event(w.sub("meter"), "emails", "1.5", at(10))
	var firstID string
	var batch25 []azuremp.UsageEvent
	for i, dim := range dimensions {
		for k := 1; k <= 5; k++ {
			batch25 = append(batch25, event(w.sub("meter"), dim, strconv.Itoa(i*5+k), at(k)))
		}
	}
	tests := []struct {
		name   string
		events []azuremp.UsageEvent
		want   []azuremp.UsageStatus
		check  func(t *testing.T, r []azuremp.UsageResult)
	}{
		{name: "accepted, a batch of 1", events: []azuremp.UsageEvent{first}, want: []azuremp.UsageStatus{azuremp.UsageAccepted},
			check: func(t *testing.T, r []azuremp.UsageResult) {
				firstID = r[0].UsageEventID
				if firstID == "" || r[0].MessageTime.IsZero() {
					t.Errorf("accepted without an id or a message time: %+v", r[0])
				}
			}},
		{name: "duplicate of the same quantity", events: []azuremp.UsageEvent{first}, want: []azuremp.UsageStatus{azuremp.UsageDuplicate},
			check: func(t *testing.T, r []azuremp.UsageResult) {
				if !r[0].SameAsSent() || r[0].Original.UsageEventID != firstID || r[0].UsageEventID != firstID {
					t.Errorf("want the original %s with the quantity sent: %+v", firstID, r[0])
				}
			}},
		{name: "duplicate of another quantity", events: []azuremp.UsageEvent{event(w.sub("meter"), "emails", "2", at(10))},
			want: []azuremp.UsageStatus{azuremp.UsageDuplicate},
			check: func(t *testing.T, r []azuremp.UsageResult) {
				if r[0].SameAsSent() || r[0].Original == nil || !r[0].Original.Quantity.Equal(decimal(t, "1.5")) {
					t.Errorf("want the original 1.5, not the same as sent: %+v", r[0])
				}
			}},
		{name: "expired", events: []azuremp.UsageEvent{event(w.sub("meter"), "storage", "1", at(25))}, want: []azuremp.UsageStatus{azuremp.UsageExpired}},
		{name: "future", events: []azuremp.UsageEvent{event(w.sub("meter"), "storage", "1", hour.Add(2*time.Hour))}, want: []azuremp.UsageStatus{azuremp.UsageBadArgument}},
		{name: "inactive resource", events: []azuremp.UsageEvent{event(w.sub("pending"), "emails", "1", at(3))}, want: []azuremp.UsageStatus{azuremp.UsageResourceNotActive}},
		{name: "invalid dimension", events: []azuremp.UsageEvent{event(w.sub("meter"), "nope", "1", at(3))}, want: []azuremp.UsageStatus{azuremp.UsageInvalidDimension}},
		{name: "a batch of 25", events: batch25, want: slices.Repeat([]azuremp.UsageStatus{azuremp.UsageAccepted}, 25)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := w.client.BatchUsage(ctx, tt.events)
			if err != nil {
				t.Fatal(err)
			}
			var got []azuremp.UsageStatus
			for i, res := range r {
				got = append(got, res.Status)
				if res.Event != tt.events[i] {
					t.Errorf("result %d is for %+v, want %+v", i, res.Event, tt.events[i])
				}
				if res.Status == azuremp.UsageAccepted {
					w.accepted[res.UsageEventID] = res.Event.Quantity
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("statuses %v, want %v (%+v)", got, tt.want, r)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	t.Run("26 events refused before sending", func(t *testing.T) {
		before := w.log.count("POST", "/batchUsageEvent")
		events := append(slices.Clone(batch25), event(w.sub("meter"), "emails", "1", at(6)))
		_, err := w.client.BatchUsage(ctx, events)
		wantAPIError(t, err, azuremp.ErrInvalidInput, 0)
		if n := w.log.count("POST", "/batchUsageEvent") - before; n != 0 {
			t.Errorf("%d requests sent, want none", n)
		}
	})
}

// testFaults: the client's retries against the emulator's faults. The 429
// and the Metering API's 500 are statuses the documents do not declare; they
// are the only mismatches let through, and only while provoked.
func (w *wire) testFaults(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name  string
		fault market.FaultInput
		// provoked is the mismatch the fault causes, as "operationId
		// status": a status the documents do not declare.
		provoked string
		call     func(t *testing.T)
	}{
		{name: "throttled once", fault: market.FaultInput{Kind: market.FaultThrottle, Scope: "getSubscription", Count: 1, RetryAfter: 1},
			provoked: "FulfillmentOperations_GetSubscription 429",
			call: func(t *testing.T) {
				if _, err := w.client.Subscription(ctx, w.sub("flat")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "500 once on a fulfillment call, declared", fault: market.FaultInput{Kind: market.FaultInternalError, Scope: "listAvailablePlans", Count: 1},
			call: func(t *testing.T) {
				if _, err := w.client.ListAvailablePlans(ctx, w.sub("flat"), ""); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "500 once on a metering call", fault: market.FaultInput{Kind: market.FaultInternalError, Scope: "batchUsageEvent", Count: 1},
			provoked: "MeteringOperations_PostBatchUsageEvent 500",
			call: func(t *testing.T) {
				ev := azuremp.UsageEvent{ResourceID: w.sub("meter"), PlanID: "flat", Dimension: "emails", Quantity: decimal(t, "7"),
					EffectiveStart: w.mk.Now().Truncate(time.Hour).Add(-11 * time.Hour)}
				r, err := w.client.BatchUsage(ctx, []azuremp.UsageEvent{ev})
				if err != nil || r[0].Status != azuremp.UsageAccepted {
					t.Fatalf("after the retry: %+v, %v", r, err)
				}
				w.accepted[r[0].UsageEventID] = ev.Quantity
			}},
		{name: "answer lost", fault: market.FaultInput{Kind: market.FaultDropResponse, Scope: "batchUsageEvent", Count: 1},
			call: func(t *testing.T) {
				ev := azuremp.UsageEvent{ResourceID: w.sub("meter"), PlanID: "flat", Dimension: "emails", Quantity: decimal(t, "8"),
					EffectiveStart: w.mk.Now().Truncate(time.Hour).Add(-12 * time.Hour)}
				r, err := w.client.BatchUsage(ctx, []azuremp.UsageEvent{ev})
				// The first attempt was recorded, its answer lost: the
				// retry meets it as a Duplicate of the same quantity.
				if err != nil || !r[0].SameAsSent() {
					t.Fatalf("after the retry: %+v, %v", r, err)
				}
				w.accepted[r[0].UsageEventID] = ev.Quantity
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := w.mk.AddFault(ctx, tt.fault); err != nil {
				t.Fatal(err)
			}
			w.log.expect(tt.provoked)
			tt.call(t)
			w.log.expect("")
			if left := w.mk.Faults(); len(left) != 0 {
				t.Errorf("faults not used up: %+v", left)
			}
		})
	}
}

// testGetUsageEvents: the daily aggregates add up to the accepted usage.
func (w *wire) testGetUsageEvents(t *testing.T) {
	ctx := t.Context()
	got, err := w.client.GetUsageEvents(ctx, azuremp.UsageFilter{Start: w.mk.Now().AddDate(0, 0, -3).Truncate(24 * time.Hour), OfferID: offerID})
	if err != nil {
		t.Fatal(err)
	}
	var sum, want azuremp.Micros
	for _, a := range got {
		if a.UsageResourceID != w.sub("meter") {
			t.Errorf("usage of another resource: %+v", a)
		}
		m, err := a.SubmittedQuantity.Micros()
		if err != nil {
			t.Fatal(err)
		}
		sum += m
	}
	for _, q := range w.accepted {
		m, _ := q.Micros()
		want += m
	}
	if sum != want || want == 0 {
		t.Errorf("daily aggregates sum to %s, want the accepted %s (%+v)", sum, want, got)
	}
}

func (w *wire) testChangesRefused(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name string
		call func() (string, error)
	}{
		{"above the plan's seats", func() (string, error) { return w.client.ChangeQuantity(ctx, w.sub("seats"), 11) }},
		{"below the plan's seats", func() (string, error) { return w.client.ChangeQuantity(ctx, w.sub("seats"), 1) }},
		{"a quantity on a flat-rate plan", func() (string, error) { return w.client.ChangeQuantity(ctx, w.sub("flat"), 2) }},
		{"a private plan outside its audience", func() (string, error) { return w.client.ChangePlan(ctx, w.sub("flat"), "private") }},
		{"a pending subscription", func() (string, error) { return w.client.ChangePlan(ctx, w.sub("pending"), "flat-plus") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.call()
			wantAPIError(t, err, azuremp.ErrBadRequest, 400)
		})
	}
}

// testSellerOperations: the seller's own changes are InProgress operations of
// source Partner, that complete OperationDelay later, then notify.
func (w *wire) testSellerOperations(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name   string
		sub    string
		call   func(sub string) (string, error)
		action azuremp.Action
		after  func(t *testing.T, s azuremp.Subscription)
	}{
		{name: "ChangePlan", sub: w.sub("flat"), action: azuremp.ActionChangePlan,
			call: func(sub string) (string, error) { return w.client.ChangePlan(ctx, sub, "flat-plus") },
			after: func(t *testing.T, s azuremp.Subscription) {
				if s.PlanID != "flat-plus" {
					t.Errorf("plan %s, want flat-plus", s.PlanID)
				}
			}},
		{name: "ChangeQuantity", sub: w.sub("seats"), action: azuremp.ActionChangeQuantity,
			call: func(sub string) (string, error) { return w.client.ChangeQuantity(ctx, sub, 5) },
			after: func(t *testing.T, s azuremp.Subscription) {
				if s.Quantity != azuremp.SeatCount(5) {
					t.Errorf("quantity %+v, want 5", s.Quantity)
				}
			}},
		{name: "Cancel", sub: w.sub("cancel"), action: azuremp.ActionUnsubscribe,
			call: func(sub string) (string, error) { return w.client.Cancel(ctx, sub) },
			after: func(t *testing.T, s azuremp.Subscription) {
				if s.Status != azuremp.SubscriptionUnsubscribed {
					t.Errorf("status %s, want Unsubscribed", s.Status)
				}
			}},
	}
	ops := make([]string, len(tests))
	for i, tt := range tests {
		t.Run(tt.name+" starts", func(t *testing.T) {
			op, err := tt.call(tt.sub)
			if err != nil || op == "" {
				t.Fatalf("operation %q, %v", op, err)
			}
			ops[i] = op
			got, err := w.client.Operation(ctx, tt.sub, op)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != op || got.SubscriptionID != tt.sub || got.Action != tt.action || got.Status != azuremp.OperationInProgress ||
				got.RequestSource != azuremp.SourcePartner {
				t.Errorf("operation %+v, want %s InProgress from Partner", got, tt.action)
			}
			outstanding, err := w.client.ListOperations(ctx, tt.sub)
			if err != nil {
				t.Fatal(err)
			}
			if len(outstanding) != 1 || outstanding[0].ID != op {
				t.Errorf("outstanding %+v, want %s alone", outstanding, op)
			}
			// The seller's own operations are not acknowledged.
			wantAPIError(t, w.client.UpdateOperation(ctx, tt.sub, op, true), azuremp.ErrBadRequest, 400)
		})
	}
	w.advance(t, w.mk.Settings().OperationDelay)
	for i, tt := range tests {
		t.Run(tt.name+" completes", func(t *testing.T) {
			if ops[i] == "" {
				t.Skip("the operation did not start (see above)")
			}
			got, err := w.client.Operation(ctx, tt.sub, ops[i])
			if err != nil || got.Status != azuremp.OperationSucceeded {
				t.Fatalf("operation %+v, %v: want Succeeded", got, err)
			}
			hook := w.hooks.await(t, ops[i])
			if hook.Action != tt.action || hook.SubscriptionID != tt.sub || hook.RequestSource != azuremp.SourcePartner || hook.Status != azuremp.OperationSucceeded {
				t.Errorf("webhook %+v, want %s Succeeded from Partner", hook, tt.action)
			}
			s, err := w.client.Subscription(ctx, tt.sub)
			if err != nil {
				t.Fatal(err)
			}
			tt.after(t, s)
			outstanding, err := w.client.ListOperations(ctx, tt.sub)
			if err != nil || len(outstanding) != 0 {
				t.Errorf("outstanding after completion: %+v, %v", outstanding, err)
			}
			wantAPIError(t, w.client.UpdateOperation(ctx, tt.sub, ops[i], true), azuremp.ErrConflict, 409)
		})
	}
}

// testWebhooks: the buyer's changes and Microsoft's notices, heard by
// webhook; those that wait for the seller are acknowledged with
// UpdateOperation.
func (w *wire) testWebhooks(t *testing.T) {
	ctx := t.Context()
	seats4, flatBack := 4, "flat"
	tests := []struct {
		name   string
		sub    string
		start  func(sub string) (market.Operation, error)
		action azuremp.Action
		ack    *bool // nil: nothing to acknowledge
		after  func(t *testing.T, s azuremp.Subscription)
	}{
		{name: "ChangeQuantity accepted", sub: w.sub("seats"), action: azuremp.ActionChangeQuantity, ack: ptr(true),
			start: func(sub string) (market.Operation, error) {
				return w.mk.BuyerChange(ctx, sub, market.ChangeInput{Quantity: &seats4})
			},
			after: func(t *testing.T, s azuremp.Subscription) {
				if s.Quantity != azuremp.SeatCount(4) {
					t.Errorf("quantity %+v, want 4", s.Quantity)
				}
			}},
		{name: "ChangePlan refused", sub: w.sub("flat"), action: azuremp.ActionChangePlan, ack: ptr(false),
			start: func(sub string) (market.Operation, error) {
				return w.mk.BuyerChange(ctx, sub, market.ChangeInput{PlanID: flatBack})
			},
			after: func(t *testing.T, s azuremp.Subscription) {
				if s.PlanID != "flat-plus" {
					t.Errorf("plan %s, want flat-plus kept", s.PlanID)
				}
			}},
		{name: "Suspend", sub: w.sub("life"), action: azuremp.ActionSuspend, start: func(sub string) (market.Operation, error) { return w.mk.Suspend(ctx, sub) },
			after: wantStatus(azuremp.SubscriptionSuspended)},
		{name: "Reinstate", sub: w.sub("life"), action: azuremp.ActionReinstate, ack: ptr(true),
			start: func(sub string) (market.Operation, error) { return w.mk.Reinstate(ctx, sub) },
			after: wantStatus(azuremp.SubscriptionSubscribed)},
		{name: "Renew", sub: w.sub("life"), action: azuremp.ActionRenew, start: func(sub string) (market.Operation, error) { return w.mk.Renew(ctx, sub) },
			after: wantStatus(azuremp.SubscriptionSubscribed)},
		{name: "Unsubscribe", sub: w.sub("life"), action: azuremp.ActionUnsubscribe, start: func(sub string) (market.Operation, error) { return w.mk.Cancel(ctx, sub) },
			after: wantStatus(azuremp.SubscriptionUnsubscribed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := tt.start(tt.sub)
			if err != nil {
				t.Fatal(err)
			}
			hook := w.hooks.await(t, op.ID)
			if hook.Action != tt.action || hook.SubscriptionID != tt.sub || hook.RequestSource != azuremp.SourceAzure ||
				hook.PublisherID != publisherID || hook.OfferID != offerID || hook.Subscription == nil || hook.Subscription.ID != tt.sub {
				t.Errorf("webhook %+v, want %s of %s from Azure with the subscription", hook, tt.action, tt.sub)
			}
			if tt.ack != nil {
				if hook.Status != azuremp.OperationInProgress || !hook.Action.NeedsAck() {
					t.Errorf("webhook %+v: want an InProgress operation that waits for the seller", hook)
				}
				outstanding, err := w.client.ListOperations(ctx, tt.sub)
				if err != nil || len(outstanding) != 1 || outstanding[0].ID != op.ID || outstanding[0].RequestSource != azuremp.SourceAzure {
					t.Errorf("outstanding %+v, %v: want %s alone", outstanding, err, op.ID)
				}
				if err := w.client.UpdateOperation(ctx, tt.sub, op.ID, *tt.ack); err != nil {
					t.Fatal(err)
				}
				want := azuremp.OperationSucceeded
				if !*tt.ack {
					want = azuremp.OperationFailed
				}
				if got, err := w.client.Operation(ctx, tt.sub, op.ID); err != nil || got.Status != want {
					t.Errorf("operation %+v, %v: want %s", got, err, want)
				}
				// Acknowledged once: no longer in progress.
				wantAPIError(t, w.client.UpdateOperation(ctx, tt.sub, op.ID, true), azuremp.ErrConflict, 409)
			}
			// The seller re-reads the subscription before acting.
			s, err := w.client.Subscription(ctx, tt.sub)
			if err != nil {
				t.Fatal(err)
			}
			tt.after(t, s)
		})
	}
	// The sender works in the background: a delivery queued by the
	// last step may not have been tried yet. Wait for it, a while.
	undelivered := func() []market.Delivery {
		var out []market.Delivery
		for _, d := range w.mk.Deliveries() {
			if d.Status != market.DeliveryDelivered {
				out = append(out, d)
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(undelivered()) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	t.Run("every action heard", func(t *testing.T) {
		heard := w.hooks.actions()
		for _, a := range []azuremp.Action{azuremp.ActionChangePlan, azuremp.ActionChangeQuantity, azuremp.ActionSuspend,
			azuremp.ActionReinstate, azuremp.ActionRenew, azuremp.ActionUnsubscribe} {
			if !heard[a] {
				t.Errorf("no %s webhook received (heard %v)", a, heard)
			}
		}
	})
	t.Run("delivered and verified", func(t *testing.T) {
		if refused := w.hooks.refusedReasons(); len(refused) != 0 {
			t.Errorf("the receiver refused webhooks: %q", refused)
		}
		for _, d := range undelivered() {
			t.Errorf("webhook %s of %s: %s after %d attempts (%s)", d.Action, d.OperationID, d.Status, d.Attempts, d.LastError)
		}
	})
	t.Run("unverifiable calls refused", func(t *testing.T) {
		wrongAudience, err := w.entra.WebhookToken(pubTenant, "api://someone-else", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for name, auth := range map[string]string{"no token": "", "another app's token": "Bearer " + wrongAudience} {
			req, _ := http.NewRequest(http.MethodPost, w.hooks.url, strings.NewReader(`{}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", name, res.StatusCode)
			}
		}
	})
}

// testSingleUsageEvent: the seller's client sends usage in batches only, so
// the single-event operation is exercised here by hand, through the same
// checking transport: it holds the emulator to the documents.
func (w *wire) testSingleUsageEvent(t *testing.T) {
	token, _, err := w.entra.IssueAccessToken(pubTenant, pubClient, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// An hour and a dimension no batch used, though the clock has moved.
	when := w.mk.Now().Truncate(time.Hour).Add(-18 * time.Hour).Format(time.RFC3339)
	body := func(dim, qty string) string {
		return `{"resourceId":"` + w.sub("meter") + `","quantity":` + qty + `,"dimension":"` + dim + `","effectiveStartTime":"` + when + `","planId":"flat"}`
	}
	tests := []struct {
		name, body string
		status     int
	}{
		{"accepted", body("calls", "2.5"), http.StatusOK},
		{"duplicate", body("calls", "3"), http.StatusConflict},
		{"invalid dimension", body("nope", "1"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, w.apiURL+"/usageEvent?api-version="+azuremp.APIVersion, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			res, err := w.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("%d %s, want %d", res.StatusCode, b, tt.status)
			}
		})
	}
}

// testCoverage: a new operation in the documents cannot go untested.
func (w *wire) testCoverage(t *testing.T) {
	c := w.needChecker(t)
	done := w.log.operations(c.Operations())
	for _, op := range c.Operations() {
		if !done[op] {
			t.Errorf("not exercised: %s", op)
		}
	}
}

// testMismatches lists every difference the checker found, and fails if a
// provoked one did not come.
func (w *wire) testMismatches(t *testing.T) {
	w.needChecker(t)
	found, provoked := w.log.results()
	for _, f := range found {
		t.Errorf("%s", f)
	}
	for _, want := range []string{"FulfillmentOperations_GetSubscription 429", "MeteringOperations_PostBatchUsageEvent 500"} {
		if !provoked[want] {
			t.Errorf("the fault meant to provoke %q did not: the faults subtest checked nothing", want)
		}
	}
}

// The test world's identities. Lower-case GUIDs: the emulator keeps them so.
const (
	pubTenant     = "6d1c2a3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	pubClient     = "8f7e6d5c-4b3a-4c2d-9e1f-0a1b2c3d4e5f"
	pubSecret     = "wire-test-secret"
	buyerTenant   = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	privateTenant = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	unknownSub    = "00000000-0000-4000-8000-000000000000"
	publisherID   = "wire-publisher"
	offerID       = "wire-cloud"
	// pageSize makes ListSubscriptions follow several @nextLinks.
	pageSize = 2
)

var dimensions = []string{"emails", "storage", "calls", "jobs", "minutes"}

// wire is the test world: one TLS server with Entra under /entra/ and the
// emulator under /azure/, as the emulator process mounts them, the seller's
// client with a checking transport, and a webhook receiver.
type wire struct {
	emu     *azure.Emulator
	mk      *market.Market
	entra   *entra.Server
	checker *azurespec.Checker // nil without the documents
	missing error              // why checker is nil
	log     *wireLog
	http    *http.Client // trusts the server, checks and logs the API calls
	client  *azuremp.Client
	apiURL  string
	hooks   *hookReceiver

	subs     map[string]market.Subscription // bought, by name
	tokens   map[string]string              // their purchase tokens
	accepted map[string]azuremp.Decimal     // accepted usage: event id → quantity
}

func newWire(t *testing.T) *wire {
	t.Helper()
	w := &wire{log: &wireLog{provoked: map[string]bool{}}, subs: map[string]market.Subscription{}, tokens: map[string]string{},
		accepted: map[string]azuremp.Decimal{}}
	if dir, err := azurespec.Locate(); err != nil {
		w.missing = err
	} else if w.checker, err = azurespec.LoadDir(dir); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	var err error
	w.entra, err = entra.New(entra.Config{PublicURL: srv.URL + "/entra/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.entra.RegisterApp(entra.App{TenantID: pubTenant, ClientID: pubClient, SecretHash: entra.HashSecret(pubSecret), Name: "wire test"}); err != nil {
		t.Fatal(err)
	}

	// Every call the client makes goes through the checker, then the log
	// (what was actually sent), then TLS.
	var transport http.RoundTripper = recorder{log: w.log, next: srv.Client().Transport}
	if w.checker != nil {
		transport = w.checker.Transport(transport, w.log.report)
	}
	w.http = &http.Client{Transport: transport}
	cfg := azuremp.Config{BaseURL: srv.URL + "/azure/api", AuthorityHost: w.entra.AuthorityHost(), TenantID: pubTenant, ClientID: pubClient,
		ClientSecret: pubSecret, HTTPClient: w.http}
	w.apiURL = cfg.BaseURL
	if w.client, err = azuremp.New(cfg); err != nil {
		t.Fatal(err)
	}
	verifier, err := azuremp.NewWebhookVerifier(azuremp.Config{AuthorityHost: w.entra.AuthorityHost(), TenantID: pubTenant, ClientID: pubClient,
		HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	w.hooks = &hookReceiver{verifier: verifier}
	hookSrv := httptest.NewServer(w.hooks)
	t.Cleanup(hookSrv.Close)
	w.hooks.url = hookSrv.URL + "/marketplace/azure/webhook"

	w.emu, err = azure.New(context.Background(), azure.Config{PublicURL: srv.URL + "/azure", Auth: entraAuth{w.entra}, Tokens: w.entra,
		TickInterval: 10 * time.Millisecond, DeliveryPoll: 10 * time.Millisecond,
		Settings: market.Settings{PageSize: pageSize,
			// Operations stay in progress until the test moves the clock or
			// acknowledges them.
			OperationDelay: time.Hour, AckWindow: time.Hour,
			WebhookRetryInitial: 10 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.emu.Close(); err != nil {
			t.Error(err)
		}
	})
	mux.Handle("/azure/", http.StripPrefix("/azure", w.emu.Handler()))
	mux.Handle("/entra/", http.StripPrefix("/entra", w.entra))
	w.mk = w.emu.Market()

	ctx := context.Background()
	if _, err := w.mk.PutPublisher(ctx, market.PublisherInput{ID: publisherID, TenantID: pubTenant, AppID: pubClient,
		LandingURL: "https://seller.example/marketplace/azure/landing", WebhookURL: w.hooks.url}); err != nil {
		t.Fatal(err)
	}
	var dims []market.Dimension
	var meters []market.PlanMeter
	for _, d := range dimensions {
		dims = append(dims, market.Dimension{ID: d, DisplayName: d, UnitOfMeasure: "per unit"})
		meters = append(meters, market.PlanMeter{DimensionID: d, PriceMicros: 10_000})
	}
	monthly := []market.TermPrice{{Unit: "P1M", PriceMicros: 5_000_000}}
	if _, err := w.mk.PutOffer(ctx, market.OfferInput{ID: offerID, PublisherID: publisherID, DisplayName: "Wire Cloud", Dimensions: dims,
		Plans: []market.Plan{
			{ID: "flat", DisplayName: "Flat", Terms: monthly, Meters: meters},
			{ID: "flat-plus", DisplayName: "Flat plus", Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 9_000_000}}, Meters: meters},
			{ID: "seats", DisplayName: "Per user", PricePerSeat: true, MinQuantity: 2, MaxQuantity: 10, Terms: monthly},
			{ID: "private", DisplayName: "Private", Terms: []market.TermPrice{{Unit: "P1Y", PriceMicros: 50_000_000}}, Meters: meters,
				Private: true, Audience: []string{privateTenant}},
		}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// advance moves the emulator's clock.
func (w *wire) advance(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := w.mk.AdvanceClock(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

// needChecker returns the checker, or skips as azurespec's own tests do
// when Microsoft's documents are absent: they are Microsoft's, fetched, and
// not ours to commit, so CI has them only once the steering repository's
// shared/ folder does. The only skip in this test.
func (w *wire) needChecker(t *testing.T) *azurespec.Checker {
	t.Helper()
	if w.checker == nil {
		t.Skipf("Microsoft's OpenAPI documents are absent, nothing to check against: %v", w.missing)
	}
	return w.checker
}

// entraAuth is the Entra stand-in as the emulator's check of access tokens,
// as the emulator process plugs it in.
type entraAuth struct{ s *entra.Server }

func (a entraAuth) VerifyAccessToken(raw string, now time.Time) (string, string, error) {
	c, err := a.s.VerifyAccessToken(raw, now)
	return c.TenantID, c.AppID, err
}

// exchange is one API request that was sent, and its answer's status (0:
// none came).
type exchange struct {
	method, path string // path after /azure/api
	status       int
}

// wireLog keeps what was sent and what the checker reported.
type wireLog struct {
	mu        sync.Mutex
	step      string
	sent      []exchange
	found     []string        // mismatches, with the step that showed them
	expecting string          // "operationId status" a fault is provoking now
	provoked  map[string]bool // those that came
}

func (l *wireLog) setStep(s string) { l.mu.Lock(); defer l.mu.Unlock(); l.step = s }

// expect says which undeclared status the next calls provoke on purpose.
func (l *wireLog) expect(s string) { l.mu.Lock(); defer l.mu.Unlock(); l.expecting = s }

// report is the checker's report function.
func (l *wireLog) report(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var m *azurespec.Mismatch
	if errors.As(err, &m) && m.Part == "response" && (m.Status == http.StatusTooManyRequests || m.Status == http.StatusInternalServerError) &&
		l.expecting == m.Operation+" "+strconv.Itoa(m.Status) {
		l.provoked[l.expecting] = true
		return
	}
	// Which side is at fault: the request is the seller's client's, the
	// answer the emulator's.
	side := "the seller's client sent"
	if m != nil && m.Part == "response" {
		side = "the emulator answered"
	}
	l.found = append(l.found, fmt.Sprintf("%s: %s: %v", l.step, side, err))
}

func (l *wireLog) add(e exchange) { l.mu.Lock(); defer l.mu.Unlock(); l.sent = append(l.sent, e) }

// count is how many requests matched method and path, where {} in path
// stands for one segment.
func (l *wireLog) count(method, path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.sent {
		if e.method == method && matchPath(path, e.path) {
			n++
		}
	}
	return n
}

// operations says which of the documents' operations ("operationId METHOD
// /path") the sent requests reached.
func (l *wireLog) operations(ops []string) map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	done := map[string]bool{}
	for _, op := range ops {
		f := strings.Fields(op)
		if len(f) != 3 {
			continue
		}
		for _, e := range l.sent {
			if e.method == f[1] && matchPath(f[2], e.path) && !literalElsewhere(ops, e, f[2]) {
				done[op] = true
			}
		}
	}
	return done
}

// literalElsewhere is true when another operation's path names e's path
// literally where template has a parameter (resolve, not {subscriptionId}).
func literalElsewhere(ops []string, e exchange, template string) bool {
	for _, op := range ops {
		f := strings.Fields(op)
		if len(f) == 3 && f[2] != template && e.method == f[1] && matchPath(f[2], e.path) && !strings.Contains(f[2], "{") {
			return true
		}
	}
	return false
}

func (l *wireLog) results() ([]string, map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The same difference on every call of a kind is listed once, with the
	// step that first showed it.
	seen := map[string]bool{}
	var out []string
	for _, f := range l.found {
		_, what, _ := strings.Cut(f, ": ")
		what = variable.ReplaceAllString(what, "_")
		if !seen[what] {
			seen[what] = true
			out = append(out, f)
		}
	}
	return out, l.provoked
}

// variable matches what differs between calls (ids, the values quoted), so
// that one difference seen on several calls reads as one.
var variable = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\(value [^)]*\)`)

// matchPath matches a path against a template whose {...} segments stand
// for one segment each; a trailing slash does not count.
func matchPath(template, path string) bool {
	ts := strings.Split(strings.Trim(template, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if !strings.HasPrefix(ts[i], "{") && ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// recorder logs each marketplace API request that goes out.
type recorder struct {
	log  *wireLog
	next http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if path, ok := strings.CutPrefix(req.URL.Path, "/azure/api"); ok {
		e := exchange{method: req.Method, path: path}
		if err == nil {
			e.status = res.StatusCode
		}
		r.log.add(e)
	}
	return res, err
}

// hookReceiver is the seller's webhook endpoint as far as the client goes:
// verify the bearer token against Entra's keys, then parse the body.
type hookReceiver struct {
	verifier *azuremp.WebhookVerifier
	url      string

	mu      sync.Mutex
	got     []azuremp.Webhook
	refused []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, err := h.verifier.Verify(r.Context(), r.Header.Get("Authorization"))
	if err == nil && (claims.TenantID != pubTenant || claims.AppID != azuremp.MarketplaceAppID) {
		err = fmt.Errorf("claims %+v", claims)
	}
	if err != nil {
		h.refuse(w, http.StatusUnauthorized, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		h.refuse(w, http.StatusBadRequest, err)
		return
	}
	hook, err := azuremp.ParseWebhook(body)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, err)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, hook)
	h.mu.Unlock()
}

// refuse records why a call was refused and answers status.
func (h *hookReceiver) refuse(w http.ResponseWriter, status int, err error) {
	h.mu.Lock()
	h.refused = append(h.refused, err.Error())
	h.mu.Unlock()
	w.WriteHeader(status)
}

// await waits for the webhook of operation op.
func (h *hookReceiver) await(t *testing.T, op string) azuremp.Webhook {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		for _, hook := range h.got {
			if hook.ID == op {
				h.mu.Unlock()
				return hook
			}
		}
		refused := slices.Clone(h.refused)
		h.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no webhook for operation %s (refused: %q)", op, refused)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *hookReceiver) actions() map[azuremp.Action]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[azuremp.Action]bool{}
	for _, hook := range h.got {
		out[hook.Action] = true
	}
	return out
}

func (h *hookReceiver) refusedReasons() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.refused)
}

// wantAPIError checks that err is of kind want (nil: no error) with HTTP
// status (0: none was answered).
func wantAPIError(t *testing.T, err, want error, status int) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("want %v, got %v", want, err)
	}
	var ae *azuremp.APIError
	if !errors.As(err, &ae) || ae.Status != status {
		t.Fatalf("want HTTP status %d in an *APIError, got %v", status, err)
	}
}

func wantStatus(want azuremp.SubscriptionStatus) func(t *testing.T, s azuremp.Subscription) {
	return func(t *testing.T, s azuremp.Subscription) {
		t.Helper()
		if s.Status != want {
			t.Errorf("status %s, want %s", s.Status, want)
		}
	}
}

func decimal(t *testing.T, s string) azuremp.Decimal {
	t.Helper()
	d, err := azuremp.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }
