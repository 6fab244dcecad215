package market_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/emulator/sqlite"
)

func openMarket(t *testing.T, store market.Store) *market.Market {
	t.Helper()
	m, err := market.Open(context.Background(), market.Config{Store: store, DefaultAccessKeyID: "test", DefaultSecretAccessKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func memoryStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.OpenMemory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bulkIDs(from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("5550%08d", from+i)
	}
	return ids
}

// sameTerms blanks what is drawn or timed per agreement, leaving what
// Subscribe and SubscribeNewAccounts must agree on.
func sameTerms(a market.Agreement) market.Agreement {
	a.ID, a.LicenseArn, a.AccountID, a.CustomerIdentifier = "", "", "", ""
	a.CreatedAt, a.StartAt, a.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	return a
}

func TestSubscribeNewAccounts_CustomersMeterAsSubscribedOnes(t *testing.T) {
	for _, mode := range []market.Mode{market.ModeCurrent, market.ModeLegacy} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			store := memoryStore(t)
			m := openMarket(t, store)
			if _, err := m.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "https://seller.example.com/f", Mode: mode,
				SNSEndpoint: "https://seller.example.com/sns"}); err != nil {
				t.Fatal(err)
			}
			// One buyer the normal way, for comparison.
			before := len(m.Deliveries("", ""))
			if _, err := m.CreateAccount(ctx, market.AccountInput{ID: "555099999999", Name: "buyer"}); err != nil {
				t.Fatal(err)
			}
			one, err := m.Subscribe(ctx, market.SubscribeInput{AccountID: "555099999999", ProductCode: market.DemoPAYGCode})
			if err != nil {
				t.Fatal(err)
			}
			notified := len(m.Deliveries("", "")) - before
			if notified == 0 {
				t.Fatal("Subscribe notified nothing: the comparison below would prove nothing")
			}
			before += notified

			ids := bulkIDs(0, 40)
			got, err := m.SubscribeNewAccounts(ctx, market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, AccountIDs: ids, Name: "buyer"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ids) {
				t.Fatalf("got %d agreements for %d accounts", len(got), len(ids))
			}
			licenses, identifiers := map[string]bool{}, map[string]bool{}
			for i, a := range got {
				if a.AccountID != ids[i] || a.ID == "" || a.LicenseArn == "" || len(a.CustomerIdentifier) != 11 {
					t.Fatalf("agreement %d: %+v", i, a)
				}
				if !reflect.DeepEqual(sameTerms(a), sameTerms(one.Agreement)) {
					t.Fatalf("bulk agreement differs from a subscribed one:\n got %+v\nwant %+v", sameTerms(a), sameTerms(one.Agreement))
				}
				licenses[a.LicenseArn], identifiers[a.CustomerIdentifier] = true, true
				if acct, err := m.Account(ids[i]); err != nil || acct.Name != "buyer" {
					t.Fatalf("account %s: %+v, %v", ids[i], acct, err)
				}
			}
			if len(licenses) != len(ids) || len(identifiers) != len(ids) {
				t.Fatalf("%d license ARNs and %d customer identifiers for %d accounts", len(licenses), len(identifiers), len(ids))
			}
			// The seller hears of each one as of a Subscribe.
			if n := len(m.Deliveries("", "")) - before; n != notified*len(ids) {
				t.Fatalf("%d notifications for %d bulk agreements; Subscribe made %d for one", n, len(ids), notified)
			}

			// After a restart, the agreements are there, and held.
			m = openMarket(t, store)
			if _, err := m.AdvanceClock(ctx, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			hour := m.Now().Add(-time.Hour).Truncate(time.Hour)
			var recs []market.UsageRecord
			for i, a := range got {
				r := market.UsageRecord{Timestamp: hour, Dimension: "credits", Quantity: int64(i + 1)}
				switch {
				case mode == market.ModeLegacy:
					r.CustomerIdentifier = a.CustomerIdentifier
				case i%2 == 0:
					r.CustomerAWSAccountID, r.LicenseArn = a.AccountID, a.LicenseArn
				default:
					r.CustomerAWSAccountID = a.AccountID
				}
				recs = append(recs, r)
			}
			for start := 0; start < len(recs); start += 25 {
				batch := recs[start:min(start+25, len(recs))]
				out, err := m.BatchMeterUsage(ctx, m.Settings().SellerAccountID, market.MeterInput{ProductCode: market.DemoPAYGCode, Records: batch})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Results) != len(batch) {
					t.Fatalf("%d results for %d records", len(out.Results), len(batch))
				}
				for _, res := range out.Results {
					if res.Status != market.RecordSuccess {
						t.Fatalf("record %d: %s", start+res.Index, res.Status)
					}
				}
			}
			ledger := m.Records(market.RecordFilter{ProductCode: market.DemoPAYGCode})
			if len(ledger) != len(got) {
				t.Fatalf("ledger holds %d records, want %d", len(ledger), len(got))
			}
			byAccount := map[string]market.Agreement{}
			for _, a := range got {
				byAccount[a.AccountID] = a
			}
			for _, r := range ledger {
				if a := byAccount[r.AccountID]; r.AgreementID != a.ID || r.LicenseArn != a.LicenseArn || r.UnitPriceMicros != a.MeteredPrices["credits"] {
					t.Fatalf("ledger record %+v is not against agreement %+v", r, a)
				}
			}
			again, err := m.Subscribe(ctx, market.SubscribeInput{AccountID: ids[3], ProductCode: market.DemoPAYGCode})
			if err != nil || !again.Existing || again.Agreement.ID != got[3].ID {
				t.Fatalf("Subscribe of a bulk account: %+v, %v; want its agreement %s", again, err, got[3].ID)
			}
		})
	}
}

func TestSubscribeNewAccounts_RefusedChangesNothing(t *testing.T) {
	ctx := context.Background()
	m := openMarket(t, memoryStore(t))
	if _, err := m.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "https://seller.example.com/f"}); err != nil {
		t.Fatal(err)
	}
	accounts, agreements := len(m.Accounts()), len(m.Agreements("", ""))
	for _, tc := range []struct {
		name string
		in   market.BulkSubscribeInput
		want market.Kind
	}{
		{"an account that exists", market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, Name: "b",
			AccountIDs: append(bulkIDs(0, 5), market.DemoBuyerAccountID)}, market.KindConflict},
		{"an account twice", market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, Name: "b",
			AccountIDs: append(bulkIDs(0, 5), bulkIDs(2, 1)...)}, market.KindInvalid},
		{"an account id of 11 digits", market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, Name: "b",
			AccountIDs: []string{"55500000000"}}, market.KindInvalid},
		{"no accounts", market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, Name: "b"}, market.KindInvalid},
		{"no name", market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode, AccountIDs: bulkIDs(0, 2)}, market.KindInvalid},
		{"a contract product", market.BulkSubscribeInput{ProductCode: market.DemoContractCode, Name: "b",
			AccountIDs: bulkIDs(0, 2)}, market.KindInvalid},
		{"an unknown product", market.BulkSubscribeInput{ProductCode: "nope", Name: "b", AccountIDs: bulkIDs(0, 2)}, market.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.SubscribeNewAccounts(ctx, tc.in)
			var me *market.Error
			if !errors.As(err, &me) || me.Kind != tc.want {
				t.Fatalf("err = %v, want kind %s", err, tc.want)
			}
			if len(m.Accounts()) != accounts || len(m.Agreements("", "")) != agreements {
				t.Fatalf("a refused bulk subscribe left %d accounts and %d agreements, want %d and %d",
					len(m.Accounts()), len(m.Agreements("", "")), accounts, agreements)
			}
		})
	}
}
