package awsmp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// events records, in order, the pacer's waits and the calls AWS received.
type events struct {
	mu   sync.Mutex
	list []string
	err  error // what Wait answers
}

func (e *events) add(s string) { e.mu.Lock(); defer e.mu.Unlock(); e.list = append(e.list, s) }

func (e *events) Wait(context.Context) error { e.add("wait"); return e.err }

// TestEntitlements_13_EveryPageWaitsForTheQuota: each GetEntitlements call,
// a page of one read, waits for the shared quota first, and a wait that
// fails makes no call.
func TestEntitlements_13_EveryPageWaitsForTheQuota(t *testing.T) {
	for _, tc := range []struct {
		name     string
		waitErr  error
		want     []string
		wantErr  error
		wantEnts int
	}{
		{"two pages", nil, []string{"wait", "call", "wait", "call"}, nil, 0},
		{"the wait fails", context.DeadlineExceeded, []string{"wait"}, marketplace.ErrMarketplaceUnavailable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{err: tc.waitErr}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ev.add("call")
				body, _ := io.ReadAll(r.Body)
				// The SDK speaks RPC v2 CBOR to this service. Pages
				// without entitlements, as AWS may answer, keep the
				// encoding short: {"Entitlements": [], "NextToken": "p2"},
				// then {"Entitlements": []}.
				w.Header().Set("Content-Type", "application/cbor")
				w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
				entitlements := append([]byte{0x6c}, "Entitlements"...)
				if bytes.Contains(body, []byte("NextToken")) {
					w.Write(append(append([]byte{0xa1}, entitlements...), 0x80))
					return
				}
				page := append(append([]byte{0xa2}, entitlements...), 0x80, 0x69)
				w.Write(append(append(page, "NextToken"...), 0x62, 'p', '2'))
			}))
			defer srv.Close()
			c := New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
				Endpoints{Metering: srv.URL, Entitlement: srv.URL})
			c.PaceEntitlements(ev)
			ents, err := c.Entitlements(context.Background(), "prod", marketplace.Customer{AccountID: "123456789012"})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Entitlements: %v, want %v", err, tc.wantErr)
			}
			if len(ents) != tc.wantEnts || !slices.Equal(ev.list, tc.want) {
				t.Fatalf("%d entitlements, events %v; want %d, %v", len(ents), ev.list, tc.wantEnts, tc.want)
			}
		})
	}
}
