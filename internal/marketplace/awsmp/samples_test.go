package awsmp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/emulator/sqlite"
)

// samples are real deliveries of the AWS Marketplace emulator, which
// produces SNS envelopes and EventBridge events as AWS does, signed with
// its own key: the seeds of the fuzz targets.
type samples struct {
	sns, events [][]byte
	// certPEM is the emulator's SNS signing certificate.
	certPEM []byte
	// verifier trusts the emulator's certificate, served without any
	// network: no fuzz input may make a request leave the process.
	verifier *SNSVerifier
}

const emulatorURL = "http://emulator.invalid"

// emulatorSamples runs an in-memory emulator through a buyer's life:
// subscriptions (PAYG, a contract, a private offer), an upgrade, a renewal,
// cancellations, a new SNS subscription to confirm.
func emulatorSamples(tb testing.TB) samples {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.OpenMemory(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	m, err := market.Open(ctx, market.Config{Store: st, DefaultAccessKeyID: "test", DefaultSecretAccessKey: "test",
		Settings: market.Settings{PublicURL: emulatorURL}})
	if err != nil {
		tb.Fatal(err)
	}
	demo, err := m.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "http://127.0.0.1:1/fulfillment", SNSEndpoint: "http://127.0.0.1:1/sns",
		EventBridgeEndpoint: "http://127.0.0.1:1/events", EventBridgeAPIKey: "key"})
	if err != nil {
		tb.Fatal(err)
	}
	must := func(_ any, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(m.CreateAccount(ctx, market.AccountInput{ID: "444000000001", Name: "buyer", Permissions: []string{"AWSMarketplaceFullAccess"}}))
	payg, err := m.Subscribe(ctx, market.SubscribeInput{AccountID: "444000000001", ProductCode: market.DemoPAYGCode})
	must(payg, err)
	contract, err := m.Subscribe(ctx, market.SubscribeInput{AccountID: "444000000001", ProductCode: market.DemoContractCode,
		Entitlements: map[string]int64{"committed_credits": 100}})
	must(contract, err)
	offer, err := m.AcceptOffer(ctx, demo.Buyer.ID, demo.PrivateOffer.ID, "PO-1")
	must(offer, err)
	must(m.Upgrade(ctx, offer.Agreement.ID, map[string]int64{"committed_credits": 25_000}))
	must(m.Renew(ctx, contract.Agreement.ID, 12))
	must(m.Cancel(ctx, payg.Agreement.ID))
	must(m.Expire(ctx, contract.Agreement.ID))
	must(m.SubscribeSNS(ctx, market.SNSSubscribeInput{ProductCode: market.DemoPAYGCode, Topic: market.TopicSubscription,
		Endpoint: "http://127.0.0.1:1/other", SignatureVersion: "2"}))

	var s samples
	for _, d := range m.Deliveries("", "") {
		switch d.Channel {
		case market.ChannelSNS:
			s.sns = append(s.sns, []byte(d.Body))
		case market.ChannelEventBridge:
			s.events = append(s.events, []byte(d.Body))
		}
	}
	if len(s.sns) == 0 || len(s.events) == 0 {
		tb.Fatalf("the emulator delivered %d SNS messages and %d events", len(s.sns), len(s.events))
	}
	cert := m.SigningCertificatePEM()
	s.certPEM = cert
	s.verifier = NewSNSVerifier(SNSVerifierConfig{ExtraCertHosts: []string{strings.TrimPrefix(emulatorURL, "http://")},
		HTTPClient: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.URL.String() != m.SigningCertURL() {
				return nil, errors.New("no network in tests: " + r.URL.String())
			}
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(string(cert))), Request: r}, nil
		})}})
	return s
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The payloads of AWS's documentation (docs/aws-marketplace-contract.md,
// sections 4.1 and 4.3), beside the emulator's.
var (
	docSNSMessages = []struct{ topic, message string }{
		{"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-n0123EXAMPLEXXXXXXXXXXXX",
			`{"action":"subscribe-success","customer-identifier":"X01EXAMPLEX","product-code":"n0123EXAMPLEXXXXXXXXXXXX",` +
				`"offer-identifier":"offer-abcexample123","isFreeTrialTermPresent":"true"}`},
		{"arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-n0123EXAMPLEXXXXXXXXXXXX",
			`{"action":"entitlement-updated","customer-identifier":"X01EXAMPLEX","product-code":"n0123EXAMPLEXXXXXXXXXXXX"}`},
		{"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-n0123EXAMPLEXXXXXXXXXXXX",
			`{"action":"unsubscribe-pending","CustomerIdentifier":"X01EXAMPLEX","ProductCode":"n0123EXAMPLEXXXXXXXXXXXX"}`},
	}
	docEvents = []string{
		`{"version":"0","id":"12345678-1234-1234-1234-123456789012","detail-type":"License Updated - Manufacturer",` +
			`"source":"aws.agreement-marketplace","account":"123456789012","time":"2024-08-30T21:36:03Z","region":"us-east-1",` +
			`"resources":["arn:aws:aws-marketplace::aws:agreement:agmt-4mwg1nevbokzw95eca5797ixs"],` +
			`"detail":{"requestId":"3d4c9f9b-b809-4f5e-9fac-a9ae98b05cbb","catalog":"AWSMarketplace",` +
			`"agreement":{"id":"agmt-4mwg1nevbokzw95eca5797ixs"},"product":{"code":"n0123EXAMPLEXXXXXXXXXXXX","id":"prod-a1b2c3"},` +
			`"license":{"arn":"aws:license-manager:us-east-1:123456789012:l-0a1b2c3d4e5f"},` +
			`"acceptor":{"accountId":"444455556666"},"proposer":{"accountId":"123456789012"},"offer":{"id":"offer-1234567890123"}}}`,
		`{"version":"0","id":"12345678-1234-1234-1234-123456789013","detail-type":"Purchase Agreement Ended - Proposer",` +
			`"source":"aws.agreement-marketplace","account":"123456789012","time":"2024-08-30T21:36:03Z","region":"us-east-1",` +
			`"resources":["arn:aws:aws-marketplace::aws:agreement:agmt-4mwg1nevbokzw95eca5797ixs"],` +
			`"detail":{"requestId":"3d4c9f9b-b809-4f5e-9fac-a9ae98b05cbb","catalog":"AWSMarketplace",` +
			`"agreement":{"id":"agmt-4mwg1nevbokzw95eca5797ixs","intent":"NEW","status":"CANCELLED",` +
			`"acceptanceTime":"2024-06-26T21:36:03Z","startTime":"2024-08-30T21:36:03Z","endTime":"2025-05-30T21:36:03Z"},` +
			`"resaleAuthorization":null,"acceptor":{"accountId":"444455556666"},"proposer":{"accountId":"123456789012"},` +
			`"offer":{"id":"offer-1234567890123"}}}`,
	}
)
