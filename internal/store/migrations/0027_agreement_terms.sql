-- What each buyer accepted, as AWS's Agreement API tells it (#13): the
-- agreements of a subscription (recorded from License events since 0019,
-- and now also found at set-up) gain their terms, read outside any
-- transaction of the lifecycle: a notification is applied whether or not
-- the Agreement API answers, and the terms are read after it.
--
-- read_wanted_at is when the agreement should be read (again): set by every
-- event of the agreement, moved later after a failed read; NULL once read
-- and nothing happened since; read_asks counts the asks, so that a read
-- clears only the ask it answered. terms is the JSON of
-- marketplace.AgreementTerms.
ALTER TABLE subscription_agreements ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE subscription_agreements ADD COLUMN offer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE subscription_agreements ADD COLUMN accepted_at {{time}};
ALTER TABLE subscription_agreements ADD COLUMN starts_at {{time}};
ALTER TABLE subscription_agreements ADD COLUMN ends_at {{time}};
ALTER TABLE subscription_agreements ADD COLUMN terms TEXT NOT NULL DEFAULT '';
ALTER TABLE subscription_agreements ADD COLUMN read_at {{time}};
ALTER TABLE subscription_agreements ADD COLUMN read_wanted_at {{time}};
ALTER TABLE subscription_agreements ADD COLUMN read_asks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscription_agreements ADD COLUMN read_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscription_agreements ADD COLUMN read_error TEXT NOT NULL DEFAULT '';
CREATE INDEX subscription_agreements_to_read ON subscription_agreements (read_wanted_at) WHERE read_wanted_at IS NOT NULL;
-- Agreements recorded before this migration are read once.
UPDATE subscription_agreements SET read_wanted_at = recorded_at;

-- When the subscription's agreement was looked for (SearchAgreements, at
-- set-up) or became known otherwise; NULL: not yet, or the search failed,
-- and the notifications loop looks again. The partial index keeps that
-- loop's query to the few subscriptions still to look for.
ALTER TABLE subscriptions ADD COLUMN agreement_searched_at {{time}};
-- Not looked for before: a process is looking (a claim), or the last search
-- failed and waits.
ALTER TABLE subscriptions ADD COLUMN agreement_search_after {{time}};
UPDATE subscriptions SET agreement_searched_at = updated_at
    WHERE status IN ('cancelled', 'failed') OR id IN (SELECT subscription_id FROM subscription_agreements);
CREATE INDEX subscriptions_agreement_unsearched ON subscriptions (id) WHERE agreement_searched_at IS NULL;
