package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/marketbridge/marketbridge/internal/clock"
	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/google"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

func newDemoCommand() *command {
	c := &command{Command: config.NewCommand("demo",
		"Run everything on embedded defaults: the seller service and the AWS Marketplace emulator, and print the URLs to open.",
		"The quickest way to see marketbridge: no database server, no AWS account, no mail server needed. The emulator\n"+
			"plays AWS Marketplace with a demo catalog (a pay-as-you-go listing and a committed contract); the seller\n"+
			"service keeps its data in SQLite and its mail in a dev mailbox. Data is kept in the data folder between\n"+
			"runs; delete the folder, or pass --reset, to start over.")}
	var o serveOptions
	// The demo's mail is shown, not sent, unless --smtp-url says otherwise.
	o.bind(c.Command, true)
	var emuAddr string
	var reset bool
	var speed float64
	c.Flags.StringVar(&emuAddr, "emulator-addr", "127.0.0.1:8081", "address the AWS Marketplace emulator listens on")
	c.Flags.BoolVar(&reset, "reset", false, "start the emulator from a clean state")
	c.Flags.Float64Var(&speed, "clock-speed", 60, "how many times as fast as real time the marketplace's clock runs (1 to 3600), "+
		"for the emulator and for the seller's subscriptions, usage and metering, --metering-interval included: at 60 an hour "+
		"closes, and is metered to the emulator, every real minute; log-ins and links in mail keep real time")
	c.run = func(ctx context.Context, e env) error {
		if !o.mail.DevMailbox() {
			o.devMailbox = false
		}
		// Deliver webhooks to the dev inbox too, as to the vendor's product.
		o.devWebhooks = true
		var speedErr error
		if speed < 1 || speed > maxClockSpeed {
			speedErr = fmt.Errorf("--clock-speed: %g is not between 1 (real time) and %d (an hour a second)", speed, maxClockSpeed)
		}
		if err := joinErrors(o.validate(), speedErr); err != nil {
			return err
		}
		logger := o.log.Logger(e.stderr)
		if err := o.storage.PrepareDataDir(); err != nil {
			return err
		}
		sellerLn, err := listen(o.http.Addr)
		if err != nil {
			return err
		}
		defer sellerLn.Close()
		emuLn, err := listen(emuAddr)
		if err != nil {
			return err
		}
		defer emuLn.Close()
		sellerURL, emuURL := "http://"+sellerLn.Addr().String(), "http://"+emuLn.Addr().String()
		if o.baseURL != "" {
			sellerURL = o.baseURL
		}

		emu, err := emulator.New(ctx, emulator.Config{DataDir: o.storage.DataDir, Reset: reset, PublicURL: emuURL,
			AccessKeyID: "test", SecretAccessKey: "test"}, logger.With("component", "emulator"))
		if err != nil {
			return err
		}
		defer emu.Close()
		demo, err := emu.SeedDemo(ctx, market.DemoInput{FulfillmentURL: sellerURL + "/marketplace/aws/fulfillment",
			SNSEndpoint: sellerURL + "/marketplace/aws/sns"})
		if err != nil {
			return fmt.Errorf("seed the emulator's demo catalog: %w", err)
		}
		// Microsoft's marketplace and its Entra ID on the same port, over
		// https with the same CA (#15).
		emuHTTPS, err := httpsURL(emuURL)
		if err != nil {
			return err
		}
		ms, err := newMicrosoftEmulator(ctx, o.storage.DataDir, reset, emuHTTPS, emu.Market().Now, logger.With("component", "emulator"))
		if err != nil {
			return err
		}
		defer ms.Close()
		if err := ms.seedDemo(ctx, sellerURL); err != nil {
			return err
		}
		ms.demoSeller(&o.azure, emu.CACertificatePEM())
		// Google's house on the same port too (#16), pushing its Pub/Sub
		// messages to the seller.
		gs, err := newGoogleEmulator(ctx, o.storage.DataDir, reset, emuURL,
			googlePush{Endpoint: sellerURL + "/marketplace/gcp/pubsub"}, emu.Market().Now, logger.With("component", "emulator"))
		if err != nil {
			return err
		}
		defer gs.Close()
		gkey, err := gs.seedDemo(ctx, sellerURL, o.storage.DataDir)
		if err != nil {
			return err
		}
		gs.demoSeller(&o.gcp, gkey)
		o.market.demoEndpoint = emuURL
		// The emulator's SNS URLs are https on its port; the seller trusts
		// its CA for that host only.
		o.market.demoCA = emu.CACertificatePEM()
		o.market.buyerConsoleURL = emuURL + "/buyer/subscriptions"
		// The demo has one marketplace clock, the emulator's: the seller
		// reads it too, so that both agree on which hours are closed and on
		// AWS's timestamp window, also after its clock is advanced by hand
		// or the demo restarts with the emulator's clock where it was.
		pace := clock.NewScaled(speed, time.Now)
		o.clock = marketClock{now: emu.Market().Now, pace: pace}

		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var emuErr error
		wg.Go(func() {
			emuErr = serveHTTP(ctx, logger, emu.Listener(emuLn), gs.mount(ms.mount(emu.Handler())), config.HTTP{RequestTimeout: time.Minute, ShutdownTimeout: o.http.ShutdownTimeout})
			cancel() // the demo is both or nothing
		})
		if speed > 1 {
			wg.Go(func() { paceEmulatorClock(ctx, emu.Market(), pace, logger.With("component", "emulator")) })
		}
		err = runSeller(ctx, e, o, sellerLn, func(s seller) {
			fmt.Fprintf(e.stdout, "\nmarketbridge demo is running. Open:\n\n"+
				"  AWS Marketplace (emulated)  %s/buyer/   pick a buyer account, search \"Example Cloud\", subscribe,\n"+
				"                              then \"Set up your account\"; private offers are in the buyer's inbox\n"+
				"  Microsoft's marketplace     %s/azure/buyer/   sign in as a tenant (%s sees the private plan),\n"+
				"   (emulated)                 buy \"Example Cloud\", then \"Configure account now\"\n"+
				"  Google Cloud Marketplace    %s/google/buyer/   sign in with a billing account (%s holds a\n"+
				"   (emulated)                 private offer), order \"Example Cloud\", then \"Register with Example Cloud\"\n"+
				"  seller console              %s/   (register; mail arrives in the dev mailbox)\n"+
				"  dev mailbox                 %s/dev/mailbox\n"+
				"  dev webhook inbox           %s/dev/webhooks\n"+
				"  health, metrics             %s/healthz, %s\n\n"+
				"Demo buyer accounts: %s (full access, holds a private offer), %s (read-only).\n"+
				"The marketplace's clock runs %gx real time (--clock-speed); its time is at %s/emulator/v1/clock.\n"+
				"The emulator also answers https on its port, with a certificate from the CA in %s.\n"+
				"Data folder: %s. Press Ctrl+C to stop.\n\n",
				emuURL, emuURL, demoAzureBuyerTenant, emuURL, google.DemoBillingAccount, s.url, s.url, s.url, s.url, s.metricsURL, demo.Buyer.ID, demo.ReadOnlyBuyer.ID, speed, emuURL, emu.CAFile(), o.storage.DataDir)
		})
		cancel()
		wg.Wait()
		return joinErrors(err, emuErr)
	}
	return c
}

// maxClockSpeed is an hour a second. AWS's six-hour window for a metering
// record then lasts six real seconds; faster, a record could age out of it
// before the metering worker's next round.
const maxClockSpeed = 3600

// paceEmulatorClock moves the emulator's clock forward in small steps so that
// it runs as fast as pace. The emulator keeps its own clock on real time plus
// an offset, and its signature checks and delivery retries on real time, as
// AWS's do: only the offset may run fast. Moves made through its control API
// stay on top.
func paceEmulatorClock(ctx context.Context, m *market.Market, pace *clock.Scaled, logger *slog.Logger) {
	// A step of about a minute of the clock; at most a second apart, so
	// that a slow clock still moves smoothly, and at least
	// minWorkerInterval, so that a fast one does not keep the emulator busy.
	step := min(max(pace.ToReal(time.Minute), minWorkerInterval), time.Second)
	t := time.NewTicker(step)
	defer t.Stop()
	var moved time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d := pace.Ahead() - moved
		if d <= 0 {
			continue
		}
		if _, err := m.AdvanceClock(ctx, d); err != nil {
			if ctx.Err() == nil {
				logger.Warn("advance the emulator's clock", "err", err)
			}
			continue
		}
		moved += d
	}
}
