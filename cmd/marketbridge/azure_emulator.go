package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/buyer"
	azmarket "github.com/marketbridge/marketbridge/internal/emulator/azure/market"
	"github.com/marketbridge/marketbridge/internal/emulator/entra"
)

// microsoftEmulator is Microsoft's commercial marketplace emulator and its
// Entra ID stand-in (#15), served on the AWS emulator's port under /azure/
// and /entra/: one process, one port, HTTP and HTTPS, the same local CA.
// The three houses share nothing but that port.
type microsoftEmulator struct {
	entra  *entra.Server
	market *azure.Emulator
	buyer  http.Handler
	// apiURL and authorityHost are what the seller is configured with.
	apiURL, authorityHost string
}

// The demo publisher's Entra app, registered with the stand-in: the
// seller's --azure-tenant-id, --azure-client-id and --azure-client-secret
// against the emulator. Not secrets: nothing but the emulator accepts them.
const (
	demoAzureTenantID     = "0b6f3c2e-5a1d-4e8f-9c7b-2d4e6f8a0b1c"
	demoAzureClientID     = "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f3a"
	demoAzureClientSecret = "emulator-client-secret"
	demoAzurePublisher    = "example-cloud-publisher"
	demoAzureOffer        = "example-cloud"
	// demoAzureBuyerTenant sees the demo's private plan.
	demoAzureBuyerTenant = "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d"
)

// entraAuth is the stand-in as the Fulfillment and Metering APIs' check of
// the seller's bearer tokens. Tokens live an hour of real time, as the
// seller's token client counts it, whatever the marketplace's clock: the
// demo's runs fast.
type entraAuth struct {
	s   *entra.Server
	now func() time.Time
}

func (a entraAuth) VerifyAccessToken(raw string, _ time.Time) (string, string, error) {
	c, err := a.s.VerifyAccessToken(raw, a.now())
	return c.TenantID, c.AppID, err
}

// newMicrosoftEmulator starts both houses; publicURL is the emulator's
// https base (Entra's issuer must be on the authority's host). marketNow is
// the marketplace's time: the AWS emulator's clock, so that the demo has
// one; Entra's tokens keep real time.
func newMicrosoftEmulator(ctx context.Context, dataDir string, reset bool, publicURL string, marketNow func() time.Time, logger *slog.Logger) (*microsoftEmulator, error) {
	base := strings.TrimRight(publicURL, "/")
	id, err := entra.New(entra.Config{PublicURL: base + "/entra/", DataDir: dataDir, Now: time.Now}, logger.With("house", "entra"))
	if err != nil {
		return nil, err
	}
	emu, err := azure.New(ctx, azure.Config{DataDir: dataDir, Reset: reset, PublicURL: base + "/azure", Auth: entraAuth{id, time.Now}, Tokens: id,
		Now: marketNow, Logger: logger.With("house", "azure")})
	if err != nil {
		return nil, err
	}
	pages, err := buyer.NewPages(buyer.Config{Market: emu.Market(), Logger: logger.With("house", "azure"), Prefix: buyer.DefaultPrefix})
	if err != nil {
		emu.Close()
		return nil, err
	}
	return &microsoftEmulator{entra: id, market: emu, buyer: pages, apiURL: base + "/azure/api", authorityHost: id.AuthorityHost()}, nil
}

func (m *microsoftEmulator) Close() error { return m.market.Close() }

// mount serves the two houses beside the AWS emulator's handler.
func (m *microsoftEmulator) mount(aws http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/azure/", http.StripPrefix("/azure", m.market.Handler()))
	mux.Handle(buyer.DefaultPrefix+"/", http.StripPrefix(buyer.DefaultPrefix, m.buyer))
	mux.Handle("/entra/", http.StripPrefix("/entra", m.entra))
	mux.Handle("/", aws)
	return mux
}

// seedDemo registers the demo publisher's app, landing page and webhook at
// sellerURL, and the demo offer: a flat-rate plan metered in cents of
// usage, a per-user plan, and a private plan for demoAzureBuyerTenant.
func (m *microsoftEmulator) seedDemo(ctx context.Context, sellerURL string) error {
	if err := m.entra.RegisterApp(entra.App{TenantID: demoAzureTenantID, ClientID: demoAzureClientID,
		SecretHash: entra.HashSecret(demoAzureClientSecret), Name: "Example Cloud billing"}); err != nil {
		return fmt.Errorf("register the demo publisher's app: %w", err)
	}
	mk := m.market.Market()
	if _, err := mk.PutPublisher(ctx, azmarket.PublisherInput{ID: demoAzurePublisher, TenantID: demoAzureTenantID, AppID: demoAzureClientID,
		LandingURL: sellerURL + "/marketplace/azure/landing", WebhookURL: sellerURL + "/marketplace/azure/webhook"}); err != nil {
		return fmt.Errorf("seed the demo publisher: %w", err)
	}
	usage := []azmarket.PlanMeter{{DimensionID: "usage_cents", PriceMicros: 10_000}}
	monthly := []azmarket.TermPrice{{Unit: "P1M"}}
	_, err := mk.PutOffer(ctx, azmarket.OfferInput{ID: demoAzureOffer, PublisherID: demoAzurePublisher, DisplayName: "Example Cloud",
		Dimensions: []azmarket.Dimension{{ID: "usage_cents", DisplayName: "Usage", UnitOfMeasure: "$0.01 of usage"}},
		Plans: []azmarket.Plan{
			{ID: "payg", DisplayName: "Pay as you go", Description: "No monthly fee: usage billed per cent.", Terms: monthly, Meters: usage},
			{ID: "team", DisplayName: "Team (per user)", Description: "A monthly price per seat.", PricePerSeat: true, MinQuantity: 1, MaxQuantity: 500,
				Terms: []azmarket.TermPrice{{Unit: "P1M", PriceMicros: 10_000_000}}},
			{ID: "enterprise", DisplayName: "Enterprise (private)", Description: "Negotiated: an annual fee, usage billed per cent.",
				Terms: []azmarket.TermPrice{{Unit: "P1Y", PriceMicros: 12_000_000_000}}, Meters: usage,
				Private: true, Audience: []string{demoAzureBuyerTenant}},
		}})
	if err != nil {
		return fmt.Errorf("seed the demo offer: %w", err)
	}
	return nil
}

// demoSeller points the seller's --azure-* settings at the emulator.
func (m *microsoftEmulator) demoSeller(o *azureOptions, ca []byte) {
	o.tenantID, o.clientID, o.clientSecret = demoAzureTenantID, demoAzureClientID, demoAzureClientSecret
	o.apiURL, o.authorityHost, o.demoCA = m.apiURL, m.authorityHost, ca
}

// httpsURL is the https form of the emulator's http URL: the same port
// answers both.
func httpsURL(u string) (string, error) {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		if strings.HasPrefix(u, "https://") {
			return u, nil
		}
		return "", errors.New("the emulator's URL is not http(s)")
	}
	return "https://" + rest, nil
}
