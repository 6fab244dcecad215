package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// received is one HTTP POST an endpoint got.
type received struct {
	header http.Header
	body   string
}

// endpoint is a seller's HTTP endpoint that fails its first failFirst posts.
type endpoint struct {
	srv       *httptest.Server
	mu        sync.Mutex
	failFirst int
	got       []received
	attempts  int
}

func newEndpoint(t *testing.T, failFirst int) *endpoint {
	ep := &endpoint{failFirst: failFirst}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ep.mu.Lock()
		defer ep.mu.Unlock()
		ep.attempts++
		if ep.attempts <= ep.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		ep.got = append(ep.got, received{r.Header.Clone(), string(b)})
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

// waitFor polls until n messages arrived; the deadline only stops a broken
// test from hanging, it asserts nothing about speed.
func (ep *endpoint) waitFor(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ep.mu.Lock()
		got := append([]received(nil), ep.got...)
		ep.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint got %d messages, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func message(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(env["Message"]), &m); err != nil {
		t.Fatalf("Message %q: %v", env["Message"], err)
	}
	return m
}

func TestSNS_ConfirmSignAndNotifyLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	ep := newEndpoint(t, 0)

	sub := must(e.m.SubscribeSNS(ctx, market.SNSSubscribeInput{ProductCode: c.legacy.Code, Topic: market.TopicSubscription, Endpoint: ep.srv.URL}))
	conf := e.stock.verify(t, ep.waitFor(t, 1)[0].body)
	if conf["Type"] != "SubscriptionConfirmation" || conf["TopicArn"] != sub.TopicArn || conf["Token"] == "" {
		t.Fatalf("confirmation = %v", conf)
	}
	resp, err := e.stock.client.Get(conf["SubscribeURL"])
	if err != nil {
		t.Fatal(err)
	}
	xmlBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(xmlBody), "<SubscriptionArn>"+sub.ARN+"</SubscriptionArn>") {
		t.Fatalf("confirm: %d %s", resp.StatusCode, xmlBody)
	}

	a := e.subscribe(c.buyer.ID, c.legacy.Code, nil)
	got := ep.waitFor(t, 2)
	n := e.stock.verify(t, got[1].body)
	if got[1].header.Get("x-amz-sns-message-type") != "Notification" || got[1].header.Get("x-amz-sns-subscription-arn") != sub.ARN ||
		got[1].header.Get("x-amz-sns-message-id") != n["MessageId"] || n["UnsubscribeURL"] == "" {
		t.Fatalf("headers %v, envelope %v", got[1].header, n)
	}
	want := map[string]string{"action": "subscribe-success", "customer-identifier": a.CustomerIdentifier, "customer-aws-account-id": c.buyer.ID,
		"product-code": c.legacy.Code, "isFreeTrialTermPresent": "false", "licenseArn": a.LicenseArn}
	if m := message(t, n); fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("message = %v, want %v", m, want)
	}

	must(e.m.Cancel(ctx, a.ID))
	if m := message(t, e.stock.verify(t, ep.waitFor(t, 3)[2].body)); m["action"] != "unsubscribe-pending" {
		t.Fatalf("after cancel: %v", m)
	}
	must(e.m.AdvanceClock(ctx, time.Hour))
	if m := message(t, e.stock.verify(t, ep.waitFor(t, 4)[3].body)); m["action"] != "unsubscribe-success" {
		t.Fatalf("after the window: %v", m)
	}
}

func TestSNS_SignatureVersion2EntitlementTopicAndPrivateOffer(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	ep := newEndpoint(t, 0)
	for _, topic := range []string{market.TopicSubscription, market.TopicEntitlement} {
		must(e.m.SubscribeSNS(ctx, market.SNSSubscribeInput{ProductCode: c.contract.Code, Topic: topic, Endpoint: ep.srv.URL, SignatureVersion: "2", Confirmed: true}))
	}
	offer := must(e.m.CreateOffer(ctx, market.OfferInput{ProductCode: c.contract.Code, BuyerAccountIDs: []string{c.buyer.ID},
		Terms: []market.OfferTerm{{Dimension: "committed", Quantity: 100, PriceMicros: 900_000}}}))
	must(e.m.AcceptOffer(ctx, c.buyer.ID, offer.ID, "PO-1"))
	got := ep.waitFor(t, 2)
	actions := map[string]map[string]string{}
	for _, r := range got {
		env := e.stock.verify(t, r.body)
		if env["SignatureVersion"] != "2" {
			t.Fatalf("SignatureVersion = %s", env["SignatureVersion"])
		}
		m := message(t, env)
		actions[m["action"]] = m
	}
	if actions["subscribe-success"]["offer-identifier"] != offer.ID || actions["entitlement-updated"]["product-code"] != c.contract.Code {
		t.Fatalf("messages = %v", actions)
	}
}

func TestNotifications_RetriedUntilDelivered(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ep := newEndpoint(t, 2)
	must(e.m.SubscribeSNS(context.Background(), market.SNSSubscribeInput{ProductCode: c.payg.Code, Topic: market.TopicSubscription, Endpoint: ep.srv.URL, Confirmed: true}))
	e.subscribe(c.buyer.ID, c.payg.Code, nil)
	e.stock.verify(t, ep.waitFor(t, 1)[0].body)
	d := e.m.Deliveries(market.ChannelSNS, market.DeliveryDelivered)
	if len(d) != 1 || d[0].Attempts != 3 {
		t.Fatalf("deliveries = %+v, want one delivered at the third attempt", d)
	}
}

func TestEventBridge_EventsWithAPIKey(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	ep := newEndpoint(t, 0)
	must(e.m.SetEventBridgeTarget(ctx, market.EventBridgeTarget{Endpoint: ep.srv.URL, HeaderName: "x-marketbridge-key", APIKey: "s3cret"}))
	a := e.subscribe(c.buyer.ID, c.contract.Code, map[string]int64{"committed": 2})
	must(e.m.Upgrade(ctx, a.ID, map[string]int64{"committed": 3}))
	must(e.m.Cancel(ctx, a.ID))
	must(e.m.AdvanceClock(ctx, time.Hour))
	// #13: the seller of its own offers is also their proposer, so each
	// agreement event comes twice, Manufacturer then Proposer, with their
	// own ids; License events go to the Manufacturer only.
	wantTypes := []string{"Purchase Agreement Created - Manufacturer", "Purchase Agreement Created - Proposer", "License Updated - Manufacturer",
		"Purchase Agreement Amended - Manufacturer", "Purchase Agreement Amended - Proposer", "License Updated - Manufacturer",
		"Purchase Agreement Ended - Manufacturer", "Purchase Agreement Ended - Proposer", "License Deprovisioned - Manufacturer"}
	got := ep.waitFor(t, len(wantTypes))
	ids := map[string]bool{}
	var previous map[string]any
	for i, r := range got {
		var ev struct {
			ID         string         `json:"id"`
			DetailType string         `json:"detail-type"`
			Source     string         `json:"source"`
			Account    string         `json:"account"`
			Detail     map[string]any `json:"detail"`
		}
		if err := json.Unmarshal([]byte(r.body), &ev); err != nil {
			t.Fatal(err)
		}
		if r.header.Get("x-marketbridge-key") != "s3cret" || ev.DetailType != wantTypes[i] || ev.Source != "aws.agreement-marketplace" || ev.Account != c.contract.SellerAccountID {
			t.Fatalf("event %d: header key %q, %+v", i, r.header.Get("x-marketbridge-key"), ev)
		}
		if ids[ev.ID] {
			t.Fatalf("event %d (%s) repeats event id %s", i, ev.DetailType, ev.ID)
		}
		ids[ev.ID] = true
		if strings.HasPrefix(ev.DetailType, "License") && ev.Detail["license"].(map[string]any)["arn"] != a.LicenseArn {
			t.Fatalf("license event detail = %v", ev.Detail)
		}
		if strings.HasSuffix(ev.DetailType, " - Proposer") {
			agreement := ev.Detail["agreement"].(map[string]any)
			if agreement["id"] != a.ID || !reflect.DeepEqual(ev.Detail, previous) {
				t.Fatalf("Proposer copy %v differs from the Manufacturer's %v", ev.Detail, previous)
			}
		}
		previous = ev.Detail
	}
}

func TestNotificationFaults_DropAndDuplicate(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	ep := newEndpoint(t, 0)
	must(e.m.SubscribeSNS(ctx, market.SNSSubscribeInput{ProductCode: c.payg.Code, Topic: market.TopicSubscription, Endpoint: ep.srv.URL, Confirmed: true}))
	must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultDropNotification, Count: 1}))
	a := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultDuplicateNotification, Count: 1}))
	must(e.m.Cancel(ctx, a.ID))
	got := ep.waitFor(t, 2)
	first, second := e.stock.verify(t, got[0].body), e.stock.verify(t, got[1].body)
	if message(t, first)["action"] != "unsubscribe-pending" || first["MessageId"] != second["MessageId"] {
		t.Fatalf("want the dropped subscribe-success missing and unsubscribe-pending twice with one MessageId: %v / %v", first, second)
	}
}
