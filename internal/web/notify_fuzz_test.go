package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// loopbackOnly is an HTTP client that reaches loopback addresses only, by
// IP: a fuzzed certificate URL on AWS's hosts must not leave the machine.
// It trusts the TLS certificates of roots: the test emulator's CA and the
// test signer's server.
func loopbackOnly(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return nil, errors.New("no network in tests: " + addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// FuzzNotificationEndpoints posts fuzzed bodies to the EventBridge endpoint
// (with its key) and to the SNS endpoint. Whatever the body, the answer is
// 200 or a 4xx, never a 5xx (which the sender would retry for a day), and
// a refused body stores no notification (#11). On PostgreSQL when it is
// configured, which refuses more text than SQLite does.
func FuzzNotificationEndpoints(f *testing.F) {
	engine := "sqlite"
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		engine = "postgres"
	}
	db := storetest.Open(f, engine)
	a := newApp(f, db) // its SNS verifier fetches certificates over loopbackOnly
	event := ebEvent{id: "fuzz-seed", detailType: "License Updated - Manufacturer", account: "111122223333", region: "us-east-1",
		resources: []string{agreementARN + "agmt-fuzzseed"}, agreement: "agmt-fuzzseed", product: market.DemoPAYGCode,
		license: "arn:aws:license-manager::444000000001:license/l-0123abcd", acceptor: "444000000001", offer: "offer-x", at: a.Now()}
	f.Add(uint8(0), []byte(event.json()))
	event.detailType, event.status, event.product, event.license = "Purchase Agreement Ended - Proposer", "CANCELLED", "", ""
	f.Add(uint8(0), []byte(event.json()))
	f.Add(uint8(0), []byte(`{"id":"x","source":"aws.agreement-marketplace","detail":{"offer":{"id":"\u0000"}}}`))
	msg := `{"action":"subscribe-success","customer-aws-account-id":"444000000001","licenseArn":"arn:aws:license-manager::444000000001:license/l-0123abcd"}`
	f.Add(uint8(1), []byte(encode(a.sns.notification(f, "fuzz-sns", paygTopic, msg, time.Now()))))
	f.Add(uint8(1), []byte(encode(a.sns.confirmation(f, "fuzz-confirm", paygTopic, time.Now()))))
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte) {
		path := "/marketplace/aws/events"
		if endpoint%2 == 1 {
			path = "/marketplace/aws/sns"
		}
		count := func() int {
			var n int
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM notifications`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		req, err := http.NewRequest(http.MethodPost, a.srv.URL+path, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-api-key", "eb-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("POST %s = %d for\n%q", path, resp.StatusCode, body)
		case resp.StatusCode >= 400 && count() != before:
			t.Fatalf("POST %s = %d, and a notification was stored, for\n%q", path, resp.StatusCode, body)
		}
	})
}
