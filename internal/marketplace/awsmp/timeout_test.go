package awsmp

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// TestNew_BoundsEachAttempt: without a bound, one hung call would hold a
// metering worker and its records' lease for good.
func TestNew_BoundsEachAttempt(t *testing.T) {
	custom := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		name string
		in   aws.HTTPClient
		want time.Duration
	}{
		{"no client", nil, attemptTimeout},
		{"the SDK's default", awshttp.NewBuildableClient(), attemptTimeout},
		{"a bound of its own", awshttp.NewBuildableClient().WithTimeout(time.Second), time.Second},
		{"another client, kept", custom, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(aws.Config{Region: "us-east-1", HTTPClient: tc.in}, Endpoints{})
			for name, got := range map[string]aws.HTTPClient{
				"metering": c.metering.Options().HTTPClient, "entitlements": c.entitlements.Options().HTTPClient,
			} {
				var timeout time.Duration
				switch h := got.(type) {
				case *awshttp.BuildableClient:
					timeout = h.GetTimeout()
				case *http.Client:
					timeout = h.Timeout
				}
				if timeout != tc.want {
					t.Errorf("%s: attempt timeout %v, want %v", name, timeout, tc.want)
				}
			}
		})
	}
}
