package marketplace_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// For the seller's own offers AWS sends each agreement change twice, as
// "... - Manufacturer" and "... - Proposer", with different event ids and
// not always the same time. The change is applied once whichever copy
// arrives first, or both: one mail, one audit entry, one webhook event, and
// the final-metering deadline of the first copy (#13).
func TestNotifications_Issue13_ManufacturerAndProposerCopiesApplyOnce(t *testing.T) {
	orders := []struct {
		name   string
		copies []int // indexes into the two copies of the cancellation
	}{
		{"manufacturer first", []int{0, 1}},
		{"proposer first", []int{1, 0}},
		{"manufacturer only", []int{0}},
		{"both, then the manufacturer's again", []int{0, 1, 0}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		t0 := w.Now()
		for i, tc := range orders {
			t.Run(tc.name, func(t *testing.T) {
				p, orgID := w.linkedPAYG(fmt.Sprintf("copies%d@example.com", i))
				agreement := fmt.Sprintf("agmt-copies%d", i)
				c := p.Subscription.Customer
				license := marketplace.Notification{Source: "eventbridge", MessageID: fmt.Sprintf("copies-%d-license", i),
					Action: marketplace.ActionLicenseUpdated, ProductCode: p.Subscription.ProductCode, AgreementID: agreement,
					Customer: marketplace.Customer{AccountID: c.AccountID, LicenseArn: c.LicenseArn}, SentAt: t0, Payload: "{}"}
				ended := func(role string, at time.Time) marketplace.Notification {
					return marketplace.Notification{Source: "eventbridge", MessageID: fmt.Sprintf("copies-%d-ended-%s", i, role),
						Action: marketplace.ActionUnsubscribePending, AgreementID: agreement,
						Customer: marketplace.Customer{AccountID: c.AccountID}, SentAt: at, Payload: "{}"}
				}
				copies := []marketplace.Notification{ended("manufacturer", t0.Add(time.Minute)), ended("proposer", t0.Add(time.Minute+3*time.Second))}
				w.apply(license)
				first := copies[tc.copies[0]]
				for _, k := range tc.copies {
					w.apply(copies[k])
				}
				var finalBy time.Time
				if err := db.Read().QueryRow(`SELECT final_metering_by FROM subscriptions WHERE id = $1`, p.Subscription.ID).Scan(&finalBy); err != nil {
					t.Fatal(err)
				}
				if want := first.SentAt.Add(marketplace.FinalMeteringWindow); !finalBy.Equal(want) {
					t.Errorf("final metering by %s, want %s (the first copy's)", finalBy, want)
				}
				if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND action = 'billing.status'`, orgID); n != 1 {
					t.Errorf("%d billing.status audit entries, want 1", n)
				}
				if n := w.count(`SELECT COUNT(*) FROM mail_outbox WHERE subject LIKE '%is being cancelled%'`+
					` AND recipients LIKE $1`, fmt.Sprintf("%%copies%d@example.com%%", i)); n != 1 {
					t.Errorf("%d cancellation mails, want 1", n)
				}
				w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelling")
			})
		}
	})
}

// One AWS account may hold several agreements of one product (Concurrent
// Agreements). An SNS message names the product and the customer, never the
// license: when that leaves more than one live subscription, it acts on
// none and is failed with the reason, where it used to cancel the newest
// (#13). What the message does name (the offer), an ended subscription and
// the License events that name the license settle it.
func TestNotifications_Issue13_NoGuessAmongConcurrentAgreements(t *testing.T) {
	cases := []struct {
		name string
		// second is the status of the account's other subscription of the
		// product, offerSecond its offer.
		second      string
		note        func(first, second marketplace.Subscription) marketplace.Notification
		wantFirst   string
		wantSecond  string
		wantFailure bool
	}{
		{name: "SNS naming the product and account: neither", second: marketplace.StatusActive,
			note: func(first, _ marketplace.Subscription) marketplace.Notification {
				return marketplace.Notification{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: first.ProductCode,
					Customer: marketplace.Customer{AccountID: first.Customer.AccountID}}
			},
			wantFirst: marketplace.StatusActive, wantSecond: marketplace.StatusActive, wantFailure: true},
		{name: "SNS naming the first one's offer: the first", second: marketplace.StatusActive,
			note: func(first, _ marketplace.Subscription) marketplace.Notification {
				return marketplace.Notification{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: first.ProductCode, OfferID: "offer-first",
					Customer: marketplace.Customer{AccountID: first.Customer.AccountID}}
			},
			wantFirst: marketplace.StatusCancelled, wantSecond: marketplace.StatusActive},
		{name: "SNS while the other is cancelled: the live one", second: marketplace.StatusCancelled,
			note: func(first, _ marketplace.Subscription) marketplace.Notification {
				return marketplace.Notification{Action: marketplace.ActionUnsubscribePending, ProductCode: first.ProductCode,
					Customer: marketplace.Customer{AccountID: first.Customer.AccountID}}
			},
			wantFirst: marketplace.StatusUnsubscribePending, wantSecond: marketplace.StatusCancelled},
		{name: "License Deprovisioned naming the second license: the second", second: marketplace.StatusActive,
			note: func(first, second marketplace.Subscription) marketplace.Notification {
				return marketplace.Notification{Source: "eventbridge", Action: marketplace.ActionUnsubscribeSuccess, ProductCode: first.ProductCode,
					AgreementID: "agmt-second", Customer: marketplace.Customer{AccountID: first.Customer.AccountID, LicenseArn: second.Customer.LicenseArn}}
			},
			wantFirst: marketplace.StatusActive, wantSecond: marketplace.StatusCancelled},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		t0 := w.Now()
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p, _ := w.linkedPAYG(fmt.Sprintf("concurrent%d@example.com", i))
				first := p.Subscription
				second := first
				second.Customer.LicenseArn = fmt.Sprintf("arn:aws:license-manager::%s:license:l-%032d", first.Customer.AccountID, i)
				if _, err := db.Write().Exec(`UPDATE subscriptions SET offer_id = 'offer-first' WHERE id = $1`, first.ID); err != nil {
					t.Fatal(err)
				}
				if err := db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id,
						license_arn, agreement_key, offer_id, status, created_at, updated_at)
					SELECT marketplace, product_code, offer_type, customer_aws_account_id, $1, $1, 'offer-second', $2, created_at, updated_at
					FROM subscriptions WHERE id = $3 RETURNING id`, second.Customer.LicenseArn, tc.second, first.ID).Scan(&second.ID); err != nil {
					t.Fatal(err)
				}
				n := tc.note(first, second)
				if n.Source == "" {
					n.Source = "sns"
				}
				n.MessageID, n.SentAt, n.Payload = fmt.Sprintf("concurrent-%d", i), t0.Add(time.Minute), "{}"
				w.apply(n)
				status := func(id int64) string {
					var s string
					if err := db.Read().QueryRow(`SELECT status FROM subscriptions WHERE id = $1`, id).Scan(&s); err != nil {
						t.Fatal(err)
					}
					return s
				}
				if got1, got2 := status(first.ID), status(second.ID); got1 != tc.wantFirst || got2 != tc.wantSecond {
					t.Errorf("statuses (first, second) = (%s, %s), want (%s, %s)", got1, got2, tc.wantFirst, tc.wantSecond)
				}
				var noteStatus, lastError string
				if err := db.Read().QueryRow(`SELECT status, last_error FROM notifications WHERE message_id = $1`, n.MessageID).Scan(&noteStatus, &lastError); err != nil {
					t.Fatal(err)
				}
				if failed := noteStatus == "failed" && strings.Contains(lastError, "several subscriptions"); failed != tc.wantFailure {
					t.Errorf("notification %s (%q), want failed as ambiguous: %v", noteStatus, lastError, tc.wantFailure)
				}
			})
		}
	})
}
