package awsmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// ErrBadEvent is returned, wrapped with the reason, for an EventBridge body
// that is not a marketplace event.
var ErrBadEvent = errors.New("not an AWS Marketplace event")

// eventSource is the source of AWS Marketplace agreement and license events.
const eventSource = "aws.agreement-marketplace"

// agreementARNPrefix is how an event's resources name its agreement: a
// resource of AWS's own ("aws" in the account's place), not the seller's.
const agreementARNPrefix = "arn:aws:aws-marketplace::aws:agreement:"

type event struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Region     string    `json:"region"`
	Resources  []string  `json:"resources"`
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
// destination into a marketplace notification, and refuses any event that
// AWS Marketplace could not have sent as it is: from a region or to an
// account not among o's, about another agreement than its resources name,
// or naming its product or buyer malformed (#11). Agreement events, which
// name no product, carry their agreement, which selects the subscription a
// License event of the same agreement was matched to. Events it does not
// act on are still returned (and stored) with an action naming them.
func ParseEvent(body []byte, o Origins) (marketplace.Notification, error) {
	o = o.withDefaults()
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !utf8.Valid(body) {
		return marketplace.Notification{}, fmt.Errorf("%w: body is not a JSON object in UTF-8", ErrBadEvent)
	}
	var ev event
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if ev.Source != eventSource || ev.ID == "" || len(ev.ID) > 255 || ev.Time.IsZero() {
		return marketplace.Notification{}, fmt.Errorf("%w: source %q, id %q", ErrBadEvent, ev.Source, ev.ID)
	}
	if !slices.Contains(o.Regions, ev.Region) {
		return marketplace.Notification{}, fmt.Errorf("%w: region %q, where AWS Marketplace sends none", ErrBadEvent, ev.Region)
	}
	if !accountIDRE.MatchString(ev.Account) || (len(o.SellerAccounts) > 0 && !slices.Contains(o.SellerAccounts, ev.Account)) {
		return marketplace.Notification{}, fmt.Errorf("%w: delivered to account %q, not the seller's", ErrBadEvent, ev.Account)
	}
	d := ev.Detail
	if !agreementRE.MatchString(d.Agreement.ID) || len(ev.Resources) != 1 || ev.Resources[0] != agreementARNPrefix+d.Agreement.ID {
		return marketplace.Notification{}, fmt.Errorf("%w: agreement %q with resources %q", ErrBadEvent, d.Agreement.ID, ev.Resources)
	}
	action, license, err := eventAction(ev.DetailType, d.Agreement.Status)
	if err != nil {
		return marketplace.Notification{}, err
	}
	c := marketplace.Customer{AccountID: d.Acceptor.AccountID, LicenseArn: d.License.Arn}
	if !accountIDRE.MatchString(c.AccountID) {
		return marketplace.Notification{}, fmt.Errorf("%w: buyer account %q is not an AWS account id", ErrBadEvent, c.AccountID)
	}
	if err := checkCustomer(c); err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	// A License event names its product and license, which select the
	// subscription; an agreement event names neither.
	if license && (d.Product.Code == "" || c.LicenseArn == "") {
		return marketplace.Notification{}, fmt.Errorf("%w: %s without its product or license", ErrBadEvent, ev.DetailType)
	}
	if len(d.Product.Code) > 255 || len(d.Offer.ID) > 255 || !storable(ev.ID, d.Product.Code, d.Offer.ID) {
		return marketplace.Notification{}, fmt.Errorf("%w: id, product or offer id too long or not text", ErrBadEvent)
	}
	return marketplace.Notification{
		Source:      "eventbridge",
		MessageID:   ev.ID,
		Action:      action,
		ProductCode: d.Product.Code,
		AgreementID: d.Agreement.ID,
		Customer:    c,
		OfferID:     d.Offer.ID,
		SentAt:      ev.Time,
		Payload:     string(body),
	}, nil
}

// eventAction maps a detail-type (of the Manufacturer's or the Proposer's
// event) to an action, and says whether it is a License event.
func eventAction(detailType, status string) (action string, license bool, err error) {
	kind, ok := strings.CutSuffix(detailType, " - Manufacturer")
	if !ok {
		kind, ok = strings.CutSuffix(detailType, " - Proposer")
	}
	if !ok {
		return "", false, fmt.Errorf("%w: detail-type %q", ErrBadEvent, detailType)
	}
	switch kind {
	case "Purchase Agreement Created":
		return marketplace.ActionAgreementCreated, false, nil
	case "Purchase Agreement Amended":
		return marketplace.ActionAgreementAmended, false, nil
	case "Purchase Agreement Ended":
		// A cancellation opens the final-metering window; an expiry or a
		// replacement is followed by License Deprovisioned, which ends it.
		if status == "CANCELLED" {
			return marketplace.ActionUnsubscribePending, false, nil
		}
		return marketplace.ActionAgreementEnded, false, nil
	case "License Updated":
		return marketplace.ActionLicenseUpdated, true, nil
	case "License Deprovisioned":
		return marketplace.ActionUnsubscribeSuccess, true, nil
	}
	return "", false, fmt.Errorf("%w: detail-type %q", ErrBadEvent, detailType)
}
