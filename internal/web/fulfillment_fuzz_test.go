package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

const formType = "application/x-www-form-urlencoded"

// fulfillmentSeeds are set-ups as AWS's page posts them, and refusals. In a
// body, {payg} and {contract} stand for live registration tokens of the demo
// products; setUp says the seed must succeed.
var fulfillmentSeeds = []struct {
	contentType, body string
	setUp             bool
}{
	{formType, "x-amzn-marketplace-token={payg}", true},
	{formType, "x-amzn-marketplace-token={payg}&x-amzn-marketplace-offer-type=free-trial", true},
	{formType, "x-amzn-marketplace-token={contract}", true},
	{formType + "; charset=UTF-8", "x-amzn-marketplace-token={payg}&x-amzn-marketplace-token=second", true},
	{formType, "", false},
	{formType, "x-amzn-marketplace-token=garbage&x-amzn-marketplace-offer-type=free-trial", false},
	{formType, "x-amzn-marketplace-token=+%20%09", false},
	{formType, "x-amzn-marketplace-token=%zz;&=", false},
	{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"x-amzn-marketplace-token\"\r\n\r\n{payg}\r\n--x--\r\n", false},
	{"text/plain", "x-amzn-marketplace-token={payg}", false},
}

// fulfillmentFuzzer posts forms to the console's handler, on SQLite, with a
// real emulator behind it.
type fulfillmentFuzzer struct {
	a       *app
	tokens  *strings.Replacer
	handler http.Handler
	n       atomic.Int64
}

func newFulfillmentFuzzer(tb testing.TB) *fulfillmentFuzzer {
	tb.Helper()
	a := newApp(tb, storetest.Open(tb, "sqlite"))
	_, agreement := a.subscribe(market.DemoPAYGCode)
	return &fulfillmentFuzzer{a: a, handler: a.srv.Config.Handler,
		tokens: strings.NewReplacer("{payg}", a.setUpToken(agreement), "{contract}", a.setUpToken(a.acceptDemoOffer()))}
}

// post sends the form as a browser coming from AWS's page would.
func (z *fulfillmentFuzzer) post(contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/marketplace/aws/fulfillment", strings.NewReader(z.tokens.Replace(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://aws.amazon.com")
	// Each input from an address of its own: the per-address limit on
	// set-ups would otherwise answer 429 to nearly every input.
	i := z.n.Add(1)
	req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&0xff, i>>8&0xff, i&0xff)
	rec := httptest.NewRecorder()
	z.handler.ServeHTTP(rec, req)
	return rec
}

// FuzzFulfillment fuzzes the form AWS Marketplace posts the buyer's browser
// to, at the HTTP handler (#11, R4, R5). Properties: no panic, no 5xx; a
// set-up either succeeds (303 to the set-up page with a claim cookie and one
// new purchase) or is refused with a 4xx that sets no cookie and stores
// nothing.
//
// It runs on SQLite only: nothing from the form is stored but the
// free-trial flag, so the engines cannot differ on it, and SQLite is the
// faster one to fuzz.
func FuzzFulfillment(f *testing.F) {
	z := newFulfillmentFuzzer(f)
	for _, s := range fulfillmentSeeds {
		f.Add(s.contentType, s.body)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		before := rowCounts(t, z.a)
		rec := z.post(contentType, body)
		after := rowCounts(t, z.a)
		resp := rec.Result()
		claimed := false
		for _, c := range resp.Cookies() {
			claimed = claimed || c.Name == "mb_purchase" && c.Value != ""
		}
		switch {
		case rec.Code == http.StatusSeeOther:
			if loc := resp.Header.Get("Location"); loc != "/marketplace/aws/setup" || !claimed || after.purchases != before.purchases+1 {
				t.Fatalf("303 to %q, claim cookie %v, purchases %d → %d", loc, claimed, before.purchases, after.purchases)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if claimed || after != before {
				t.Fatalf("refused with %d but claim cookie %v, rows %+v → %+v", rec.Code, claimed, before, after)
			}
		default:
			t.Fatalf("status %d for Content-Type %q, body of %d bytes %.200q:\n%.2000s", rec.Code, contentType, len(body), body, rec.Body)
		}
	})
}

// TestFuzzFulfillment_SeedsReachBothOutcomes keeps the seeds meaningful:
// those with a live token set up, the others are refused, so the fuzzer
// mutates from both sides.
func TestFuzzFulfillment_SeedsReachBothOutcomes(t *testing.T) {
	z := newFulfillmentFuzzer(t)
	for _, s := range fulfillmentSeeds {
		rec := z.post(s.contentType, s.body)
		if got := rec.Code == http.StatusSeeOther; got != s.setUp {
			t.Errorf("%q %q: status %d, want a set-up: %v", s.contentType, s.body, rec.Code, s.setUp)
		}
	}
}

type fulfillmentRows struct{ purchases, subscriptions, entitlements int }

// rowCounts counts what a set-up stores.
func rowCounts(t *testing.T, a *app) fulfillmentRows {
	t.Helper()
	var r fulfillmentRows
	for _, c := range []struct {
		table string
		n     *int
	}{{"purchases", &r.purchases}, {"subscriptions", &r.subscriptions}, {"entitlements", &r.entitlements}} {
		if err := a.db.Read().QueryRow(`SELECT COUNT(*) FROM ` + c.table).Scan(c.n); err != nil {
			t.Fatalf("count %s: %v", c.table, err)
		}
	}
	return r
}
