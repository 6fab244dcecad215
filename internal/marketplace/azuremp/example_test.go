package azuremp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace/azuremp"
)

// The landing page: resolve at once, never keep the token, activate once.
func Example_landing() {
	c, err := azuremp.New(azuremp.Config{
		TenantID:     "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID:     "c5b3a9f1-2d4e-4f6a-8b7c-9d0e1f2a3b4c",
		ClientSecret: os.Getenv("MARKETBRIDGE_AZURE_CLIENT_SECRET"),
	})
	if err != nil {
		slog.Error("configuration", "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /marketplace/azure/landing", func(w http.ResponseWriter, r *http.Request) {
		res, err := c.Resolve(r.Context(), r.URL.Query().Get("token"))
		switch {
		case errors.Is(err, azuremp.ErrTokenInvalid):
			http.Error(w, "Reopen the subscription in the Azure portal and select Configure account again.", http.StatusBadRequest)
			return
		case err != nil:
			slog.Error("resolve", "err", err) // quotes x-ms-requestid and x-ms-correlationid
			http.Error(w, "Microsoft's marketplace is not answering; try again shortly.", http.StatusServiceUnavailable)
			return
		}
		sub := res.Subscription
		if sub.Status.Pending() {
			// ... sign-up, organization, then, once:
			if err := c.Activate(r.Context(), sub.ID, sub.PlanID, sub.Quantity); errors.Is(err, azuremp.ErrBadRequest) {
				// Perhaps activated before an answer was lost: read it.
				if now, err := c.Subscription(r.Context(), sub.ID); err == nil && now.Status == azuremp.SubscriptionSubscribed {
					slog.Info("already activated", "subscription", sub.ID)
				}
			}
		}
	})
	_ = &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
}

// The webhook: check the token first, reply fast, act after re-reading.
func Example_webhook() {
	v, err := azuremp.NewWebhookVerifier(azuremp.Config{
		TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID: "c5b3a9f1-2d4e-4f6a-8b7c-9d0e1f2a3b4c",
	})
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /marketplace/azure/webhook", func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Verify(r.Context(), r.Header.Get("Authorization")); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, azuremp.ErrUnavailable) {
				status = http.StatusServiceUnavailable // Entra's keys unreadable: let Microsoft retry
			}
			http.Error(w, "", status)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		hook, err := azuremp.ParseWebhook(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = hook // store it (deduplicated on hook.ID), reply 200, then Operation + Subscription, then UpdateOperation if hook.Action.NeedsAck()
		w.WriteHeader(http.StatusOK)
	})
	_ = &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
}

// Metering: one event per subscription, dimension and hour.
func ExampleClient_BatchUsage() {
	var c *azuremp.Client // from azuremp.New
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	results, err := c.BatchUsage(context.Background(), []azuremp.UsageEvent{{
		ResourceID: "37f9dea2-4345-438f-b0bd-03d40d28c7e0", PlanID: "gold", Dimension: "emails",
		Quantity: azuremp.Decimal{Units: 125, Scale: 2}, EffectiveStart: hour, // 1.25
	}})
	if err != nil {
		return // ErrThrottled, ErrUnavailable: try again; ErrInvalidInput: a bug
	}
	for _, r := range results {
		switch {
		case r.Status == azuremp.UsageAccepted, r.SameAsSent():
			// billed: keep r.UsageEventID
		case r.Status == azuremp.UsageDuplicate:
			// another quantity was accepted for that hour (r.Original): alert
		}
	}
}
