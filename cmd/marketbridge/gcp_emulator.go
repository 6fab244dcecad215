package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/google"
	"github.com/marketbridge/marketbridge/internal/emulator/google/buyer"
	gmarket "github.com/marketbridge/marketbridge/internal/emulator/google/market"
	"github.com/marketbridge/marketbridge/internal/emulator/google/pubsub"
	"github.com/marketbridge/marketbridge/internal/emulator/googleid"
)

// googleEmulator is Google Cloud Marketplace's house and Google's identity
// stand-in (#16), served on the AWS emulator's port under /google/: the
// Procurement API, Service Control, the identity's keys and token
// endpoint, the buyer pages and the control API. It shares nothing with
// the other houses but the port.
type googleEmulator struct {
	id    *googleid.Server
	house *google.House
	push  *pubsub.Subscription // nil until a push endpoint is known
	// base is the house's URL, "/google" included.
	base string
	// now is the marketplace's clock, which the tokens the seller checks
	// are dated by; the identity's access tokens keep real time, as the
	// seller's token client counts it.
	now func() time.Time
}

// googleKeyFile is where the emulator leaves the seller's service-account
// key (its token_uri the emulator's), for serve's --gcp-credentials.
const googleKeyFile = "google-service-account.json"

// googlePush says where the house pushes its Pub/Sub messages: the
// seller's endpoint; empty Endpoint: nowhere yet.
type googlePush struct{ Endpoint, Audience string }

// newGoogleEmulator starts the house; publicURL is the emulator's base,
// marketNow the marketplace's clock (the AWS emulator's, so that the demo
// has one).
func newGoogleEmulator(ctx context.Context, dataDir string, reset bool, publicURL string, push googlePush,
	marketNow func() time.Time, logger *slog.Logger) (*googleEmulator, error) {
	base := strings.TrimRight(publicURL, "/") + "/google"
	idDir := ""
	if dataDir != "" {
		idDir = filepath.Join(dataDir, "google-id")
		if reset {
			if err := os.RemoveAll(idDir); err != nil {
				return nil, err
			}
		}
	}
	id, err := googleid.New(googleid.Config{PublicURL: base + "/id", DataDir: idDir, Now: time.Now}, logger.With("house", "googleid"))
	if err != nil {
		return nil, err
	}
	g := &googleEmulator{id: id, base: base, now: marketNow}
	pages := &googleBuyerMarket{g: g}
	buyerPages, err := buyer.New(buyer.Config{Market: pages, Logger: logger.With("house", "google"), Prefix: buyer.DefaultPrefix})
	if err != nil {
		return nil, err
	}
	cfg := google.Config{DataDir: dataDir, Reset: reset, Identity: id, PublicURL: base, Logger: logger.With("house", "google"),
		Now: marketNow, Buyer: buyerPages.Handler()}
	ready := make(chan struct{}) // closed once g.house is set
	if push.Endpoint != "" {
		// The sender reads the market's outbox through g, once the house
		// that holds it is open; it runs as the house's Deliver.
		g.push, err = pubsub.New(pubsub.Config{Endpoint: push.Endpoint, Audience: push.Audience, ServiceAccount: google.DemoPushAccount,
			Subscription: "projects/" + google.DemoProviderID + "/subscriptions/marketbridge", Now: marketNow, Poll: 200 * time.Millisecond},
			googleOutbox{g}, pubsub.SignerFunc(g.pushToken), logger.With("house", "google"))
		if err != nil {
			return nil, err
		}
		cfg.Deliver = func(ctx context.Context, _ gmarket.Outbox) {
			select {
			case <-ready:
				g.push.Run(ctx)
			case <-ctx.Done():
			}
		}
	}
	if g.house, err = google.New(ctx, cfg); err != nil {
		return nil, err
	}
	close(ready)
	return g, nil
}

// pushToken dates the push's OIDC token by the marketplace's clock, which
// the seller checks it against.
func (g *googleEmulator) pushToken(audience, email string) (string, error) {
	return g.id.PushToken(audience, email, googleid.WithIssuedAt(g.now()))
}

func (g *googleEmulator) Close() error { return g.house.Close() }

// mount serves the house beside next.
func (g *googleEmulator) mount(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	h := http.StripPrefix("/google", g.house.Handler())
	mux.Handle("/google/", h)
	if g.push != nil {
		mux.Handle("/google/emulator/v1/pubsub/", http.StripPrefix("/google/emulator/v1/pubsub", g.push.Handler()))
	}
	mux.Handle("/", next)
	return mux
}

// seedDemo puts the demo product in place, with the seller's sign-up URL,
// and writes the seller's service-account key to the data folder (when
// there is one); it returns the key.
func (g *googleEmulator) seedDemo(ctx context.Context, sellerURL, dataDir string) ([]byte, error) {
	res, err := g.house.DemoSeed(ctx, google.DemoInput{SignupURL: sellerURL + "/marketplace/gcp/signup", LoginURL: sellerURL + "/login",
		PushURL: sellerURL + "/marketplace/gcp/pubsub"})
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		if err := os.WriteFile(filepath.Join(dataDir, googleKeyFile), res.ServiceAccountKey, 0o600); err != nil {
			return nil, fmt.Errorf("write the seller's Google key: %w", err)
		}
	}
	return res.ServiceAccountKey, nil
}

// demoSeller points the seller's --gcp-* settings at the house.
func (g *googleEmulator) demoSeller(o *gcpOptions, key []byte) {
	o.providerID, o.credentialsJSON = google.DemoProviderID, key
	o.procurementURL, o.serviceControlURL = g.base+"/procurement/", g.base+"/servicecontrol/"
	o.signupCertsURL = g.id.PartnerCertsURL()
	o.pushCertsURL = g.id.OIDCJWKSURL()
	o.pushServiceAccount = google.DemoPushAccount
}

// googleOutbox is the market's outbox as the push sender reads it.
type googleOutbox struct{ g *googleEmulator }

func (o googleOutbox) Pending(ctx context.Context, limit int) ([]pubsub.Event, error) {
	ds, err := o.g.house.Market().PendingEvents(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]pubsub.Event, 0, len(ds))
	for _, d := range ds {
		data, err := json.Marshal(d.Event)
		if err != nil {
			return nil, err
		}
		out = append(out, pubsub.Event{ID: d.Event.EventID, Data: data, PublishTime: d.CreatedAt})
	}
	return out, nil
}

func (o googleOutbox) Delivered(ctx context.Context, id string) error {
	return o.g.house.Market().MarkDelivered(ctx, id)
}

// googleBuyerMarket is the house's market as the buyer pages see it.
type googleBuyerMarket struct{ g *googleEmulator }

var _ buyer.Market = (*googleBuyerMarket)(nil)

func (b *googleBuyerMarket) market() *gmarket.Market { return b.g.house.Market() }

func (b *googleBuyerMarket) Products(_ context.Context, billingAccount string) ([]buyer.Product, error) {
	var out []buyer.Product
	for _, p := range b.market().ProductsFor(billingAccount) {
		bp := buyer.Product{Name: p.ServiceName, DisplayName: p.DisplayName, Description: p.Description}
		for _, pl := range p.Plans {
			if !pl.Private {
				bp.Plans = append(bp.Plans, buyerPlan(pl))
			}
		}
		for _, o := range p.PrivateOffers {
			if o.BillingAccount != billingAccount {
				continue
			}
			for _, pl := range p.Plans {
				if pl.Name == o.Plan {
					bpl := buyerPlan(pl)
					bpl.Offer, bpl.Term, bpl.TermEnd, bpl.Start = p.OfferName(o.ID), o.Duration, o.EndTime, o.StartTime
					bp.Plans = append(bp.Plans, bpl)
				}
			}
		}
		out = append(out, bp)
	}
	return out, nil
}

func buyerPlan(pl gmarket.Plan) buyer.Plan {
	bp := buyer.Plan{ID: pl.Name, DisplayName: pl.DisplayName, Description: pl.Description}
	if pl.MonthlyMicros > 0 {
		bp.Prices = append(bp.Prices, buyer.Price{Amount: buyer.Micros(pl.MonthlyMicros), Per: "month"})
	}
	for metric, micros := range pl.Metrics {
		_, unit, _ := strings.Cut(metric, "/")
		bp.Prices = append(bp.Prices, buyer.Price{Amount: buyer.Micros(micros), Per: unit})
	}
	return bp
}

func (b *googleBuyerMarket) Order(ctx context.Context, o buyer.OrderRequest) (buyer.Order, error) {
	e, a, err := b.market().Order(ctx, gmarket.OrderRequest{BillingAccount: o.BillingAccount, Product: o.Product, Plan: o.Plan,
		PrivateOffer: o.Offer, User: o.User})
	if err != nil {
		return buyer.Order{}, buyerError(err)
	}
	return buyer.Order{Account: a.ID, Entitlement: e.ID}, nil
}

func (b *googleBuyerMarket) Entitlements(_ context.Context, billingAccount string) ([]buyer.Entitlement, error) {
	var out []buyer.Entitlement
	for _, e := range b.market().EntitlementsOf(billingAccount) {
		approved := false
		if a, ok := b.market().Account(e.Account); ok {
			approved = a.SignupState() == "APPROVED"
		}
		end := e.OfferEndTime
		if end.IsZero() {
			end = e.SubscriptionEndTime
		}
		out = append(out, buyer.Entitlement{ID: e.ID, Account: e.Account, AccountApproved: approved, Product: e.Product, Plan: e.Plan,
			NewPendingPlan: e.NewPendingPlan, State: e.State, Offer: e.Offer, TermEnd: end, UsageReportingID: e.UsageReportingID,
			MessageToUser: e.MessageToUser, CreateTime: e.CreateTime})
	}
	return out, nil
}

func (b *googleBuyerMarket) RequestPlanChange(ctx context.Context, billingAccount, entitlement, plan string) error {
	_, err := b.market().RequestPlanChange(ctx, billingAccount, entitlement, plan)
	return buyerError(err)
}

func (b *googleBuyerMarket) Cancel(ctx context.Context, billingAccount, entitlement string) error {
	_, err := b.market().Cancel(ctx, billingAccount, entitlement)
	return buyerError(err)
}

func (b *googleBuyerMarket) RevertCancellation(ctx context.Context, billingAccount, entitlement string) error {
	_, err := b.market().RevertCancellation(ctx, billingAccount, entitlement)
	return buyerError(err)
}

// SignupToken is the JWT of "Register with": its audience is the seller's
// sign-up URL's host, as Producer Portal's domain would be, and it is dated
// by the marketplace's clock.
func (b *googleBuyerMarket) SignupToken(_ context.Context, account string, orders []string, userIdentity string) (string, error) {
	aud := ""
	if u, err := url.Parse(b.market().Frontend().SignupURL); err == nil {
		aud = u.Host
	}
	return b.g.id.SignupToken(account, aud, orders, userIdentity, googleid.WithIssuedAt(b.g.now()))
}

func (b *googleBuyerMarket) BillingAccounts(context.Context) ([]buyer.BillingAccount, error) {
	var out []buyer.BillingAccount
	seen := map[string]bool{}
	for _, p := range b.market().Products() {
		for _, o := range p.PrivateOffers {
			if !seen[o.BillingAccount] {
				seen[o.BillingAccount] = true
				out = append(out, buyer.BillingAccount{Name: o.BillingAccount, Why: "private offer " + o.ID + " (" + p.DisplayName + ")"})
			}
		}
	}
	for _, ba := range b.market().BillingAccounts() {
		if !seen[ba] {
			seen[ba] = true
			out = append(out, buyer.BillingAccount{Name: ba, Why: "holds orders"})
		}
	}
	return out, nil
}

func (b *googleBuyerMarket) Settings(context.Context) (buyer.BuyerSettings, error) {
	f := b.market().Frontend()
	return buyer.BuyerSettings{Company: f.Company, SignupURL: f.SignupURL, SSOURL: f.SSOURL, LoginURL: f.LoginURL}, nil
}

// buyerError gives the market's refusals to the pages in words the buyer
// reads.
func buyerError(err error) error {
	if err == nil {
		return nil
	}
	var me *gmarket.Error
	if !errors.As(err, &me) {
		return err
	}
	kind := buyer.KindConflict
	switch me.Code {
	case gmarket.InvalidArgument:
		kind = buyer.KindInvalid
	case gmarket.NotFound, gmarket.PermissionDenied:
		kind = buyer.KindNotFound
	}
	return &buyer.Error{Kind: kind, Message: me.Message, Err: err}
}
