package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

func TestCommonChecks(t *testing.T) {
	e := newEnv(t, market.Settings{})
	s := e.active("flat", 0)
	path := "/api/saas/subscriptions/" + s.ID
	cases := []struct {
		name   string
		path   string
		hdr    []string
		status int
		code   string
	}{
		{"ok", path, nil, 200, ""},
		{"no api-version", path + "?", nil, 400, "ApiVersionUnspecified"},
		{"other api-version", path + "?api-version=2022-01-01", nil, 400, "UnsupportedApiVersion"},
		{"no bearer", path, []string{"Authorization", ""}, 403, "Forbidden"},
		{"not a bearer", path, []string{"Authorization", "Basic eDp5"}, 403, "Forbidden"},
		{"bad token", path, []string{"Authorization", "Bearer forged"}, 403, "Forbidden"},
		{"token of no publisher", path, []string{"Authorization", "Bearer " + tokStranger}, 403, "Forbidden"},
		{"token of another publisher's app", path, []string{"Authorization", "Bearer " + tokFabrikam}, 403, "Forbidden"},
		{"unknown subscription", "/api/saas/subscriptions/99999999-9999-4999-8999-999999999999", nil, 404, "EntityNotFound"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("GET", c.path, "", c.hdr...)
			if r.status != c.status || c.code != "" && r.code() != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
			if r.header.Get("x-ms-requestid") == "" || r.header.Get("x-ms-correlationid") == "" {
				t.Fatal("request ids not generated")
			}
		})
	}
	r := e.call("GET", path, "", "x-ms-requestid", "req-1", "x-ms-correlationid", "corr-1")
	if r.header.Get("x-ms-requestid") != "req-1" || r.header.Get("x-ms-correlationid") != "corr-1" {
		t.Fatalf("ids not echoed: %v", r.header)
	}
	var got market.SubscriptionWire
	r.json(t, &got)
	if got.SaasSubscriptionStatus != "Subscribed" || got.Term.StartDate == nil || got.Quantity != nil || got.OfferID != "cloud" {
		t.Fatalf("subscription %s", r.body)
	}
}

func TestResolve(t *testing.T) {
	e := newEnv(t, market.Settings{})
	s, tok := e.buy("seats", 3)
	_, otherTok, err := e.m.Purchase(context.Background(), market.PurchaseInput{OfferID: "other", PlanID: "flat", Name: "y",
		Beneficiary: market.Identity{TenantID: buyerTenant, EmailID: "a@b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"ok", tok, 200, ""},
		{"again", tok, 200, ""},
		{"missing", "", 400, "HeaderNotPresent"},
		{"unknown", "bm90IGEgdG9rZW4=", 400, "InvalidValue"},
		{"space for plus", strings.ReplaceAll(tok, "+", " ") + "x", 400, "InvalidValue"},
		{"another publisher's", otherTok.Token, 403, "Forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("POST", "/api/saas/subscriptions/resolve", "", "x-ms-marketplace-token", c.token)
			if r.status != c.status || c.code != "" && r.code() != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
			if c.status != 200 {
				return
			}
			var res resolveResponse
			r.json(t, &res)
			if res.ID != s.ID || res.PlanID != "seats" || res.Quantity == nil || *res.Quantity != 3 || res.Subscription.SaasSubscriptionStatus != "PendingFulfillmentStart" ||
				res.SubscriptionName != "mine" || res.Subscription.Beneficiary.TenantID != buyerTenant {
				t.Fatalf("resolve %s", r.body)
			}
		})
	}
	e.advance(24 * time.Hour)
	if r := e.call("POST", "/api/saas/subscriptions/resolve", "", "x-ms-marketplace-token", tok); r.status != 400 {
		t.Fatalf("expired token: %d", r.status)
	}
}

func TestActivate(t *testing.T) {
	e := newEnv(t, market.Settings{})
	seats, _ := e.buy("seats", 3)
	flat, _ := e.buy("flat", 0)
	gone, _ := e.buy("flat", 0)
	if _, err := e.m.Cancel(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	act := func(id string) string { return "/api/saas/subscriptions/" + id + "/activate" }
	cases := []struct {
		name, id, body string
		status         int
	}{
		{"no plan", seats.ID, `{}`, 400},
		{"empty body", seats.ID, ``, 400},
		{"malformed", seats.ID, `{"planId":`, 400},
		{"wrong plan", seats.ID, `{"planId":"seats-gold","quantity":3}`, 400},
		{"no quantity", seats.ID, `{"planId":"seats"}`, 400},
		{"wrong quantity", seats.ID, `{"planId":"seats","quantity":4}`, 400},
		{"fractional quantity", seats.ID, `{"planId":"seats","quantity":2.5}`, 400},
		{"quantity as a string", seats.ID, `{"planId":"seats","quantity":"3"}`, 200},
		{"again", seats.ID, `{"planId":"seats","quantity":3}`, 400},
		{"flat with a quantity", flat.ID, `{"planId":"flat","quantity":2}`, 400},
		{"flat", flat.ID, `{"planId":"flat","unknownField":1}`, 200},
		{"unsubscribed", gone.ID, `{"planId":"flat"}`, 404},
		{"unknown", "99999999-9999-4999-8999-999999999999", `{"planId":"flat"}`, 404},
	}
	for _, c := range cases {
		if r := e.call("POST", act(c.id), c.body); r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
		} else if c.status == 200 && len(r.body) != 0 {
			t.Errorf("%s: activate answers with no body; got %s", c.name, r.body)
		}
	}
	if _, err := e.m.Suspend(context.Background(), flat.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.call("POST", act(flat.ID), `{"planId":"flat"}`); r.status != 400 {
		t.Fatalf("activate a suspended subscription: %d", r.status)
	}
	if r := e.call("POST", act(flat.ID), `{"planId":"flat"}`, "Authorization", "Bearer "+tokFabrikam); r.status != 403 {
		t.Fatalf("another publisher: %d", r.status)
	}
}

func TestListPages(t *testing.T) {
	e := newEnv(t, market.Settings{})
	var want []string
	for range 5 {
		s, _ := e.buy("flat", 0)
		want = append(want, s.ID)
	}
	e.m.Purchase(context.Background(), market.PurchaseInput{OfferID: "other", PlanID: "flat", Name: "not mine", //nolint:errcheck // checked below by its absence
		Beneficiary: market.Identity{TenantID: buyerTenant, EmailID: "a@b.example"}})
	var got []string
	path, pages := "/api/saas/subscriptions", 0
	for path != "" {
		r := e.call("GET", path, "")
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		var page listResponse
		r.json(t, &page)
		for _, s := range page.Subscriptions {
			got = append(got, s.ID)
		}
		pages++
		path = ""
		if page.NextLink != "" {
			u, err := url.Parse(page.NextLink)
			if err != nil || !strings.HasPrefix(page.NextLink, e.srv.URL+"/api/saas/subscriptions/?") ||
				u.Query().Get("api-version") != APIVersion || u.Query().Get("continuationToken") == "" {
				t.Fatalf("nextLink %q", page.NextLink)
			}
			path = strings.TrimPrefix(page.NextLink, e.srv.URL)
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d pages %v, want 3 pages %v", pages, got, want)
	}
	if r := e.call("GET", "/api/saas/subscriptions?api-version="+APIVersion+"&continuationToken=garbage", ""); r.status != 400 {
		t.Fatalf("bad continuation token: %d", r.status)
	}
	if r := e.call("GET", "/api/saas/subscriptions/", ""); r.status != 200 {
		t.Fatalf("trailing slash: %d", r.status)
	}
}

func TestListAvailablePlans(t *testing.T) {
	e := newEnv(t, market.Settings{})
	mine := e.active("flat", 0)
	outsider := e.active("flat", 0, func(in *market.PurchaseInput) { in.Beneficiary.TenantID = otherTenant })
	plans := func(id, query string) []string {
		r := e.call("GET", "/api/saas/subscriptions/"+id+"/listAvailablePlans?api-version="+APIVersion+query, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var out struct{ Plans []market.PlanWire }
		r.json(t, &out)
		var ids []string
		for _, p := range out.Plans {
			ids = append(ids, p.PlanID)
			if p.PlanID == "flat" && (len(p.PlanComponents.MeteringDimensions) != 2 || p.PlanComponents.MeteringDimensions[0].PricePerUnit != 0.01 ||
				p.PlanComponents.RecurrentBillingTerms[0].Price != 100 || p.PlanComponents.RecurrentBillingTerms[0].MeteredQuantityIncluded[0].Units != "1000" ||
				p.PlanComponents.RecurrentBillingTerms[0].MeteredQuantityIncluded[1].Units != "Unlimited") {
				t.Fatalf("flat plan %+v", p)
			}
		}
		return ids
	}
	if got := strings.Join(plans(mine.ID, ""), ","); got != "flat,flat-big,seats,seats-gold,deal" {
		t.Fatalf("audience member sees %s", got)
	}
	if got := strings.Join(plans(outsider.ID, ""), ","); got != "flat,flat-big,seats,seats-gold,secret" {
		t.Fatalf("outsider sees %s", got)
	}
	if got := strings.Join(plans(mine.ID, "&planId=deal"), ","); got != "deal" {
		t.Fatalf("filtered: %s", got)
	}
	if got := plans(outsider.ID, "&planId=deal"); len(got) != 0 {
		t.Fatalf("filtered to a private plan outside its audience: %v", got)
	}
	if r := e.call("GET", "/api/saas/subscriptions/99999999-9999-4999-8999-999999999999/listAvailablePlans", ""); r.status != 404 {
		t.Fatalf("unknown: %d", r.status)
	}
}

func TestChangePlanAndQuantity(t *testing.T) {
	e := newEnv(t, market.Settings{OperationDelay: 5 * time.Second})
	flat := e.active("flat", 0)
	seats := e.active("seats", 10)
	csp := e.active("flat", 0, func(in *market.PurchaseInput) { in.SandboxType = "Csp" })
	pending, _ := e.buy("flat", 0)
	suspended := e.active("flat", 0)
	if _, err := e.m.Suspend(context.Background(), suspended.ID); err != nil {
		t.Fatal(err)
	}
	outsider := e.active("flat", 0, func(in *market.PurchaseInput) { in.Beneficiary.TenantID = otherTenant })
	sub := func(id string) string { return "/api/saas/subscriptions/" + id }
	cases := []struct {
		name, id, body string
		status         int
	}{
		{"both fields", flat.ID, `{"planId":"flat-big","quantity":2}`, 400},
		{"neither", flat.ID, `{}`, 400},
		{"malformed", flat.ID, `[`, 400},
		{"unknown plan", flat.ID, `{"planId":"nope"}`, 400},
		{"same plan", flat.ID, `{"planId":"flat"}`, 400},
		{"other pricing model", flat.ID, `{"planId":"seats"}`, 400},
		{"private plan outside the audience", outsider.ID, `{"planId":"deal"}`, 400},
		{"quantity on flat rate", flat.ID, `{"quantity":3}`, 400},
		{"quantity above the maximum", seats.ID, `{"quantity":51}`, 400},
		{"quantity zero", seats.ID, `{"quantity":0}`, 400},
		{"same quantity", seats.ID, `{"quantity":10}`, 400},
		{"plan whose range excludes the seats", seats.ID, `{"planId":"seats-gold"}`, 400},
		{"pending", pending.ID, `{"planId":"flat-big"}`, 400},
		{"suspended", suspended.ID, `{"planId":"flat-big"}`, 400},
		{"update not allowed (CSP)", csp.ID, `{"planId":"flat-big"}`, 400},
		{"unknown", "99999999-9999-4999-8999-999999999999", `{"planId":"flat-big"}`, 404},
		{"plan", flat.ID, `{"planId":"flat-big"}`, 202},
		{"locked by the operation in progress", flat.ID, `{"planId":"deal"}`, 400},
		{"quantity", seats.ID, `{"quantity":"12"}`, 202},
	}
	var opURLs []string
	for _, c := range cases {
		r := e.call("PATCH", sub(c.id), c.body)
		if r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if c.status == 202 {
			loc := r.header.Get("Operation-Location")
			if !strings.HasPrefix(loc, e.srv.URL+"/api/saas/subscriptions/"+c.id+"/operations/") || !strings.HasSuffix(loc, "?api-version="+APIVersion) ||
				!strings.Contains(loc, r.header.Get("Operation-Id")) {
				t.Errorf("%s: Operation-Location %q", c.name, loc)
			}
			opURLs = append(opURLs, strings.TrimPrefix(loc, e.srv.URL))
		}
	}
	if r := e.call("PATCH", sub(flat.ID), `{"planId":"flat-big"}`, "Authorization", "Bearer "+tokFabrikam); r.status != 403 {
		t.Fatalf("another publisher: %d", r.status)
	}
	for _, u := range opURLs {
		var op market.OperationWire
		e.call("GET", u, "").json(t, &op)
		if op.Status != "InProgress" || op.OperationRequestSource != "Partner" {
			t.Fatalf("before the delay: %+v", op)
		}
	}
	// The outstanding list holds the operation in progress.
	var outstanding struct{ Operations []market.OperationWire }
	e.call("GET", sub(flat.ID)+"/operations", "").json(t, &outstanding)
	if len(outstanding.Operations) != 1 || outstanding.Operations[0].Action != "ChangePlan" || outstanding.Operations[0].PlanID != "flat-big" {
		t.Fatalf("outstanding %+v", outstanding)
	}
	e.advance(5 * time.Second)
	for _, u := range opURLs {
		var op market.OperationWire
		e.call("GET", u, "").json(t, &op)
		if op.Status != "Succeeded" {
			t.Fatalf("after the delay: %+v", op)
		}
	}
	var got market.SubscriptionWire
	e.call("GET", sub(flat.ID), "").json(t, &got)
	if got.PlanID != "flat-big" {
		t.Fatalf("plan %s", got.PlanID)
	}
	e.call("GET", sub(seats.ID), "").json(t, &got)
	if *got.Quantity != 12 {
		t.Fatalf("quantity %d", *got.Quantity)
	}
	e.call("GET", sub(flat.ID)+"/operations", "").json(t, &outstanding)
	if len(outstanding.Operations) != 0 {
		t.Fatalf("outstanding after completion: %+v", outstanding)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t, market.Settings{OperationDelay: time.Second})
	s := e.active("seats", 2)
	csp := e.active("flat", 0, func(in *market.PurchaseInput) { in.SandboxType = "Csp" })
	sub := "/api/saas/subscriptions/" + s.ID
	if r := e.call("DELETE", "/api/saas/subscriptions/"+csp.ID, ""); r.status != 400 {
		t.Fatalf("delete not allowed: %d", r.status)
	}
	if r := e.call("DELETE", "/api/saas/subscriptions/99999999-9999-4999-8999-999999999999", ""); r.status != 404 {
		t.Fatalf("unknown: %d", r.status)
	}
	r := e.call("DELETE", sub, "")
	if r.status != 202 || r.header.Get("Operation-Location") == "" {
		t.Fatalf("delete: %d %v", r.status, r.header)
	}
	if r := e.call("DELETE", sub, ""); r.status != 400 {
		t.Fatalf("delete while in progress: %d", r.status)
	}
	e.advance(time.Second)
	var got market.SubscriptionWire
	e.call("GET", sub, "").json(t, &got)
	if got.SaasSubscriptionStatus != "Unsubscribed" || got.Quantity == nil {
		t.Fatalf("after delete: %+v", got)
	}
	if r := e.call("DELETE", sub, ""); r.status != 400 {
		t.Fatalf("delete twice: %d", r.status)
	}
	// Live quirk: an Unsubscribed per-user subscription loses its quantity.
	if _, err := e.m.SetSettings(market.Settings{PageSize: 2, LiveQuirks: true}); err != nil {
		t.Fatal(err)
	}
	got = market.SubscriptionWire{}
	e.call("GET", sub, "").json(t, &got)
	if got.Quantity != nil {
		t.Fatalf("quirk: quantity %d", *got.Quantity)
	}
}

func TestAckOperation(t *testing.T) {
	e := newEnv(t, market.Settings{})
	ctx := context.Background()
	s := e.active("flat", 0)
	base := "/api/saas/subscriptions/" + s.ID + "/operations/"
	op, err := e.m.BuyerChange(ctx, s.ID, market.ChangeInput{PlanID: "flat-big"})
	if err != nil {
		t.Fatal(err)
	}
	partner := e.active("flat", 0)
	pop, err := e.m.UpdateSubscription(ctx, "contoso", partner.ID, market.ChangeInput{PlanID: "flat-big"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, body string
		status           int
	}{
		{"bad status", base + op.ID, `{"status":"blah"}`, 400},
		{"malformed", base + op.ID, `{"status":`, 400},
		{"unknown operation", base + "99999999-9999-4999-8999-999999999999", `{"status":"Success"}`, 404},
		{"unknown subscription", "/api/saas/subscriptions/99999999-9999-4999-8999-999999999999/operations/" + op.ID, `{"status":"Success"}`, 404},
		{"the seller's own operation", "/api/saas/subscriptions/" + partner.ID + "/operations/" + pop.ID, `{"status":"Success"}`, 400},
		{"success", base + op.ID, `{"status":"Success"}`, 200},
		{"again: no longer in progress", base + op.ID, `{"status":"Success"}`, 409},
	}
	for _, c := range cases {
		if r := e.call("PATCH", c.path, c.body); r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	var got market.SubscriptionWire
	e.call("GET", "/api/saas/subscriptions/"+s.ID, "").json(t, &got)
	if got.PlanID != "flat-big" {
		t.Fatalf("plan after Success: %s", got.PlanID)
	}
	renew, err := e.m.Renew(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.call("PATCH", base+renew.ID, `{"status":"Success"}`); r.status != 409 {
		t.Fatalf("ACK of a Renew (Succeeded already): %d", r.status)
	}
	if r := e.call("GET", base+"99999999-9999-4999-8999-999999999999", ""); r.status != 404 {
		t.Fatalf("get unknown operation: %d", r.status)
	}
}

func TestLiveQuirks(t *testing.T) {
	e := newEnv(t, market.Settings{LiveQuirks: true})
	ctx := context.Background()
	s := e.active("flat", 0)
	partner := e.active("flat", 0)
	pop, _ := e.m.UpdateSubscription(ctx, "contoso", partner.ID, market.ChangeInput{PlanID: "flat-big"})
	op, _ := e.m.BuyerChange(ctx, s.ID, market.ChangeInput{PlanID: "flat-big"})
	unknown := "/api/saas/subscriptions/99999999-9999-4999-8999-999999999999"
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"outstanding of an unknown subscription", "GET", unknown + "/operations", "", 200},
		{"get unknown operation", "GET", "/api/saas/subscriptions/" + s.ID + "/operations/99999999-9999-4999-8999-999999999999", "", 400},
		{"patch operation of an unknown subscription", "PATCH", unknown + "/operations/" + op.ID, `{"status":"Success"}`, 400},
		{"patch a Partner operation", "PATCH", "/api/saas/subscriptions/" + partner.ID + "/operations/" + pop.ID, `{"status":"Success"}`, 500},
		{"patch with status blah", "PATCH", "/api/saas/subscriptions/" + s.ID + "/operations/" + op.ID, `{"status":"blah"}`, 200},
	}
	for _, c := range cases {
		if r := e.call(c.method, c.path, c.body); r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	if got, _ := e.m.GetOperation("contoso", s.ID, op.ID); got.Status != market.OpInProgress {
		t.Fatalf("status blah changed the operation: %s", got.Status)
	}
}

func TestThrottleAndFaults(t *testing.T) {
	e := newEnv(t, market.Settings{ThrottleRate: 0.001, ThrottleBurst: 2})
	s := e.active("flat", 0)
	path := "/api/saas/subscriptions/" + s.ID
	for i := range 2 {
		if r := e.call("GET", path, ""); r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	r := e.call("GET", path, "")
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.header.Get("Retry-After") == "0" {
		t.Fatalf("throttled: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if _, err := e.m.SetSettings(market.Settings{PageSize: 2}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, in := range []market.FaultInput{
		{Kind: market.FaultInternalError, Scope: "getSubscription", Count: 2},
		{Kind: market.FaultThrottle, Scope: market.ScopeFulfillment, Count: 1, RetryAfter: 7},
		{Kind: market.FaultDelay, Scope: "getSubscription", Count: 1, DelayMillis: 1},
		{Kind: market.FaultInternalError, Scope: market.ScopeMetering}, // another API: never seen here
	} {
		if _, err := e.m.AddFault(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	want := []int{429, 500, 500, 200}
	for i, w := range want {
		r := e.call("GET", path, "")
		if r.status != w {
			t.Fatalf("call %d: %d, want %d", i, r.status, w)
		}
		if w == 429 && r.header.Get("Retry-After") != "7" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	// A dropped answer: the change is made, the client sees a broken connection.
	if _, err := e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultDropResponse, Scope: "updateSubscription", Count: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PATCH", e.srv.URL+path+"?api-version="+APIVersion, strings.NewReader(`{"planId":"flat-big"}`))
	req.Header.Set("Authorization", "Bearer "+tokContoso)
	if resp, err := e.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped answer arrived: %d", resp.StatusCode)
	}
	if ops := e.m.Operations(s.ID); len(ops) != 1 || ops[0].Action != market.ActionChangePlan {
		t.Fatalf("the dropped call did not commit: %+v", ops)
	}
	if r := e.call("PATCH", path, `{"planId":"flat-big"}`); r.status != 400 {
		t.Fatalf("retry after the drop meets the lock: %d", r.status)
	}
}
