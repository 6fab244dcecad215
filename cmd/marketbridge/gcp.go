package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/gcpmp"
	"github.com/marketbridge/marketbridge/internal/web"
)

// gcpOptions say how Google Cloud Marketplace is reached (#16,
// docs/gcp-setup.md). Nothing of it runs without a provider id.
type gcpOptions struct {
	providerID      string
	credentialsFile string
	// credentialsJSON, set by demo, is the emulator's service-account key.
	credentialsJSON                   []byte
	procurementURL, serviceControlURL string
	signupAudience                    string
	signupCertsURL, signupIssuer      string
	pushAudience, pushServiceAccount  string
	pushCertsURL                      string
	planChanges                       string
	// caFile is a PEM file of a CA trusted besides the system's on every
	// Google host configured: an emulator's local CA.
	caFile            string
	meteringRate      float64
	reconcileInterval time.Duration
}

func (o *gcpOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.providerID, "gcp-provider-id", "", "the partner (provider) id Producer Portal shows for Google Cloud Marketplace; empty: not selling there")
	fs.StringVar(&o.credentialsFile, "gcp-credentials", "", "the JSON key file of the service account linked in Producer Portal (Procurement API and Service Control)")
	fs.StringVar(&o.procurementURL, "gcp-procurement-url", gcpmp.DefaultProcurementURL, "the Partner Procurement API's endpoint (an emulator's, e.g. http://127.0.0.1:8081/google/procurement/)")
	fs.StringVar(&o.serviceControlURL, "gcp-service-control-url", gcpmp.DefaultServiceControlURL, "Service Control's endpoint (an emulator's, e.g. http://127.0.0.1:8081/google/servicecontrol/)")
	fs.StringVar(&o.signupAudience, "gcp-signup-audience", "", "the aud of Google's sign-up tokens: the domain registered for the product in Producer Portal, comma-separated if several (default: --base-url's host)")
	fs.StringVar(&o.signupCertsURL, "gcp-signup-certs-url", gcpmp.DefaultSignupCertsURL, "where the sign-up tokens' keys are published (an x509 certificate map)")
	fs.StringVar(&o.signupIssuer, "gcp-signup-issuer", gcpmp.DefaultSignupIssuer, "the iss of Google's sign-up tokens")
	fs.StringVar(&o.pushAudience, "gcp-push-audience", "", "the audience of the Pub/Sub push subscription's OIDC tokens (default: --base-url + /marketplace/gcp/pubsub, Pub/Sub's own default)")
	fs.StringVar(&o.pushServiceAccount, "gcp-push-service-account", "", "the service account e-mail the push subscription authenticates as")
	fs.StringVar(&o.pushCertsURL, "gcp-push-certs-url", gcpmp.DefaultPushCertsURL, "the key set (JWKS) of the push tokens")
	fs.StringVar(&o.planChanges, "gcp-plan-changes", gcpmp.PlanChangesApprove, "what to answer a buyer's plan change: approve or reject")
	fs.StringVar(&o.caFile, "gcp-ca", "", "a PEM file of a CA trusted besides the system's for the Google hosts above (an emulator's emulator-ca.pem)")
	fs.Float64Var(&o.meteringRate, "gcp-metering-rate", 5, "Service Control calls per second that all processes on this database make together (Google publishes no quota for them)")
	fs.DurationVar(&o.reconcileInterval, "gcp-reconcile-interval", time.Hour, "how often every entitlement is listed from Google to repair missed Pub/Sub messages; 0 never")
}

func (o gcpOptions) enabled() bool { return o.providerID != "" }

func (o gcpOptions) validate(baseURL string) error {
	if !o.enabled() {
		if o.credentialsFile != "" || o.pushServiceAccount != "" || o.caFile != "" {
			return errors.New("--gcp-credentials, --gcp-push-service-account, --gcp-ca: give --gcp-provider-id too")
		}
		return nil
	}
	var errs []error
	if !(o.meteringRate >= 1.0/60) || math.IsInf(o.meteringRate, 0) {
		errs = append(errs, errors.New("--gcp-metering-rate: at least one call a minute"))
	}
	if o.reconcileInterval < 0 {
		errs = append(errs, errors.New("--gcp-reconcile-interval must not be negative"))
	}
	if o.credentialsFile == "" && o.credentialsJSON == nil {
		errs = append(errs, errors.New("--gcp-credentials: the JSON key file of the service account linked in Producer Portal is required"))
	}
	if _, err := o.httpClient(); err != nil {
		errs = append(errs, err)
	}
	if baseURL == "" {
		baseURL = "http://127.0.0.1" // serve's default is http://ADDR, on loopback
	}
	// The products come from the catalog, read later; one stands in.
	cfg, err := o.config(nil, baseURL, []string{"example.gcpmarketplace.example.com"}, nil)
	if err != nil {
		errs = append(errs, err)
	} else if err := cfg.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Google Cloud Marketplace (--gcp-*): %w", err))
	}
	return errors.Join(errs...)
}

// httpClient trusts the system's CAs and --gcp-ca's; nil when there is
// no such file.
func (o gcpOptions) httpClient() (*http.Client, error) { return caClient("--gcp-ca", o.caFile, nil) }

// config is gcpmp's configuration; the audiences default to what Google
// sends when the seller's public URL is what Producer Portal names.
func (o gcpOptions) config(client *http.Client, baseURL string, products []string, now func() time.Time) (gcpmp.Config, error) {
	creds := o.credentialsJSON
	if creds == nil && o.credentialsFile != "" {
		b, err := os.ReadFile(o.credentialsFile)
		if err != nil {
			return gcpmp.Config{}, fmt.Errorf("--gcp-credentials: %w", err)
		}
		creds = b
	}
	var audiences []string
	for _, a := range strings.Split(o.signupAudience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			audiences = append(audiences, a)
		}
	}
	if len(audiences) == 0 {
		if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
			audiences = []string{u.Host}
		}
	}
	push := o.pushAudience
	if push == "" {
		push = strings.TrimSuffix(baseURL, "/") + "/marketplace/gcp/pubsub"
	}
	return gcpmp.Config{ProviderID: o.providerID, Products: products, ProcurementURL: o.procurementURL, ServiceControlURL: o.serviceControlURL,
		CredentialsJSON: creds, HTTPClient: client, PlanChanges: o.planChanges, Now: now,
		Signup: gcpmp.SignupConfig{CertsURL: o.signupCertsURL, Issuer: o.signupIssuer, Audiences: audiences},
		Push:   gcpmp.PushConfig{CertsURL: o.pushCertsURL, Audience: push, Email: o.pushServiceAccount}}, nil
}

// gcpDeps is what the seller needs of Google Cloud Marketplace: the
// core's provider, the push endpoint's notices and the metering sender's
// meterer; all nil when it does not sell there.
type gcpDeps struct {
	provider *gcpmp.Provider
	notices  *gcpmp.Notices
	meter    *gcpmp.Meter
}

func (o gcpOptions) build(ctx context.Context, catalog *marketplace.Catalog, baseURL string, now func() time.Time) (gcpDeps, error) {
	if !o.enabled() {
		return gcpDeps{}, nil
	}
	products := productsOf(catalog, marketplace.GCP)
	if len(products) == 0 {
		return gcpDeps{}, errors.New("--gcp-provider-id: the catalog (--catalog) lists no product with \"marketplace\": \"gcp\"")
	}
	client, err := o.httpClient()
	if err != nil {
		return gcpDeps{}, err
	}
	cfg, err := o.config(client, baseURL, products, now)
	if err != nil {
		return gcpDeps{}, err
	}
	c, err := gcpmp.New(ctx, cfg)
	if err != nil {
		return gcpDeps{}, err
	}
	return gcpDeps{provider: gcpmp.NewProvider(c), notices: gcpmp.NewNotices(c), meter: gcpmp.NewMeter(c)}, nil
}

// gcpMeteringWindow is how old a record's hour may be and still go to
// Service Control: Google wants usage within an hour of the hour it
// happened in; ten minutes' margin for the call and clocks that differ.
// An older record is carried into the next hour's, never dropped (R11).
const gcpMeteringWindow = 110 * time.Minute

// gcpNotices is the web server's GCPNotices: a nil interface, not a nil
// pointer in one, when Google Cloud Marketplace is not configured.
func gcpNotices(d gcpDeps) web.NoticeReader {
	if d.notices == nil {
		return nil
	}
	return d.notices
}
