package awsmp

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Topic names AWS Marketplace publishes to, per product.
const (
	subscriptionTopicPrefix = "aws-mp-subscription-notification-"
	entitlementTopicPrefix  = "aws-mp-entitlement-notification-"
)

// TopicProduct returns the product code of a marketplace topic ARN, and
// false for any other topic.
func TopicProduct(topicArn string) (string, bool) {
	name := topicArn[strings.LastIndex(topicArn, ":")+1:]
	for _, prefix := range []string{subscriptionTopicPrefix, entitlementTopicPrefix} {
		if code, ok := strings.CutPrefix(name, prefix); ok && code != "" {
			return code, true
		}
	}
	return "", false
}

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

// ParseSNSNotification turns a verified SNS notification into a marketplace
// notification.
func ParseSNSNotification(m SNSMessage) (marketplace.Notification, error) {
	var p snsPayload
	if err := json.Unmarshal([]byte(m.Message), &p); err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: Message is not JSON: %v", ErrBadSNSMessage, err)
	}
	if p.CustomerIdentifier == "" {
		p.CustomerIdentifier = p.LegacyCustomer
	}
	if p.ProductCode == "" {
		p.ProductCode = p.LegacyProduct
	}
	switch p.Action {
	case marketplace.ActionSubscribeSuccess, marketplace.ActionSubscribeFail, marketplace.ActionUnsubscribePending,
		marketplace.ActionUnsubscribeSuccess, marketplace.ActionEntitlementUpdated:
	default:
		return marketplace.Notification{}, fmt.Errorf("%w: unknown action %q", ErrBadSNSMessage, p.Action)
	}
	if code, _ := TopicProduct(m.TopicArn); p.ProductCode != "" && code != p.ProductCode {
		return marketplace.Notification{}, fmt.Errorf("%w: product %q on the topic of %q", ErrBadSNSMessage, p.ProductCode, code)
	} else if p.ProductCode == "" {
		p.ProductCode = code
	}
	sent, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return marketplace.Notification{}, fmt.Errorf("%w: Timestamp %q", ErrBadSNSMessage, m.Timestamp)
	}
	return marketplace.Notification{
		Source:      "sns",
		MessageID:   m.MessageId,
		Action:      p.Action,
		ProductCode: p.ProductCode,
		Customer:    marketplace.Customer{AWSAccountID: p.CustomerAccountID, Identifier: p.CustomerIdentifier, LicenseArn: p.LicenseArn},
		OfferID:     p.OfferIdentifier,
		FreeTrial:   p.FreeTrial == "true",
		SentAt:      sent,
		Payload:     m.Message,
	}, nil
}
