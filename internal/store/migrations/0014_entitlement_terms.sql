-- The terms of a contract's entitlements that are no longer current: the
-- one a renewal replaced and the one that expired. AWS moves the end date
-- and the quantities at once when a contract is renewed before its end,
-- while the old term still runs, and GetEntitlements stops listing an
-- expired contract; yet usage within a term draws that term's committed
-- credits and no other's (R13, R14, R22). term_start NULL is the first term,
-- which runs from the link; term_end is the end date the marketplace gave.
CREATE TABLE entitlement_terms (
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    dimension TEXT NOT NULL,
    integer_value BIGINT NOT NULL,
    term_start {{time}},
    term_end {{time}} NOT NULL,
    recorded_at {{time}} NOT NULL,
    PRIMARY KEY (subscription_id, dimension, term_end)
);
