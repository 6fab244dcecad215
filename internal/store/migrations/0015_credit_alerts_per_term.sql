-- Usage alerts of committed credits (R15) per contract term, no longer per
-- subscription: a renewal's term has fresh credits and alerts again as they
-- are used, and usage of an old term after an early renewal alerts against
-- the old term's credits (R13, R22). A term is named as entitlements and
-- entitlement_terms name it, by term_start: NULL for the first term, which
-- runs from the link; an upgrade keeps it, a renewal starts a new one.
--
-- credits is the term's commitment (whole $1, as integer_value) that the
-- threshold was reached against: an upgrade that raises it within the term
-- has thresholds of its own (package marketplace says which it mails). It
-- is NULL for the rows of 0009, whose commitment was not kept: they count
-- as reached against the term's commitment, whatever it is.
CREATE TABLE credit_alerts_by_term (
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    term_start {{time}},
    credits BIGINT,
    threshold INTEGER NOT NULL,   -- percent of the credits: 50, 75 or 90
    sent_at {{time}} NOT NULL
);

-- An alert of 0009 belongs to the term that was current when it was sent:
-- the latest to have started by then, or the first (NULL) when none had.
-- Terms are contiguous, so no end needs checking; a renewal seen early
-- starts its term at the old term's end, after the old term's alerts. The
-- committed dimension is the one integer entitlement a contract has a term
-- for; its dimensions are renewed together, so they agree on term_start.
INSERT INTO credit_alerts_by_term (subscription_id, term_start, credits, threshold, sent_at)
SELECT a.subscription_id,
    (SELECT MAX(t.term_start) FROM (
            SELECT subscription_id, term_start FROM entitlement_terms
            UNION ALL
            SELECT subscription_id, term_start FROM entitlements WHERE value_kind = 'integer'
        ) t
        WHERE t.subscription_id = a.subscription_id AND t.term_start <= a.sent_at),
    NULL, a.threshold, a.sent_at
FROM credit_alerts a;

DROP TABLE credit_alerts;
ALTER TABLE credit_alerts_by_term RENAME TO credit_alerts;

-- Each threshold of a term's commitment is mailed once, whichever process
-- notices first: the insert that wins the unique index sends the mail. A
-- primary key cannot hold the first term's NULL, and both engines treat
-- NULLs as distinct in a unique index, so the first term has its own.
CREATE UNIQUE INDEX credit_alerts_first_term ON credit_alerts (subscription_id, credits, threshold)
    WHERE term_start IS NULL;
CREATE UNIQUE INDEX credit_alerts_renewed_term ON credit_alerts (subscription_id, term_start, credits, threshold)
    WHERE term_start IS NOT NULL;
