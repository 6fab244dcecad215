package awsmp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// ErrBadEvent is returned, wrapped with the reason, for an EventBridge body
// that is not a marketplace event.
var ErrBadEvent = errors.New("not an AWS Marketplace event")

// eventSource is the source of AWS Marketplace agreement and license events.
const eventSource = "aws.agreement-marketplace"

type event struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Time       time.Time `json:"time"`
	Detail     struct {
		Agreement struct {
			ID     string `json:"id"`
			Intent string `json:"intent"`
			Status string `json:"status"`
		} `json:"agreement"`
		Product struct {
			Code string `json:"code"`
		} `json:"product"`
		License struct {
			Arn string `json:"arn"`
		} `json:"license"`
		Acceptor struct {
			AccountID string `json:"accountId"`
		} `json:"acceptor"`
		Offer struct {
			ID string `json:"id"`
		} `json:"offer"`
	} `json:"detail"`
}

// ParseEvent turns an EventBridge event delivered through an API
// destination into a marketplace notification. Events it does not act on
// are still returned (and stored) with an action naming them.
func ParseEvent(body []byte) (marketplace.Notification, error) {
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if ev.Source != eventSource || ev.ID == "" || ev.Time.IsZero() {
		return marketplace.Notification{}, fmt.Errorf("%w: source %q, id %q", ErrBadEvent, ev.Source, ev.ID)
	}
	d := ev.Detail
	kind := strings.TrimSuffix(strings.TrimSuffix(ev.DetailType, " - Manufacturer"), " - Proposer")
	var action string
	switch kind {
	case "Purchase Agreement Created":
		action = marketplace.ActionAgreementCreated
	case "Purchase Agreement Amended":
		action = marketplace.ActionAgreementAmended
	case "Purchase Agreement Ended":
		// A cancellation opens the final-metering window; an expiry or a
		// replacement is followed by License Deprovisioned, which ends it.
		action = marketplace.ActionAgreementEnded
		if d.Agreement.Status == "CANCELLED" {
			action = marketplace.ActionUnsubscribePending
		}
	case "License Updated":
		action = marketplace.ActionLicenseUpdated
	case "License Deprovisioned":
		action = marketplace.ActionUnsubscribeSuccess
	default:
		return marketplace.Notification{}, fmt.Errorf("%w: detail-type %q", ErrBadEvent, ev.DetailType)
	}
	return marketplace.Notification{
		Source:      "eventbridge",
		MessageID:   ev.ID,
		Action:      action,
		ProductCode: d.Product.Code,
		Customer:    marketplace.Customer{AWSAccountID: d.Acceptor.AccountID, LicenseArn: d.License.Arn},
		OfferID:     d.Offer.ID,
		SentAt:      ev.Time,
		Payload:     string(body),
	}, nil
}
