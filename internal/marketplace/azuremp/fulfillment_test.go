package azuremp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var ctx = context.Background()

// wantSubscription is testdata/subscription.json as read: the padded
// status trimmed, "20" seats, the date-only end, 0001-01-01 unset.
func wantSubscription() Subscription {
	yes := true
	return Subscription{
		ID: testSubID, PublisherID: "contoso", OfferID: "offer1", Name: "Contoso Cloud Solution",
		Status:      SubscriptionSubscribed,
		Beneficiary: Identity{EmailID: "test@test.com", ObjectID: "4ec2b24c-fba8-4f7b-a0b5-6e1b5b4c4a6e", TenantID: "5d1c5e8a-7c4e-4d67-9a8c-9c2d1f3b0a11", PUID: "10033FFF8E1E5A6B"},
		Purchaser:   Identity{EmailID: "purchase@csp.com", ObjectID: "8e4f6a2b-1c3d-4e5f-a6b7-c8d9e0f1a2b3", TenantID: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"},
		PlanID:      "silver", Quantity: SeatCount(20),
		Term: Term{TermUnit: "P1M", StartDate: Time{time.Date(2022, 3, 7, 0, 0, 0, 0, time.UTC)},
			EndDate: Time{time.Date(2022, 4, 6, 0, 0, 0, 0, time.UTC)}, ChargeDuration: "P1M"},
		AutoRenew: &yes, IsTest: true, AllowedCustomerOperations: []string{"Delete", "Update", "Read"},
		SandboxType: "None", SessionMode: "None",
		Created: Time{time.Date(2021, 12, 4, 19, 48, 6, 705473700, time.UTC)},
	}
}

// TestFulfillment_EveryCall: each call sends what the contract says (method,
// path, body, headers) and reads Microsoft's example answer.
func TestFulfillment_EveryCall(t *testing.T) {
	sub := wantSubscription()
	op := Operation{ID: testOpID, ActivityID: "b0e3e4e5-5a4f-4b3d-9c2a-1f0e9d8c7b6a", SubscriptionID: testSubID, OfferID: "offer1",
		PublisherID: "contoso", PlanID: "silver", Quantity: SeatCount(20), Action: ActionChangePlan,
		TimeStamp: Time{time.Date(2018, 12, 1, 0, 0, 0, 0, time.UTC)}, Status: OperationInProgress, RequestSource: SourceAzure}
	partnerOp := op
	partnerOp.Quantity, partnerOp.ErrorStatusCode, partnerOp.RequestSource = Seats{}, "500", SourcePartner
	accepted := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Operation-Location", "https://marketplaceapi.microsoft.com/api/saas/subscriptions/"+testSubID+"/operations/"+testOpID+"?api-version=2018-08-31")
		w.WriteHeader(http.StatusAccepted)
	}
	for _, tc := range []struct {
		name           string
		call           func(c *Client) (any, error)
		answer         http.HandlerFunc
		method, path   string
		query, body    string
		header, hValue string
		want           any
	}{
		{"resolve", func(c *Client) (any, error) { return c.Resolve(ctx, "ab+cd/ef") }, reply(200, sample(t, "resolve.json")),
			"POST", "/api/saas/subscriptions/resolve", "", "", "X-Ms-Marketplace-Token", "ab+cd/ef",
			Resolved{ID: testSubID, SubscriptionName: "Contoso Cloud Solution", OfferID: "offer1", PlanID: "silver", Quantity: SeatCount(20), Subscription: sub}},
		{"resolve puts back a '+' decoded as a space", func(c *Client) (any, error) {
			r, err := c.Resolve(ctx, "ab cd/ef ")
			return r.ID, err
		}, reply(200, sample(t, "resolve.json")), "POST", "/api/saas/subscriptions/resolve", "", "", "X-Ms-Marketplace-Token", "ab+cd/ef+", testSubID},
		{"activate per user", func(c *Client) (any, error) { return nil, c.Activate(ctx, testSubID, "gold", SeatCount(3)) }, reply(200, nil),
			"POST", "/api/saas/subscriptions/" + testSubID + "/activate", "", `{"planId":"gold","quantity":3}`, "", "", nil},
		{"activate flat rate", func(c *Client) (any, error) { return nil, c.Activate(ctx, testSubID, "silver", Seats{}) }, reply(200, nil),
			"POST", "/api/saas/subscriptions/" + testSubID + "/activate", "", `{"planId":"silver"}`, "", "", nil},
		{"get subscription", func(c *Client) (any, error) { return c.Subscription(ctx, testSubID) }, reply(200, sample(t, "subscription.json")),
			"GET", "/api/saas/subscriptions/" + testSubID, "", "", "", "", sub},
		{"list available plans", func(c *Client) (any, error) { return c.ListAvailablePlans(ctx, testSubID, "") }, reply(200, sample(t, "plans.json")),
			"GET", "/api/saas/subscriptions/" + testSubID + "/listAvailablePlans", "", "", "", "", wantPlans()},
		{"one available plan", func(c *Client) (any, error) { return c.ListAvailablePlans(ctx, testSubID, "gold") }, reply(200, []byte(`[]`)),
			"GET", "/api/saas/subscriptions/" + testSubID + "/listAvailablePlans", "planId=gold", "", "", "", []Plan{}},
		{"no plans: empty body", func(c *Client) (any, error) { return c.ListAvailablePlans(ctx, testSubID, "") }, reply(200, nil),
			"GET", "/api/saas/subscriptions/" + testSubID + "/listAvailablePlans", "", "", "", "", []Plan(nil)},
		{"change plan", func(c *Client) (any, error) { return c.ChangePlan(ctx, testSubID, "gold") }, accepted,
			"PATCH", "/api/saas/subscriptions/" + testSubID, "", `{"planId":"gold"}`, "", "", testOpID},
		{"change quantity, Operation-Id only", func(c *Client) (any, error) { return c.ChangeQuantity(ctx, testSubID, 5) },
			func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Operation-Id", testOpID)
				w.WriteHeader(202)
			},
			"PATCH", "/api/saas/subscriptions/" + testSubID, "", `{"quantity":5}`, "", "", testOpID},
		{"cancel", func(c *Client) (any, error) { return c.Cancel(ctx, testSubID) }, accepted,
			"DELETE", "/api/saas/subscriptions/" + testSubID, "", "", "", "", testOpID},
		{"cancel, no operation named", func(c *Client) (any, error) { return c.Cancel(ctx, testSubID) }, reply(202, nil),
			"DELETE", "/api/saas/subscriptions/" + testSubID, "", "", "", "", ""},
		{"get operation", func(c *Client) (any, error) { return c.Operation(ctx, testSubID, testOpID) }, reply(200, sample(t, "operation.json")),
			"GET", "/api/saas/subscriptions/" + testSubID + "/operations/" + testOpID, "", "", "", "", op},
		{"list operations", func(c *Client) (any, error) { return c.ListOperations(ctx, testSubID) }, reply(200, sample(t, "operations.json")),
			"GET", "/api/saas/subscriptions/" + testSubID + "/operations", "", "", "", "", []Operation{op}},
		{"list operations, a bare array", func(c *Client) (any, error) { return c.ListOperations(ctx, testSubID) }, reply(200, sample(t, "operations-bare.json")),
			"GET", "/api/saas/subscriptions/" + testSubID + "/operations", "", "", "", "", []Operation{partnerOp}},
		{"list operations, {}", func(c *Client) (any, error) { return c.ListOperations(ctx, testSubID) }, reply(200, []byte(`{}`)),
			"GET", "/api/saas/subscriptions/" + testSubID + "/operations", "", "", "", "", []Operation(nil)},
		{"acknowledge success", func(c *Client) (any, error) { return nil, c.UpdateOperation(ctx, testSubID, testOpID, true) }, reply(200, nil),
			"PATCH", "/api/saas/subscriptions/" + testSubID + "/operations/" + testOpID, "", `{"status":"Success"}`, "", "", nil},
		{"acknowledge failure", func(c *Client) (any, error) { return nil, c.UpdateOperation(ctx, testSubID, testOpID, false) }, reply(200, nil),
			"PATCH", "/api/saas/subscriptions/" + testSubID + "/operations/" + testOpID, "", `{"status":"Failure"}`, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c, _, _ := newFake(t, tc.answer)
			got, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			reqs := f.seen()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			wantQuery := "api-version=2018-08-31"
			if tc.query != "" {
				wantQuery += "&" + tc.query
			}
			if r.Method != tc.method || r.Path != tc.path || r.RawQuery != wantQuery || r.Body != tc.body {
				t.Errorf("sent %s %s?%s %q, want %s %s?%s %q", r.Method, r.Path, r.RawQuery, r.Body, tc.method, tc.path, wantQuery, tc.body)
			}
			if tc.body != "" && r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			if tc.header != "" && r.Header.Get(tc.header) != tc.hValue {
				t.Errorf("%s: %q, want %q", tc.header, r.Header.Get(tc.header), tc.hValue)
			}
		})
	}
}

func wantPlans() []Plan {
	return []Plan{{
		PlanID: "gold", DisplayName: "Gold plan", Description: "Gold, per seat", MinQuantity: SeatCount(1), MaxQuantity: SeatCount(5),
		IsPricePerSeat: true, Market: "US",
		PlanComponents: PlanComponents{
			RecurrentBillingTerms: []BillingTerm{{Currency: "USD", Price: 100_000_000, TermUnit: "P1M", TermDescription: "1 month",
				MeteredQuantityIncluded: []IncludedQuantity{{DimensionID: "emails", Units: "1000"}}}},
			MeteringDimensions: []MeteringDimension{{ID: "emails", Currency: "USD", PricePerUnit: 10_000, UnitOfMeasure: "per email", DisplayName: "Emails"}},
		},
		SourceOffers: []SourceOffer{{ExternalID: "2b9a1e52-6b8f-4f0e-9d1e-3c2f1a0b9c8d"}},
	}, {
		PlanID: "private-annual", DisplayName: "Negotiated", IsPrivate: true, Market: "US",
		PlanComponents: PlanComponents{
			RecurrentBillingTerms: []BillingTerm{{Currency: "USD", Price: 12_000_500_000, TermUnit: "P1Y", TermDescription: "1 year",
				MeteredQuantityIncluded: []IncludedQuantity{{DimensionID: "tokens", Units: "Unlimited"}}}},
			MeteringDimensions: []MeteringDimension{{ID: "tokens", Currency: "USD", PricePerUnit: 15, UnitOfMeasure: "per token", DisplayName: "Tokens"}},
		},
	}}
}

// TestFulfillment_ErrorShapes: every status maps to its kind, and the
// code and message come from either body shape, or from none.
func TestFulfillment_ErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		call      func(c *Client) error
		status    int
		body      []byte
		kind      error
		code, msg string
	}{
		{"resolve 400: token refused", func(c *Client) error { _, err := c.Resolve(ctx, "expired"); return err }, 400, sample(t, "error-resolve.json"),
			ErrTokenInvalid, "HeaderNotPresent", "Mandatory header missing"},
		{"resolve 403: another app's offer", func(c *Client) error { _, err := c.Resolve(ctx, "tok"); return err }, 403, nil, ErrForbidden, "", ""},
		{"get 404, flat body", func(c *Client) error { _, err := c.Subscription(ctx, testSubID); return err }, 404, sample(t, "error-flat.json"),
			ErrNotFound, "EntityNotFound", "Subscription " + testSubID + " not found"},
		{"get 401 without a body", func(c *Client) error { _, err := c.Subscription(ctx, testSubID); return err }, 401, nil, ErrForbidden, "", ""},
		{"activate 400: already subscribed, nested body", func(c *Client) error { return c.Activate(ctx, testSubID, "gold", Seats{}) }, 400,
			[]byte(`{"error":{"code":"BadRequest","message":"Subscription is already Subscribed"}}`), ErrBadRequest, "BadRequest", "Subscription is already Subscribed"},
		{"api-version refused, the emulator's casing", func(c *Client) error { _, err := c.ListOperations(ctx, testSubID); return err }, 400,
			sample(t, "error-emulator.json"), ErrBadRequest, "UnsupportedApiVersion", "The api-version 2019-01-01 is not supported."},
		{"acknowledge 409, plain text", func(c *Client) error { return c.UpdateOperation(ctx, testSubID, testOpID, true) }, 409,
			[]byte("Conflict: request 1234\x00"), ErrConflict, "", "Conflict: request 1234 "},
		{"change plan 500, nested body", func(c *Client) error { _, err := c.ChangePlan(ctx, testSubID, "gold"); return err }, 500,
			sample(t, "error-nested.json"), ErrUnavailable, "InternalServerError", "An unexpected error occurred."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, _, _ := newFake(t, reply(tc.status, tc.body))
			err := tc.call(c)
			var ae *APIError
			if !errors.Is(err, tc.kind) || !errors.As(err, &ae) {
				t.Fatalf("error %v, want %v as an *APIError", err, tc.kind)
			}
			if ae.Status != tc.status || ae.Code != tc.code || ae.Message != tc.msg {
				t.Errorf("status %d code %q message %q, want %d %q %q", ae.Status, ae.Code, ae.Message, tc.status, tc.code, tc.msg)
			}
			if !uuidRE.MatchString(ae.RequestID) || !uuidRE.MatchString(ae.CorrelationID) || !strings.Contains(err.Error(), ae.CorrelationID) {
				t.Errorf("ids %q %q not kept for support in %q", ae.RequestID, ae.CorrelationID, err)
			}
		})
	}
}

// TestFulfillment_RefusedBeforeSending: ids that would leave their path
// segment, an empty token or plan, are refused with nothing sent.
func TestFulfillment_RefusedBeforeSending(t *testing.T) {
	f, c, _, _ := newFake(t, reply(200, nil))
	for name, err := range map[string]error{
		"empty token":        func() error { _, err := c.Resolve(ctx, ""); return err }(),
		"a token with a tab": func() error { _, err := c.Resolve(ctx, "ab\tcd"); return err }(),
		"id with a slash":    c.Activate(ctx, "a/../b", "gold", Seats{}),
		"no plan":            c.Activate(ctx, testSubID, "", Seats{}),
		"id with a query":    func() error { _, err := c.Subscription(ctx, "x?y"); return err }(),
		"zero quantity":      func() error { _, err := c.ChangeQuantity(ctx, testSubID, 0); return err }(),
		"empty operation":    c.UpdateOperation(ctx, testSubID, "", true),
		"encoded traversal":  func() error { _, err := c.Cancel(ctx, "%2e%2e"); return err }(),
	} {
		if !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestListSubscriptions_FollowsNextLink: pages are followed as written
// until a page has none; an empty body is no subscriptions.
func TestListSubscriptions_FollowsNextLink(t *testing.T) {
	var base string
	f, c, _, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("continuationToken")
		next := map[string]string{"": "p2", "p2": "p3", "p3": ""}[token]
		link := ""
		if next != "" {
			link = fmt.Sprintf(`,"@nextLink":"%s/api/saas/subscriptions/?continuationToken=%s&api-version=2018-08-31"`, base, next)
		}
		fmt.Fprintf(w, `{"subscriptions":[{"id":"sub-%s-1","saasSubscriptionStatus":"Subscribed"},{"id":"sub-%s-2"}]%s}`, token, token, link)
	})
	base = f.srv.URL
	var ids []string
	if err := c.ListSubscriptions(ctx, func(s Subscription) error { ids = append(ids, s.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"sub--1", "sub--2", "sub-p2-1", "sub-p2-2", "sub-p3-1", "sub-p3-2"}
	if !slices.Equal(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
	reqs := f.seen()
	if len(reqs) != 3 || reqs[1].Path != "/api/saas/subscriptions/" || reqs[1].RawQuery != "continuationToken=p2&api-version=2018-08-31" {
		t.Errorf("requests %+v: want the nextLink followed as written", reqs)
	}

	stop := errors.New("enough")
	n := 0
	if err := c.ListSubscriptions(ctx, func(Subscription) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("yield's error: %v after %d, want it returned at once", err, n)
	}

	f.setAPI(reply(200, nil))
	n = 0
	if err := c.ListSubscriptions(ctx, func(Subscription) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("empty body: %v, %d subscriptions", err, n)
	}
}

// TestListSubscriptions_RefusesForeignNextLink: a @nextLink elsewhere than
// the API is not followed: the client talks to Microsoft's hosts only.
func TestListSubscriptions_RefusesForeignNextLink(t *testing.T) {
	for name, link := range map[string]string{
		"another host":      "https://evil.example/api/saas/subscriptions?continuationToken=x",
		"another port":      "https://127.0.0.1:1/api/saas/subscriptions?continuationToken=x",
		"plain http":        "http://{srv}/api/saas/subscriptions?continuationToken=x",
		"outside the API":   "{base}/../entra/" + testTenant + "/oauth2/v2.0/token?x=1",
		"relative":          "/api/saas/subscriptions?continuationToken=x",
		"the same page":     "{base}/api/saas/subscriptions?api-version=2018-08-31",
		"with a user":       "https://user:pw@{srv}/api/saas/subscriptions?continuationToken=x",
		"not a URL at all ": "%%%",
	} {
		t.Run(name, func(t *testing.T) {
			var srv string
			f, c, _, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				l := strings.NewReplacer("{base}", "https://"+srv, "{srv}", srv).Replace(link)
				fmt.Fprintf(w, `{"subscriptions":[{"id":"a"}],"@nextLink":%q}`, l)
			})
			srv = strings.TrimPrefix(f.srv.URL, "https://")
			err := c.ListSubscriptions(ctx, func(Subscription) error { return nil })
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("%v, want ErrBadResponse", err)
			}
			if n := len(f.seen()); n != 1 {
				t.Errorf("%d requests, want the first page only", n)
			}
		})
	}
}

// TestRetries: 429 is repeated for every call, honouring Retry-After
// within the bound; 5xx and network failures only for calls that may be
// repeated (not Activate, not a PATCH).
func TestRetries(t *testing.T) {
	get := func(c *Client) error { _, err := c.Subscription(ctx, testSubID); return err }
	activate := func(c *Client) error { return c.Activate(ctx, testSubID, "gold", Seats{}) }
	for _, tc := range []struct {
		name      string
		call      func(c *Client) error
		answers   []http.HandlerFunc // in turn; the last repeats
		wantErr   error
		wantCalls int
		wantWaits []time.Duration
	}{
		{"429 with Retry-After, then 200", get, []http.HandlerFunc{retryAfterReply(429, "2"), reply(200, sample(t, "subscription.json"))},
			nil, 2, []time.Duration{2 * time.Second}},
		{"429 without Retry-After backs off", activate, []http.HandlerFunc{reply(429, nil), reply(429, nil), reply(200, nil)},
			nil, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"429 for good", get, []http.HandlerFunc{retryAfterReply(429, "1")}, ErrThrottled, 3, []time.Duration{time.Second, time.Second}},
		{"Retry-After beyond the bound ends the call", get, []http.HandlerFunc{retryAfterReply(429, "3600")}, ErrThrottled, 1, nil},
		{"Retry-After as a date", get, []http.HandlerFunc{retryAfterReply(429, "Wed, 04 Mar 2026 10:30:05 GMT"), reply(200, sample(t, "subscription.json"))},
			nil, 2, []time.Duration{5 * time.Second}},
		{"503 with Retry-After", get, []http.HandlerFunc{retryAfterReply(503, "3"), reply(200, sample(t, "subscription.json"))},
			nil, 2, []time.Duration{3 * time.Second}},
		{"500 then 200 on a read", get, []http.HandlerFunc{reply(500, nil), reply(200, sample(t, "subscription.json"))}, nil, 2, []time.Duration{time.Second}},
		{"500 for good on a read", get, []http.HandlerFunc{reply(500, nil)}, ErrUnavailable, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"500 on Activate is not repeated", activate, []http.HandlerFunc{reply(500, nil)}, ErrUnavailable, 1, nil},
		{"a lost answer on Activate is not repeated", activate, []http.HandlerFunc{hangUp}, ErrUnavailable, 1, nil},
		{"a lost answer on a read is", get, []http.HandlerFunc{hangUp, reply(200, sample(t, "subscription.json"))}, nil, 2, []time.Duration{time.Second}},
		{"a 4xx is never repeated", get, []http.HandlerFunc{reply(404, nil)}, ErrNotFound, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			f, c, waits, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				h := tc.answers[min(n, len(tc.answers)-1)]
				n++
				h(w, r)
			}, noKeepAlives)
			err := tc.call(c)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if got := len(f.seen()); got != tc.wantCalls {
				t.Errorf("%d attempts, want %d", got, tc.wantCalls)
			}
			if !slices.Equal(*waits, tc.wantWaits) {
				t.Errorf("waited %v, want %v", *waits, tc.wantWaits)
			}
			reqs := f.seen()
			for i := 1; i < len(reqs); i++ {
				if reqs[i].Header.Get("x-ms-correlationid") != reqs[0].Header.Get("x-ms-correlationid") ||
					reqs[i].Header.Get("x-ms-requestid") == reqs[0].Header.Get("x-ms-requestid") {
					t.Errorf("attempt %d: want the call's correlation id and a fresh request id", i+1)
				}
			}
			var ae *APIError
			if errors.Is(err, ErrThrottled) && errors.As(err, &ae) && ae.RetryAfter == 0 {
				t.Errorf("Retry-After not kept in %v", err)
			}
		})
	}
}

func retryAfterReply(status int, after string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", after)
		w.WriteHeader(status)
	}
}

// hangUp drops the connection without an answer: a lost reply.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestCorrelationID_FromContext: a caller's correlation id is sent and
// kept.
func TestCorrelationID_FromContext(t *testing.T) {
	f, c, _, _ := newFake(t, reply(404, nil))
	_, err := c.Subscription(WithCorrelationID(ctx, "webhook-74dfb4db"), testSubID)
	var ae *APIError
	if !errors.As(err, &ae) || ae.CorrelationID != "webhook-74dfb4db" || f.seen()[0].Header.Get("x-ms-correlationid") != "webhook-74dfb4db" {
		t.Errorf("correlation id not used: %v", err)
	}
}
