package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
)

func newReconcileCommand() *command {
	c := &command{Command: config.NewCommand("reconcile",
		"Compare, per subscription and month, rated usage with what was metered to its marketplace, and flag differences.",
		"For each subscription billed through a marketplace (AWS's or Microsoft's): the cents its usage owes, and the metering records\n"+
			"accepted, pending, carried into a later hour, and refused. Exits 1 when any subscription differs.")}
	var storage config.Storage
	var log config.Log
	var market marketOptions
	var month string
	storage.Bind(c.Flags)
	log.Bind(c.Flags)
	c.Flags.StringVar(&market.catalogPath, "catalog", "", "the products and meters, a JSON file (see docs/aws-setup.md); empty: the demo's")
	c.Flags.StringVar(&month, "month", "", "the month to reconcile, YYYY-MM (default: this month, UTC, on the clock the data was metered on)")
	c.run = func(ctx context.Context, e env) error {
		var m time.Time // zero: the month of the metering clock
		if month != "" {
			var err error
			if m, err = time.Parse("2006-01", month); err != nil {
				return fmt.Errorf("--month: %q is not YYYY-MM", month)
			}
		}
		if err := joinErrors(storage.Validate(), log.Validate()); err != nil {
			return err
		}
		logger := log.Logger(e.stderr)
		if storage.DatabaseURL == "" {
			if err := storage.PrepareDataDir(); err != nil {
				return err
			}
		}
		db, err := openDatabase(ctx, storage, logger)
		if err != nil {
			return err
		}
		defer db.Close()
		if market.catalogPath == "" {
			market.demoEndpoint = "http://127.0.0.1:0" // the demo catalog; nothing is called
		}
		now, err := metering.MeteredClock(ctx, db, time.Now().UTC())
		if err != nil {
			return err
		}
		if ahead := time.Until(now); ahead > time.Hour {
			fmt.Fprintf(e.stdout, "The data was metered on a clock %s ahead of real time (the demo's); reconciling up to %s.\n\n",
				ahead.Round(time.Minute), now.Format("2006-01-02 15:04 UTC"))
		}
		maker, err := reconciler(ctx, db, market, func() time.Time { return now }, logger)
		if err != nil {
			return err
		}
		lines, err := maker.Reconcile(ctx, m)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "subscription\torganization\tproduct\tmonth\tdue ¢\taccepted ¢\tpending ¢\tcarried ¢\trefused ¢\tdifference ¢\t")
		differ := 0
		for _, l := range lines {
			flag := ""
			if l.Difference() != 0 || l.RefusedCents != 0 {
				differ++
				flag = "  <- check"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", l.SubscriptionID, l.OrgID, l.ProductCode, l.Month,
				l.DueCents, l.AcceptedCents, l.PendingCents, l.CarriedCents, l.RefusedCents, l.Difference(), flag)
		}
		tw.Flush()
		if differ > 0 {
			return fmt.Errorf("%d of %d subscription(s) differ: see the lines marked check (a carry into the next hour explains a small positive difference)", differ, len(lines))
		}
		fmt.Fprintf(e.stdout, "%d subscription(s) reconciled, no differences.\n", len(lines))
		return nil
	}
	return c
}

// reconciler builds what Reconcile needs: the catalog, the subscriptions
// and the usage totals. It sends nothing.
// now is the metering clock to reckon to.
func reconciler(ctx context.Context, db *store.DB, o marketOptions, now func() time.Time, logger *slog.Logger) (*metering.Maker, error) {
	catalog, aws, err := marketplaceDeps(ctx, o, logger)
	if err != nil {
		return nil, err
	}
	outbox := mail.NewOutbox(db, time.Now)
	orgs, err := org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: time.Now, BaseURL: "http://localhost"})
	if err != nil {
		return nil, err
	}
	mkt, err := marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Resolver: aws, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: time.Now, BaseURL: "http://localhost"})
	if err != nil {
		return nil, err
	}
	return metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: mkt, Usage: usage.NewTotals(db), Prices: catalog, Logger: logger, Now: now})
}
