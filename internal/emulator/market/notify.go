package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/sns"
)

// Subscription topic actions.
const (
	ActionSubscribeSuccess   = "subscribe-success"
	ActionSubscribeFail      = "subscribe-fail"
	ActionUnsubscribePending = "unsubscribe-pending"
	ActionUnsubscribeSuccess = "unsubscribe-success"
	ActionEntitlementUpdated = "entitlement-updated"
)

// Topic kinds of a product.
const (
	TopicSubscription = "subscription"
	TopicEntitlement  = "entitlement"
)

// Delivery channels and statuses.
const (
	ChannelSNS         = "sns"
	ChannelEventBridge = "eventbridge"

	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // gave up after the last attempt
)

// SNSSubscription is an HTTP/S endpoint subscribed to a topic.
type SNSSubscription struct {
	ARN              string     `json:"subscription_arn"`
	TopicArn         string     `json:"topic_arn"`
	Endpoint         string     `json:"endpoint"`
	SignatureVersion string     `json:"signature_version"`
	Status           string     `json:"status"`          // pending-confirmation or confirmed
	Token            string     `json:"token,omitempty"` // persisted confirmation token
	CreatedAt        time.Time  `json:"created_at"`
	ConfirmedAt      *time.Time `json:"confirmed_at,omitempty"`
}

// EventBridgeTarget is where EventBridge events go: an API destination.
type EventBridgeTarget struct {
	Endpoint   string `json:"endpoint"`
	HeaderName string `json:"header_name"`
	APIKey     string `json:"api_key"`
}

// Delivery is one message in the durable outbox.
type Delivery struct {
	ID              string            `json:"id"`
	Channel         string            `json:"channel"`
	Endpoint        string            `json:"endpoint"`
	SubscriptionArn string            `json:"subscription_arn,omitempty"`
	MessageID       string            `json:"message_id"`
	MessageType     string            `json:"message_type"` // SNS Type, or the EventBridge detail-type
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	Status          string            `json:"status"`
	Attempts        int               `json:"attempts"`
	NextAttemptAt   time.Time         `json:"next_attempt_at"` // real time
	LastError       string            `json:"last_error,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	DeliveredAt     *time.Time        `json:"delivered_at,omitempty"`
	Seq             int64             `json:"seq"` // creation order, also within one operation
}

// TopicArn names a product's topic as AWS Marketplace does.
func (m *Market) TopicArn(topic, productCode string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:aws-mp-%s-notification-%s", m.cfg.Region, m.cfg.TopicAccountID, topic, productCode)
}

// snsURL is the base of the URLs in SNS messages: the public URL over
// https, as SNS's are. Stock verifiers refuse a SigningCertURL that is not
// https before they look at the signature (#13); the emulator answers TLS
// on the port it answers plain HTTP on (see emulator.Listener), so an
// http:// public URL only changes scheme.
func (m *Market) snsURL() string {
	base := "http://127.0.0.1:8081"
	if m.cfg.PublicURL != "" {
		base = strings.TrimRight(m.cfg.PublicURL, "/")
	}
	if rest, ok := strings.CutPrefix(base, "http://"); ok {
		return "https://" + rest
	}
	return base
}

// SigningCertURL is where the emulator serves its SNS certificate.
func (m *Market) SigningCertURL() string {
	return m.snsURL() + "/sns/SimpleNotificationService-emulator.pem"
}

// SNSSubscribeInput subscribes an HTTP/S endpoint to a product topic.
type SNSSubscribeInput struct {
	TopicArn         string `json:"topic_arn,omitempty"`
	ProductCode      string `json:"product_code,omitempty"`
	Topic            string `json:"topic,omitempty"` // subscription or entitlement, with product_code
	Endpoint         string `json:"endpoint"`
	SignatureVersion string `json:"signature_version,omitempty"`
	// Confirmed skips the SubscriptionConfirmation handshake.
	Confirmed bool `json:"confirmed,omitempty"`
}

// SubscribeSNS adds an endpoint to a topic and sends it a SubscriptionConfirmation.
func (m *Market) SubscribeSNS(ctx context.Context, in SNSSubscribeInput) (SNSSubscription, error) {
	var errs []error
	if u, err := url.Parse(in.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint %q: want an absolute http(s) URL", in.Endpoint))
	}
	switch in.SignatureVersion {
	case "":
		in.SignatureVersion = sns.SignatureV1
	case sns.SignatureV1, sns.SignatureV2:
	default:
		errs = append(errs, fmt.Errorf("signature_version %q: want 1 or 2", in.SignatureVersion))
	}
	if in.TopicArn == "" && (in.ProductCode == "" || (in.Topic != TopicSubscription && in.Topic != TopicEntitlement)) {
		errs = append(errs, errors.New("topic_arn, or product_code with topic subscription or entitlement, is required"))
	}
	if len(errs) > 0 {
		return SNSSubscription{}, &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	var out SNSSubscription
	err := m.update(ctx, func(tx *txn) error {
		topicArn := in.TopicArn
		if topicArn == "" {
			topicArn = m.TopicArn(in.Topic, in.ProductCode)
		}
		if !m.topicExists(topicArn) {
			return errorf(KindNotFound, "topic does not exist: %s", topicArn)
		}
		now := m.now()
		s := &SNSSubscription{
			ARN: topicArn + ":" + m.uuid(), TopicArn: topicArn, Endpoint: in.Endpoint,
			SignatureVersion: in.SignatureVersion, Status: "pending-confirmation", Token: m.randomHex(64), CreatedAt: now,
		}
		if in.Confirmed {
			s.Status, s.ConfirmedAt = "confirmed", &now
		} else {
			msg := fmt.Sprintf("You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit the SubscribeURL included in this message.", topicArn)
			m.enqueueSNS(tx, s, sns.TypeSubscriptionConfirmation, msg)
		}
		m.snsSubs[s.ARN] = s
		tx.put(kindSNSSub, s.ARN, s)
		out = *s
		return nil
	})
	return out, err
}

// topicExists: every product has a subscription topic; contract products also
// an entitlement topic.
func (m *Market) topicExists(arn string) bool {
	for code, p := range m.products {
		if arn == m.TopicArn(TopicSubscription, code) {
			return true
		}
		if arn == m.TopicArn(TopicEntitlement, code) && p.PricingModel != PricingSubscription {
			return true
		}
	}
	return false
}

// ConfirmSubscription is the GET of SubscribeURL.
func (m *Market) ConfirmSubscription(ctx context.Context, topicArn, token string) (SNSSubscription, error) {
	var out SNSSubscription
	err := m.update(ctx, func(tx *txn) error {
		for _, s := range m.snsSubs {
			if s.TopicArn == topicArn && s.Token == token {
				if s.ConfirmedAt == nil {
					now := m.now()
					s.Status, s.ConfirmedAt = "confirmed", &now
					tx.put(kindSNSSub, s.ARN, s)
				}
				out = *s
				return nil
			}
		}
		return errorf(KindNotFound, "Invalid token")
	})
	return out, err
}

// Unsubscribe is the GET of UnsubscribeURL: the endpoint gets an
// UnsubscribeConfirmation and no more notifications.
func (m *Market) Unsubscribe(ctx context.Context, subscriptionArn string) error {
	return m.update(ctx, func(tx *txn) error {
		s, ok := m.snsSubs[subscriptionArn]
		if !ok {
			return errorf(KindNotFound, "no subscription %s", subscriptionArn)
		}
		delete(m.snsSubs, s.ARN)
		tx.del(kindSNSSub, s.ARN)
		msg := fmt.Sprintf("You have chosen to deactivate subscription %s.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.", s.ARN)
		m.enqueueSNS(tx, s, sns.TypeUnsubscribeConfirmation, msg)
		return nil
	})
}

// SNSSubscriptions lists subscriptions by topic.
func (m *Market) SNSSubscriptions() []SNSSubscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SNSSubscription, 0, len(m.snsSubs))
	for _, s := range m.snsSubs {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

// SetEventBridgeTarget sets (or, with an empty endpoint, removes) the API destination.
func (m *Market) SetEventBridgeTarget(ctx context.Context, t EventBridgeTarget) (EventBridgeTarget, error) {
	if t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return EventBridgeTarget{}, errorf(KindInvalid, "endpoint %q: want an absolute http(s) URL", t.Endpoint)
		}
	}
	if t.HeaderName == "" {
		t.HeaderName = "x-api-key"
	}
	err := m.update(ctx, func(tx *txn) error {
		if t.Endpoint == "" {
			m.eventBridge = nil
			tx.del(kindEventBridge, "target")
			return nil
		}
		m.eventBridge = &t
		tx.put(kindEventBridge, "target", t)
		return nil
	})
	return t, err
}

// EventBridgeTarget returns the configured destination, if any.
func (m *Market) EventBridgeTarget() (EventBridgeTarget, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eventBridge == nil {
		return EventBridgeTarget{}, false
	}
	return *m.eventBridge, true
}

// subscriptionMessage is the Message of the subscription topic. Besides the
// documented keys it carries the 2026 identifiers, which a current-mode
// product has no customer-identifier without.
type subscriptionMessage struct {
	Action               string `json:"action"`
	CustomerIdentifier   string `json:"customer-identifier,omitempty"`
	CustomerAWSAccountID string `json:"customer-aws-account-id"`
	ProductCode          string `json:"product-code"`
	OfferIdentifier      string `json:"offer-identifier,omitempty"`
	IsFreeTrialTerm      string `json:"isFreeTrialTermPresent,omitempty"`
	LicenseArn           string `json:"licenseArn"`
}

func (m *Market) notifySubscription(tx *txn, a *Agreement, action string) {
	m.publish(tx, m.TopicArn(TopicSubscription, a.ProductCode), m.snsMessage(a, action))
}

func (m *Market) notifyEntitlement(tx *txn, a *Agreement) {
	m.publish(tx, m.TopicArn(TopicEntitlement, a.ProductCode), m.snsMessage(a, ActionEntitlementUpdated))
}

func (m *Market) snsMessage(a *Agreement, action string) string {
	msg := subscriptionMessage{Action: action, CustomerAWSAccountID: a.AccountID, ProductCode: a.ProductCode, LicenseArn: a.LicenseArn}
	if m.products[a.ProductCode].Mode == ModeLegacy {
		msg.CustomerIdentifier = a.CustomerIdentifier
	}
	if action != ActionEntitlementUpdated {
		msg.IsFreeTrialTerm = fmt.Sprint(a.FreeTrial)
		if a.PrivateOffer {
			msg.OfferIdentifier = a.OfferID
		}
	}
	b, _ := json.Marshal(msg) // plain strings cannot fail to encode
	return string(b)
}

func (m *Market) publish(tx *txn, topicArn, message string) {
	subs := make([]*SNSSubscription, 0)
	for _, s := range m.snsSubs {
		if s.TopicArn == topicArn && s.Status == "confirmed" {
			subs = append(subs, s)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].ARN < subs[j].ARN })
	for _, s := range subs {
		m.enqueueSNS(tx, s, sns.TypeNotification, message)
	}
}

func (m *Market) enqueueSNS(tx *txn, s *SNSSubscription, typ, message string) {
	env := &sns.Envelope{
		Type: typ, MessageID: m.uuid(), TopicArn: s.TopicArn, Message: message,
		Timestamp: m.now().Format("2006-01-02T15:04:05.000Z"), SignatureVersion: s.SignatureVersion,
		SigningCertURL: m.SigningCertURL(),
	}
	if typ == sns.TypeNotification {
		env.UnsubscribeURL = m.snsURL() + "/sns/?" + url.Values{"Action": {"Unsubscribe"}, "SubscriptionArn": {s.ARN}}.Encode()
	} else {
		env.Token = s.Token
		env.SubscribeURL = m.snsURL() + "/sns/?" + url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {s.TopicArn}, "Token": {s.Token}}.Encode()
	}
	if err := m.signer.Sign(env); err != nil {
		tx.err = errors.Join(tx.err, err)
		return
	}
	body, err := sns.Marshal(env)
	if err != nil {
		tx.err = errors.Join(tx.err, err)
		return
	}
	headers := map[string]string{
		"Content-Type":           "text/plain; charset=UTF-8",
		"User-Agent":             "Amazon Simple Notification Service Agent",
		"x-amz-sns-message-type": typ,
		"x-amz-sns-message-id":   env.MessageID,
		"x-amz-sns-topic-arn":    s.TopicArn,
	}
	if typ != sns.TypeSubscriptionConfirmation {
		headers["x-amz-sns-subscription-arn"] = s.ARN
	}
	m.enqueue(tx, &Delivery{Channel: ChannelSNS, Endpoint: s.Endpoint, SubscriptionArn: s.ARN,
		MessageID: env.MessageID, MessageType: typ, Headers: headers, Body: string(body)})
}

// enqueue adds a delivery, unless a fault drops it; a duplicate fault queues
// it twice with the same message id, as an at-least-once transport may.
func (m *Market) enqueue(tx *txn, d *Delivery) {
	if d.MessageType != sns.TypeSubscriptionConfirmation {
		if m.consumeFault(tx, FaultDropNotification, d.Channel) != nil {
			m.log.Info("notification dropped by fault", "channel", d.Channel, "message_id", d.MessageID)
			return
		}
	}
	copies := 1
	if m.consumeFault(tx, FaultDuplicateNotification, d.Channel) != nil {
		copies = 2
	}
	for range copies {
		c := *d
		m.deliverySeq++
		c.ID, c.Seq = "dlv-"+m.randomString(lowerAlnum, 20), m.deliverySeq
		c.Status, c.NextAttemptAt, c.CreatedAt = DeliveryPending, m.real(), m.now()
		m.deliveries[c.ID] = &c
		tx.put(kindDelivery, c.ID, &c)
	}
	m.signalWake()
}
