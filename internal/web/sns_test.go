package web_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// testSigner signs SNS messages with a key of the test's own, whose
// certificate it serves, so that tests can send any message, genuine or
// not, to the seller's SNS endpoint. Like SNS, it signs for any topic: the
// key says nothing about who owns the topic (#11).
type testSigner struct {
	key     *rsa.PrivateKey
	certURL string
	host    string
	// tlsCert is the TLS certificate its host serves, for the seller's trust.
	tlsCert *x509.Certificate
	// visits counts requests for anything but the certificate: a
	// SubscribeURL the seller visited, confirming a subscription.
	visits atomic.Int64
}

func newTestSigner(t testing.TB) *testSigner {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s := &testSigner{key: key}
	// Over https, as SNS serves certificates and as the seller insists (#13).
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cert.pem" {
			s.visits.Add(1)
			return
		}
		w.Write(pemBytes)
	}))
	t.Cleanup(srv.Close)
	s.certURL, s.host, s.tlsCert = srv.URL+"/cert.pem", strings.TrimPrefix(srv.URL, "https://"), srv.Certificate()
	return s
}

// notification returns a signed SNS Notification envelope (SignatureVersion 2).
func (s *testSigner) notification(t testing.TB, id, topic, message string, at time.Time) map[string]string {
	m := map[string]string{"Type": "Notification", "MessageId": id, "TopicArn": topic, "Message": message,
		"Timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"), "SignatureVersion": "2", "SigningCertURL": s.certURL,
		"UnsubscribeURL": "https://" + s.host + "/unsubscribe"}
	s.sign(t, m)
	return m
}

// confirmation returns a signed SubscriptionConfirmation whose SubscribeURL
// is on the signer's host, so that a visit shows in s.visits.
func (s *testSigner) confirmation(t testing.TB, id, topic string, at time.Time) map[string]string {
	m := map[string]string{"Type": "SubscriptionConfirmation", "MessageId": id, "Token": "token-" + id, "TopicArn": topic,
		"Message": "You have chosen to subscribe to the topic " + topic, "Timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"SubscribeURL":     "https://" + s.host + "/?" + url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {topic}, "Token": {"token-" + id}}.Encode(),
		"SignatureVersion": "2", "SigningCertURL": s.certURL}
	s.sign(t, m)
	return m
}

func (s *testSigner) sign(t testing.TB, m map[string]string) {
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
}

func (a *app) postSNS(body string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/marketplace/aws/sns", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func encode(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

const paygTopic = "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + market.DemoPAYGCode

// Anything that is not a genuine, fresh message for one of our topics is
// refused with a 4xx and changes nothing.
func TestSNS_BadMessagesRefusedAndChangeNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		good := func() map[string]string {
			return a.sns.notification(t, "msg-1", paygTopic, `{"action":"subscribe-success","customer-aws-account-id":"444000000001","product-code":"`+market.DemoPAYGCode+`"}`, time.Now())
		}
		tests := []struct {
			name   string
			body   func() string
			status int
		}{
			{"forged signature", func() string {
				m := good()
				m["Signature"] = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 256)))
				return encode(m)
			}, http.StatusBadRequest},
			{"signature over a different body", func() string {
				m := good()
				m["Message"] = strings.Replace(m["Message"], "subscribe-success", "unsubscribe-success", 1)
				return encode(m)
			}, http.StatusBadRequest},
			{"certificate on a foreign host", func() string {
				m := good()
				m["SigningCertURL"] = "https://evil.example.com/cert.pem"
				a.sns.sign(t, m)
				return encode(m)
			}, http.StatusBadRequest},
			{"certificate over plain http on an AWS-looking host", func() string {
				m := good()
				m["SigningCertURL"] = "http://sns.us-east-1.amazonaws.com/cert.pem"
				a.sns.sign(t, m)
				return encode(m)
			}, http.StatusBadRequest},
			{"unknown topic", func() string {
				return encode(a.sns.notification(t, "msg-2", "arn:aws:sns:us-east-1:287250355862:someone-elses-topic", `{"action":"subscribe-success"}`, time.Now()))
			}, http.StatusBadRequest},
			{"truncated JSON", func() string { s := encode(good()); return s[:len(s)/2] }, http.StatusBadRequest},
			{"message that is not JSON", func() string {
				return encode(a.sns.notification(t, "msg-3", paygTopic, `{"action":`, time.Now()))
			}, http.StatusBadRequest},
			{"replay of an old message", func() string {
				return encode(a.sns.notification(t, "msg-4", paygTopic, good()["Message"], time.Now().Add(-8*24*time.Hour)))
			}, http.StatusBadRequest},
			{"oversized body", func() string { return strings.Repeat("x", 300<<10) }, http.StatusRequestEntityTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := a.postSNS(tt.body()); got != tt.status {
					t.Fatalf("status = %d, want %d", got, tt.status)
				}
			})
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM notifications`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d notifications stored from refused messages (%v)", n, err)
		}
		// The genuine one is accepted, once.
		body := encode(good())
		for range 2 {
			if got := a.postSNS(body); got != http.StatusOK {
				t.Fatalf("genuine message = %d", got)
			}
		}
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM notifications`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d notifications after a genuine message delivered twice, want 1", n)
		}
	})
}
