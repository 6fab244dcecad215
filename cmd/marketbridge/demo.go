package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/emulator"
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
	c.Flags.StringVar(&emuAddr, "emulator-addr", "127.0.0.1:8081", "address the AWS Marketplace emulator listens on")
	c.Flags.BoolVar(&reset, "reset", false, "start the emulator from a clean state")
	c.run = func(ctx context.Context, e env) error {
		if !o.mail.DevMailbox() {
			o.devMailbox = false
		}
		if err := o.validate(); err != nil {
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
		o.market.demoEndpoint = emuURL
		o.market.buyerConsoleURL = emuURL + "/buyer/subscriptions"

		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var emuErr error
		wg.Go(func() {
			emuErr = serveHTTP(ctx, logger, emuLn, emu.Handler(), config.HTTP{RequestTimeout: time.Minute, ShutdownTimeout: o.http.ShutdownTimeout})
			cancel() // the demo is both or nothing
		})
		err = runSeller(ctx, e, o, sellerLn, func(s seller) {
			fmt.Fprintf(e.stdout, "\nmarketbridge demo is running. Open:\n\n"+
				"  AWS Marketplace (emulated)  %s/buyer/   pick a buyer account, search \"Example Cloud\", subscribe,\n"+
				"                              then \"Set up your account\"; private offers are in the buyer's inbox\n"+
				"  seller console              %s/   (register; mail arrives in the dev mailbox)\n"+
				"  dev mailbox                 %s/dev/mailbox\n"+
				"  health, metrics             %s/healthz, %s/metrics\n\n"+
				"Demo buyer accounts: %s (full access, holds a private offer), %s (read-only).\n"+
				"Data folder: %s. Press Ctrl+C to stop.\n\n",
				emuURL, s.url, s.url, s.url, s.url, demo.Buyer.ID, demo.ReadOnlyBuyer.ID, o.storage.DataDir)
		})
		cancel()
		wg.Wait()
		return joinErrors(err, emuErr)
	}
	return c
}
