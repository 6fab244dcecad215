-- Marketplace purchases, subscriptions, their billing links to
-- organizations, and contract entitlements (rules R1-R9, R24).

-- A subscription is one marketplace agreement of one buyer account for one
-- product. agreement_key is the license ARN when AWS gives one, else the
-- legacy customer identifier: resubscribing after a cancellation makes a new
-- agreement, hence a new row (R21), while the same agreement resolved twice
-- finds its row (R6).
CREATE TABLE subscriptions (
    id {{id}},
    marketplace TEXT NOT NULL,
    product_code TEXT NOT NULL,
    offer_type TEXT NOT NULL CHECK (offer_type IN ('payg', 'contract')),
    customer_aws_account_id TEXT NOT NULL,
    customer_identifier TEXT NOT NULL DEFAULT '',
    license_arn TEXT NOT NULL DEFAULT '',
    agreement_key TEXT NOT NULL,
    offer_id TEXT NOT NULL DEFAULT '',
    free_trial BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL DEFAULT 'active',
    created_at {{time}} NOT NULL,
    updated_at {{time}} NOT NULL,
    UNIQUE (marketplace, product_code, customer_aws_account_id, agreement_key)
);

-- A purchase is one "Set up your account" visit: the resolved token, kept
-- server-side while the buyer registers, verifies and logs in (R4). The
-- browser holds only claim_hash's token in a cookie; the raw registration
-- token is never stored.
CREATE TABLE purchases (
    id {{id}},
    claim_hash TEXT NOT NULL UNIQUE,
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id),
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL,
    completed_at {{time}}
);
CREATE INDEX purchases_user ON purchases (user_id);

-- A billing link says that an organization is billed through a
-- subscription. The partial unique indexes are the rules themselves, so that
-- no race can break them: a subscription bills at most one organization
-- (R1), and an organization is billed through at most one subscription (R3).
CREATE TABLE billing_links (
    id {{id}},
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id),
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    linked_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    linked_at {{time}} NOT NULL,
    ended_at {{time}},
    end_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX billing_links_one_org_per_subscription ON billing_links (subscription_id) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX billing_links_one_subscription_per_org ON billing_links (org_id) WHERE ended_at IS NULL;

-- Contract entitlements as GetEntitlements last reported them.
CREATE TABLE entitlements (
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    dimension TEXT NOT NULL,
    value_kind TEXT NOT NULL,            -- integer, double, boolean or string
    integer_value BIGINT,
    text_value TEXT NOT NULL DEFAULT '', -- doubles, booleans and strings, as AWS sent them
    expires_at {{time}},
    updated_at {{time}} NOT NULL,
    PRIMARY KEY (subscription_id, dimension)
);
