package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// webhookOptions are the vendor's webhook endpoints as infrastructure as
// code: synced at start-up, read only in the operator view.
type webhookOptions struct {
	urls, secrets listFlag
	file          string
	allowPrivate  bool
	// endpoints is what validate read from the flags and the file.
	endpoints []webhook.ConfigEndpoint
}

// listFlag is a flag given once per value. Its environment variable gives
// one value; several endpoints by environment go in --webhooks-file.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// bind declares the flags; allowPrivate is --webhooks-allow-private's
// default (the demo's receiver is on loopback).
func (o *webhookOptions) bind(fs *flag.FlagSet, allowPrivate bool) {
	fs.Var(&o.urls, "webhook-url", "a URL the vendor's product receives signed webhooks at; repeat for more, each with its --webhook-secret in the same order")
	fs.Var(&o.secrets, "webhook-secret", `the signing secret of the --webhook-url in the same position: "whsec_" and the base64 of 24 to 64 random bytes`)
	fs.StringVar(&o.file, "webhooks-file", "", `a JSON file of webhook endpoints: {"endpoints": [{"url": ..., "secret": "whsec_...", "types": [...]}]}; no types takes every type`)
	fs.BoolVar(&o.allowPrivate, "webhooks-allow-private", allowPrivate, "let webhook endpoints be on loopback, link-local and private addresses (for development; refused by default against SSRF)")
}

// validate reads the configured endpoints and reports every problem.
func (o *webhookOptions) validate() error {
	var errs []error
	if len(o.urls) != len(o.secrets) {
		errs = append(errs, fmt.Errorf("--webhook-url and --webhook-secret: %d URLs and %d secrets; give one secret per URL, in the same order",
			len(o.urls), len(o.secrets)))
	}
	var eps []webhook.ConfigEndpoint
	for i := range min(len(o.urls), len(o.secrets)) {
		eps = append(eps, webhook.ConfigEndpoint{URL: o.urls[i], Secret: o.secrets[i]})
	}
	if o.file != "" {
		data, err := os.ReadFile(o.file)
		if err != nil {
			errs = append(errs, fmt.Errorf("--webhooks-file: %w", err))
		} else if fromFile, err := webhook.ParseEndpointsFile(data, o.allowPrivate); err != nil {
			errs = append(errs, fmt.Errorf("--webhooks-file %s: %w", o.file, err))
		} else {
			eps = append(eps, fromFile...)
		}
	}
	if err := webhook.ValidateConfig(eps, o.allowPrivate); err != nil {
		errs = append(errs, fmt.Errorf("webhook endpoints: %w", err))
	}
	o.endpoints = eps
	return errors.Join(errs...)
}

// webhookInterval is how often each process looks for webhooks to send:
// an event reaches the vendor's product within about a second.
const webhookInterval = time.Second

// webhookDeps syncs the configured endpoints, with the demo's inbox among
// them when asked, and returns the operator view's endpoints, the inbox
// and the delivery worker. Webhooks keep real time: receivers compare
// webhook-timestamp with their own clocks, whatever the demo's
// marketplace clock says.
func webhookDeps(ctx context.Context, o serveOptions, db *store.DB, selfURL, baseURL string, outbox *mail.Outbox, logger *slog.Logger,
	reg prometheus.Registerer) (*webhook.Endpoints, *webhook.Inbox, *webhook.Deliverer, error) {
	endpoints, err := webhook.NewEndpoints(webhook.EndpointsConfig{DB: db, Now: time.Now, AllowPrivate: o.webhooks.allowPrivate})
	if err != nil {
		return nil, nil, nil, err
	}
	configured := o.webhooks.endpoints
	var inbox *webhook.Inbox
	if o.devWebhooks && !o.webhooks.allowPrivate {
		logger.Warn("the dev webhook inbox is on loopback, which --webhooks-allow-private=false refuses: no delivery goes there")
	}
	if o.devWebhooks && o.webhooks.allowPrivate {
		inbox = webhook.NewInbox(webhook.NewSecret(), time.Now)
		configured = append(slices.Clip(configured), webhook.ConfigEndpoint{URL: selfURL + "/dev/webhooks/inbox", Secret: inbox.Secret()})
	}
	if err := endpoints.SyncConfig(ctx, configured); err != nil {
		return nil, nil, nil, err
	}
	deliverer, err := webhook.NewDeliverer(webhook.DelivererConfig{DB: db, Client: webhook.NewClient(o.webhooks.allowPrivate, nil),
		Logger: logger.With("component", "webhook"), Now: time.Now, Mailer: outbox, Operators: splitList(o.operators),
		BaseURL: baseURL, Registry: reg})
	if err != nil {
		return nil, nil, nil, err
	}
	return endpoints, inbox, deliverer, nil
}
