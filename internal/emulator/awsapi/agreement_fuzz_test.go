package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	mpa "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	mpatypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
)

// agreementOperations are the Agreement Service's operations (#13), indexed
// by the fuzzer's op byte.
var agreementOperations = []string{"DescribeAgreement", "GetAgreementTerms", "SearchAgreements"}

// callAgreement signs body as the SDK does and serves it, in AWS JSON 1.0 or
// RPC v2 CBOR.
func (w *fuzzWorld) callAgreement(t *testing.T, useCBOR bool, op uint8, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	name := agreementOperations[int(op)%len(agreementOperations)]
	var req *http.Request
	if useCBOR {
		req = httptest.NewRequest(http.MethodPost, "http://emulator.test/service/"+AgreementService+"/operation/"+name, bytes.NewReader(body))
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", "application/cbor")
	} else {
		req = httptest.NewRequest(http.MethodPost, "http://emulator.test/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", AgreementService+"."+name)
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

// agreementSeeds are the CBOR bodies the Go SDK sends for calls of the
// world's identifiers, with their operation index.
func (w *fuzzWorld) agreementSeeds(tb testing.TB) (ops []uint8, bodies [][]byte) {
	tb.Helper()
	ctx := context.Background()
	capture := &captureClient{}
	client := mpa.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient: capture, Retryer: func() aws.Retryer { return aws.NopRetryer{} }},
		func(o *mpa.Options) { o.BaseEndpoint = aws.String("http://emulator.test") })
	sent := func(op uint8, err error) {
		if !errors.Is(err, errCaptured) {
			tb.Fatalf("SDK call not captured: %v", err)
		}
		ops = append(ops, op)
	}
	_, err := client.DescribeAgreement(ctx, &mpa.DescribeAgreementInput{AgreementId: aws.String(w.agreementID)})
	sent(0, err)
	_, err = client.GetAgreementTerms(ctx, &mpa.GetAgreementTermsInput{AgreementId: aws.String(w.contractAgreementID), MaxResults: aws.Int32(2),
		NextToken: aws.String(pageToken("terms:"+w.contractAgreementID, 2))})
	sent(1, err)
	f := func(name, value string) mpatypes.Filter {
		return mpatypes.Filter{Name: aws.String(name), Values: []string{value}}
	}
	_, err = client.SearchAgreements(ctx, &mpa.SearchAgreementsInput{Catalog: aws.String("AWSMarketplace"),
		Filters: []mpatypes.Filter{f("PartyType", "Proposer"), f("AgreementType", "PurchaseAgreement"), f("AcceptorAccountId", w.buyer),
			f("Status", "ACTIVE"), f("BeforeEndTime", "2030-01-01T00:00:00Z"), f("LicenseArn", w.license)},
		Sort: &mpatypes.Sort{SortBy: aws.String("StartTime"), SortOrder: mpatypes.SortOrderAscending}, MaxResults: aws.Int32(1)})
	sent(2, err)
	return ops, capture.bodies
}

// FuzzAgreementRequest fuzzes the Agreement Service's request decoding in
// both protocols, with the properties of the other targets: no panic, no
// 5xx, a well-formed AWS answer with a request id, nothing stored.
func FuzzAgreementRequest(f *testing.F) {
	w := newFuzzWorld(f)
	ops, bodies := w.agreementSeeds(f)
	for i := range ops {
		f.Add(true, ops[i], bodies[i])
		plain, err := cborToJSON(bodies[i])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, ops[i], plain)
	}
	f.Add(false, uint8(2), []byte(`{"catalog":"AWSMarketplace","filters":[{"name":"PartyType","values":["Proposer","Acceptor"]}],"maxResults":51}`))
	f.Add(false, uint8(1), []byte(`{"agreementId":"agmt-x","nextToken":"!!"}`))
	f.Add(false, uint8(0), []byte(`[]`))
	f.Fuzz(func(t *testing.T, useCBOR bool, op uint8, body []byte) {
		w.checkWith(t, useCBOR, body, func() *httptest.ResponseRecorder { return w.callAgreement(t, useCBOR, op, body) })
	})
}

// TestAgreementFuzzSeeds_AreAccepted keeps the seeds reaching the operations.
func TestAgreementFuzzSeeds_AreAccepted(t *testing.T) {
	w := newFuzzWorld(t)
	ops, bodies := w.agreementSeeds(t)
	for i := range ops {
		for _, useCBOR := range []bool{true, false} {
			body := bodies[i]
			if !useCBOR {
				var err error
				if body, err = cborToJSON(body); err != nil {
					t.Fatal(err)
				}
			}
			if rec := w.callAgreement(t, useCBOR, ops[i], body); rec.Code != http.StatusOK {
				t.Errorf("cbor=%v %s: status %d: %q", useCBOR, agreementOperations[ops[i]], rec.Code, rec.Body.String())
			}
		}
	}
}
