package main

import (
	"context"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/usage"
)

//go:embed demo-catalog.json
var demoCatalogJSON []byte

// marketOptions say which products are sold and how AWS is reached.
type marketOptions struct {
	catalogPath string
	// demoEndpoint, set by demo, sends the AWS calls to the in-process
	// emulator with its credentials instead of the SDK's environment.
	demoEndpoint string
	snsCertHost  string
	// agreementAPI reads agreements and their terms (#13).
	agreementAPI bool

	eventBridgeKey, eventBridgeHeader string
	// sellerAccount and notificationRegion say where AWS Marketplace's
	// notifications may come from (#11); see origins.
	sellerAccount, notificationRegion string
	// buyerConsoleURL is where buyers manage subscriptions; the demo sets
	// the emulator's pages, serve leaves AWS's console.
	buyerConsoleURL string
	// snsCertCA is a PEM file of the CA whose TLS certificates are trusted
	// on snsCertHost besides the system's: an emulator's local CA (#13).
	snsCertCA string
	// demoCA, set by demo, is the in-process emulator's CA certificate.
	demoCA []byte
}

// trustedSNSHosts are the hosts besides AWS's whose SNS certificates are
// trusted: the configured one, and in the demo the emulator.
func (o marketOptions) trustedSNSHosts() []string {
	var hosts []string
	if o.snsCertHost != "" {
		hosts = append(hosts, o.snsCertHost)
	}
	if o.demoEndpoint != "" {
		hosts = append(hosts, strings.TrimPrefix(strings.TrimPrefix(o.demoEndpoint, "http://"), "https://"))
	}
	return hosts
}

// snsCertHostRoots are the CAs trusted on the hosts of trustedSNSHosts: the
// system's, plus --sns-cert-ca and the demo's emulator CA; nil when neither
// is given.
func (o marketOptions) snsCertHostRoots() (*x509.CertPool, error) {
	if o.snsCertCA == "" && o.demoCA == nil {
		return nil, nil
	}
	if o.snsCertCA != "" && o.snsCertHost == "" {
		return nil, errors.New("--sns-cert-ca: give --sns-cert-host too, the host whose certificates this CA vouches for")
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool() // no system pool here: the CA alone is still of use
	}
	if o.snsCertCA != "" {
		pemBytes, err := os.ReadFile(o.snsCertCA)
		if err != nil {
			return nil, fmt.Errorf("--sns-cert-ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--sns-cert-ca: %s holds no PEM certificate", o.snsCertCA)
		}
	}
	if o.demoCA != nil && !roots.AppendCertsFromPEM(o.demoCA) {
		return nil, errors.New("the demo emulator's CA is not a PEM certificate")
	}
	return roots, nil
}

// origins are the accounts and regions AWS Marketplace's notifications are
// believed from: AWS Marketplace's topic account, the region given (AWS's
// us-east-1 by default), and for EventBridge the seller's account if given.
func (o marketOptions) origins() awsmp.Origins {
	orig := awsmp.Origins{Regions: []string{o.notificationRegion}}
	if o.sellerAccount != "" {
		orig.SellerAccounts = []string{o.sellerAccount}
	}
	return orig
}

// demoCatalog is the catalog of the emulator's demo products.
func demoCatalog() (*marketplace.Catalog, error) {
	var f struct {
		Meters   []marketplace.Meter   `json:"meters"`
		Products []marketplace.Product `json:"products"`
	}
	if err := json.Unmarshal(demoCatalogJSON, &f); err != nil {
		return nil, fmt.Errorf("demo catalog: %w", err)
	}
	return marketplace.NewCatalog(f.Products, f.Meters...)
}

// marketplaceDeps loads the catalog and builds the AWS client.
func marketplaceDeps(ctx context.Context, o marketOptions, logger *slog.Logger) (*marketplace.Catalog, *awsmp.Client, error) {
	var catalog *marketplace.Catalog
	var err error
	switch {
	case o.catalogPath != "":
		catalog, err = marketplace.LoadCatalog(o.catalogPath)
	case o.demoEndpoint != "":
		catalog, err = demoCatalog()
	default:
		logger.Warn("no --catalog given: marketplace set-ups will be told the product is not configured")
		catalog, err = marketplace.NewCatalog(nil)
	}
	if err != nil {
		return nil, nil, err
	}
	if o.demoEndpoint != "" {
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
		return catalog, awsmp.New(cfg, awsmp.Endpoints{Metering: o.demoEndpoint, Entitlement: o.demoEndpoint, Agreement: o.demoEndpoint}), nil
	}
	// The SDK's standard environment: AWS_REGION, credentials, and
	// AWS_ENDPOINT_URL_MARKETPLACE_METERING / _ENTITLEMENT_SERVICE /
	// _MARKETPLACE_AGREEMENT to point at an emulator.
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
		logger.Info("AWS_REGION is not set: using us-east-1 for AWS Marketplace")
	}
	return catalog, awsmp.New(cfg, awsmp.Endpoints{}), nil
}

// catalogMeters lets usage ingestion check meter names against the
// catalog, and an hour's usage against its money bound.
type catalogMeters struct{ c *marketplace.Catalog }

func (m catalogMeters) Meter(name string) (usage.Meter, bool) {
	meter, ok := m.c.Meter(name)
	return usage.Meter{Name: name, PriceMicros: meter.PriceMicros}, ok
}
