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

-- When the subscription's agreement was last looked for by its buyer and
-- product (SearchAgreements), at set-up; NULL: not yet, or the search failed.
ALTER TABLE subscriptions ADD COLUMN agreement_searched_at {{time}};
