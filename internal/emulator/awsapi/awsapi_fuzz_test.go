package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	mes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	enttypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	metertypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// The fuzz targets send each input through the real handler, signed as the
// SDK signs, to a market with products, a buyer and live agreements, so that
// a mutated body reaches the operations and not only the signature check.
// Properties (#11): no panic; no 5xx (no fault is configured, so every 500
// is a bug); every answer is a well-formed AWS body with a request id; and a
// refused call stores nothing.

// fuzzNow is the real and the emulator time of every fuzz call: fixed, so
// that signatures, metering windows and tokens in the stored corpus stay
// valid on every run.
var fuzzNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// countingStore is an in-memory market.Store that counts what is written.
type countingStore struct {
	mu      sync.Mutex
	applied int
}

func (s *countingStore) LoadAll(context.Context) ([]market.Record, error) { return nil, nil }

func (s *countingStore) Apply(_ context.Context, recs []market.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied += len(recs)
	return nil
}

func (s *countingStore) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// fuzzWorld is one emulated marketplace and the API in front of it.
type fuzzWorld struct {
	store   *countingStore
	handler http.Handler
	// The identifiers a real call carries, for the seeds.
	token, buyer, customerID, license, paygCode, legacyCode, contractCode string
	agreementID, contractAgreementID                                      string
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	ctx := context.Background()
	w := &fuzzWorld{store: &countingStore{}}
	now := func() time.Time { return fuzzNow }
	m, err := market.Open(ctx, market.Config{
		// A throttle high enough never to trip: throttling answers 400 to
		// every input and would hide the decoding behind it.
		Settings: market.Settings{ThrottleRate: 1e9, ThrottleBurst: 1 << 30},
		Store:    w.store, Now: now, Rand: rand.NewChaCha8([32]byte{11}),
		DefaultAccessKeyID: "test", DefaultSecretAccessKey: "test",
	})
	if err != nil {
		tb.Fatal(err)
	}
	product := func(code string, pricing market.PricingModel, mode market.Mode, dims ...market.Dimension) string {
		p, err := m.CreateProduct(ctx, market.ProductInput{Code: code, Title: code, PricingModel: pricing, Mode: mode,
			FulfillmentURL: "https://seller.example/fulfill", Dimensions: dims})
		if err != nil {
			tb.Fatal(err)
		}
		return p.Code
	}
	credits := market.Dimension{Key: "credits", Name: "Credits", Kind: market.DimensionMetered, PriceMicros: 10_000}
	w.paygCode = product("payg-current", market.PricingSubscription, market.ModeCurrent, credits)
	w.legacyCode = product("payg-legacy", market.PricingSubscription, market.ModeLegacy, credits)
	w.contractCode = product("ccp", market.PricingContractConsumption, market.ModeCurrent,
		market.Dimension{Key: "committed", Name: "Committed", Kind: market.DimensionContract, PriceMicros: 1_000_000},
		market.Dimension{Key: "overage", Name: "Overage", Kind: market.DimensionMetered, PriceMicros: 10_000})
	buyer, err := m.CreateAccount(ctx, market.AccountInput{ID: "123456789012", Name: "Buyer", Permissions: []string{"AWSMarketplaceFullAccess"}})
	if err != nil {
		tb.Fatal(err)
	}
	w.buyer = buyer.ID
	subscribe := func(code string, ents map[string]int64) market.Agreement {
		r, err := m.Subscribe(ctx, market.SubscribeInput{AccountID: buyer.ID, ProductCode: code, Entitlements: ents})
		if err != nil {
			tb.Fatal(err)
		}
		return r.Agreement
	}
	payg := subscribe(w.paygCode, nil)
	w.license = payg.LicenseArn
	w.agreementID = payg.ID
	w.customerID = subscribe(w.legacyCode, nil).CustomerIdentifier
	w.contractAgreementID = subscribe(w.contractCode, map[string]int64{"committed": 5}).ID
	reg, err := m.SetUpAccount(ctx, payg.ID)
	if err != nil {
		tb.Fatal(err)
	}
	w.token = reg.Token
	api := New(m, now, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", api)
	mux.HandleFunc("POST /service/{service}/operation/{operation}", api.ServeCBOR)
	w.handler = mux
	return w
}

// operations are the three operations, indexed by the fuzzer's op byte.
var operations = []struct{ service, name string }{
	{"AWSMPMeteringService", "ResolveCustomer"},
	{"AWSMPMeteringService", "BatchMeterUsage"},
	{"AWSMPEntitlementService", "GetEntitlements"},
}

// call signs body as the SDK does and serves it.
func (w *fuzzWorld) call(t *testing.T, useCBOR bool, op uint8, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	o := operations[int(op)%len(operations)]
	var req *http.Request
	if useCBOR {
		req = httptest.NewRequest(http.MethodPost, "http://emulator.test/service/"+o.service+"/operation/"+o.name, bytes.NewReader(body))
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", "application/cbor")
	} else {
		req = httptest.NewRequest(http.MethodPost, "http://emulator.test/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", o.service+"."+o.name)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req,
		hex.EncodeToString(sum[:]), SigningName, "us-east-1", fuzzNow); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, req)
	return rec
}

// check applies the properties to one answer.
func (w *fuzzWorld) check(t *testing.T, useCBOR bool, op uint8, body []byte) {
	t.Helper()
	w.checkWith(t, useCBOR, body, func() *httptest.ResponseRecorder { return w.call(t, useCBOR, op, body) })
}

// checkWith applies the properties to the answer of one call.
func (w *fuzzWorld) checkWith(t *testing.T, useCBOR bool, body []byte, call func() *httptest.ResponseRecorder) {
	t.Helper()
	before := w.store.writes()
	rec := call()
	resp := rec.Body.Bytes()
	if rec.Code >= 500 {
		t.Fatalf("status %d for %q: %q", rec.Code, body, resp)
	}
	if rec.Header().Get("x-amzn-RequestId") == "" {
		t.Fatalf("status %d without x-amzn-RequestId", rec.Code)
	}
	plain := resp
	if useCBOR {
		var err error
		if plain, err = cborToJSON(resp); err != nil {
			t.Fatalf("status %d: the answer is not CBOR: %v (%x)", rec.Code, err, resp)
		}
	}
	var out map[string]any
	if err := json.Unmarshal(plain, &out); err != nil {
		t.Fatalf("status %d: the answer is not a JSON object: %v (%q)", rec.Code, err, plain)
	}
	if rec.Code != http.StatusOK {
		if typ, _ := out["__type"].(string); typ == "" {
			t.Fatalf("status %d without __type: %q", rec.Code, plain)
		}
		if after := w.store.writes(); after != before {
			t.Fatalf("status %d (%s) but %d entities were stored", rec.Code, out["__type"], after-before)
		}
	}
}

// captureClient records what an SDK client sends and answers nothing.
type captureClient struct{ bodies [][]byte }

var errCaptured = errors.New("captured")

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.bodies = append(c.bodies, b)
	return nil, errCaptured
}

// sdkBodies returns the request bodies AWS SDK for Go v2 sends for calls of
// the world's identifiers: JSON for the metering service, CBOR for the
// entitlement service.
func (w *fuzzWorld) sdkBodies(tb testing.TB) (metering, entitlements [][]byte) {
	tb.Helper()
	ctx := context.Background()
	capture := &captureClient{}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient: capture, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	endpoint := aws.String("http://emulator.test")
	meter := mm.NewFromConfig(cfg, func(o *mm.Options) { o.BaseEndpoint = endpoint })
	ent := mes.NewFromConfig(cfg, func(o *mes.Options) { o.BaseEndpoint = endpoint })
	at := aws.Time(fuzzNow.Add(-30 * time.Minute))
	sent := func(err error) {
		if !errors.Is(err, errCaptured) {
			tb.Fatalf("SDK call not captured: %v", err)
		}
	}
	_, err := meter.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(w.token)})
	sent(err)
	for _, in := range []*mm.BatchMeterUsageInput{
		{ProductCode: aws.String(w.paygCode), UsageRecords: []metertypes.UsageRecord{
			{Timestamp: at, CustomerAWSAccountId: aws.String(w.buyer), Dimension: aws.String("credits"), Quantity: aws.Int32(3)}}},
		{ProductCode: aws.String(w.legacyCode), UsageRecords: []metertypes.UsageRecord{
			{Timestamp: at, CustomerIdentifier: aws.String(w.customerID), Dimension: aws.String("credits"), Quantity: aws.Int32(0)}}},
		{UsageRecords: []metertypes.UsageRecord{
			{Timestamp: at, LicenseArn: aws.String(w.license), CustomerAWSAccountId: aws.String(w.buyer), Dimension: aws.String("credits"), Quantity: aws.Int32(7),
				UsageAllocations: []metertypes.UsageAllocation{
					{AllocatedUsageQuantity: aws.Int32(4), Tags: []metertypes.Tag{{Key: aws.String("team"), Value: aws.String("a")}}},
					{AllocatedUsageQuantity: aws.Int32(3), Tags: []metertypes.Tag{{Key: aws.String("team"), Value: aws.String("b")}}}}}}},
		{ProductCode: aws.String(w.contractCode), UsageRecords: []metertypes.UsageRecord{
			{Timestamp: at, CustomerAWSAccountId: aws.String(w.buyer), Dimension: aws.String("overage"), Quantity: aws.Int32(1)},
			{Timestamp: aws.Time(fuzzNow.Add(-90 * time.Minute)), CustomerAWSAccountId: aws.String(w.buyer), Dimension: aws.String("overage")}}},
	} {
		_, err := meter.BatchMeterUsage(ctx, in)
		sent(err)
	}
	metering, capture.bodies = capture.bodies, nil
	for _, in := range []*mes.GetEntitlementsInput{
		{ProductCode: aws.String(w.contractCode)},
		{ProductCode: aws.String(w.contractCode), MaxResults: aws.Int32(25),
			Filter: map[string][]string{string(enttypes.GetEntitlementFilterNameCustomerAwsAccountId): {w.buyer}}},
		{ProductCode: aws.String(w.legacyCode), MaxResults: aws.Int32(1), NextToken: aws.String(base64.RawURLEncoding.EncodeToString([]byte("v1:" + w.legacyCode + ":1"))),
			Filter: map[string][]string{string(enttypes.GetEntitlementFilterNameCustomerIdentifier): {w.customerID},
				string(enttypes.GetEntitlementFilterNameDimension): {"credits"}}},
	} {
		_, err := ent.GetEntitlements(ctx, in)
		sent(err)
	}
	return metering, capture.bodies
}

// seeds are the SDK's own bodies in the protocol it speaks, and the same
// calls translated to the other protocol, as the CLI (JSON) or a newer SDK
// (CBOR) would send them.
func (w *fuzzWorld) seeds(tb testing.TB, useCBOR bool) (ops []uint8, bodies [][]byte) {
	tb.Helper()
	metering, entitlements := w.sdkBodies(tb)
	for i, b := range metering {
		op := uint8(1)
		if i == 0 {
			op = 0
		}
		if useCBOR {
			var err error
			if b, err = jsonToCBOR(b); err != nil {
				tb.Fatal(err)
			}
		}
		ops, bodies = append(ops, op), append(bodies, b)
	}
	for _, b := range entitlements {
		if !useCBOR {
			var err error
			if b, err = cborToJSON(b); err != nil {
				tb.Fatal(err)
			}
		}
		ops, bodies = append(ops, 2), append(bodies, b)
	}
	return ops, bodies
}

// FuzzJSONRequest fuzzes the AWS JSON 1.1 protocol: POST / with X-Amz-Target.
func FuzzJSONRequest(f *testing.F) {
	w := newFuzzWorld(f)
	ops, bodies := w.seeds(f, false)
	for i := range ops {
		f.Add(ops[i], bodies[i])
	}
	f.Add(uint8(1), []byte(`{"ProductCode":"payg-current","UsageRecords":[{"Timestamp":"1795426200","CustomerAWSAccountId":"123456789012","Dimension":"credits","Quantity":1.0}]}`))
	f.Add(uint8(2), []byte(`{"ProductCode":"ccp","Filter":{"NOPE":[]},"MaxResults":0}`))
	f.Add(uint8(0), []byte(`"just a string"`))
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		w.check(t, false, op, body)
	})
}

// FuzzCBORRequest fuzzes Smithy RPC v2 CBOR: POST /service/{service}/operation/{operation}.
func FuzzCBORRequest(f *testing.F) {
	w := newFuzzWorld(f)
	ops, bodies := w.seeds(f, true)
	for i := range ops {
		f.Add(ops[i], bodies[i])
	}
	// Shapes the SDK never sends but a client may: indefinite lengths, a
	// float16 timestamp, a negative quantity, an unknown tag.
	f.Add(uint8(1), cbor.Encode(cbor.Map{"ProductCode": cbor.String("payg-current"), "UsageRecords": cbor.List{cbor.Map{
		"Timestamp": &cbor.Tag{ID: 1, Value: cbor.Float32(1.7954262e9)}, "CustomerAWSAccountId": cbor.String("123456789012"),
		"Dimension": cbor.String("credits"), "Quantity": cbor.NegInt(1)}}}))
	f.Add(uint8(2), []byte{0xbf, 0x6b, 'P', 'r', 'o', 'd', 'u', 'c', 't', 'C', 'o', 'd', 'e', 0x7f, 0x63, 'c', 'c', 'p', 0xff, 0xff})
	f.Add(uint8(0), []byte{0xa1, 0x71, 'R', 'e', 'g', 'i', 's', 't', 'r', 'a', 't', 'i', 'o', 'n', 'T', 'o', 'k', 'e', 'n', 0xc2, 0x41, 0x00})
	f.Add(uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		w.check(t, true, op, body)
	})
}

// TestFuzzSeeds_AreAccepted keeps the seeds meaningful: each SDK call, sent
// as the SDK sends it, is answered 200, so the fuzzer starts from calls
// that reach the operations.
func TestFuzzSeeds_AreAccepted(t *testing.T) {
	w := newFuzzWorld(t)
	for _, useCBOR := range []bool{false, true} {
		ops, bodies := w.seeds(t, useCBOR)
		for i := range ops {
			rec := w.call(t, useCBOR, ops[i], bodies[i])
			if rec.Code != http.StatusOK {
				body := rec.Body.String()
				if useCBOR {
					b, _ := cborToJSON(rec.Body.Bytes())
					body = string(b)
				}
				t.Errorf("cbor=%v %s: status %d: %s", useCBOR, operations[ops[i]].name, rec.Code, body)
			}
		}
	}
}
