package web_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
)

// lifecycleState is everything a lifecycle notification can change: the
// notifications kept, mail, the audit log, billing links, subscriptions
// and their entitlements.
type lifecycleState struct {
	notifications, mails, audits, liveLinks, entitlements int
	subscriptions                                         string
}

func (a *app) lifecycleState() lifecycleState {
	a.t.Helper()
	var s lifecycleState
	for q, dst := range map[string]*int{
		`SELECT COUNT(*) FROM notifications`:                        &s.notifications,
		`SELECT COUNT(*) FROM mail_outbox`:                          &s.mails,
		`SELECT COUNT(*) FROM audit_log`:                            &s.audits,
		`SELECT COUNT(*) FROM billing_links WHERE ended_at IS NULL`: &s.liveLinks,
		`SELECT COUNT(*) FROM entitlements`:                         &s.entitlements,
	} {
		if err := a.db.Read().QueryRow(q).Scan(dst); err != nil {
			a.t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := a.db.Read().Query(`SELECT id, status, status_at, final_metering_by, cancelled_at, offer_id FROM subscriptions ORDER BY id`)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int64
		var status, offer string
		var statusAt, finalBy, cancelledAt sql.NullTime
		if err := rows.Scan(&id, &status, &statusAt, &finalBy, &cancelledAt, &offer); err != nil {
			a.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %v %v %v %s\n", id, status, statusAt, finalBy, cancelledAt, offer)
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	s.subscriptions = b.String()
	return s
}

// victim is a PAYG buyer whose subscription bills an organization, with
// its subscribe-success applied: the target of a forged cancellation.
type victim struct {
	account, agreement, license string
	billing                     string
	b                           *browser
}

func (a *app) victim(email string) victim {
	a.t.Helper()
	var v victim
	v.account, v.agreement = a.subscribe(market.DemoPAYGCode)
	v.b, v.billing = a.linkNewOrg(email, v.agreement, "Victim")
	a.eventually("subscribe-success applied", func() bool {
		var n int
		if err := a.db.Read().QueryRow(`SELECT COUNT(*) FROM notifications WHERE action = 'subscribe-success' AND status = 'applied'
			AND customer_aws_account_id = $1`, v.account).Scan(&n); err != nil {
			a.t.Fatal(err)
		}
		return n == 1
	})
	if err := a.db.Read().QueryRow(`SELECT license_arn FROM subscriptions WHERE customer_aws_account_id = $1`, v.account).Scan(&v.license); err != nil {
		a.t.Fatal(err)
	}
	return v
}

// Anyone can make an SNS topic named like AWS Marketplace's in their own
// account, or in another region, and SNS signs its messages with the same
// key as AWS Marketplace's: the seller believes only topics of AWS
// Marketplace's account, in us-east-1, for a product of its catalog. The
// rest is refused with a 4xx, stores nothing, mails no one, changes no
// subscription, and a subscription to such a topic is never confirmed (#11).
func TestSNS_Issue11_TopicsOutsideAWSMarketplaceAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		v := a.victim("victim@example.com")
		code := market.DemoPAYGCode
		cancel := `{"action":"unsubscribe-success","customer-aws-account-id":"` + v.account + `","licenseArn":"` + v.license + `"}`
		before := a.lifecycleState()
		// Messages from a foreign topic, and messages of AWS Marketplace's
		// own topics (genuine) that AWS never sends.
		tests := []struct {
			name, topic, message string
			genuine              bool
		}{
			{"topic in another account", "arn:aws:sns:us-east-1:999988887777:aws-mp-subscription-notification-" + code, cancel, false},
			{"topic in another region", "arn:aws:sns:eu-west-1:287250355862:aws-mp-subscription-notification-" + code, cancel, false},
			{"topic in another partition", "arn:aws-cn:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + code, cancel, false},
			{"not an SNS topic", "arn:aws:sqs:us-east-1:287250355862:aws-mp-subscription-notification-" + code, cancel, false},
			{"account hidden in the topic name", "arn:aws:sns:us-east-1:999988887777:x:287250355862:aws-mp-subscription-notification-" + code, cancel, false},
			{"topic of a product not in the catalog", "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-prod-elsewhere", cancel, false},
			{"topic without a product code", "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-", cancel, false},
			{"topic of AWS Marketplace's account named as a product", "arn:aws:sns:us-east-1:287250355862:" + code, cancel, false},
			{"subscription action on the entitlement topic", "arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-" + code, cancel, true},
			{"entitlement action on the subscription topic", paygTopic,
				`{"action":"entitlement-updated","customer-aws-account-id":"` + v.account + `"}`, true},
			{"message naming another product than its topic", paygTopic,
				`{"action":"unsubscribe-success","customer-aws-account-id":"` + v.account + `","product-code":"` + market.DemoContractCode + `"}`, true},
			{"message naming no customer", paygTopic, `{"action":"unsubscribe-success"}`, true},
			{"message naming a customer twice, differently", paygTopic,
				`{"action":"unsubscribe-success","customer-identifier":"A","CustomerIdentifier":"B"}`, true},
			{"customer account that is not an account id", paygTopic,
				`{"action":"unsubscribe-success","customer-aws-account-id":"%"}`, true},
			{"license that names no license", paygTopic,
				`{"action":"unsubscribe-success","customer-aws-account-id":"` + v.account + `","licenseArn":"arn:aws:license-manager::` + v.account + `:license/"}`, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := a.postSNS(encode(a.sns.notification(t, fmt.Sprintf("forged-%d", i), tt.topic, tt.message, time.Now()))); got < 400 || got > 499 {
					t.Errorf("notification: status %d, want 4xx", got)
				}
				if tt.genuine {
					return // AWS Marketplace's topic: confirming it is right
				}
				if got := a.postSNS(encode(a.sns.confirmation(t, fmt.Sprintf("confirm-%d", i), tt.topic, time.Now()))); got < 400 || got > 499 {
					t.Errorf("subscription confirmation: status %d, want 4xx", got)
				}
			})
		}
		// A confirmation of AWS Marketplace's topic whose SubscribeURL
		// confirms another topic is not followed either.
		other := a.sns.confirmation(t, "confirm-other", paygTopic, time.Now())
		other["SubscribeURL"] = strings.Replace(other["SubscribeURL"], url.QueryEscape(paygTopic),
			url.QueryEscape("arn:aws:sns:us-east-1:999988887777:aws-mp-subscription-notification-"+code), 1)
		a.sns.sign(t, other)
		if got := a.postSNS(encode(other)); got < 400 || got > 499 {
			t.Errorf("confirmation of another topic's SubscribeURL: status %d, want 4xx", got)
		}
		if n := a.sns.visits.Load(); n != 0 {
			t.Errorf("the SubscribeURL of a foreign topic was visited %d times", n)
		}
		if after := a.lifecycleState(); after != before {
			t.Errorf("refused messages changed state:\nbefore %+v\nafter  %+v", before, after)
		}
		if page := v.b.get(v.billing).body; strings.Contains(page, "was cancelled") || strings.Contains(page, "being cancelled") {
			t.Error("the billing page shows a cancellation nobody made")
		}
		// AWS Marketplace's own topic is still believed: its subscription
		// is confirmed, and its cancellation is applied.
		if got := a.postSNS(encode(a.sns.confirmation(t, "confirm-genuine", paygTopic, time.Now()))); got != http.StatusOK {
			t.Fatalf("genuine confirmation = %d", got)
		}
		if n := a.sns.visits.Load(); n != 1 {
			t.Fatalf("genuine confirmation visited the SubscribeURL %d times, want 1", n)
		}
		if got := a.postSNS(encode(a.sns.notification(t, "genuine", paygTopic, cancel, time.Now()))); got != http.StatusOK {
			t.Fatalf("genuine cancellation = %d", got)
		}
		a.eventually("the genuine cancellation applies", func() bool { return strings.Contains(v.b.get(v.billing).body, "was cancelled") })
	})
}

// ebEvent is an EventBridge event of AWS Marketplace as an API destination
// delivers it; fields left empty are left out.
type ebEvent struct {
	id, detailType, account, region   string
	resources                         []string
	agreement, status                 string
	product, license, acceptor, offer string
	at                                time.Time
}

func (e ebEvent) json() string {
	detail := map[string]any{"agreement": map[string]string{"id": e.agreement, "status": e.status}}
	if e.product != "" {
		detail["product"] = map[string]string{"code": e.product}
	}
	if e.license != "" {
		detail["license"] = map[string]string{"arn": e.license}
	}
	if e.acceptor != "" {
		detail["acceptor"] = map[string]string{"accountId": e.acceptor}
	}
	if e.offer != "" {
		detail["offer"] = map[string]string{"id": e.offer}
	}
	b, err := json.Marshal(map[string]any{"version": "0", "id": e.id, "detail-type": e.detailType, "source": "aws.agreement-marketplace",
		"account": e.account, "time": e.at.UTC().Format(time.RFC3339), "region": e.region, "resources": e.resources, "detail": detail})
	if err != nil {
		panic(err)
	}
	return string(b)
}

const agreementARN = "arn:aws:aws-marketplace::aws:agreement:"

// The EventBridge endpoint believes only AWS Marketplace's events as AWS
// sends them: from us-east-1, to the seller's account, about the agreement
// its resources name, for a product of the catalog. Anything else is
// refused with a 4xx and changes nothing (#11).
func TestEventBridge_Issue11_EventsOutsideAWSMarketplaceAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db, func(c *web.Config) { c.EventOrigins = awsmp.Origins{SellerAccounts: []string{"111122223333"}} })
		v := a.victim("victim@example.com")
		genuine := func(id string) ebEvent {
			return ebEvent{id: id, detailType: "License Deprovisioned - Manufacturer", account: "111122223333", region: "us-east-1",
				resources: []string{agreementARN + v.agreement}, agreement: v.agreement, product: market.DemoPAYGCode,
				// A minute on: EventBridge's whole seconds must not place it
				// before the subscribe-success it follows.
				license: v.license, acceptor: v.account, at: time.Now().Add(time.Minute)}
		}
		before := a.lifecycleState()
		tests := []struct {
			name   string
			change func(*ebEvent)
			mangle func(body string) string // of the JSON, when not nil
		}{
			// Text PostgreSQL cannot store would be answered 503, which
			// EventBridge retries for a day: refused instead.
			{name: "id with a NUL", change: func(e *ebEvent) { e.id += "\x00" }},
			{name: "invalid UTF-8", change: func(e *ebEvent) { e.offer = "offer-x" },
				mangle: func(body string) string { return strings.Replace(body, "offer-x", "offer-\xff", 1) }},
			{name: "another region", change: func(e *ebEvent) { e.region = "eu-west-1" }},
			{name: "no region", change: func(e *ebEvent) { e.region = "" }},
			{name: "account that is not an AWS account id", change: func(e *ebEvent) { e.account = "attacker" }},
			{name: "account that is not the seller's", change: func(e *ebEvent) { e.account = "999988887777" }},
			{name: "resources naming another agreement", change: func(e *ebEvent) { e.resources = []string{agreementARN + "agmt-someoneelse"} }},
			{name: "no resources", change: func(e *ebEvent) { e.resources = nil }},
			{name: "resource that is not an agreement of AWS Marketplace", change: func(e *ebEvent) {
				e.resources = []string{"arn:aws:aws-marketplace:us-east-1:999988887777:agreement:" + v.agreement}
			}},
			{name: "a second resource", change: func(e *ebEvent) { e.resources = append(e.resources, agreementARN+"agmt-someoneelse") }},
			{name: "license event without a product", change: func(e *ebEvent) { e.product = "" }},
			{name: "product not in the catalog", change: func(e *ebEvent) { e.product = "prod-elsewhere" }},
			{name: "license event without a buyer", change: func(e *ebEvent) { e.acceptor = "" }},
			{name: "buyer that is not an AWS account id", change: func(e *ebEvent) { e.acceptor = "%" }},
			{name: "license that names no license", change: func(e *ebEvent) { e.license = "arn:aws:license-manager::" + v.account + ":license/" }},
			{name: "license pattern", change: func(e *ebEvent) { e.license = "arn:aws:license-manager::" + v.account + ":license/l-%" }},
			{name: "agreement event without an agreement", change: func(e *ebEvent) {
				e.detailType, e.status, e.product, e.license, e.agreement = "Purchase Agreement Ended - Manufacturer", "CANCELLED", "", "", ""
				e.resources = []string{agreementARN}
			}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := genuine(fmt.Sprintf("forged-%d", i))
				tt.change(&e)
				body := e.json()
				if tt.mangle != nil {
					body = tt.mangle(body)
				}
				if got := a.postEvent("eb-secret", body); got < 400 || got > 499 {
					t.Errorf("status %d, want 4xx", got)
				}
			})
		}
		if after := a.lifecycleState(); after != before {
			t.Errorf("refused events changed state:\nbefore %+v\nafter  %+v", before, after)
		}
		if got := a.postEvent("eb-secret", genuine("genuine").json()); got != http.StatusOK {
			t.Fatalf("genuine event = %d", got)
		}
		a.eventually("the genuine deprovisioning applies", func() bool { return strings.Contains(v.b.get(v.billing).body, "was cancelled") })
	})
}

// A cancellation names its product and customer, and changes only the
// subscription of that product and customer: an agreement event (which
// names no product) for the buyer's other agreement, or a message naming
// one customer's license with another's account, changes nothing (#11).
func TestNotifications_Issue11_ActOnlyOnTheirProductAndCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		other := a.victim("other@example.com")
		v := a.victim("victim@example.com")
		// The victim's account also holds the contract product: an
		// agreement of its own, whose events must not touch the PAYG one.
		res, err := a.emu.Market().Subscribe(t.Context(), market.SubscribeInput{AccountID: v.account, ProductCode: market.DemoContractCode,
			Entitlements: map[string]int64{"committed_credits": 100}})
		if err != nil {
			t.Fatal(err)
		}
		before := a.lifecycleState()
		base := ebEvent{account: "111122223333", region: "us-east-1", at: time.Now().Add(time.Minute)}
		events := []ebEvent{
			// The contract's cancellation, by its agreement: not the PAYG one.
			{detailType: "Purchase Agreement Ended - Manufacturer", status: "CANCELLED", agreement: res.Agreement.ID, acceptor: v.account},
			// The victim's license, with another buyer's account.
			{detailType: "License Deprovisioned - Manufacturer", agreement: v.agreement, product: market.DemoPAYGCode,
				license: v.license, acceptor: other.account},
			// The other buyer's license with the victim's account.
			{detailType: "License Deprovisioned - Manufacturer", agreement: other.agreement, product: market.DemoPAYGCode,
				license: other.license, acceptor: v.account},
			// The victim's license and account, for the contract product.
			{detailType: "License Deprovisioned - Manufacturer", agreement: v.agreement, product: market.DemoContractCode,
				license: v.license, acceptor: v.account},
		}
		for i, e := range events {
			e.id, e.account, e.region, e.at = fmt.Sprintf("mismatch-%d", i), base.account, base.region, base.at
			e.resources = []string{agreementARN + e.agreement}
			if got := a.postEvent("eb-secret", e.json()); got != http.StatusOK && (got < 400 || got > 499) {
				t.Errorf("event %d: status %d, want 200 (kept) or 4xx", i, got)
			}
		}
		// SNS: the victim's license with the other buyer's account.
		msg := `{"action":"unsubscribe-success","customer-aws-account-id":"` + other.account + `","licenseArn":"` + v.license + `"}`
		if got := a.postSNS(encode(a.sns.notification(t, "mismatch-sns", paygTopic, msg, time.Now()))); got != http.StatusOK && (got < 400 || got > 499) {
			t.Errorf("SNS: status %d, want 200 (kept) or 4xx", got)
		}
		if _, err := a.market.ApplyPending(t.Context(), 100); err != nil {
			t.Fatal(err)
		}
		after := a.lifecycleState()
		if after.subscriptions != before.subscriptions || after.mails != before.mails || after.audits != before.audits ||
			after.liveLinks != before.liveLinks || after.entitlements != before.entitlements {
			t.Errorf("notifications about another product or customer changed state:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}
