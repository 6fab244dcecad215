package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/azuremp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/web"
)

// azureOptions say how Microsoft's commercial marketplace is reached (#15,
// docs/azure-setup.md). Nothing of it runs without a tenant id.
type azureOptions struct {
	tenantID, clientID, clientSecret string
	appIDURI                         string
	apiURL, authorityHost            string
	// caFile is a PEM file of a CA trusted besides the system's on both
	// hosts: the emulator's local CA.
	caFile string
	// demoCA, set by demo, is the in-process emulator's CA certificate.
	demoCA []byte
	// meteringRate paces batchUsageEvent calls; Microsoft publishes no
	// quota, so it is the seller's own restraint.
	meteringRate      float64
	reconcileInterval time.Duration
}

func (o *azureOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.tenantID, "azure-tenant-id", "", "the Microsoft Entra tenant id of the app registered in Partner Center's technical configuration; empty: not selling through Microsoft's commercial marketplace")
	fs.StringVar(&o.clientID, "azure-client-id", "", "the Microsoft Entra application (client) id registered in Partner Center")
	fs.StringVar(&o.clientSecret, "azure-client-secret", "", "that app's client secret (prefer MARKETBRIDGE_AZURE_CLIENT_SECRET: flags show in process lists)")
	fs.StringVar(&o.appIDURI, "azure-app-id-uri", "", "the app's Application ID URI, if it has one: webhook tokens may name it as their audience")
	fs.StringVar(&o.apiURL, "azure-api-url", azuremp.DefaultBaseURL, "the SaaS Fulfillment and Metering APIs' base URL (an emulator's, e.g. https://127.0.0.1:8081/azure/api)")
	fs.StringVar(&o.authorityHost, "azure-authority-host", azuremp.DefaultAuthorityHost, "Microsoft Entra ID's authority host (an emulator's, e.g. https://127.0.0.1:8081/entra/)")
	fs.StringVar(&o.caFile, "azure-ca", "", "a PEM file of a CA trusted besides the system's for --azure-api-url and --azure-authority-host (the emulator's emulator-ca.pem)")
	fs.Float64Var(&o.meteringRate, "azure-metering-rate", 5, "batchUsageEvent calls per second that all processes on this database make together (Microsoft publishes no quota)")
	fs.DurationVar(&o.reconcileInterval, "azure-reconcile-interval", time.Hour, "how often every SaaS subscription is listed from Microsoft to repair missed webhook calls; 0 never")
}

func (o azureOptions) enabled() bool { return o.tenantID != "" || o.demoCA != nil }

func (o azureOptions) validate() error {
	if !o.enabled() {
		if o.clientID != "" || o.caFile != "" {
			return errors.New("--azure-client-id, --azure-ca: give --azure-tenant-id too")
		}
		return nil
	}
	var errs []error
	if !(o.meteringRate >= 1.0/60) || math.IsInf(o.meteringRate, 0) {
		errs = append(errs, errors.New("--azure-metering-rate: at least one call a minute"))
	}
	if o.reconcileInterval < 0 {
		errs = append(errs, errors.New("--azure-reconcile-interval must not be negative"))
	}
	if _, err := o.httpClient(); err != nil {
		errs = append(errs, err)
	}
	if err := o.config(nil, nil).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Microsoft's marketplace (--azure-*): %w", err))
	}
	return errors.Join(errs...)
}

// httpClient trusts the system's CAs and --azure-ca's (or the demo's);
// nil when there is neither.
func (o azureOptions) httpClient() (*http.Client, error) {
	return caClient("--azure-ca", o.caFile, o.demoCA)
}

// caClient is an HTTP client that trusts the system's CAs and those of
// the PEM file caFile (named flag in errors) and of extra; nil when there
// are none.
func caClient(flag, caFile string, extra []byte) (*http.Client, error) {
	if caFile == "" && extra == nil {
		return nil, nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", flag, caFile)
		}
	}
	if extra != nil && !roots.AppendCertsFromPEM(extra) {
		return nil, errors.New("the demo emulator's CA is not a PEM certificate")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

func (o azureOptions) config(client *http.Client, now func() time.Time) azuremp.Config {
	return azuremp.Config{BaseURL: o.apiURL, AuthorityHost: o.authorityHost, TenantID: o.tenantID, ClientID: o.clientID,
		ClientSecret: o.clientSecret, AppIDURI: o.appIDURI, HTTPClient: client, Now: now}
}

// azureDeps is what the seller needs of Microsoft's marketplace: the
// core's provider, the webhook's notices and the metering sender's
// meterer; all nil when it does not sell there.
type azureDeps struct {
	provider *azuremp.Provider
	notices  *azuremp.Notices
	meter    *azuremp.Meter
}

func (o azureOptions) build(now func() time.Time) (azureDeps, error) {
	if !o.enabled() {
		return azureDeps{}, nil
	}
	client, err := o.httpClient()
	if err != nil {
		return azureDeps{}, err
	}
	cfg := o.config(client, now)
	c, err := azuremp.New(cfg)
	if err != nil {
		return azureDeps{}, err
	}
	v, err := azuremp.NewWebhookVerifier(cfg)
	if err != nil {
		return azureDeps{}, err
	}
	return azureDeps{provider: azuremp.NewProvider(c), notices: azuremp.NewNotices(v, now), meter: azuremp.NewMeter(c)}, nil
}

// productsOf are the codes of the catalog's products sold on marketplace.
func productsOf(catalog *marketplace.Catalog, name string) []string {
	var codes []string
	for _, p := range catalog.Products() {
		if p.Marketplace == name {
			codes = append(codes, p.Code)
		}
	}
	return codes
}

// azureMeteringWindow is how old a record may be and still go to
// Microsoft, which takes the last 24 hours: an hour's margin for the call
// and clocks that differ.
const azureMeteringWindow = 23 * time.Hour

// marketplaceSender sends the metering records of one marketplace's
// products, through its meterer and at its pace; nil when the catalog
// sells nothing there.
func marketplaceSender(name string, meter metering.Meterer, window time.Duration, catalog *marketplace.Catalog, pacer metering.Pacer,
	base metering.SenderConfig) (*metering.Sender, error) {
	base.Meterer, base.Pacer, base.Window, base.Products = meter, pacer, window, productsOf(catalog, name)
	base.Marketplace = marketplace.Label(name)
	if len(base.Products) == 0 {
		return nil, nil
	}
	return metering.NewSender(base)
}

// azureNotices is the web server's AzureNotices: a nil interface, not a
// nil pointer in one, when Microsoft's marketplace is not configured.
func azureNotices(d azureDeps) web.NoticeReader {
	if d.notices == nil {
		return nil
	}
	return d.notices
}
