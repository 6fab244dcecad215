-- An EventBridge agreement event (Purchase Agreement Created, Amended,
-- Ended) names its agreement and buyer but no product or license, so it
-- cannot select a subscription by product and customer as every other
-- notification does (#11). The License events of the same agreement do name
-- its product and license: the subscription one of them matched is recorded
-- here for the agreement, and the agreement's events act on that
-- subscription only. An agreement belongs to one subscription; the first
-- match stands.
ALTER TABLE notifications ADD COLUMN agreement_id TEXT NOT NULL DEFAULT '';

CREATE TABLE subscription_agreements (
    agreement_id TEXT PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    recorded_at {{time}} NOT NULL
);
CREATE INDEX subscription_agreements_subscription ON subscription_agreements (subscription_id);
