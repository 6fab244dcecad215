package awsmp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
)

// The SDK retries within one BatchMeterUsage call and answers with the last
// attempt's error. When an earlier attempt may have reached AWS (a server
// error, which can follow the records' storing) the call is uncertain even if
// the last attempt was throttled: classed as throttled, its records would be
// carried later as never billed, and billed twice. Only a call whose every
// failure is AWS saying no keeps the throttled class (#14, found by the kill
// test's fault proxy).
func TestBatchMeterUsage_ThrottledAfterAnUncertainAttemptIsUncertain(t *testing.T) {
	const (
		throttle = `{"__type":"ThrottlingException","message":"Rate exceeded"}`
		internal = `{"__type":"InternalServiceErrorException","message":"try again"}`
	)
	for _, tc := range []struct {
		name          string
		first         int // status of the first attempt's answer
		body          string
		wantThrottled bool
	}{
		{"throttled twice", http.StatusBadRequest, throttle, true},
		{"a server error, then throttled", http.StatusInternalServerError, internal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				if calls.Add(1) == 1 {
					w.WriteHeader(tc.first)
					_, _ = w.Write([]byte(tc.body))
					return
				}
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(throttle))
			}))
			defer srv.Close()
			err := meterTwice(t, srv.URL)
			if n := calls.Load(); n != 2 {
				t.Fatalf("%d attempts, want 2", n)
			}
			if got := errors.Is(err, metering.ErrThrottled); got != tc.wantThrottled {
				t.Errorf("throttled = %v, want %v: %v", got, tc.wantThrottled, err)
			}
		})
	}
}

// TestBatchMeterUsage_NoConnectionAfterAnUncertainAttemptIsUncertain: the
// same when the last attempt could not connect at all. Its dial error says
// that attempt never left, not the first: the call must not read as never
// sent (metering.NeverSent), which would let the sender carry its records.
// A call whose only attempt could not connect still reads as never sent.
func TestBatchMeterUsage_NoConnectionAfterAnUncertainAttemptIsUncertain(t *testing.T) {
	for _, tc := range []struct {
		name          string
		answerFirst   bool // the first attempt gets a server error, then the server is gone
		wantNeverSent bool
	}{
		{"a server error, then no connection", true, false},
		{"no connection at all", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The next attempt dials again, and finds nobody.
				_ = srv.Listener.Close()
				w.Header().Set("Connection", "close")
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"__type":"InternalServiceErrorException","message":"try again"}`))
			}))
			defer srv.Close()
			if !tc.answerFirst {
				_ = srv.Listener.Close()
			}
			err := meterTwice(t, srv.URL)
			if got := metering.NeverSent(err); got != tc.wantNeverSent {
				t.Errorf("never sent = %v, want %v: %v", got, tc.wantNeverSent, err)
			}
		})
	}
}

// meterTwice sends one record to url with two attempts at most, and
// returns the call's error, which must be one.
func meterTwice(t *testing.T, url string) error {
	t.Helper()
	c := New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 2}, Endpoints{Metering: url})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.BatchMeterUsage(ctx, "prod-1", []metering.Record{{ID: 1, Dimension: "requests", Hour: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC),
		Quantity: 5, Customer: marketplace.Customer{AccountID: "111122223333"}}})
	if err == nil {
		t.Fatal("no error")
	}
	return err
}
