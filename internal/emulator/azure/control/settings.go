package control

import (
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// settingsJSON is market.Settings with durations as text ("10s", "24h").
type settingsJSON struct {
	TokenTTL            string  `json:"token_ttl,omitempty"`
	OperationDelay      string  `json:"operation_delay,omitempty"`
	AckWindow           string  `json:"ack_window,omitempty"`
	SuspensionGrace     string  `json:"suspension_grace,omitempty"`
	MeteringWindow      string  `json:"metering_window,omitempty"`
	PageSize            int     `json:"page_size,omitempty"`
	ReinstateWithoutAck bool    `json:"reinstate_without_ack"`
	LiveQuirks          bool    `json:"live_quirks"`
	AllowMeteredTrials  bool    `json:"allow_metered_trials"`
	ThrottleRate        float64 `json:"throttle_rate"`
	ThrottleBurst       int     `json:"throttle_burst,omitempty"`
	WebhookMaxAttempts  int     `json:"webhook_max_attempts,omitempty"`
	WebhookRetryInitial string  `json:"webhook_retry_initial,omitempty"`
	WebhookRetryMax     string  `json:"webhook_retry_max,omitempty"`
	DuplicateWebhooks   bool    `json:"duplicate_webhooks"`
}

func toJSON(s market.Settings) settingsJSON {
	return settingsJSON{TokenTTL: s.TokenTTL.String(), OperationDelay: s.OperationDelay.String(), AckWindow: s.AckWindow.String(),
		SuspensionGrace: s.SuspensionGrace.String(), MeteringWindow: s.MeteringWindow.String(), PageSize: s.PageSize,
		ReinstateWithoutAck: s.ReinstateWithoutAck, LiveQuirks: s.LiveQuirks, AllowMeteredTrials: s.AllowMeteredTrials,
		ThrottleRate: s.ThrottleRate, ThrottleBurst: s.ThrottleBurst, WebhookMaxAttempts: s.WebhookMaxAttempts,
		WebhookRetryInitial: s.WebhookRetryInitial.String(), WebhookRetryMax: s.WebhookRetryMax.String(),
		DuplicateWebhooks: s.DuplicateWebhooks}
}

// fromJSON parses every duration, reporting the bad ones together.
func fromJSON(j settingsJSON) (market.Settings, error) {
	s := market.Settings{PageSize: j.PageSize, ReinstateWithoutAck: j.ReinstateWithoutAck, LiveQuirks: j.LiveQuirks,
		AllowMeteredTrials: j.AllowMeteredTrials, ThrottleRate: j.ThrottleRate, ThrottleBurst: j.ThrottleBurst,
		WebhookMaxAttempts: j.WebhookMaxAttempts, DuplicateWebhooks: j.DuplicateWebhooks}
	var bad []string
	for _, f := range []struct {
		name string
		text string
		into *time.Duration
	}{
		{"token_ttl", j.TokenTTL, &s.TokenTTL}, {"operation_delay", j.OperationDelay, &s.OperationDelay},
		{"ack_window", j.AckWindow, &s.AckWindow}, {"suspension_grace", j.SuspensionGrace, &s.SuspensionGrace},
		{"metering_window", j.MeteringWindow, &s.MeteringWindow}, {"webhook_retry_initial", j.WebhookRetryInitial, &s.WebhookRetryInitial},
		{"webhook_retry_max", j.WebhookRetryMax, &s.WebhookRetryMax},
	} {
		if f.text == "" {
			continue
		}
		d, err := time.ParseDuration(f.text)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s %q: want a duration like 10s or 24h", f.name, f.text))
			continue
		}
		*f.into = d
	}
	if len(bad) > 0 {
		return market.Settings{}, &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Message: fmt.Sprint(bad)}
	}
	return s, nil
}
