package emulator_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// A post to cancel that does not come from the confirmation page's button
// (an old form, a script) leads to that page and cancels nothing; the
// button's post cancels (#11).
func TestBuyerPages_CancelOnlyOnceConfirmed(t *testing.T) {
	e := newEnv(t)
	demo := must(e.emu.SeedDemo(context.Background(), market.DemoInput{FulfillmentURL: "http://127.0.0.1:1/fulfillment"}))
	res := must(e.m.Subscribe(context.Background(), market.SubscribeInput{AccountID: demo.Buyer.ID, ProductCode: demo.PAYG.Code}))
	cancelURL := e.url + "/buyer/agreements/" + res.Agreement.ID + "/cancel"
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, body string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(method, cancelURL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "emulator_account", Value: demo.Buyer.ID})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Location"), string(page)
	}
	status := func() string { return must(e.m.Agreement(res.Agreement.ID)).Status }

	for _, body := range []string{"", "confirm=yes"} {
		if code, to, _ := send(http.MethodPost, body); code != http.StatusSeeOther || to != "/buyer/agreements/"+res.Agreement.ID+"/cancel" {
			t.Errorf("POST %q = %d → %q, want 303 to the confirmation page", body, code, to)
		}
		if got := status(); got != market.StatusActive {
			t.Fatalf("POST %q cancelled the subscription (%s) without confirmation", body, got)
		}
	}
	if code, _, page := send(http.MethodGet, ""); code != http.StatusOK || !strings.Contains(page, "Yes, cancel subscription") ||
		!strings.Contains(page, "Keep subscription") || !strings.Contains(page, demo.PAYG.Title) {
		t.Fatalf("the confirmation page = %d:\n%s", code, page)
	}
	if code, to, _ := send(http.MethodPost, "confirm=cancel"); code != http.StatusSeeOther || !strings.HasPrefix(to, "/buyer/subscriptions?notice=") {
		t.Fatalf("confirmed cancel = %d → %q, want 303 to the subscriptions", code, to)
	}
	if got := status(); got != market.StatusUnsubscribePending {
		t.Fatalf("after confirming the subscription is %s, want %s", got, market.StatusUnsubscribePending)
	}
	if code, _, _ := send(http.MethodGet, ""); code != http.StatusConflict {
		t.Errorf("the confirmation page of a cancelled subscription = %d, want 409", code)
	}
}
