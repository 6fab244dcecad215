package awsmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// certServer serves the emulator's signing certificate over TLS on
// loopback, with httptest's certificate, and counts the connections made to
// it and the SubscribeURLs visited.
type certServer struct {
	srv           *httptest.Server
	conns, visits atomic.Int64
}

func newCertServer(t *testing.T, certPEM []byte) *certServer {
	t.Helper()
	cs := &certServer{}
	cs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cert.pem" {
			w.Write(certPEM)
			return
		}
		cs.visits.Add(1)
	}))
	cs.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.srv.StartTLS()
	t.Cleanup(cs.srv.Close)
	return cs
}

// otherCA is a CA that signed nothing the tests serve.
func otherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "some other CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// withCertURL is a genuine emulator message of type typ whose
// SigningCertURL (which SNS does not sign) points elsewhere.
func withCertURL(t *testing.T, s samples, typ, certURL string) []byte {
	t.Helper()
	for _, b := range s.sns {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m["Type"] == typ {
			m["SigningCertURL"] = certURL
			out, _ := json.Marshal(m)
			return out
		}
	}
	t.Fatalf("no %s among the emulator's samples", typ)
	return nil
}

// TestSNSVerifier_CertificateOverHTTPSFromTrustedHostAndCA: the signing
// certificate is fetched over https only, from AWS's hosts or the
// configured one, through a TLS certificate of a trusted CA (#13). A wrong
// scheme or host is refused before any connection is made.
func TestSNSVerifier_CertificateOverHTTPSFromTrustedHostAndCA(t *testing.T) {
	s := emulatorSamples(t)
	cs := newCertServer(t, s.certPEM)
	host := cs.srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(host)
	trusting := x509.NewCertPool()
	trusting.AddCert(cs.srv.Certificate())
	for _, tc := range []struct {
		name      string
		certURL   string
		roots     *x509.CertPool
		wantConns bool // whether a connection may be made
		wantOK    bool
	}{
		{"https on the configured host, its CA trusted", "https://" + host + "/cert.pem", trusting, true, true},
		{"plain http on the configured host", "http://" + host + "/cert.pem", trusting, false, false},
		{"https on a host not configured", "https://localhost:" + port + "/cert.pem", trusting, false, false},
		{"https, not a .pem file", "https://" + host + "/cert", trusting, false, false},
		{"a TLS certificate not from a trusted CA", "https://" + host + "/cert.pem", otherCA(t), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs.conns.Store(0)
			v := NewSNSVerifier(SNSVerifierConfig{ExtraCertHosts: []string{host}, ExtraHostRootCAs: tc.roots})
			_, err := v.ParseAndVerify(context.Background(), withCertURL(t, s, SNSTypeNotification, tc.certURL))
			if tc.wantOK != (err == nil) {
				t.Fatalf("ParseAndVerify: %v, want accepted %v", err, tc.wantOK)
			}
			if !tc.wantConns && cs.conns.Load() != 0 {
				t.Fatalf("%d connections made for a URL refused on its face", cs.conns.Load())
			}
			if !tc.wantOK && tc.wantConns {
				// Refused by TLS: a fetch error, not ErrBadSNSMessage.
				var uerr *url.Error
				if !errors.As(err, &uerr) {
					t.Fatalf("want a refused TLS connection, got %v", err)
				}
			} else if !tc.wantOK && !errors.Is(err, ErrBadSNSMessage) {
				t.Fatalf("want ErrBadSNSMessage, got %v", err)
			}
		})
	}
}

// TestSNSVerifier_ConfirmsOverHTTPSOnly: a SubscribeURL on the configured
// host is visited over https, and refused over plain http before any
// connection (#13).
func TestSNSVerifier_ConfirmsOverHTTPSOnly(t *testing.T) {
	s := emulatorSamples(t)
	cs := newCertServer(t, s.certPEM)
	host := cs.srv.Listener.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(cs.srv.Certificate())
	v := NewSNSVerifier(SNSVerifierConfig{ExtraCertHosts: []string{host}, ExtraHostRootCAs: roots})
	m, err := v.ParseAndVerify(context.Background(), withCertURL(t, s, SNSSubscriptionConfirmation, "https://"+host+"/cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	conns := cs.conns.Load()
	for _, scheme := range []string{"http", "https"} {
		m.SubscribeURL = scheme + "://" + host + "/?" + url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {m.TopicArn}, "Token": {m.Token}}.Encode()
		err := v.Confirm(context.Background(), m)
		if scheme == "http" && (!errors.Is(err, ErrBadSNSMessage) || cs.conns.Load() != conns) {
			t.Fatalf("http SubscribeURL: %v, %d new connections; want refused before connecting", err, cs.conns.Load()-conns)
		}
		if scheme == "https" && (err != nil || cs.visits.Load() != 1) {
			t.Fatalf("https SubscribeURL: %v, %d visits", err, cs.visits.Load())
		}
	}
}

// TestSNSVerifier_LocalCATrustedForTheConfiguredHostOnly: the extra CA
// applies to the configured host; AWS's hosts keep the system's roots, so
// that a local CA cannot stand in for AWS (#13). No request leaves the
// process: the transports are stand-ins.
func TestSNSVerifier_LocalCATrustedForTheConfiguredHostOnly(t *testing.T) {
	var got []string
	record := func(name string) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			got = append(got, name+" "+r.URL.Host)
			return nil, errors.New("no network in tests")
		})
	}
	h := hostRoots{extra: map[string]bool{"emulator.test:8081": true}, aws: record("system"), extraTransport: record("extra")}
	for _, u := range []string{"https://EMULATOR.test:8081/x.pem", "https://sns.us-east-1.amazonaws.com/x.pem", "https://emulator.test:8082/x.pem"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		h.RoundTrip(req) //nolint:errcheck,bodyclose // the stand-in only records
	}
	want := []string{"extra EMULATOR.test:8081", "system sns.us-east-1.amazonaws.com", "system emulator.test:8082"}
	if !slices.Equal(got, want) {
		t.Fatalf("routed %q, want %q", got, want)
	}
}
