package awsmp

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// AWS's values for where AWS Marketplace's notifications come from. AWS
// Marketplace publishes every product's SNS topics from an account of its
// own, and sends its SNS messages and EventBridge events from us-east-1
// only (see docs/aws-setup.md and the AWS Marketplace seller guide, "SaaS
// notifications" and "EventBridge integration").
const (
	MarketplaceTopicAccount = "287250355862"
	MarketplaceRegion       = "us-east-1"
)

// Origins says where AWS Marketplace's notifications may come from; a
// notification from anywhere else is refused before it is stored. SNS signs
// every topic's messages with the same key, so a valid signature says only
// that SNS sent the message, not whose topic it came from: anyone can make
// a topic named aws-mp-subscription-notification-<product code> in their
// own account (#11). Zero fields take AWS's values; only an emulator set up
// with others needs anything else.
type Origins struct {
	// TopicAccounts own the SNS topics that are believed: AWS
	// Marketplace's account, 287250355862.
	TopicAccounts []string
	// Regions are those of the SNS topics and of EventBridge events:
	// us-east-1.
	Regions []string
	// SellerAccounts are the accounts whose event bus may deliver
	// EventBridge events: the seller's own, which the event's "account"
	// names. Empty accepts any account, leaving the API destination's key
	// as the only check of the sender.
	SellerAccounts []string
}

var (
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
)

// Validate reports every malformed account or region at once.
func (o Origins) Validate() error {
	var errs []error
	for _, a := range slices.Concat(o.TopicAccounts, o.SellerAccounts) {
		if !accountIDRE.MatchString(a) {
			errs = append(errs, fmt.Errorf("AWS account id %q: want 12 digits", a))
		}
	}
	for _, r := range o.Regions {
		if !regionRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("AWS region %q: want a region name such as us-east-1", r))
		}
	}
	return errors.Join(errs...)
}

func (o Origins) withDefaults() Origins {
	if len(o.TopicAccounts) == 0 {
		o.TopicAccounts = []string{MarketplaceTopicAccount}
	}
	if len(o.Regions) == 0 {
		o.Regions = []string{MarketplaceRegion}
	}
	return o
}

// Topic names the SNS topics AWS Marketplace publishes to, per product.
const (
	subscriptionTopicPrefix = "aws-mp-subscription-notification-"
	entitlementTopicPrefix  = "aws-mp-entitlement-notification-"
)

// Topic is one product's AWS Marketplace SNS topic, as its ARN names it.
type Topic struct {
	Region, Account, ProductCode string
	// Entitlement is the entitlement topic (contracts); else it is the
	// subscription topic.
	Entitlement bool
}

// ParseTopic reads an ARN arn:aws:sns:<region>:<account>:<name> whose name
// is a product's subscription or entitlement topic; anything else is an
// error. It does not say whether the topic's account and region are AWS
// Marketplace's: Origins.Topic does.
func ParseTopic(arn string) (Topic, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "sns" {
		return Topic{}, fmt.Errorf("%w: TopicArn %q is not an SNS topic of the aws partition", ErrBadSNSMessage, arn)
	}
	t := Topic{Region: parts[3], Account: parts[4]}
	name := parts[5]
	code, ok := strings.CutPrefix(name, subscriptionTopicPrefix)
	if !ok {
		code, ok = strings.CutPrefix(name, entitlementTopicPrefix)
		t.Entitlement = true
	}
	t.ProductCode = code
	if !ok || code == "" {
		return Topic{}, fmt.Errorf("%w: TopicArn %q is not an AWS Marketplace topic of a product", ErrBadSNSMessage, arn)
	}
	return t, nil
}

// Topic parses arn and checks that AWS Marketplace owns it: its account
// and region are among o's.
func (o Origins) Topic(arn string) (Topic, error) {
	t, err := ParseTopic(arn)
	if err != nil {
		return t, err
	}
	o = o.withDefaults()
	if !slices.Contains(o.TopicAccounts, t.Account) {
		return Topic{}, fmt.Errorf("%w: topic %q is in account %s, not AWS Marketplace's", ErrBadSNSMessage, arn, t.Account)
	}
	if !slices.Contains(o.Regions, t.Region) {
		return Topic{}, fmt.Errorf("%w: topic %q is in region %s, where AWS Marketplace publishes none", ErrBadSNSMessage, arn, t.Region)
	}
	return t, nil
}

// TopicProduct returns the product code of an AWS Marketplace topic ARN,
// and false for any other topic.
func TopicProduct(topicArn string) (string, bool) {
	t, err := ParseTopic(topicArn)
	return t.ProductCode, err == nil
}
