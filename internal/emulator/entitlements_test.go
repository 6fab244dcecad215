package emulator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	mestypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// contractBuyers gives n accounts a contract with n+1 committed units each.
func (e *env) contractBuyers(product string, n int) []market.Agreement {
	var out []market.Agreement
	for i := range n {
		acct := must(e.m.CreateAccount(context.Background(), market.AccountInput{ID: fmt.Sprintf("5000000000%02d", i), Name: fmt.Sprintf("Buyer %02d", i)}))
		out = append(out, e.subscribe(acct.ID, product, map[string]int64{"committed": int64(i + 1)}))
	}
	return out
}

func TestGetEntitlements_PagesAndFilters(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	agreements := e.contractBuyers(c.contract.Code, 30)
	client := e.entitlements()

	t.Run("paginator collects every entitlement across pages", func(t *testing.T) {
		p := mes.NewGetEntitlementsPaginator(client, &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code), MaxResults: aws.Int32(7)})
		var got []mestypes.Entitlement
		pages := 0
		for p.HasMorePages() {
			out := must(p.NextPage(ctx))
			pages++
			got = append(got, out.Entitlements...)
		}
		if len(got) != 30 || pages != 5 {
			t.Fatalf("got %d entitlements in %d pages, want 30 in 5", len(got), pages)
		}
		first := got[0]
		if aws.ToString(first.CustomerAWSAccountId) != agreements[0].AccountID || aws.ToString(first.LicenseArn) != agreements[0].LicenseArn ||
			aws.ToString(first.Dimension) != "committed" || first.CustomerIdentifier != nil {
			t.Fatalf("first = %+v", first)
		}
		if first.Value == nil || aws.ToInt32(first.Value.IntegerValue) != 1 || first.ExpirationDate == nil || !first.ExpirationDate.Equal(agreements[0].EndAt.Truncate(time.Second)) {
			t.Fatalf("value = %#v, expiration = %v, want 1 until %v", first.Value, first.ExpirationDate, agreements[0].EndAt)
		}
	})
	t.Run("a filtered scan has empty pages that still carry a NextToken", func(t *testing.T) {
		want := agreements[29]
		in := &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code), MaxResults: aws.Int32(10),
			Filter: map[string][]string{"CUSTOMER_AWS_ACCOUNT_ID": {want.AccountID}}}
		out := must(client.GetEntitlements(ctx, in))
		if len(out.Entitlements) != 0 || out.NextToken == nil {
			t.Fatalf("first page = %d entitlements, next %v; want empty with a NextToken", len(out.Entitlements), out.NextToken)
		}
		var got []mestypes.Entitlement
		p := mes.NewGetEntitlementsPaginator(client, in)
		for p.HasMorePages() {
			got = append(got, must(p.NextPage(ctx)).Entitlements...)
		}
		if len(got) != 1 || aws.ToString(got[0].LicenseArn) != want.LicenseArn {
			t.Fatalf("filtered = %+v", got)
		}
	})
	t.Run("filters intersect across names and union within one", func(t *testing.T) {
		var got []mestypes.Entitlement
		p := mes.NewGetEntitlementsPaginator(client, &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code),
			Filter: map[string][]string{"LICENSE_ARN": {agreements[3].LicenseArn, agreements[4].LicenseArn}, "DIMENSION": {"committed"}}})
		for p.HasMorePages() {
			got = append(got, must(p.NextPage(ctx)).Entitlements...)
		}
		if len(got) != 2 {
			t.Fatalf("got %d, want 2", len(got))
		}
	})
	t.Run("empty page fault answers no entitlements and a NextToken", func(t *testing.T) {
		must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultEmptyPage, Count: 1}))
		out := must(client.GetEntitlements(ctx, &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code)}))
		if len(out.Entitlements) != 0 || out.NextToken == nil {
			t.Fatalf("out = %+v", out)
		}
		out = must(client.GetEntitlements(ctx, &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code), NextToken: out.NextToken}))
		if len(out.Entitlements) != 25 {
			t.Fatalf("after the empty page: %d", len(out.Entitlements))
		}
	})
	t.Run("expired contracts drop out, upgrades and renewals show", func(t *testing.T) {
		must(e.m.Expire(ctx, agreements[0].ID))
		up := must(e.m.Upgrade(ctx, agreements[1].ID, map[string]int64{"committed": 50}))
		renewed := must(e.m.Renew(ctx, agreements[2].ID, 12))
		var got []mestypes.Entitlement
		p := mes.NewGetEntitlementsPaginator(client, &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code)})
		for p.HasMorePages() {
			got = append(got, must(p.NextPage(ctx)).Entitlements...)
		}
		byLicense := map[string]mestypes.Entitlement{}
		for _, en := range got {
			byLicense[aws.ToString(en.LicenseArn)] = en
		}
		if _, ok := byLicense[agreements[0].LicenseArn]; ok || len(got) != 29 {
			t.Fatalf("expired contract still entitled (%d entitlements)", len(got))
		}
		if v := aws.ToInt32(byLicense[up.LicenseArn].Value.IntegerValue); v != 50 {
			t.Fatalf("upgraded value = %d", v)
		}
		if exp := byLicense[renewed.LicenseArn].ExpirationDate; !exp.After(*agreements[2].EndAt) {
			t.Fatalf("renewed expiration %v not after %v", exp, agreements[2].EndAt)
		}
	})
}

func TestGetEntitlements_InvalidParameters(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	cases := []struct {
		name string
		in   *mes.GetEntitlementsInput
	}{
		{"unknown product", &mes.GetEntitlementsInput{ProductCode: aws.String("nope")}},
		{"unknown filter name", &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code), Filter: map[string][]string{"COLOR": {"red"}}}},
		{"customer identifier and account id filters together", &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code),
			Filter: map[string][]string{"CUSTOMER_IDENTIFIER": {"x"}, "CUSTOMER_AWS_ACCOUNT_ID": {"123456789012"}}}},
		{"max results over 25", &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code), MaxResults: aws.Int32(26)}},
		{"garbled next token", &mes.GetEntitlementsInput{ProductCode: aws.String(c.contract.Code), NextToken: aws.String("garbled")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.entitlements().GetEntitlements(context.Background(), tc.in)
			if got := errorCode(err); got != "InvalidParameterException" {
				t.Fatalf("code = %s", got)
			}
		})
	}
}

func TestPersistence_StateSurvivesRestartAndResetClears(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := newEnv(t, func(c *emulator.Config) { c.DataDir = dir })
	c := e.catalog()
	a := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	tok := must(e.m.SetUpAccount(ctx, a.ID)).Token
	must(e.m.AdvanceClock(ctx, time.Hour))
	ts := e.m.Now().Add(-time.Minute)
	must(e.m.BatchMeterUsage(ctx, "111122223333", market.MeterInput{ProductCode: c.payg.Code,
		Records: []market.UsageRecord{{Timestamp: ts, CustomerAWSAccountID: c.buyer.ID, Dimension: "credits", Quantity: 4}}}))
	cert := string(e.m.SigningCertificatePEM())
	e.srv.Close()
	if err := e.emu.Close(); err != nil {
		t.Fatal(err)
	}

	again := newEnv(t, func(c *emulator.Config) { c.DataDir = dir })
	if got := must(again.m.Agreement(a.ID)); got.LicenseArn != a.LicenseArn {
		t.Fatalf("agreement after restart = %+v", got)
	}
	if _, err := again.m.ResolveCustomer("111122223333", tok); err != nil {
		t.Fatalf("token after restart: %v", err)
	}
	if off := again.m.ClockOffset(); off < time.Hour {
		t.Fatalf("clock offset after restart = %v", off)
	}
	if recs := again.m.Records(market.RecordFilter{}); len(recs) != 1 || recs[0].Quantity != 4 {
		t.Fatalf("ledger after restart = %+v", recs)
	}
	if string(again.m.SigningCertificatePEM()) != cert {
		t.Fatal("the SNS signing certificate changed across a restart")
	}
	again.srv.Close()
	if err := again.emu.Close(); err != nil {
		t.Fatal(err)
	}

	fresh := newEnv(t, func(c *emulator.Config) { c.DataDir, c.Reset = dir, true })
	if n := len(fresh.m.Products()) + len(fresh.m.Agreements("", "")); n != 0 {
		t.Fatalf("after --reset: %d products and agreements", n)
	}
}

func TestLedger_InvoiceInWholeCents(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	e.subscribe(c.buyer.ID, c.payg.Code, nil)
	e.subscribe(c.buyer.ID, c.contract.Code, map[string]int64{"committed": 3})
	must(e.m.AdvanceClock(ctx, 3*time.Hour))
	now := e.m.Now()
	for i, q := range []int64{150, 275} {
		must(e.m.BatchMeterUsage(ctx, "111122223333", market.MeterInput{ProductCode: c.payg.Code,
			Records: []market.UsageRecord{{Timestamp: now.Add(-time.Duration(i+1) * time.Hour), CustomerAWSAccountID: c.buyer.ID, Dimension: "credits", Quantity: q}}}))
	}
	month := now.Add(-2 * time.Hour).Format("2006-01")
	invoices := must(e.m.Invoices(c.buyer.ID, ""))
	var usageCents, contractCents int64
	for _, inv := range invoices {
		for _, l := range inv.Lines {
			switch {
			case l.Kind == "usage" && inv.Month == month || l.Kind == "usage" && len(invoices) > 1:
				usageCents += l.AmountCents
			case l.Kind == "purchase":
				contractCents += l.AmountCents
			}
		}
	}
	if usageCents != 425 || contractCents != 300 {
		t.Fatalf("usage %d cents, contract %d cents; want 425 and 300 (invoices %+v)", usageCents, contractCents, invoices)
	}
	if got := market.Micros(12_345).Cents(); got != 1 {
		t.Fatalf("12,345 micros = %d cents, want 1", got)
	}
	if got := market.Micros(15_000).Cents(); got != 2 {
		t.Fatalf("15,000 micros = %d cents, want 2 (half up)", got)
	}
}
