package awsmp_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
)

// calls records, in order, the pacer's waits and the Agreement API calls
// the emulator received.
type calls struct {
	mu   sync.Mutex
	list []string
	err  error
}

func (c *calls) add(s string) { c.mu.Lock(); defer c.mu.Unlock(); c.list = append(c.list, s) }

func (c *calls) Wait(context.Context) error { c.add("wait"); return c.err }

// agreementEmulator is an emulator with the demo catalog and one contract
// accepted, behind a server that records each Agreement API call.
func agreementEmulator(t *testing.T, rec *calls) (url string, a market.Agreement) {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	emu, err := emulator.New(ctx, emulator.Config{PublicURL: "http://" + srv.Listener.Addr().String()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RPC v2 CBOR names the operation in the path, JSON 1.0 in
		// X-Amz-Target.
		op := r.Header.Get("X-Amz-Target") + r.URL.Path
		if i := strings.LastIndexAny(op, "./"); i >= 0 {
			op = op[i+1:]
		}
		rec.add(op)
		emu.Handler().ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(func() { srv.Close(); emu.Close() })
	demo, err := emu.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "https://seller.example.com/marketplace/aws/fulfillment"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := emu.Market().AcceptOffer(ctx, demo.Buyer.ID, demo.PrivateOffer.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, res.Agreement
}

// Every Agreement API call, each page of one read, waits for the seller's
// shared quota first, and a wait that fails makes no call (#13).
func TestAgreements_Issue13_EveryCallWaitsForTheQuota(t *testing.T) {
	rec := &calls{}
	url, a := agreementEmulator(t, rec)
	c := awsmp.New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		awsmp.Endpoints{Agreement: url})
	c.PaceAgreements(rec)
	ctx := context.Background()
	got, err := c.Agreement(ctx, a.ID)
	if err != nil || got.ID != a.ID || len(got.Terms.Commitments) == 0 {
		t.Fatalf("Agreement = %+v, %v", got, err)
	}
	found, err := c.ActiveAgreements(ctx, marketplace.AgreementQuery{AcceptorAccountID: a.AccountID, LicenseArn: a.LicenseArn})
	if err != nil || len(found) != 1 || found[0].ID != a.ID || !slices.Contains(found[0].LicenseArns, a.LicenseArn) {
		t.Fatalf("ActiveAgreements by license = %+v, %v", found, err)
	}
	want := []string{"wait", "DescribeAgreement", "wait", "GetAgreementTerms", "wait", "SearchAgreements"}
	if !slices.Equal(rec.list, want) {
		t.Fatalf("calls %v, want %v", rec.list, want)
	}

	rec.list, rec.err = nil, context.DeadlineExceeded
	if _, err := c.Agreement(ctx, a.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Agreement while the quota's wait fails: %v", err)
	}
	if !slices.Equal(rec.list, []string{"wait"}) {
		t.Fatalf("calls %v while the quota's wait fails, want none", rec.list)
	}
}

// An agreement that does not exist is refused for good
// (ErrAgreementUnreadable), so that the seller does not ask again and
// again.
func TestAgreements_Issue13_UnknownAgreementIsUnreadable(t *testing.T) {
	url, _ := agreementEmulator(t, &calls{})
	c := awsmp.New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		awsmp.Endpoints{Agreement: url})
	if _, err := c.Agreement(context.Background(), "agmt-nosuchagreement0000000000"); !errors.Is(err, marketplace.ErrAgreementUnreadable) {
		t.Fatalf("Agreement of an unknown id: %v, want ErrAgreementUnreadable", err)
	}
}
