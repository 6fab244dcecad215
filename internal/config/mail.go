package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
)

// DefaultMailFrom is the sender of outgoing mail unless --mail-from says
// otherwise; fine for the demo, which keeps mail in the dev mailbox.
const DefaultMailFrom = "marketbridge <no-reply@localhost>"

// Mail configures outgoing mail. With no SMTP URL, mail is kept in the
// database and shown in the dev mailbox instead of being sent, so that the
// demo needs no mail server.
type Mail struct {
	SMTPURL string
	From    string
}

// Bind declares the mail flags on fs.
func (m *Mail) Bind(fs *flag.FlagSet) {
	fs.StringVar(&m.SMTPURL, "smtp-url", "", "smtp://user:pass@host:587 (STARTTLS required) or smtps://user:pass@host:465 (implicit TLS); "+
		"empty keeps mail in the dev mailbox instead of sending it")
	fs.StringVar(&m.From, "mail-from", DefaultMailFrom, "sender address of outgoing mail")
}

// DevMailbox says whether mail stays in the database instead of being sent.
func (m Mail) DevMailbox() bool { return m.SMTPURL == "" }

// Validate checks the SMTP URL's form and the sender address.
func (m Mail) Validate() error {
	var errs []error
	if m.SMTPURL != "" {
		if _, err := ParseSMTPURL(m.SMTPURL); err != nil {
			errs = append(errs, fmt.Errorf("--smtp-url: %w", err))
		}
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		errs = append(errs, fmt.Errorf("--mail-from: %q is not a mail address: %w", m.From, err))
	}
	return errors.Join(errs...)
}

// SMTPServer is a parsed --smtp-url.
type SMTPServer struct {
	Host        string
	Port        int
	ImplicitTLS bool // smtps://: TLS from the first byte; otherwise STARTTLS, required
	Username    string
	Password    string
}

// ParseSMTPURL reads smtp://[user[:pass]@]host[:port] (port 587 by default)
// or smtps://... (port 465 by default). Its errors never repeat the URL,
// which may hold a password and end up in logs.
func ParseSMTPURL(raw string) (SMTPServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the whole URL, password included
		}
		return SMTPServer{}, fmt.Errorf("not a URL: %w", err)
	}
	var s SMTPServer
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.ImplicitTLS = 465, true
	default:
		return SMTPServer{}, fmt.Errorf("scheme %q is not supported (use smtp:// for STARTTLS or smtps:// for implicit TLS)", u.Scheme)
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return SMTPServer{}, errors.New("needs a host name")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPServer{}, fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		s.Port = n
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return SMTPServer{}, errors.New("must not have a path, query or fragment")
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// Addr is host:port, for logs; it holds no credentials.
func (s SMTPServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }
