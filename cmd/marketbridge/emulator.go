package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// emulatorOptions are the AWS Marketplace emulator's settings, shared by
// emulator and (for the in-process emulator) demo.
type emulatorOptions struct {
	addr            string
	publicURL       string
	dataDir         string
	reset           bool
	accessKeyID     string
	secretKey       string
	sellerAccountID string
	region          string
	tokenTTL        time.Duration
	finalWindow     time.Duration
	meteringWindow  time.Duration
	throttleRate    float64
	deprovisionAt   string
	seedDemo        string
	shutdownTimeout time.Duration
	log             config.Log
}

func (o *emulatorOptions) bind(c *config.Command) {
	fs := c.Flags
	fs.StringVar(&o.addr, "emulator-addr", "127.0.0.1:8081", "address the AWS Marketplace emulator listens on")
	fs.StringVar(&o.publicURL, "emulator-url", "", "the emulator's public URL, used in SNS and page links (default http://EMULATOR-ADDR)")
	fs.StringVar(&o.dataDir, "data", config.DefaultDataDir, "data folder; the emulator keeps its state in emulator.db there, and its HTTPS CA in emulator-ca.pem")
	fs.BoolVar(&o.reset, "reset", false, "delete the emulator's saved state and start clean")
	fs.StringVar(&o.accessKeyID, "aws-access-key-id", "test", "access key id the emulator's AWS API accepts")
	fs.StringVar(&o.secretKey, "aws-secret-access-key", "test", "secret access key the emulator's AWS API accepts")
	fs.StringVar(&o.sellerAccountID, "seller-account-id", "111122223333", "AWS account id of the seller those credentials stand for")
	fs.StringVar(&o.region, "region", "us-east-1", "region of SNS topics and EventBridge events")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 4*time.Hour, "how long a registration token resolves")
	fs.DurationVar(&o.finalWindow, "final-metering-window", time.Hour, "how long metering is accepted after a cancellation")
	fs.DurationVar(&o.meteringWindow, "metering-window", 6*time.Hour, "how far in the past a usage record's timestamp may be")
	fs.Float64Var(&o.throttleRate, "throttle-rate", 10, "requests per second per seller account and operation before ThrottlingException (0 turns it off)")
	fs.StringVar(&o.deprovisionAt, "deprovision-at", "window-end", "when License Deprovisioned is sent after a cancellation: cancel or window-end")
	fs.StringVar(&o.seedDemo, "seed-demo", "", "create the demo catalog with this fulfillment URL (e.g. http://127.0.0.1:8080/marketplace/aws/fulfillment)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long shutdown waits for requests in flight")
	o.log.Bind(fs)
}

func (o *emulatorOptions) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		errs = append(errs, fmt.Errorf("--emulator-addr: %q is not host:port: %w", o.addr, err))
	}
	if o.deprovisionAt != "cancel" && o.deprovisionAt != "window-end" {
		errs = append(errs, fmt.Errorf("--deprovision-at: %q is not cancel or window-end", o.deprovisionAt))
	}
	if o.shutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: must be positive"))
	}
	errs = append(errs, o.log.Validate(), o.config().Validate())
	return joinErrors(errs...)
}

func (o *emulatorOptions) url() string {
	if o.publicURL != "" {
		return o.publicURL
	}
	return "http://" + o.addr
}

func (o *emulatorOptions) config() emulator.Config {
	return emulator.Config{
		DataDir: o.dataDir, Reset: o.reset, PublicURL: o.url(),
		AccessKeyID: o.accessKeyID, SecretAccessKey: o.secretKey,
		Settings: market.Settings{
			Region: o.region, SellerAccountID: o.sellerAccountID, TokenTTL: o.tokenTTL,
			FinalMeteringWindow: o.finalWindow, MeteringWindow: o.meteringWindow,
			// 0 is documented as off: the market's zero value means AWS's
			// default rate, so off is said explicitly (#13).
			ThrottleRate: o.throttleRate, ThrottleBurst: max(1, int(o.throttleRate+0.999)), ThrottleOff: o.throttleRate == 0,
			DeprovisionAtCancel: o.deprovisionAt == "cancel",
		},
	}
}

func newEmulatorCommand() *command {
	c := &command{Command: config.NewCommand("emulator",
		"Run the marketplace emulators (AWS Marketplace, Microsoft's commercial marketplace, Google Cloud Marketplace) alone, for your own CI (see docs/emulator.md).",
		"Serves the AWS API (ResolveCustomer, BatchMeterUsage, GetEntitlements, and the Agreement Service's DescribeAgreement,\n"+
			"GetAgreementTerms, SearchAgreements) on POST /, the buyer pages under /buyer/,\n"+
			"and the control API under /emulator/v1/. Point the AWS SDK at it with AWS_ENDPOINT_URL and credentials test/test.\n"+
			"Microsoft's SaaS Fulfillment and Metering APIs are under /azure/api/, its control API under /azure/emulator/v1/,\n"+
			"and its Entra ID stand-in under /entra/; Google's Procurement API, Service Control, identity, buyer pages and\n"+
			"control API under /google/; all on the same port, over HTTP and HTTPS.")}
	var o emulatorOptions
	o.bind(c.Command)
	c.run = func(ctx context.Context, e env) error {
		if err := o.validate(); err != nil {
			return err
		}
		logger := o.log.Logger(e.stderr)
		return runEmulator(ctx, logger, o, func(url string, emu *emulator.Emulator, ms *microsoftEmulator) {
			fmt.Fprintf(e.stdout, "\nAWS Marketplace, Microsoft commercial marketplace and Google Cloud Marketplace emulators are running.\n\n"+
				"  AWS API        POST %s/   (AWS_ENDPOINT_URL=%s, credentials %s / ...)\n"+
				"  buyer pages    %s/buyer/\n"+
				"  control API    %s/emulator/v1/status\n"+
				"  SNS            %s\n"+
				"  HTTPS CA       %s   (the same port answers https; give this CA to SNS verifiers,\n"+
				"                 e.g. marketbridge serve --sns-cert-ca with --sns-cert-host)\n\n"+
				"Microsoft's commercial marketplace:\n"+
				"  API            %s   (marketbridge serve --azure-api-url)\n"+
				"  Entra ID       %s   (--azure-authority-host; --azure-ca the CA above)\n"+
				"  control API    %s/azure/emulator/v1/status\n"+
				"  demo app       tenant %s, client %s, secret %s (with --seed-demo)\n\n"+
				"Google Cloud Marketplace:\n"+
				"  Procurement    %s/google/procurement/   (marketbridge serve --gcp-procurement-url)\n"+
				"  Service Control %s/google/servicecontrol/   (--gcp-service-control-url)\n"+
				"  identity       %s/google/id/   (sign-up keys, push keys, token endpoint)\n"+
				"  buyer pages    %s/google/buyer/\n"+
				"  control API    %s/google/emulator/v1/entitlements\n"+
				"  seller's key   %s/%s   (--gcp-credentials, with --seed-demo)\n\n"+
				"State: %s/emulator.db, azure-emulator.db and google/. Press Ctrl+C to stop.\n\n", url, url, o.accessKeyID, url, url,
				emu.Market().SigningCertURL(), emu.CAFile(), ms.apiURL, ms.authorityHost, url,
				demoAzureTenantID, demoAzureClientID, demoAzureClientSecret,
				url, url, url, url, url, o.dataDir, googleKeyFile, o.dataDir)
		})
	}
	return c
}

// runEmulator serves the emulator until ctx ends, HTTP and HTTPS on one
// port. started, when not nil, is called with its URL once it listens.
func runEmulator(ctx context.Context, logger *slog.Logger, o emulatorOptions, started func(url string, emu *emulator.Emulator, ms *microsoftEmulator)) error {
	ln, err := listen(o.addr)
	if err != nil {
		return err
	}
	emu, err := emulator.New(ctx, o.config(), logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() {
		if cerr := emu.Close(); cerr != nil {
			logger.Error("close emulator", "err", cerr)
		}
	}()
	httpsBase, err := httpsURL(o.url())
	if err != nil {
		ln.Close()
		return err
	}
	ms, err := newMicrosoftEmulator(ctx, o.dataDir, o.reset, httpsBase, emu.Market().Now, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer ms.Close()
	// Google's house pushes to the seed's seller, when there is one.
	var push googlePush
	var seller *url.URL
	if o.seedDemo != "" {
		if seller, err = url.Parse(o.seedDemo); err != nil || seller.Host == "" {
			ln.Close()
			return fmt.Errorf("--seed-demo: %q is not a URL", o.seedDemo)
		}
		push.Endpoint = seller.Scheme + "://" + seller.Host + "/marketplace/gcp/pubsub"
	}
	gs, err := newGoogleEmulator(ctx, o.dataDir, o.reset, o.url(), push, emu.Market().Now, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer gs.Close()
	if o.seedDemo != "" {
		if _, err := emu.SeedDemo(ctx, market.DemoInput{FulfillmentURL: o.seedDemo}); err != nil {
			ln.Close()
			return fmt.Errorf("seed demo catalog: %w", err)
		}
		// Microsoft's landing page and webhook, and Google's sign-up URL
		// and push endpoint, are on the same seller.
		if err := ms.seedDemo(ctx, seller.Scheme+"://"+seller.Host); err != nil {
			ln.Close()
			return err
		}
		if _, err := gs.seedDemo(ctx, seller.Scheme+"://"+seller.Host, o.dataDir); err != nil {
			ln.Close()
			return err
		}
	}
	logger.Info("emulator listening", "addr", ln.Addr().String(), "url", o.url(), "ca_file", emu.CAFile())
	if started != nil {
		started(o.url(), emu, ms)
	}
	return serveHTTP(ctx, logger, emu.Listener(ln), gs.mount(ms.mount(emu.Handler())), config.HTTP{Addr: o.addr, RequestTimeout: 2 * time.Minute, ShutdownTimeout: o.shutdownTimeout})
}
