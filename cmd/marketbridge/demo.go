package main

import (
	"context"
	"fmt"

	"github.com/marketbridge/marketbridge/internal/config"
)

func newDemoCommand() *command {
	c := &command{Command: config.NewCommand("demo",
		"Run everything on embedded defaults (SQLite in ./marketbridge-data) and print the URLs to open.",
		"The quickest way to see marketbridge: no database server, no AWS account, no mail server needed.\n"+
			"Data is kept in the data folder between runs; delete the folder to start over.")}
	var o serveOptions
	o.bind(c.Command)
	c.run = func(ctx context.Context, e env) error {
		return runSeller(ctx, e, o, func(s seller) {
			fmt.Fprintf(e.stdout, "\nmarketbridge demo is running. Open:\n\n"+
				"  seller console   %s/register   (create an account; mail arrives in the dev mailbox)\n"+
				"  dev mailbox      %s/dev/mailbox\n"+
				"  health, metrics  %s/healthz, %s/metrics\n\n"+
				"Data folder: %s. Press Ctrl+C to stop.\n\n", s.url, s.url, s.url, s.url, o.storage.DataDir)
		})
	}
	return c
}
