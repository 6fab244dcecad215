package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// call sends one control API request and decodes the JSON answer.
func (e *env) call(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+"/emulator/v1"+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, out
}

func TestControlAPI_ScriptsTheBuyerJourneyAndReadsTheLedger(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		name, method, path string
		body               any
		status             int
		check              func(t *testing.T, out map[string]any)
	}{
		{name: "create a product", method: "POST", path: "/products", status: 201, body: map[string]any{
			"code": "api-product", "title": "API product", "pricing_model": "subscription", "fulfillment_url": "https://seller.example/f",
			"dimensions": []any{map[string]any{"key": "calls", "name": "Calls", "kind": "metered", "price_micros": 2500}}},
			check: func(t *testing.T, out map[string]any) {
				if out["subscription_topic_arn"] != "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-api-product" {
					t.Fatalf("topic = %v", out["subscription_topic_arn"])
				}
			}},
		{name: "an invalid product lists every field error", method: "POST", path: "/products", status: 400, body: map[string]any{"pricing_model": "lease"},
			check: func(t *testing.T, out map[string]any) {
				if out["error"].(map[string]any)["kind"] != "invalid" {
					t.Fatalf("error = %v", out)
				}
			}},
		{name: "create a buyer", method: "POST", path: "/accounts", status: 201, body: map[string]any{"id": "123456789012", "name": "Buyer"}},
		{name: "subscribe", method: "POST", path: "/agreements", status: 201, body: map[string]any{"account_id": "123456789012", "product_code": "api-product"}},
		{name: "subscribing again shows the existing subscription", method: "POST", path: "/agreements", status: 200,
			body: map[string]any{"account_id": "123456789012", "product_code": "api-product"},
			check: func(t *testing.T, out map[string]any) {
				if out["existing"] != true {
					t.Fatalf("out = %v", out)
				}
			}},
		{name: "inject a fault", method: "POST", path: "/faults", status: 201, body: map[string]any{"kind": "slow", "delay_ms": 1, "count": 1}},
		{name: "an unknown fault kind is refused", method: "POST", path: "/faults", status: 400, body: map[string]any{"kind": "meteor"}},
		{name: "clear faults", method: "DELETE", path: "/faults", status: 200},
		{name: "advance the clock", method: "POST", path: "/clock/advance", status: 200, body: map[string]any{"duration": "2h"},
			check: func(t *testing.T, out map[string]any) {
				if out["offset_seconds"].(float64) < 7200 {
					t.Fatalf("clock = %v", out)
				}
			}},
		{name: "the clock never goes back", method: "POST", path: "/clock/advance", status: 400, body: map[string]any{"seconds": -1}},
		{name: "unknown endpoints are JSON 404s", method: "GET", path: "/nope", status: 404},
		{name: "empty ledger", method: "GET", path: "/ledger/invoices?month=2026-01", status: 200},
		{name: "bad month", method: "GET", path: "/ledger/invoices?month=January", status: 400},
	}
	for _, s := range steps {
		status, out := e.call(s.method, s.path, s.body)
		if status != s.status {
			t.Fatalf("%s: %s %s = %d %v, want %d", s.name, s.method, s.path, status, out, s.status)
		}
		if s.check != nil {
			s.check(t, out)
		}
	}

	agreements := e.m.Agreements("123456789012", "api-product")
	status, tok := e.call("POST", "/agreements/"+agreements[0].ID+"/registration-token", nil)
	if status != 201 || tok["token"] == "" || tok["fulfillment_url"] != "https://seller.example/f" {
		t.Fatalf("registration token = %d %v", status, tok)
	}
	if status, out := e.call("POST", "/agreements/"+agreements[0].ID+"/cancel", nil); status != 200 || out["status"] != "unsubscribe-pending" {
		t.Fatalf("cancel = %d %v", status, out)
	}
	if status, out := e.call("POST", "/agreements/"+agreements[0].ID+"/cancel", nil); status != 409 {
		t.Fatalf("second cancel = %d %v, want 409", status, out)
	}
}
