package awsmp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA; we verify what AWS sends.
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SNSMessage is an SNS HTTP/S delivery: a notification, or a subscription
// (un)confirmation.
type SNSMessage struct {
	Type             string
	MessageId        string //nolint:revive // SNS's field name
	Token            string
	TopicArn         string
	Subject          *string // signed only when present
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
	UnsubscribeURL   string
}

// SNS message types.
const (
	SNSTypeNotification         = "Notification"
	SNSSubscriptionConfirmation = "SubscriptionConfirmation"
	SNSUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// ErrBadSNSMessage is returned, wrapped with the reason, for anything that
// is not a genuine, fresh SNS message.
var ErrBadSNSMessage = errors.New("not a valid SNS message")

// awsCertHost is AWS's own validators' rule for where signing certificates
// may come from.
var awsCertHost = regexp.MustCompile(`^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$`)

// SNSVerifierConfig says which certificate hosts and which topics to trust.
type SNSVerifierConfig struct {
	// Origins are the accounts and regions whose topics are believed;
	// zero takes AWS Marketplace's.
	Origins Origins
	// ExtraCertHosts are host:port values besides AWS's whose certificates
	// are trusted: the emulator's, in a demo or test. Like AWS's, they are
	// fetched over https only (#13).
	ExtraCertHosts []string
	// ExtraHostRootCAs are the certificate authorities the default client
	// accepts TLS certificates of on ExtraCertHosts: the system's plus an
	// emulator's local CA, as the caller builds it; nil takes the system's.
	// AWS's hosts are checked against the system's alone, so that a local
	// CA cannot stand in for AWS.
	ExtraHostRootCAs *x509.CertPool
	// MaxAge refuses messages signed longer ago: replays of old messages.
	MaxAge time.Duration
	// HTTPClient fetches certificates and visits SubscribeURLs; nil makes
	// one that trusts the CAs above and follows no redirect.
	HTTPClient *http.Client
	Now        func() time.Time
}

// SNSVerifier checks SNS messages' signatures against certificates fetched
// only from trusted hosts, and caches the certificates.
type SNSVerifier struct {
	cfg   SNSVerifierConfig
	extra map[string]bool
	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// NewSNSVerifier returns a verifier.
func NewSNSVerifier(cfg SNSVerifierConfig) *SNSVerifier {
	if cfg.MaxAge == 0 {
		// SNS retries for hours after an outage; a replay within this age is
		// stopped by deduplication on MessageId.
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Origins = cfg.Origins.withDefaults()
	v := &SNSVerifier{cfg: cfg, extra: map[string]bool{}, certs: map[string]*x509.Certificate{}}
	for _, h := range cfg.ExtraCertHosts {
		v.extra[strings.ToLower(h)] = true
	}
	if v.cfg.HTTPClient == nil {
		v.cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second,
			Transport: hostRoots{extra: v.extra, aws: transportTrusting(nil), extraTransport: transportTrusting(cfg.ExtraHostRootCAs)},
			// A trusted host must not send us to an untrusted one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return v
}

// ParseAndVerify decodes body and checks that it is a genuine SNS message
// of an AWS Marketplace topic: from a topic of the configured account and
// region (AWS Marketplace's), signed, by a certificate from a trusted host,
// recently. The topic is checked first: SNS signs every topic's messages
// alike, so a signature alone proves nothing about whose topic sent it.
func (v *SNSVerifier) ParseAndVerify(ctx context.Context, body []byte) (SNSMessage, error) {
	var m SNSMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("%w: body is not JSON: %v", ErrBadSNSMessage, err)
	}
	canonical, err := canonicalString(m)
	if err != nil {
		return m, err
	}
	if _, err := v.cfg.Origins.Topic(m.TopicArn); err != nil {
		return m, err
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return m, fmt.Errorf("%w: SignatureVersion %q", ErrBadSNSMessage, m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return m, fmt.Errorf("%w: signature is not base64", ErrBadSNSMessage)
	}
	cert, err := v.certificate(ctx, m.SigningCertURL)
	if err != nil {
		return m, err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return m, fmt.Errorf("%w: signing certificate has no RSA key", ErrBadSNSMessage)
	}
	var digest []byte
	if hash == crypto.SHA1 {
		sum := sha1.Sum([]byte(canonical)) //nolint:gosec
		digest = sum[:]
	} else {
		sum := sha256.Sum256([]byte(canonical))
		digest = sum[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return m, fmt.Errorf("%w: signature does not match", ErrBadSNSMessage)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return m, fmt.Errorf("%w: Timestamp %q", ErrBadSNSMessage, m.Timestamp)
	}
	if age := v.cfg.Now().Sub(ts); age > v.cfg.MaxAge {
		return m, fmt.Errorf("%w: signed %s ago, more than %s: a replay", ErrBadSNSMessage, age.Round(time.Second), v.cfg.MaxAge)
	}
	return m, nil
}

func transportTrusting(roots *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return t
}

// hostRoots sends requests for the extra hosts through a transport that
// trusts their CAs, and any other through one that trusts the system's.
type hostRoots struct {
	extra               map[string]bool
	aws, extraTransport http.RoundTripper
}

func (h hostRoots) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.extra[strings.ToLower(r.URL.Host)] {
		return h.extraTransport.RoundTrip(r)
	}
	return h.aws.RoundTrip(r)
}

// canonicalString is the text SNS signs: chosen fields in a fixed order,
// each as "Name\nvalue\n".
func canonicalString(m SNSMessage) (string, error) {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	switch m.Type {
	case SNSTypeNotification:
		add("Message", m.Message)
		add("MessageId", m.MessageId)
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
	case SNSSubscriptionConfirmation, SNSUnsubscribeConfirmation:
		add("Message", m.Message)
		add("MessageId", m.MessageId)
		add("SubscribeURL", m.SubscribeURL)
		add("Timestamp", m.Timestamp)
		add("Token", m.Token)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
	default:
		return "", fmt.Errorf("%w: Type %q", ErrBadSNSMessage, m.Type)
	}
	return b.String(), nil
}

// trustedURL says whether a certificate or subscribe URL is https on AWS's
// SNS or on a configured extra host. It decides before any connection is
// made: a message must not be able to send the seller anywhere else.
func (v *SNSVerifier) trustedURL(raw string, wantPEM bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q", ErrBadSNSMessage, raw)
	}
	if u.Scheme != "https" {
		// Plain http would let anyone on the path swap the certificate.
		return nil, fmt.Errorf("%w: URL %q is not https", ErrBadSNSMessage, raw)
	}
	if wantPEM && !strings.HasSuffix(u.Path, ".pem") {
		return nil, fmt.Errorf("%w: certificate URL %q does not name a .pem file", ErrBadSNSMessage, raw)
	}
	if v.extra[strings.ToLower(u.Host)] || (awsCertHost.MatchString(u.Hostname()) && u.Port() == "") {
		return u, nil
	}
	return nil, fmt.Errorf("%w: URL %q is not on a trusted SNS host", ErrBadSNSMessage, raw)
}

func (v *SNSVerifier) certificate(ctx context.Context, raw string) (*x509.Certificate, error) {
	u, err := v.trustedURL(raw, true)
	if err != nil {
		return nil, err
	}
	key := u.String()
	v.mu.Lock()
	cert, ok := v.certs[key]
	v.mu.Unlock()
	if ok && v.cfg.Now().Before(cert.NotAfter) {
		return cert, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, key, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch SNS signing certificate: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		return nil, fmt.Errorf("%w: signing certificate is not PEM", ErrBadSNSMessage)
	}
	cert, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: signing certificate: %v", ErrBadSNSMessage, err)
	}
	if now := v.cfg.Now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("%w: signing certificate is not valid now", ErrBadSNSMessage)
	}
	v.mu.Lock()
	if len(v.certs) > 64 { // AWS rotates certificates rarely; a bound stops a flood of URLs growing memory
		clear(v.certs)
	}
	v.certs[key] = cert
	v.mu.Unlock()
	return cert, nil
}

// Confirm visits a subscription's SubscribeURL, which is how an HTTP/S
// endpoint accepts an SNS subscription: only for a topic of AWS
// Marketplace's (so that no one else's topic can subscribe the endpoint),
// only on trusted hosts, and only a URL that confirms that topic.
func (v *SNSVerifier) Confirm(ctx context.Context, m SNSMessage) error {
	if m.Type != SNSSubscriptionConfirmation {
		return fmt.Errorf("%w: Type %q confirms nothing", ErrBadSNSMessage, m.Type)
	}
	if _, err := v.cfg.Origins.Topic(m.TopicArn); err != nil {
		return err
	}
	u, err := v.trustedURL(m.SubscribeURL, false)
	if err != nil {
		return err
	}
	if q := u.Query(); q.Get("Action") != "ConfirmSubscription" || q.Get("TopicArn") != m.TopicArn {
		return fmt.Errorf("%w: SubscribeURL %q does not confirm topic %s", ErrBadSNSMessage, m.SubscribeURL, m.TopicArn)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("confirm SNS subscription: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("confirm SNS subscription: status %d", resp.StatusCode)
	}
	return nil
}
