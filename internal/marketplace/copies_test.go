package marketplace_test

import (
	"fmt"
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
					Customer: marketplace.Customer{AWSAccountID: c.AWSAccountID, LicenseArn: c.LicenseArn}, SentAt: t0, Payload: "{}"}
				ended := func(role string, at time.Time) marketplace.Notification {
					return marketplace.Notification{Source: "eventbridge", MessageID: fmt.Sprintf("copies-%d-ended-%s", i, role),
						Action: marketplace.ActionUnsubscribePending, AgreementID: agreement,
						Customer: marketplace.Customer{AWSAccountID: c.AWSAccountID}, SentAt: at, Payload: "{}"}
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
