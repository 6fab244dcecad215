package market_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// awsLicenseArn is AWS License Manager's form: a colon before the license
// id, and the id l- followed by 32 hex digits.
var awsLicenseArn = regexp.MustCompile(`^arn:aws:license-manager::[0-9]{12}:license:l-[0-9a-f]{32}$`)

// TestLicenseArn_HasAWSForm_13 covers every way the emulator makes a license:
// Subscribe (public and private offers go through it) and the bulk subscribe
// of load tests.
func TestLicenseArn_HasAWSForm_13(t *testing.T) {
	ctx := context.Background()
	m := openMarket(t, memoryStore(t))
	if _, err := m.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "https://seller.example/fulfill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateAccount(ctx, market.AccountInput{ID: "555099999999", Name: "Buyer"}); err != nil {
		t.Fatal(err)
	}
	one, err := m.Subscribe(ctx, market.SubscribeInput{AccountID: "555099999999", ProductCode: market.DemoPAYGCode})
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := m.SubscribeNewAccounts(ctx, market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, AccountIDs: bulkIDs(0, 3), Name: "buyer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append([]market.Agreement{one.Agreement}, bulk...) {
		if !awsLicenseArn.MatchString(a.LicenseArn) {
			t.Errorf("agreement %s: license %q, want arn:aws:license-manager::<account>:license:l-<32 hex>", a.ID, a.LicenseArn)
		}
	}
}
