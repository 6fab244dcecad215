-- mail_outbox is the durable outbox of outgoing mail (package mail). A row is
-- written in the transaction of the change that causes the mail, so a mail
-- exists exactly when that change committed; workers then deliver it.
--
-- status: pending (to deliver), sent, failed (gave up) or dev_mailbox (kept
-- for the dev mailbox page instead of being sent, when no SMTP is set).
-- A worker claims a pending row by setting lease_until and claimed_by; while
-- the lease holds no other worker takes the row, and once it passes (the
-- worker crashed) the row is due again. claimed_by is a token per claim, so a
-- worker whose lease expired cannot overwrite the outcome of the next claim.
CREATE TABLE mail_outbox (
    id {{id}},
    recipients TEXT NOT NULL,         -- JSON array of RFC 5322 addresses
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt_at {{time}} NOT NULL,
    lease_until {{time}},
    claimed_by TEXT,
    created_at {{time}} NOT NULL,
    sent_at {{time}}
);

-- The workers' poll: pending rows in due order.
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
