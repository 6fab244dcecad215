package awsmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// snsPayload is the JSON inside an SNS notification's Message. AWS
// documents the kebab-case keys; older documents used CustomerIdentifier
// and ProductCode, which are still accepted.
type snsPayload struct {
	Action             string `json:"action"`
	CustomerIdentifier string `json:"customer-identifier"`
	CustomerAccountID  string `json:"customer-aws-account-id"`
	LicenseArn         string `json:"licenseArn"`
	ProductCode        string `json:"product-code"`
	OfferIdentifier    string `json:"offer-identifier"`
	FreeTrial          string `json:"isFreeTrialTermPresent"`
	LegacyCustomer     string `json:"CustomerIdentifier"`
	LegacyProduct      string `json:"ProductCode"`
}

// What each topic carries: a subscription topic the subscription's
// lifecycle, an entitlement topic only entitlement-updated.
var topicActions = map[bool][]string{
	false: {marketplace.ActionSubscribeSuccess, marketplace.ActionSubscribeFail, marketplace.ActionUnsubscribePending, marketplace.ActionUnsubscribeSuccess},
	true:  {marketplace.ActionEntitlementUpdated},
}

// ParseSNSNotification turns a verified SNS notification into a marketplace
// notification. The product is its topic's; the customer is whom the
// message names, which must be named consistently, since these fields
// select the subscription the notification acts on (#11).
func ParseSNSNotification(m SNSMessage) (marketplace.Notification, error) {
	if m.Type != SNSTypeNotification {
		return marketplace.Notification{}, fmt.Errorf("%w: Type %q is not a notification", ErrBadSNSMessage, m.Type)
	}
	topic, err := ParseTopic(m.TopicArn)
	if err != nil {
		return marketplace.Notification{}, err
	}
	msg := bytes.TrimSpace([]byte(m.Message))
	if len(msg) == 0 || msg[0] != '{' {
		return marketplace.Notification{}, fmt.Errorf("%w: Message is not a JSON object", ErrBadSNSMessage)
	}
	var p snsPayload
	if err := json.Unmarshal(msg, &p); err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: Message is not JSON: %v", ErrBadSNSMessage, err)
	}
	if !slices.Contains(topicActions[topic.Entitlement], p.Action) {
		return marketplace.Notification{}, fmt.Errorf("%w: action %q on topic %s", ErrBadSNSMessage, p.Action, m.TopicArn)
	}
	customer, err := either("customer identifier", p.CustomerIdentifier, p.LegacyCustomer)
	if err != nil {
		return marketplace.Notification{}, err
	}
	product, err := either("product code", p.ProductCode, p.LegacyProduct)
	if err != nil {
		return marketplace.Notification{}, err
	}
	if product != "" && product != topic.ProductCode {
		return marketplace.Notification{}, fmt.Errorf("%w: product %q on the topic of %q", ErrBadSNSMessage, product, topic.ProductCode)
	}
	c := marketplace.Customer{AccountID: p.CustomerAccountID, Identifier: customer, LicenseArn: p.LicenseArn}
	if err := checkCustomer(c); err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: %v", ErrBadSNSMessage, err)
	}
	if len(p.OfferIdentifier) > 255 || !storable(m.Message, m.MessageId, p.OfferIdentifier) {
		return marketplace.Notification{}, fmt.Errorf("%w: Message, MessageId or offer-identifier cannot be stored as text", ErrBadSNSMessage)
	}
	sent, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil || len(m.MessageId) == 0 || len(m.MessageId) > 255 {
		return marketplace.Notification{}, fmt.Errorf("%w: Timestamp %q, MessageId %q", ErrBadSNSMessage, m.Timestamp, m.MessageId)
	}
	return marketplace.Notification{
		Source:      "sns",
		MessageID:   m.MessageId,
		Action:      p.Action,
		ProductCode: topic.ProductCode,
		Customer:    c,
		OfferID:     p.OfferIdentifier,
		FreeTrial:   p.FreeTrial == "true",
		SentAt:      sent,
		Payload:     m.Message,
	}, nil
}

// either returns the value of a field that AWS has spelled two ways, and
// refuses a message that gives two different values.
func either(what, current, legacy string) (string, error) {
	if current != "" && legacy != "" && current != legacy {
		return "", fmt.Errorf("%w: two %ss, %q and %q", ErrBadSNSMessage, what, current, legacy)
	}
	if current == "" {
		return legacy, nil
	}
	return current, nil
}

var (
	// AWS's customer identifiers are 1-255 characters; they are printable.
	customerIdentifierRE = regexp.MustCompile(`^[!-~]{1,255}$`)
	// A license ARN ends in its id, after "/" or ":"; EventBridge's
	// examples leave out the leading "arn:".
	licenseArnRE = regexp.MustCompile(`^(arn:)?aws[a-z-]*:license-manager:[a-z0-9-]*:[0-9]{0,12}:(license[/:])?l-[0-9a-zA-Z]{1,64}$`)
	agreementRE  = regexp.MustCompile(`^agmt-[0-9a-zA-Z]{1,64}$`)
)

// checkCustomer refuses a customer that names no one, or names anyone in
// a malformed way: these fields select a subscription, so a wildcard or an
// empty id must never reach the query.
// storable says whether every value can be stored as text on both
// engines: PostgreSQL refuses NUL characters and invalid UTF-8, and a
// notification that cannot be stored would be answered 503 and retried
// for ever instead of refused.
func storable(values ...string) bool {
	for _, v := range values {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return false
		}
	}
	return true
}

func checkCustomer(c marketplace.Customer) error {
	if c.AccountID == "" && c.Identifier == "" {
		return errors.New("names no customer (account id or identifier)")
	}
	if c.AccountID != "" && !accountIDRE.MatchString(c.AccountID) {
		return fmt.Errorf("customer account %q is not an AWS account id", c.AccountID)
	}
	if c.Identifier != "" && !customerIdentifierRE.MatchString(c.Identifier) {
		return fmt.Errorf("customer identifier %q", c.Identifier)
	}
	if c.LicenseArn != "" && !licenseArnRE.MatchString(c.LicenseArn) {
		return fmt.Errorf("license %q is not a License Manager license ARN", c.LicenseArn)
	}
	return nil
}
