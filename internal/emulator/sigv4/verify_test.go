package sigv4

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

// The "get-vanilla" case of AWS's published SigV4 test suite.
const (
	vanillaKey    = "AKIDEXAMPLE"
	vanillaSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	vanillaSig    = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
)

func TestVerify_PublishedTestVector(t *testing.T) {
	cases := []struct {
		name     string
		auth     string
		date     string
		service  string
		now      time.Time
		wantCode string
	}{
		{name: "valid signature accepted", auth: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + vanillaSig, service: "service"},
		{name: "missing header is MissingAuthenticationToken", auth: "", service: "service", wantCode: CodeMissingToken},
		{name: "altered signature refused", auth: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=0" + vanillaSig[1:], service: "service", wantCode: CodeInvalidSignature},
		{name: "unknown access key unrecognized", auth: "AWS4-HMAC-SHA256 Credential=NOPE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + vanillaSig, service: "service", wantCode: CodeUnrecognized},
		{name: "wrong service scope refused", auth: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + vanillaSig, service: "aws-marketplace", wantCode: CodeInvalidSignature},
		{name: "malformed header incomplete", auth: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request", service: "service", wantCode: CodeIncomplete},
		{name: "expired signature refused", auth: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + vanillaSig, service: "service", now: time.Date(2015, 8, 30, 13, 0, 0, 0, time.UTC), wantCode: CodeInvalidSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://example.amazonaws.com/", nil)
			r.Host = "example.amazonaws.com"
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			now := tc.now
			if now.IsZero() {
				now = time.Date(2015, 8, 30, 12, 40, 0, 0, time.UTC)
			}
			v := &Verifier{
				Service: tc.service,
				Secret: func(id string) (string, bool) {
					return vanillaSecret, id == vanillaKey
				},
				Now: func() time.Time { return now },
			}
			cred, err := v.Verify(r, nil)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if cred.AccessKeyID != vanillaKey || cred.Region != "us-east-1" {
					t.Fatalf("credential = %+v", cred)
				}
				return
			}
			var verr *Error
			if !errors.As(err, &verr) || verr.Code != tc.wantCode {
				t.Fatalf("Verify error = %v, want code %s", err, tc.wantCode)
			}
		})
	}
}
