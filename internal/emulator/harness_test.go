package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	mes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/smithy-go"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// env is one emulator behind an httptest server.
type env struct {
	t   *testing.T
	emu *emulator.Emulator
	m   *market.Market
	srv *httptest.Server
	url string
	// stock verifies SNS messages as an unmodified verifier told to trust
	// this emulator's CA and host does.
	stock *stockVerifier
}

func newEnv(t *testing.T, mutate ...func(*emulator.Config)) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	cfg := emulator.Config{
		PublicURL:    url,
		TickInterval: 20 * time.Millisecond,
		DeliveryPoll: 20 * time.Millisecond,
		Settings: market.Settings{
			ThrottleRate:    1000,
			DeliveryBackoff: 10 * time.Millisecond,
		},
	}
	for _, f := range mutate {
		f(&cfg)
	}
	emu, err := emulator.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	h := emu.Handler()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("EMU_DEBUG") != "" {
			t.Logf("%s %s target=%s", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
		}
		h.ServeHTTP(w, r)
	})
	// As cmd/marketbridge serves it: HTTP and HTTPS on one port.
	srv.Listener = emu.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{t: t, emu: emu, m: emu.Market(), srv: srv, url: url, stock: newStockVerifier(t, emu, srv.Listener.Addr().String())}
}

func (e *env) awsConfig(key, secret string, retryer func() aws.Retryer) aws.Config {
	e.t.Helper()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, secret, "")),
	}
	if retryer != nil {
		opts = append(opts, config.WithRetryer(retryer))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		e.t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

func noRetries() aws.Retryer { return aws.NopRetryer{} }

// metering returns a metering client signed with test/test and no retries,
// so every error is seen as sent.
func (e *env) metering() *mm.Client { return e.meteringWith("test", "test", noRetries) }

func (e *env) meteringWith(key, secret string, retryer func() aws.Retryer) *mm.Client {
	return mm.NewFromConfig(e.awsConfig(key, secret, retryer), func(o *mm.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) entitlements() *mes.Client {
	return mes.NewFromConfig(e.awsConfig("test", "test", noRetries), func(o *mes.Options) { o.BaseEndpoint = aws.String(e.url) })
}

// retrying is the SDK's standard retryer with many attempts and short
// backoff, as a seller that must not lose usage would configure it.
func retrying() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 20
		o.MaxBackoff = 100 * time.Millisecond
	})
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

// must unwraps a result in test setup; a failure there is a broken test, so
// it panics, which fails the test with a stack.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// catalog makes a seller's products and two buyers.
type catalog struct {
	payg, legacy, contract market.Product
	buyer, other           market.Account
}

func (e *env) catalog() catalog {
	ctx := context.Background()
	var c catalog
	c.payg = must(e.m.CreateProduct(ctx, market.ProductInput{Code: "payg-current", Title: "PAYG current", PricingModel: market.PricingSubscription,
		Mode: market.ModeCurrent, FulfillmentURL: "https://seller.example/fulfill",
		Dimensions: []market.Dimension{{Key: "credits", Name: "Credits", Kind: market.DimensionMetered, PriceMicros: 10_000}}}))
	c.legacy = must(e.m.CreateProduct(ctx, market.ProductInput{Code: "payg-legacy", Title: "PAYG legacy", PricingModel: market.PricingSubscription,
		Mode: market.ModeLegacy, FulfillmentURL: "https://seller.example/fulfill",
		Dimensions: []market.Dimension{{Key: "credits", Name: "Credits", Kind: market.DimensionMetered, PriceMicros: 10_000}}}))
	c.contract = must(e.m.CreateProduct(ctx, market.ProductInput{Code: "ccp", Title: "Contract with consumption", PricingModel: market.PricingContractConsumption,
		Mode: market.ModeCurrent, FulfillmentURL: "https://seller.example/fulfill",
		Dimensions: []market.Dimension{
			{Key: "committed", Name: "Committed", Kind: market.DimensionContract, PriceMicros: 1_000_000},
			{Key: "overage", Name: "Overage", Kind: market.DimensionMetered, PriceMicros: 10_000}}}))
	c.buyer = must(e.m.CreateAccount(ctx, market.AccountInput{ID: "123456789012", Name: "Buyer", Permissions: []string{"AWSMarketplaceFullAccess"}}))
	c.other = must(e.m.CreateAccount(ctx, market.AccountInput{ID: "210987654321", Name: "Other"}))
	return c
}

func (e *env) subscribe(account, product string, entitlements map[string]int64) market.Agreement {
	e.t.Helper()
	r := must(e.m.Subscribe(context.Background(), market.SubscribeInput{AccountID: account, ProductCode: product, Entitlements: entitlements}))
	return r.Agreement
}
