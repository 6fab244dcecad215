-- Issue 12: the vendor's view of entitlement and unbilled usage.
--
-- The entitlement endpoint is called on every request of the vendor's
-- product, so it reads an organization's link, current or ended by a
-- cancellation, through an index by organization: the unique indexes of
-- 0004 cover only live links.
CREATE INDEX billing_links_org ON billing_links (org_id, ended_at);

-- credit_use is how much of a contract's newest metered term of committed
-- credits usage has drawn, as metering last drew it (at the close of an
-- hour): what the entitlement endpoint reports without rating a term's
-- usage on every call. term_start is NULL for the first term, as in
-- credit_alerts.
CREATE TABLE credit_use (
    subscription_id BIGINT PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
    term_start {{time}},
    credits BIGINT NOT NULL,       -- the term's committed credits, whole $1
    used_micros BIGINT NOT NULL,   -- at most credits × 1,000,000
    updated_at {{time}} NOT NULL
);

-- usage_unbilled_hours marks each (organization, hour) whose usage.unbilled
-- event was recorded, in the same transaction as the event: the primary key
-- makes it once, whichever process and however many restarts.
CREATE TABLE usage_unbilled_hours (
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    hour {{time}} NOT NULL,
    event_id TEXT NOT NULL,
    recorded_at {{time}} NOT NULL,
    PRIMARY KEY (org_id, hour)
);
