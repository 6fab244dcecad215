package emulator_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA.
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// stockVerifier checks SNS messages the way unmodified verifiers do
// (the sns-validator npm package, the AWS SDKs' message validators), given
// only what a user can tell them: a host pattern for SigningCertURL and an
// extra trusted CA (NODE_EXTRA_CA_CERTS, a JVM trust store). Its rules,
// from theirs: SigningCertURL must be https, name a .pem file and match the
// host pattern, all before any connection; the certificate is fetched with
// the default TLS verification; the signature is RSA PKCS#1 v1.5 over the
// canonical string, with SHA1 for SignatureVersion 1 and SHA256 for 2.
type stockVerifier struct {
	hostPattern *regexp.Regexp // matched against the URL's host, port included, as sns-validator does
	client      *http.Client
}

func newStockVerifier(t *testing.T, emu *emulator.Emulator, hostPort string) *stockVerifier {
	t.Helper()
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(emu.CACertificatePEM()) {
		t.Fatal("the emulator's CA is not PEM")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	t.Cleanup(client.CloseIdleConnections)
	return &stockVerifier{hostPattern: regexp.MustCompile("^" + regexp.QuoteMeta(hostPort) + "$"), client: client}
}

// verify fails the test unless body is a genuine SNS message; it returns
// the envelope's fields.
func (v *stockVerifier) verify(t *testing.T, body string) map[string]string {
	t.Helper()
	var msg map[string]string
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Fatalf("envelope %q: %v", body, err)
	}
	var fields []string
	switch msg["Type"] {
	case "Notification":
		fields = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	default:
		t.Fatalf("unknown Type %q", msg["Type"])
	}
	var canon strings.Builder
	for _, f := range fields {
		if v, ok := msg[f]; ok {
			fmt.Fprintf(&canon, "%s\n%s\n", f, v)
		}
	}
	certURL := msg["SigningCertURL"]
	u, err := url.Parse(certURL)
	if err != nil || u.Scheme != "https" || !strings.HasSuffix(u.Path, ".pem") || !v.hostPattern.MatchString(u.Host) {
		t.Fatalf("a stock verifier refuses SigningCertURL %q: want https, a .pem file and a host matching %s", certURL, v.hostPattern)
	}
	resp, err := v.client.Get(certURL)
	if err != nil {
		t.Fatalf("fetch the signing certificate as a stock verifier does: %v", err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("no PEM at %s", certURL)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(msg["Signature"])
	if err != nil {
		t.Fatal(err)
	}
	var hash crypto.Hash
	var digest []byte
	switch msg["SignatureVersion"] {
	case "1":
		s := sha1.Sum([]byte(canon.String())) //nolint:gosec // SignatureVersion 1.
		hash, digest = crypto.SHA1, s[:]
	case "2":
		s := sha256.Sum256([]byte(canon.String()))
		hash, digest = crypto.SHA256, s[:]
	default:
		t.Fatalf("SignatureVersion %q", msg["SignatureVersion"])
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), hash, digest, sig); err != nil {
		t.Fatalf("signature of %s does not verify: %v", msg["Type"], err)
	}
	return msg
}

// TestSNS_StockVerifierAcceptsEveryMessage: every kind of message the
// emulator sends, with both signature versions, passes a stock verifier
// given the emulator's CA and host; its SubscribeURL and UnsubscribeURL are
// https on that host too, as SNS's are (#13).
func TestSNS_StockVerifierAcceptsEveryMessage(t *testing.T) {
	for _, version := range []string{"1", "2"} {
		t.Run("SignatureVersion"+version, func(t *testing.T) {
			e := newEnv(t)
			c := e.catalog()
			ctx := context.Background()
			ep := newEndpoint(t, 0)
			sub := must(e.m.SubscribeSNS(ctx, market.SNSSubscribeInput{ProductCode: c.payg.Code, Topic: market.TopicSubscription,
				Endpoint: ep.srv.URL, SignatureVersion: version}))
			conf := e.stock.verify(t, ep.waitFor(t, 1)[0].body)
			e.stockGet(t, conf["SubscribeURL"])
			a := e.subscribe(c.buyer.ID, c.payg.Code, nil)
			n := e.stock.verify(t, ep.waitFor(t, 2)[1].body)
			e.stockGet(t, n["UnsubscribeURL"])
			unsub := e.stock.verify(t, ep.waitFor(t, 3)[2].body)
			must(e.m.Cancel(ctx, a.ID)) // unsubscribed: nothing more arrives
			for _, m := range []map[string]string{conf, n, unsub} {
				if m["SignatureVersion"] != version {
					t.Errorf("%s: SignatureVersion %s, want %s", m["Type"], m["SignatureVersion"], version)
				}
			}
			if conf["Type"] != "SubscriptionConfirmation" || n["Type"] != "Notification" || unsub["Type"] != "UnsubscribeConfirmation" ||
				unsub["TopicArn"] != sub.TopicArn {
				t.Fatalf("messages: %v, %v, %v", conf, n, unsub)
			}
		})
	}
}

// stockGet visits an SNS URL as a seller's endpoint does: over https to
// the trusted host only.
func (e *env) stockGet(t *testing.T, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || !e.stock.hostPattern.MatchString(u.Host) {
		t.Fatalf("URL %q: want https on the emulator's host", raw)
	}
	resp, err := e.stock.client.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", raw, resp.StatusCode, body)
	}
}

// TestListener_HTTPAndHTTPSOnOnePort: the emulator's URLs keep working
// over plain http, and the same port answers https with a certificate for
// localhost and the loopback addresses from its CA, and from no other (#13).
func TestListener_HTTPAndHTTPSOnOnePort(t *testing.T) {
	e := newEnv(t)
	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	for _, u := range []string{
		e.url + "/healthz",
		e.url + "/sns/SimpleNotificationService-emulator.pem",
		"https://127.0.0.1:" + port + "/healthz",
		"https://localhost:" + port + "/sns/SimpleNotificationService-emulator.pem",
	} {
		resp, err := e.stock.client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (strings.HasPrefix(u, "https:") != (resp.TLS != nil)) {
			t.Fatalf("GET %s: status %d, TLS %v", u, resp.StatusCode, resp.TLS != nil)
		}
	}
	// A client that trusts only the system's roots refuses the emulator:
	// the CA is what makes it trusted.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	if resp, err := plain.Get("https://127.0.0.1:" + port + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the emulator's CA accepted its certificate")
	}
}
