package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

func event(resource, dim, qty, at, plan string) string {
	return fmt.Sprintf(`{"resourceId":%q,"quantity":%s,"dimension":%q,"effectiveStartTime":%q,"planId":%q}`, resource, qty, dim, at, plan)
}

func TestUsageEvent(t *testing.T) {
	e := newEnv(t, market.Settings{})
	ctx := context.Background()
	s := e.active("flat", 0)
	pending, _ := e.buy("flat", 0)
	suspended := e.active("flat", 0)
	e.m.Suspend(ctx, suspended.ID) //nolint:errcheck // checked by the ResourceNotActive case
	fab, _, _ := e.m.Purchase(ctx, market.PurchaseInput{OfferID: "other", PlanID: "flat", Name: "f",
		Beneficiary: market.Identity{TenantID: buyerTenant, EmailID: "a@b.example"}})
	e.m.Activate(ctx, "fabrikam", fab.ID, "flat", nil) //nolint:errcheck // checked by the 403 case
	e.advance(24 * time.Hour)
	now := "2026-03-10T12:00:00Z"
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"accepted", event(s.ID, "emails", "5.5", now, "flat"), 200, ""},
		{"same hour: duplicate", event(s.ID, "emails", "1", "2026-03-10T12:29:59Z", "flat"), 409, "Conflict"},
		{"previous hour, no zone", event(s.ID, "emails", "1", "2026-03-10T11:03:28.14", "flat"), 200, ""},
		{"23 hours ago", event(s.ID, "emails", "1", "2026-03-09T13:30:00Z", "flat"), 200, ""},
		{"expired", event(s.ID, "emails", "1", "2026-03-09T12:29:00Z", "flat"), 400, "Expired"},
		{"future", event(s.ID, "emails", "1", "2026-03-10T13:00:00Z", "flat"), 400, "BadArgument"},
		{"zero", event(s.ID, "emails", "0", "2026-03-10T10:00:00Z", "flat"), 400, "InvalidQuantity"},
		{"negative", event(s.ID, "emails", "-2", "2026-03-10T10:00:00Z", "flat"), 400, "InvalidQuantity"},
		{"too fine", event(s.ID, "emails", "0.0000001", "2026-03-10T10:00:00Z", "flat"), 400, "BadArgument"},
		{"quantity as a string", event(s.ID, "emails", `"3"`, "2026-03-10T10:00:00Z", "flat"), 200, ""},
		{"unknown dimension", event(s.ID, "calls", "1", "2026-03-10T09:00:00Z", "flat"), 400, "InvalidDimension"},
		{"unlimited dimension", event(s.ID, "gb", "1", "2026-03-10T09:00:00Z", "flat"), 400, "InvalidDimension"},
		{"dimension case differs", event(s.ID, "Emails", "1", "2026-03-10T09:00:00Z", "flat"), 400, "InvalidDimension"},
		{"another plan", event(s.ID, "emails", "1", "2026-03-10T09:00:00Z", "flat-big"), 400, "BadArgument"},
		{"unknown resource", event("99999999-9999-4999-8999-999999999999", "emails", "1", now, "flat"), 400, "ResourceNotFound"},
		{"pending", event(pending.ID, "emails", "1", now, "flat"), 400, "ResourceNotActive"},
		{"suspended", event(suspended.ID, "emails", "1", now, "flat"), 400, "ResourceNotActive"},
		{"another publisher's", event(fab.ID, "emails", "1", now, "flat"), 403, "Forbidden"},
		{"no resource", `{"quantity":1,"dimension":"emails","effectiveStartTime":"2026-03-10T12:00:00Z","planId":"flat"}`, 400, "BadArgument"},
		{"resourceUri and resourceId", `{"resourceId":"` + s.ID + `","resourceUri":"/x","quantity":1,"dimension":"emails","effectiveStartTime":"2026-03-10T08:00:00Z","planId":"flat"}`, 400, "BadArgument"},
		{"bad time", event(s.ID, "emails", "1", "yesterday", "flat"), 400, "BadArgument"},
		{"number as the dimension", `{"resourceId":"` + s.ID + `","quantity":1,"dimension":7,"effectiveStartTime":"2026-03-10T08:00:00Z","planId":"flat"}`, 400, ""},
		{"malformed", `{"resourceId":`, 400, "BadArgument"},
	}
	for _, c := range cases {
		r := e.call("POST", "/api/usageEvent", c.body)
		if r.status != c.status || c.code != "" && r.code() != c.code {
			t.Errorf("%s: got %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
	// The 409 carries the original event.
	r := e.call("POST", "/api/usageEvent", event(s.ID, "emails", "9", now, "flat"))
	var dup usageError
	r.json(t, &dup)
	orig := dup.AdditionalInfo.AcceptedMessage
	if string(orig.Quantity) != "5.5" || orig.Status != "Duplicate" || orig.UsageEventID == "" || orig.EffectiveStartTime != now {
		t.Fatalf("acceptedMessage %s", r.body)
	}
	var acc usageEventWire
	e.call("POST", "/api/usageEvent", event(s.ID, "emails", "2", "2026-03-10T07:00:00Z", "flat")).json(t, &acc)
	if acc.Status != "Accepted" || acc.MessageTime != "2026-03-10T12:30:00Z" || string(acc.Quantity) != "2" {
		t.Fatalf("accepted %+v", acc)
	}
}

// TestUsageAfterCancel: usage for the time before a cancellation is
// accepted within the 24-hour window; after it, not (§5.3 rule 4, R18).
func TestUsageAfterCancel(t *testing.T) {
	e := newEnv(t, market.Settings{})
	s := e.active("flat", 0)
	e.advance(27 * time.Hour) // 15:30
	if _, err := e.m.Cancel(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Hour) // 17:30
	for _, c := range []struct {
		at     string
		status int
	}{
		{"2026-03-10T15:00:00Z", 200}, // the hour of the cancellation, started before it
		{"2026-03-10T13:00:00Z", 200},
		{"2026-03-10T16:00:00Z", 400}, // after it
	} {
		if r := e.call("POST", "/api/usageEvent", event(s.ID, "emails", "1", c.at, "flat")); r.status != c.status {
			t.Errorf("%s: %d %s", c.at, r.status, r.body)
		}
	}
}

// TestUsageAfterPlanChange: late usage names the plan of its hour.
func TestUsageAfterPlanChange(t *testing.T) {
	e := newEnv(t, market.Settings{OperationDelay: time.Second})
	s := e.active("flat", 0)
	e.advance(24 * time.Hour)
	if _, err := e.m.UpdateSubscription(context.Background(), "contoso", s.ID, market.ChangeInput{PlanID: "flat-big"}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	for _, c := range []struct{ at, plan string }{{"2026-03-10T12:00:00Z", "flat"}, {"2026-03-10T13:00:00Z", "flat-big"}} {
		if r := e.call("POST", "/api/usageEvent", event(s.ID, "emails", "1", c.at, c.plan)); r.status != 200 {
			t.Errorf("%s on %s: %d %s", c.at, c.plan, r.status, r.body)
		}
	}
}

func TestBatchUsageEvent(t *testing.T) {
	e := newEnv(t, market.Settings{})
	s := e.active("flat", 0)
	other := e.active("deal", 0)
	e.advance(24 * time.Hour)
	batch := func(items ...string) string { return `{"request":[` + strings.Join(items, ",") + `]}` }
	tooMany := make([]string, 26)
	for i := range tooMany {
		tooMany[i] = event(s.ID, "emails", "1", "2026-03-10T12:00:00Z", "flat")
	}
	for _, c := range []struct {
		name, body string
	}{{"empty", batch()}, {"26 events", batch(tooMany...)}, {"malformed", `{"request":`}, {"not a list", `{"request":{}}`}} {
		if r := e.call("POST", "/api/batchUsageEvent", c.body); r.status != 400 {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	r := e.call("POST", "/api/batchUsageEvent", batch(
		event(s.ID, "emails", "1", "2026-03-10T12:00:00Z", "flat"),
		event(s.ID, "emails", "2", "2026-03-10T12:05:00Z", "flat"), // same hour in the same batch
		event(other.ID, "emails", "3", "2026-03-10T12:00:00Z", "deal"),
		event(s.ID, "emails", "1", "2026-03-08T12:00:00Z", "flat"),
		event("99999999-9999-4999-8999-999999999999", "emails", "1", "2026-03-10T12:00:00Z", "flat"),
		event(s.ID, "emails", "0", "2026-03-10T11:00:00Z", "flat"),
		event(s.ID, "nope", "1", "2026-03-10T11:00:00Z", "flat"),
		`"not an object"`,
	))
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var out struct {
		Count  int
		Result []usageEventWire
	}
	r.json(t, &out)
	want := []string{"Accepted", "Duplicate", "Accepted", "Expired", "ResourceNotFound", "InvalidQuantity", "InvalidDimension", "BadArgument"}
	if out.Count != len(want) {
		t.Fatalf("count %d", out.Count)
	}
	for i, w := range want {
		if out.Result[i].Status != w {
			t.Errorf("item %d: %s, want %s (%s)", i, out.Result[i].Status, w, r.body)
		}
	}
	d := out.Result[1]
	if d.Error == nil || d.Error.Code != "Conflict" || string(d.Error.AdditionalInfo.AcceptedMessage.Quantity) != "1" ||
		d.Error.AdditionalInfo.AcceptedMessage.UsageEventID != out.Result[0].UsageEventID || string(d.Quantity) != "2" || d.MessageTime != unsetTime {
		t.Fatalf("duplicate item %+v", d)
	}
	if out.Result[3].Error == nil || out.Result[3].Error.Code != "Expired" {
		t.Fatalf("expired item %+v", out.Result[3])
	}
	if l := e.m.Ledger(market.LedgerFilter{}); len(l) != 2 {
		t.Fatalf("ledger has %d events, want 2", len(l))
	}
}

func TestUsageEvents(t *testing.T) {
	e := newEnv(t, market.Settings{})
	s := e.active("flat", 0)
	dry := e.active("flat", 0, func(in *market.PurchaseInput) { in.SessionMode = "DryRun" })
	e.advance(24 * time.Hour)
	for _, ev := range []string{
		event(s.ID, "emails", "1.25", "2026-03-10T10:00:00Z", "flat"),
		event(s.ID, "emails", "2", "2026-03-10T11:00:00Z", "flat"),
		event(s.ID, "emails", "4", "2026-03-09T23:00:00Z", "flat"),
		event(dry.ID, "emails", "7", "2026-03-10T11:00:00Z", "flat"),
	} {
		if r := e.call("POST", "/api/usageEvent", ev); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	get := func(query string) ([]dailyUsageWire, int) {
		r := e.call("GET", "/api/usageEvents?api-version="+APIVersion+query, "")
		var out []dailyUsageWire
		if r.status == 200 {
			r.json(t, &out)
		}
		return out, r.status
	}
	rows, _ := get("&usageStartDate=2026-03-10")
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].UsageResourceID != s.ID || string(rows[0].SubmittedQuantity) != "3.25" || rows[0].SubmittedCount != 2 ||
		rows[0].UsageDate != "2026-03-10T00:00:00Z" || rows[0].ReconStatus != "Accepted" || rows[0].OfferType != "SaaS" || rows[0].PlanName != "Flat" {
		t.Fatalf("row %+v", rows[0])
	}
	if rows[1].ReconStatus != "Accepted" {
		t.Fatalf("dry run row %+v", rows[1])
	}
	cases := []struct {
		query  string
		rows   int
		status int
	}{
		{"&usageStartDate=2026-03-09", 3, 200},
		{"&usageStartDate=2026-03-09&UsageEndDate=2026-03-09", 1, 200},
		{"&usageStartDate=2026-03-09T00:00&usageEndDate=2026-03-10T10:30", 2, 200},
		{"&usageStartDate=2026-03-09&reconStatus=DryRun", 0, 200},
		{"&usageStartDate=2026-03-09&dimension=nope", 0, 200},
		{"&usageStartDate=2026-03-09&azureSubscriptionId=99999999-9999-4999-8999-999999999999", 0, 200},
		{"", 0, 400},
		{"&usageStartDate=March", 0, 400},
		{"&usageStartDate=2026-03-10&UsageEndDate=2026-03-01", 0, 400},
		{"&usageStartDate=2026-03-10&reconStatus=Maybe", 0, 400},
	}
	for _, c := range cases {
		rows, status := get(c.query)
		if status != c.status || len(rows) != c.rows {
			t.Errorf("%q: %d with %d rows, want %d with %d", c.query, status, len(rows), c.status, c.rows)
		}
	}
}

// TestDroppedUsageAnswer: the answer to an accepted batch is lost; the
// seller's retry gets a Duplicate carrying the original, and the ledger
// holds the event once.
func TestDroppedUsageAnswer(t *testing.T) {
	e := newEnv(t, market.Settings{})
	s := e.active("flat", 0)
	e.advance(time.Hour)
	if _, err := e.m.AddFault(context.Background(), market.FaultInput{Kind: market.FaultDropResponse, Scope: market.ScopeMetering, Count: 1}); err != nil {
		t.Fatal(err)
	}
	body := `{"request":[` + event(s.ID, "emails", "3", "2026-03-09T13:00:00Z", "flat") + `]}`
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/batchUsageEvent?api-version="+APIVersion, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokContoso)
	if resp, err := e.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped answer arrived: %d", resp.StatusCode)
	}
	r := e.call("POST", "/api/batchUsageEvent", body)
	var out struct{ Result []usageEventWire }
	r.json(t, &out)
	if len(out.Result) != 1 || out.Result[0].Status != "Duplicate" || string(out.Result[0].Error.AdditionalInfo.AcceptedMessage.Quantity) != "3" {
		t.Fatalf("retry: %s", r.body)
	}
	if l := e.m.Ledger(market.LedgerFilter{}); len(l) != 1 {
		t.Fatalf("ledger %+v", l)
	}
}

// TestEveryOperationStatuses: every operation refuses a bad token, answers 404 for an unknown
// subscription where the contract says so, and 500 for an injected fault.
func TestEveryOperationStatuses(t *testing.T) {
	e := newEnv(t, market.Settings{})
	unknown := "/api/saas/subscriptions/99999999-9999-4999-8999-999999999999"
	ops := []struct{ method, path, body string }{
		{"POST", "/api/saas/subscriptions/resolve", ``},
		{"GET", "/api/saas/subscriptions", ``},
		{"GET", unknown, ``},
		{"PATCH", unknown, `{"planId":"flat"}`},
		{"DELETE", unknown, ``},
		{"POST", unknown + "/activate", `{"planId":"flat"}`},
		{"GET", unknown + "/listAvailablePlans", ``},
		{"GET", unknown + "/operations", ``},
		{"GET", unknown + "/operations/99999999-9999-4999-8999-999999999999", ``},
		{"PATCH", unknown + "/operations/99999999-9999-4999-8999-999999999999", `{"status":"Success"}`},
		{"POST", "/api/usageEvent", `{}`},
		{"POST", "/api/batchUsageEvent", `{"request":[{}]}`},
		{"GET", "/api/usageEvents?api-version=" + APIVersion + "&usageStartDate=2026-03-01", ``},
	}
	for _, op := range ops {
		if r := e.call(op.method, op.path, op.body, "Authorization", "Bearer expired"); r.status != 403 {
			t.Errorf("%s %s with a bad token: %d", op.method, op.path, r.status)
		}
		if strings.HasPrefix(op.path, unknown) {
			if r := e.call(op.method, op.path, op.body); r.status != 404 {
				t.Errorf("%s %s of an unknown subscription: %d %s", op.method, op.path, r.status, r.body)
			}
		}
	}
	if _, err := e.m.AddFault(context.Background(), market.FaultInput{Kind: market.FaultInternalError}); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if r := e.call(op.method, op.path, op.body); r.status != 500 {
			t.Errorf("%s %s with a fault: %d", op.method, op.path, r.status)
		}
	}
}
