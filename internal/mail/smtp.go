package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/marketbridge/marketbridge/internal/config"
)

// Sender delivers one message; the worker calls it outside any transaction.
// An error wrapping ErrRejected means retrying is pointless.
type Sender interface {
	Send(ctx context.Context, from string, m Message) error
}

// ErrRejected marks a permanent refusal by the server (an SMTP 5xx reply to
// the sender, a recipient or the data): the worker gives the mail up at once.
var ErrRejected = errors.New("rejected permanently by the mail server")

// DefaultSMTPTimeout bounds one connection: dial, TLS, AUTH and the
// transaction. The worker's lease must be longer than a batch of these.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPSender sends over SMTP with go-mail: STARTTLS required for smtp://,
// implicit TLS for smtps://, AUTH when the URL has user info. It never falls
// back to plain text, so credentials and mail never cross the network in the
// clear.
type SMTPSender struct {
	server  config.SMTPServer
	timeout time.Duration
	rootCAs *x509.CertPool
}

// SMTPOption adjusts an SMTPSender beyond what flags can say.
type SMTPOption func(*SMTPSender)

// WithRootCAs trusts the given pool instead of the system's roots, for a
// server with a private CA, and for tests with a self-signed certificate.
// There is deliberately no option to skip verification.
func WithRootCAs(pool *x509.CertPool) SMTPOption {
	return func(s *SMTPSender) { s.rootCAs = pool }
}

// WithTimeout replaces DefaultSMTPTimeout.
func WithTimeout(d time.Duration) SMTPOption {
	return func(s *SMTPSender) { s.timeout = d }
}

// NewSMTPSender returns a sender for cfg.SMTPURL, which must be set.
func NewSMTPSender(cfg config.Mail, opts ...SMTPOption) (*SMTPSender, error) {
	if cfg.SMTPURL == "" {
		return nil, errors.New("SMTP sender: --smtp-url is empty (the dev mailbox needs no sender)")
	}
	server, err := config.ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP sender: --smtp-url: %w", err)
	}
	s := &SMTPSender{server: server, timeout: DefaultSMTPTimeout}
	for _, opt := range opts {
		opt(s)
	}
	if s.timeout <= 0 {
		return nil, errors.New("SMTP sender: timeout must be positive")
	}
	return s, nil
}

// Addr is the server's host:port, for logs.
func (s *SMTPSender) Addr() string { return s.server.Addr() }

// Send delivers m in one connection of its own: a client per send keeps
// concurrent sends apart and leaves no idle connection for the server to
// drop between polls.
func (s *SMTPSender) Send(ctx context.Context, from string, m Message) error {
	msg, err := s.compose(from, m)
	if err != nil {
		return err
	}
	client, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var serr *gomail.SendError
		if errors.As(err, &serr) && serr.ErrorCode() >= 500 && serr.ErrorCode() < 600 {
			return fmt.Errorf("send mail via %s: %w: %w", s.server.Addr(), ErrRejected, err)
		}
		return fmt.Errorf("send mail via %s: %w", s.server.Addr(), err)
	}
	return nil
}

func (s *SMTPSender) compose(from string, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("compose mail: from %q: %w", from, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("compose mail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetDate()
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, nil
}

func (s *SMTPSender) client() (*gomail.Client, error) {
	tlsConfig := &tls.Config{ServerName: s.server.Host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(s.server.Port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(tlsConfig),
	}
	if s.server.ImplicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.server.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers, and
		// go-mail offers PLAIN and LOGIN only on an encrypted connection.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.server.Username), gomail.WithPassword(s.server.Password))
	}
	client, err := gomail.NewClient(s.server.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client for %s: %w", s.server.Addr(), err)
	}
	return client, nil
}
