package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// ErrNotFound is returned by Get for an id the outbox does not hold.
var ErrNotFound = errors.New("mail not found")

// maxRecipients bounds one message; mail to more people is a newsletter, which
// this package does not send.
const maxRecipients = 50

// Message is one mail to send, as the enqueuing package composed it.
type Message struct {
	To      []string // RFC 5322 addresses, "Name <a@b>" or "a@b"
	Subject string
	Text    string // plain-text body
	HTML    string // HTML alternative; optional when Text is given
}

// Validate reports every problem at once: recipients that do not parse, an
// empty subject or one that would break the header, and a missing body.
func (m Message) Validate() error {
	var errs []error
	if len(m.To) == 0 {
		errs = append(errs, errors.New("to: at least one recipient is required"))
	}
	if len(m.To) > maxRecipients {
		errs = append(errs, fmt.Errorf("to: %d recipients, at most %d", len(m.To), maxRecipients))
	}
	for i, a := range m.To {
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("to[%d]: %q is not a mail address: %w", i, a, err))
		}
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		errs = append(errs, errors.New("subject: must not be empty"))
	case strings.ContainsAny(m.Subject, "\r\n"):
		// A line break would let the subject add headers of its own.
		errs = append(errs, errors.New("subject: must be one line"))
	}
	if strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.HTML) == "" {
		errs = append(errs, errors.New("body: text or HTML is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid mail: %w", err)
	}
	return nil
}

// Status is where a stored mail is in its life.
type Status string

const (
	// StatusPending mails wait for a worker, possibly until a retry is due.
	StatusPending Status = "pending"
	// StatusSent mails were accepted by the SMTP server.
	StatusSent Status = "sent"
	// StatusFailed mails were given up: too many attempts or a permanent rejection.
	StatusFailed Status = "failed"
	// StatusDevMailbox mails were kept for the dev mailbox instead of being
	// sent, because no SMTP server is configured.
	StatusDevMailbox Status = "dev_mailbox"
)

// Stored is a mail as the outbox holds it.
type Stored struct {
	ID int64
	Message
	Status        Status
	Attempts      int
	LastError     string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	SentAt        time.Time // zero until sent or kept for the dev mailbox
}
