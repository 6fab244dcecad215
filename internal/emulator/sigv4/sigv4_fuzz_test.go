package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// fuzzSignedAt is when every fuzz request claims to be signed, and the
// verifier's clock: fixed, so that the corpus stays valid.
var fuzzSignedAt = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// fuzzRequest builds the request the fuzzer describes: the headers a SigV4
// client controls are fuzzed, the others are those the SDK sends to the
// emulator's AWS JSON endpoint.
func fuzzRequest(method, target, auth, amzDate, contentSHA string, body []byte) (*http.Request, bool) {
	u, err := url.ParseRequestURI(target)
	if err != nil || !validMethod(method) {
		return nil, false
	}
	r, err := http.NewRequest(method, "http://emulator.test", bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	r.Host = "emulator.test"
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage")
	for name, v := range map[string]string{"Authorization": auth, "X-Amz-Date": amzDate, "X-Amz-Content-Sha256": contentSHA} {
		if v != "" {
			r.Header.Set(name, v)
		}
	}
	return r, true
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// signedBySDK is the Authorization header AWS SDK for Go v2 computes for
// the fuzz request.
func signedBySDK(tb testing.TB, method, target, region, service string, body []byte) string {
	tb.Helper()
	r, _ := fuzzRequest(method, target, "", "", "", body)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: vanillaKey, SecretAccessKey: vanillaSecret}, r,
		hex.EncodeToString(sum[:]), service, region, fuzzSignedAt); err != nil {
		tb.Fatal(err)
	}
	return r.Header.Get("Authorization")
}

func fuzzVerifier(secret string) *Verifier {
	return &Verifier{
		Service: "aws-marketplace",
		Secret:  func(id string) (string, bool) { return secret, id == vanillaKey },
		Now:     func() time.Time { return fuzzSignedAt },
	}
}

// FuzzVerify fuzzes the parsing of the Authorization, X-Amz-Date and
// X-Amz-Content-Sha256 headers and the canonical request (#11). Properties:
// no panic; a refusal is a *Error with one of AWS's codes, which the API
// answers with 400; and an accepted request really was signed with the
// secret: the same request fails against any other secret.
func FuzzVerify(f *testing.F) {
	amzDate := fuzzSignedAt.Format(timeFormat)
	body := []byte(`{"ProductCode":"payg-current","UsageRecords":[]}`)
	for _, s := range []struct{ method, target string }{{"POST", "/"}, {"POST", "/service/AWSMPEntitlementService/operation/GetEntitlements"}, {"GET", "/path%20x/?b=2&a=1&a=0"}} {
		auth := signedBySDK(f, s.method, s.target, "us-east-1", "aws-marketplace", body)
		f.Add(s.method, s.target, auth, amzDate, "", body)
		sum := sha256.Sum256(body)
		f.Add(s.method, s.target, auth, amzDate, hex.EncodeToString(sum[:]), body)
	}
	// Signed for another service, region or day, an unsigned payload, and
	// AWS's published get-vanilla header.
	f.Add("POST", "/", signedBySDK(f, "POST", "/", "us-east-1", "execute-api", body), amzDate, "", body)
	f.Add("POST", "/", signedBySDK(f, "POST", "/", "eu-west-1", "aws-marketplace", body), amzDate, "UNSIGNED-PAYLOAD", body)
	f.Add("POST", "/", signedBySDK(f, "POST", "/", "us-east-1", "aws-marketplace", body), "20261122T093000Z", "", body)
	f.Add("GET", "/", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="+vanillaSig,
		"20150830T123600Z", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, target, auth, amzDate, contentSHA string, body []byte) {
		r, ok := fuzzRequest(method, target, auth, amzDate, contentSHA, body)
		if !ok {
			return
		}
		cred, err := fuzzVerifier(vanillaSecret).Verify(r, body)
		if err != nil {
			var verr *Error
			if !errors.As(err, &verr) || verr.Message == "" {
				t.Fatalf("Verify error %T %v: not a *sigv4.Error with a message", err, err)
			}
			switch verr.Code {
			case CodeMissingToken, CodeIncomplete, CodeUnrecognized, CodeInvalidSignature:
			default:
				t.Fatalf("Verify error code %q is not one AWS sends", verr.Code)
			}
			return
		}
		if cred.AccessKeyID != vanillaKey {
			t.Fatalf("accepted for access key %q", cred.AccessKeyID)
		}
		if _, err := fuzzVerifier("another secret").Verify(r, body); err == nil {
			t.Fatalf("accepted with the right secret and with another one: Authorization=%q", auth)
		}
	})
}

// TestFuzzVerify_SeedsSignedBySDKAreAccepted keeps the seeds meaningful: a
// request the SDK signed passes, so the fuzzer mutates valid signatures.
func TestFuzzVerify_SeedsSignedBySDKAreAccepted(t *testing.T) {
	body := []byte(`{}`)
	for _, target := range []string{"/", "/service/AWSMPEntitlementService/operation/GetEntitlements", "/path%20x/?b=2&a=1&a=0"} {
		auth := signedBySDK(t, "POST", target, "us-east-1", "aws-marketplace", body)
		r, _ := fuzzRequest("POST", target, auth, fuzzSignedAt.Format(timeFormat), "", body)
		if _, err := fuzzVerifier(vanillaSecret).Verify(r, body); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
}
