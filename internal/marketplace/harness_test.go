package marketplace_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
)

// world is a seller on a real database talking, through the AWS SDK, to an
// emulator in the same process, with the demo catalog on both sides.
type world struct {
	t      *testing.T
	db     *store.DB
	emu    *emulator.Emulator
	emuURL string
	demo   market.DemoCatalog
	svc    *marketplace.Service
	orgs   *org.Service
	outbox *mail.Outbox
	cfg    marketplace.Config // svc's, for a second process on the same database
	mu     sync.Mutex
	now    time.Time
}

func (w *world) Now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }

// demoProducts is the seller's catalog for the emulator's demo products.
var demoProducts = []marketplace.Product{
	{Code: market.DemoPAYGCode, Name: "Example Cloud - Pay As You Go", OfferType: marketplace.OfferPAYG, MeteredDimension: "credits",
		Dimensions: []marketplace.Dimension{{Name: "credits", Description: "usage credits of $0.01"}}},
	{Code: market.DemoContractCode, Name: "Example Cloud - Committed Contract", OfferType: marketplace.OfferContract,
		CommittedDimension: "committed_credits", MeteredDimension: "additional_usage",
		Dimensions: []marketplace.Dimension{{Name: "committed_credits", Description: "committed credits of $1"}, {Name: "additional_usage"}}},
}

func newWorld(t *testing.T, db *store.DB, products ...marketplace.Product) *world {
	t.Helper()
	if products == nil {
		products = demoProducts
	}
	ctx := context.Background()
	w := &world{t: t, db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	srv := httptest.NewUnstartedServer(nil)
	emu, err := emulator.New(ctx, emulator.Config{PublicURL: "http://" + srv.Listener.Addr().String(),
		// The tests set up many buyers at once; AWS does not document a
		// ResolveCustomer quota, so the emulator's 10/s would only slow them.
		Settings: market.Settings{ThrottleRate: 10000}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = emu.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); emu.Close() })
	w.emu, w.emuURL = emu, srv.URL
	if w.demo, err = emu.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "https://seller.example.com/marketplace/aws/fulfillment"}); err != nil {
		t.Fatal(err)
	}
	sdk := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 10 * time.Millisecond })
		}}
	resolver := awsmp.New(sdk, awsmp.Endpoints{Metering: srv.URL, Entitlement: srv.URL})
	logger := slog.New(slog.DiscardHandler)
	w.outbox = mail.NewOutbox(db, w.Now)
	if w.orgs, err = org.New(org.Config{DB: db, Mailer: w.outbox, Logger: logger, Now: w.Now, BaseURL: "https://seller.example.com"}); err != nil {
		t.Fatal(err)
	}
	catalog, err := marketplace.NewCatalog(products)
	if err != nil {
		t.Fatal(err)
	}
	w.cfg = marketplace.Config{DB: db, Catalog: catalog, Resolver: resolver, Orgs: w.orgs, Mailer: w.outbox,
		Logger: logger, Now: w.Now, BaseURL: "https://seller.example.com"}
	w.svc, err = marketplace.New(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// buyer subscribes a new AWS account to a product and returns the account id.
func (w *world) buyer(productCode string) (accountID, agreementID string) {
	w.t.Helper()
	ctx := context.Background()
	w.mu.Lock()
	n := len(w.emu.Market().Accounts())
	w.mu.Unlock()
	id := fmt.Sprintf("5550%08d", n)
	if _, err := w.emu.Market().CreateAccount(ctx, market.AccountInput{ID: id, Name: "buyer " + id, Permissions: []string{"AWSMarketplaceFullAccess"}}); err != nil {
		w.t.Fatal(err)
	}
	res, err := w.emu.Market().Subscribe(ctx, market.SubscribeInput{AccountID: id, ProductCode: productCode})
	if err != nil {
		w.t.Fatal(err)
	}
	return id, res.Agreement.ID
}

// setUp is "Set up your account": a fresh registration token.
func (w *world) setUp(agreementID string) string {
	w.t.Helper()
	reg, err := w.emu.Market().SetUpAccount(context.Background(), agreementID)
	if err != nil {
		w.t.Fatal(err)
	}
	return reg.Token
}

// fulfill resolves a fresh token for the agreement.
func (w *world) fulfill(agreementID string) (string, marketplace.Purchase) {
	w.t.Helper()
	claim, p, err := w.svc.Fulfill(context.Background(), marketplace.FulfillInput{Token: w.setUp(agreementID)})
	if err != nil {
		w.t.Fatalf("Fulfill: %v", err)
	}
	return claim, p
}

func (w *world) user(email string) int64 {
	w.t.Helper()
	var id int64
	err := w.db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, onboarded_at, created_at)
		VALUES ($1, $1, 'x', $2, $2, $2) RETURNING id`, email, w.Now()).Scan(&id)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *world) org(admin int64, name string) org.Org {
	w.t.Helper()
	o, err := w.orgs.Create(context.Background(), admin, org.CreateInput{Name: name})
	if err != nil {
		w.t.Fatal(err)
	}
	return o
}

// claimed is a purchase fulfilled and claimed by user.
func (w *world) claimed(agreementID string, user int64) marketplace.Purchase {
	w.t.Helper()
	claim, _ := w.fulfill(agreementID)
	p, err := w.svc.ClaimPurchase(context.Background(), claim, user)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.db.Read().QueryRow(query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}
