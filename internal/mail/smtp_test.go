package mail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

func smtpSender(t *testing.T, scheme string, s *smtpServer, opts ...mail.SMTPOption) *mail.SMTPSender {
	t.Helper()
	sender, err := mail.NewSMTPSender(config.Mail{SMTPURL: scheme + "://" + smtpUser + ":" + smtpPass + "@" + s.Addr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

// End to end: enqueue, the worker sends over STARTTLS with AUTH PLAIN, and
// the server gets the right envelope, headers and a text+HTML body.
func TestWorker_SMTP_DeliversOverSTARTTLSWithAuth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv := startSMTPServer(t, false, false)
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		m := mail.Message{
			To:      []string{"Ann Buyer <ann@example.com>", "bob@example.com"},
			Subject: "Verify your e-mail address",
			Text:    "Open https://example.com/verify?t=abc to verify.",
			HTML:    `<p>Open <a href="https://example.com/verify?t=abc">this link</a> to verify.</p>`,
		}
		id := enqueue(t, o, m)
		w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now, From: "Marketbridge <no-reply@example.com>",
			Sender: smtpSender(t, "smtp", srv, mail.WithRootCAs(srv.Roots))})
		if sent, err := w.RunOnce(ctx); err != nil || sent != 1 {
			t.Fatalf("RunOnce = %d, %v; want 1, nil", sent, err)
		}
		got := srv.received()
		if len(got) != 1 {
			t.Fatalf("server received %d mails, want 1", len(got))
		}
		r := got[0]
		if !r.TLS || r.AuthUser != smtpUser {
			t.Errorf("TLS %v, AUTH user %q; want TLS and %q", r.TLS, r.AuthUser, smtpUser)
		}
		if r.From != "no-reply@example.com" || strings.Join(r.To, ",") != "ann@example.com,bob@example.com" {
			t.Errorf("envelope from %q to %q", r.From, r.To)
		}
		checkMessage(t, r.Data, m)
		if s := get(t, o, id); s.Status != mail.StatusSent || s.Attempts != 1 || !s.SentAt.Equal(clk.Now()) {
			t.Errorf("stored status %s, attempts %d, sent at %v; want sent, 1, %v", s.Status, s.Attempts, s.SentAt, clk.Now())
		}
	})
}

// checkMessage parses the raw mail and compares headers and both bodies.
func checkMessage(t *testing.T, raw []byte, want mail.Message) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse mail: %v", err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	from, _ := msg.Header.AddressList("From")
	to, _ := msg.Header.AddressList("To")
	if subject != want.Subject {
		t.Errorf("Subject = %q, want %q", subject, want.Subject)
	}
	if len(from) != 1 || from[0].Address != "no-reply@example.com" || from[0].Name != "Marketbridge" {
		t.Errorf("From = %v", from)
	}
	if len(to) != 2 || to[0].Address != "ann@example.com" || to[0].Name != "Ann Buyer" || to[1].Address != "bob@example.com" {
		t.Errorf("To = %v", to)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	bodies := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = p // multipart already decodes quoted-printable
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		bodies[ct] = strings.TrimRight(string(b), "\r\n")
	}
	if bodies["text/plain"] != want.Text {
		t.Errorf("text body = %q, want %q", bodies["text/plain"], want.Text)
	}
	if bodies["text/html"] != want.HTML {
		t.Errorf("HTML body = %q, want %q", bodies["text/html"], want.HTML)
	}
}

// The sender talks TLS or not at all, and only to a certificate it trusts.
func TestSMTPSender_TLSIsRequired(t *testing.T) {
	tests := []struct {
		name        string
		scheme      string
		implicitTLS bool
		noTLS       bool
		trust       bool
		wantErr     string
	}{
		{"smtps delivers over implicit TLS", "smtps", true, false, true, ""},
		{"untrusted certificate is refused", "smtp", false, false, false, "certificate"},
		{"server without STARTTLS is refused", "smtp", false, true, true, "STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPServer(t, tt.implicitTLS, tt.noTLS)
			var opts []mail.SMTPOption
			if tt.trust {
				opts = append(opts, mail.WithRootCAs(srv.Roots))
			}
			err := smtpSender(t, tt.scheme, srv, opts...).Send(context.Background(), "no-reply@example.com", testMessage(1))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send = %v", err)
				}
				if got := srv.received(); len(got) != 1 || !got[0].TLS {
					t.Fatalf("server received %+v, want one mail over TLS", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Send = %v, want an error about %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), smtpPass) {
				t.Fatalf("error %q shows the password", err)
			}
			if got := srv.received(); len(got) != 0 {
				t.Fatalf("server received %d mails, want none", len(got))
			}
		})
	}
}

// A 451 is retried after the backoff and then delivered once; a 550 is given
// up at once with the server's reply kept.
func TestWorker_SMTP_TemporaryRefusalRetriedPermanentGivenUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv := startSMTPServer(t, false, false)
		srv.refuse = func(n int) error {
			switch n {
			case 1:
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			case 3:
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now, Backoff: time.Minute, MaxAttempts: 5,
			Sender: smtpSender(t, "smtp", srv, mail.WithRootCAs(srv.Roots))})

		id := enqueue(t, o, testMessage(1))
		if sent, err := w.RunOnce(ctx); err != nil || sent != 0 {
			t.Fatalf("first pass = %d, %v; want 0 sent", sent, err)
		}
		s := get(t, o, id)
		if s.Status != mail.StatusPending || !strings.Contains(s.LastError, "451") || !s.NextAttemptAt.Equal(clk.Now().Add(time.Minute)) {
			t.Fatalf("after 451: status %s, error %q, next %v", s.Status, s.LastError, s.NextAttemptAt)
		}
		if sent, _ := w.RunOnce(ctx); sent != 0 {
			t.Fatal("retried before the backoff passed")
		}
		clk.Advance(time.Minute)
		if sent, err := w.RunOnce(ctx); err != nil || sent != 1 {
			t.Fatalf("retry = %d, %v; want 1 sent", sent, err)
		}
		if s := get(t, o, id); s.Status != mail.StatusSent || s.Attempts != 2 {
			t.Fatalf("after retry: status %s, attempts %d; want sent, 2", s.Status, s.Attempts)
		}

		rejected := enqueue(t, o, testMessage(2))
		if sent, err := w.RunOnce(ctx); err != nil || sent != 0 {
			t.Fatalf("pass with 550 = %d, %v", sent, err)
		}
		if s := get(t, o, rejected); s.Status != mail.StatusFailed || s.Attempts != 1 || !strings.Contains(s.LastError, "no such user") {
			t.Fatalf("after 550: status %s, attempts %d, error %q; want failed, 1, the server's reply", s.Status, s.Attempts, s.LastError)
		}
		if got := len(srv.received()); got != 1 {
			t.Fatalf("server received %d mails, want 1", got)
		}
	})
}
