package awsmp

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Fuzz targets for every parser of what AWS Marketplace (or anyone
// pretending to be it) sends the seller (#11). Properties: no panic; bad
// input is refused with the package's error; what is accepted is what AWS
// Marketplace could have sent, and can be stored. Inputs that ever failed
// stay in testdata/fuzz.

// FuzzParseAndVerify fuzzes the SNS envelope: its JSON, its canonical
// string, the topic, the certificate URL and the signature. Seeds are the
// emulator's signed deliveries. An accepted message must be a signed one of
// an AWS Marketplace topic.
func FuzzParseAndVerify(f *testing.F) {
	s := emulatorSamples(f)
	for _, b := range s.sns {
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := s.verifier.ParseAndVerify(context.Background(), body)
		if err != nil {
			return // any error is a 400; the property is that it returned
		}
		if _, err := (Origins{}).Topic(m.TopicArn); err != nil {
			t.Fatalf("accepted a message of topic %q: %v", m.TopicArn, err)
		}
		if !slices.Contains([]string{SNSTypeNotification, SNSSubscriptionConfirmation, SNSUnsubscribeConfirmation}, m.Type) {
			t.Fatalf("accepted a message of Type %q", m.Type)
		}
		if m.Type == SNSTypeNotification {
			checkSNSNotification(t, m)
		}
	})
}

// FuzzParseSNSNotification fuzzes the Message of a verified notification,
// with its topic: what selects the subscription it acts on. Seeds are the
// emulator's messages and the payloads of AWS's documentation.
func FuzzParseSNSNotification(f *testing.F) {
	s := emulatorSamples(f)
	for _, b := range s.sns {
		var m SNSMessage
		if err := json.Unmarshal(b, &m); err != nil {
			f.Fatal(err)
		}
		if m.Type == SNSTypeNotification {
			f.Add(m.TopicArn, m.Message, m.Timestamp, m.MessageId)
		}
	}
	for _, d := range docSNSMessages {
		f.Add(d.topic, d.message, "2024-08-30T21:36:03.123Z", "d1f7a7a4-0f5b-5d1e-9a3f-3f1b2c4d5e6f")
	}
	f.Fuzz(func(t *testing.T, topic, message, timestamp, id string) {
		checkSNSNotification(t, SNSMessage{Type: SNSTypeNotification, TopicArn: topic, Message: message, Timestamp: timestamp, MessageId: id})
	})
}

// checkSNSNotification parses a notification and checks the properties of
// what it accepts: the topic's product, an action the topic carries, a
// well-formed customer, text that can be stored.
func checkSNSNotification(t *testing.T, m SNSMessage) {
	t.Helper()
	n, err := ParseSNSNotification(m)
	if err != nil {
		if !errors.Is(err, ErrBadSNSMessage) {
			t.Fatalf("refused with %v, not ErrBadSNSMessage", err)
		}
		return
	}
	topic, err := ParseTopic(m.TopicArn)
	if err != nil {
		t.Fatalf("accepted a message of topic %q: %v", m.TopicArn, err)
	}
	if n.ProductCode != topic.ProductCode || n.Source != "sns" || n.AgreementID != "" {
		t.Fatalf("accepted %+v from topic %q", n, m.TopicArn)
	}
	if !slices.Contains(topicActions[topic.Entitlement], n.Action) {
		t.Fatalf("accepted action %q on topic %q", n.Action, m.TopicArn)
	}
	checkAccepted(t, n)
}

// FuzzParseEvent fuzzes EventBridge events as an API destination delivers
// them. Seeds are the emulator's events and the examples of AWS's
// documentation.
func FuzzParseEvent(f *testing.F) {
	s := emulatorSamples(f)
	for _, b := range s.events {
		f.Add(b)
	}
	for _, e := range docEvents {
		f.Add([]byte(e))
	}
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseEvent(body, Origins{})
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("refused with %v, not ErrBadEvent", err)
			}
			return
		}
		var ev event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("accepted a body that is not JSON: %v", err)
		}
		if ev.Source != eventSource || ev.Region != MarketplaceRegion || !accountIDRE.MatchString(ev.Account) ||
			len(ev.Resources) != 1 || ev.Resources[0] != agreementARNPrefix+n.AgreementID {
			t.Fatalf("accepted an event from source %q, region %q, account %q, resources %q", ev.Source, ev.Region, ev.Account, ev.Resources)
		}
		if n.Source != "eventbridge" || !agreementRE.MatchString(n.AgreementID) || n.Payload != string(body) {
			t.Fatalf("accepted %+v", n)
		}
		// A License event selects by product and license; an agreement
		// event by its agreement alone.
		license := n.Action == marketplace.ActionLicenseUpdated || n.Action == marketplace.ActionUnsubscribeSuccess
		if license && (n.ProductCode == "" || n.Customer.LicenseArn == "") {
			t.Fatalf("accepted a License event without product or license: %+v", n)
		}
		checkAccepted(t, n)
	})
}

// checkAccepted holds for every accepted notification: it names its
// customer, well-formed, and every field can be stored as text.
func checkAccepted(t *testing.T, n marketplace.Notification) {
	t.Helper()
	if err := checkCustomer(n.Customer); err != nil {
		t.Fatalf("accepted customer %+v: %v", n.Customer, err)
	}
	if n.MessageID == "" || n.SentAt.IsZero() {
		t.Fatalf("accepted a notification without id or time: %+v", n)
	}
	for _, v := range []string{n.MessageID, n.Action, n.ProductCode, n.AgreementID, n.Customer.AccountID, n.Customer.Identifier,
		n.Customer.LicenseArn, n.OfferID, n.Payload} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Fatalf("accepted text that cannot be stored: %q", v)
		}
	}
}

// What AWS Marketplace sends, as the emulator and AWS's documentation show
// it, is accepted: the checks of #11 refuse only what it never sends.
func TestGenuineSamplesAreAccepted(t *testing.T) {
	s := emulatorSamples(t)
	for i, b := range s.sns {
		m, err := s.verifier.ParseAndVerify(context.Background(), b)
		if err != nil {
			t.Errorf("emulator SNS message %d refused: %v\n%s", i, err, b)
			continue
		}
		if m.Type != SNSTypeNotification {
			continue
		}
		if _, err := ParseSNSNotification(m); err != nil {
			t.Errorf("emulator SNS notification %d refused: %v\n%s", i, err, m.Message)
		}
	}
	for i, d := range docSNSMessages {
		m := SNSMessage{Type: SNSTypeNotification, TopicArn: d.topic, Message: d.message, Timestamp: "2024-08-30T21:36:03.123Z", MessageId: "m"}
		if _, err := ParseSNSNotification(m); err != nil {
			t.Errorf("documented SNS message %d refused: %v", i, err)
		}
	}
	for i, b := range append(s.events, []byte(docEvents[0]), []byte(docEvents[1])) {
		if _, err := ParseEvent(b, Origins{}); err != nil {
			t.Errorf("event %d refused: %v\n%s", i, err, b)
		}
	}
}

// Origins refuse what is not an AWS account or region, and take AWS's
// values when left empty.
func TestOrigins(t *testing.T) {
	for _, o := range []Origins{{TopicAccounts: []string{"28725035586"}}, {SellerAccounts: []string{"x"}}, {Regions: []string{"us_east_1"}}} {
		if o.Validate() == nil {
			t.Errorf("%+v is valid", o)
		}
	}
	if err := (Origins{SellerAccounts: []string{"111122223333"}, Regions: []string{"eu-west-1"}}).Validate(); err != nil {
		t.Error(err)
	}
	for arn, ok := range map[string]bool{
		"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-abc": true,
		"arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-abc":  true,
		"arn:aws:sns:us-west-2:287250355862:aws-mp-subscription-notification-abc": false,
		"arn:aws:sns:us-east-1:287250355863:aws-mp-subscription-notification-abc": false,
		"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-":    false,
		"arn:aws:sns:us-east-1:287250355862:my-topic":                             false,
		"aws-mp-subscription-notification-abc":                                    false,
	} {
		if _, err := (Origins{}).Topic(arn); (err == nil) != ok {
			t.Errorf("Topic(%q) = %v, want accepted: %v", arn, err, ok)
		}
	}
}
