package marketplace_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// buyers are the subscriptions a notification could be aimed at: buyer X
// holds the PAYG product and a contract, buyer Y the PAYG product.
type buyers struct {
	xPAYG, xContract, yPAYG                        marketplace.Purchase
	xPAYGAgreement, xContractAgreement, yAgreement string
}

func (w *world) buyers() buyers {
	w.t.Helper()
	var b buyers
	xAccount, xAgreement := w.buyer(market.DemoPAYGCode)
	_, b.yAgreement = w.buyer(market.DemoPAYGCode)
	res, err := w.emu.Market().Subscribe(context.Background(), market.SubscribeInput{AccountID: xAccount, ProductCode: market.DemoContractCode,
		Entitlements: map[string]int64{"committed_credits": 100}})
	if err != nil {
		w.t.Fatal(err)
	}
	b.xPAYGAgreement, b.xContractAgreement = xAgreement, res.Agreement.ID
	u := w.user(fmt.Sprintf("buyers-%s@example.com", xAccount))
	b.xPAYG, b.xContract, b.yPAYG = w.claimed(b.xPAYGAgreement, u), w.claimed(b.xContractAgreement, u), w.claimed(b.yAgreement, u)
	// The demo's products are current ones, which AWS gives no customer
	// identifier; these stand for a legacy product's, so that a
	// notification can name one.
	for _, p := range []*marketplace.Purchase{&b.xPAYG, &b.xContract, &b.yPAYG} {
		p.Subscription.Customer.Identifier = fmt.Sprintf("ID%d", p.Subscription.ID)
		if _, err := w.db.Write().Exec(`UPDATE subscriptions SET customer_identifier = $1 WHERE id = $2`,
			p.Subscription.Customer.Identifier, p.Subscription.ID); err != nil {
			w.t.Fatal(err)
		}
	}
	return b
}

// eventBridgeLicense is a license ARN as AWS's EventBridge examples write
// it: without the leading "arn:", with the region.
func eventBridgeLicense(c marketplace.Customer) string {
	return "aws:license-manager:us-east-1:" + c.AccountID + ":" + c.LicenseArn[strings.LastIndex(c.LicenseArn, "/")+1:]
}

// A notification acts only on the subscription of its own product and its
// own customer: every customer field it names must agree with the
// subscription's, the product must be the subscription's, an agreement
// event (which names no product) acts only on the subscription a License
// event of the same agreement matched, and entitlements are read for the
// subscription's customer as the seller recorded it, not for whomever the
// message names (#11).
func TestNotifications_Issue11_SelectOnlyTheirProductAndCustomer(t *testing.T) {
	type want struct{ xPAYG, xContract, yPAYG string }
	active := want{marketplace.StatusActive, marketplace.StatusActive, marketplace.StatusActive}
	cases := []struct {
		name  string
		notes func(b buyers) []marketplace.Notification
		want  want
		// entitlements is whether X's contract still has its committed
		// credits afterwards.
		entitlements bool
	}{
		{name: "X's account with Y's license", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := b.xPAYG.Subscription.Customer
				c.LicenseArn = b.yPAYG.Subscription.Customer.LicenseArn
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: market.DemoPAYGCode, Customer: c}}
			}},
		{name: "X's license with Y's account", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := b.xPAYG.Subscription.Customer
				c.AccountID = b.yPAYG.Subscription.Customer.AccountID
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: market.DemoPAYGCode, Customer: c}}
			}},
		{name: "X's account with Y's customer identifier", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := marketplace.Customer{AccountID: b.xPAYG.Subscription.Customer.AccountID, Identifier: b.yPAYG.Subscription.Customer.Identifier}
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: market.DemoPAYGCode, Customer: c}}
			}},
		{name: "a license with a wildcard", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := b.xPAYG.Subscription.Customer
				c.LicenseArn = "arn:aws:license-manager::" + c.AccountID + ":license/l-%"
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: market.DemoPAYGCode, Customer: c}}
			}},
		{name: "X's PAYG license for the contract product", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: market.DemoContractCode,
					Customer: b.xPAYG.Subscription.Customer}}
			}},
		{name: "a notification naming no product", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, Customer: b.xPAYG.Subscription.Customer}}
			}},
		{name: "X's account alone, for the PAYG product: X's PAYG subscription",
			want: want{marketplace.StatusCancelled, marketplace.StatusActive, marketplace.StatusActive}, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := marketplace.Customer{AccountID: b.xPAYG.Subscription.Customer.AccountID}
				return []marketplace.Notification{{Action: marketplace.ActionUnsubscribeSuccess, ProductCode: market.DemoPAYGCode, Customer: c}}
			}},
		{name: "the contract's cancellation by its agreement, before any License event of it", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				return []marketplace.Notification{{Source: "eventbridge", Action: marketplace.ActionUnsubscribePending, AgreementID: b.xContractAgreement,
					Customer: marketplace.Customer{AccountID: b.xContract.Subscription.Customer.AccountID}}}
			}},
		{name: "the contract's cancellation by its agreement, after a License event of it: the contract only",
			want: want{marketplace.StatusActive, marketplace.StatusUnsubscribePending, marketplace.StatusActive}, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := b.xContract.Subscription.Customer
				return []marketplace.Notification{
					{Source: "eventbridge", Action: marketplace.ActionLicenseUpdated, ProductCode: market.DemoContractCode,
						AgreementID: b.xContractAgreement, Customer: marketplace.Customer{AccountID: c.AccountID, LicenseArn: eventBridgeLicense(c)}},
					{Source: "eventbridge", Action: marketplace.ActionUnsubscribePending, AgreementID: b.xContractAgreement,
						Customer: marketplace.Customer{AccountID: c.AccountID}},
				}
			}},
		{name: "an agreement event of X's agreement naming Y as its buyer", want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := b.xPAYG.Subscription.Customer
				return []marketplace.Notification{
					{Source: "eventbridge", Action: marketplace.ActionLicenseUpdated, ProductCode: market.DemoPAYGCode,
						AgreementID: b.xPAYGAgreement, Customer: marketplace.Customer{AccountID: c.AccountID, LicenseArn: c.LicenseArn}},
					{Source: "eventbridge", Action: marketplace.ActionUnsubscribePending, AgreementID: b.xPAYGAgreement,
						Customer: marketplace.Customer{AccountID: b.yPAYG.Subscription.Customer.AccountID}},
				}
			}},
		{name: "License Updated naming the license as EventBridge writes it: entitlements read for the recorded license",
			want: active, entitlements: true,
			notes: func(b buyers) []marketplace.Notification {
				c := b.xContract.Subscription.Customer
				return []marketplace.Notification{{Source: "eventbridge", Action: marketplace.ActionLicenseUpdated, ProductCode: market.DemoContractCode,
					AgreementID: b.xContractAgreement, Customer: marketplace.Customer{AccountID: c.AccountID, LicenseArn: eventBridgeLicense(c)}}}
			}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				b := w.buyers()
				for j, n := range tc.notes(b) {
					if n.Source == "" {
						n.Source = "sns"
					}
					n.MessageID, n.SentAt, n.Payload = fmt.Sprintf("select-%d-%d", i, j), t0.Add(time.Duration(j)*time.Minute), "{}"
					if _, _, err := w.svc.Record(ctx, n); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := w.svc.ApplyPending(ctx, 100); err != nil {
					t.Fatal(err)
				}
				status := func(p marketplace.Purchase) string {
					var s string
					if err := db.Read().QueryRow(`SELECT status FROM subscriptions WHERE id = $1`, p.Subscription.ID).Scan(&s); err != nil {
						t.Fatal(err)
					}
					return s
				}
				if got := (want{status(b.xPAYG), status(b.xContract), status(b.yPAYG)}); got != tc.want {
					t.Errorf("statuses (X PAYG, X contract, Y PAYG) = %+v, want %+v", got, tc.want)
				}
				credits := w.count(`SELECT COUNT(*) FROM entitlements WHERE subscription_id = $1 AND dimension = 'committed_credits'
					AND integer_value = 100`, b.xContract.Subscription.ID)
				if (credits == 1) != tc.entitlements {
					t.Errorf("X's contract has %d committed-credit entitlements of 100, want them kept: %v", credits, tc.entitlements)
				}
			})
		}
	})
}
