-- Marketplaces other than AWS (#15). Microsoft's commercial marketplace sells
-- plans (flat rate with metered dimensions, or per seat) for terms, and bills
-- only once the seller has activated the subscription; the core keeps what
-- it last read of each, and whether the activation it owes is done.
--
-- For such a subscription customer_aws_account_id holds the buyer's account
-- on that marketplace (Microsoft: the beneficiary's Entra tenant) and
-- agreement_key the marketplace's id of the subscription, so the unique key
-- of 0004 makes one row per SaaS subscription: a tenant may hold several of
-- one offer, each billing its own organization (R1 on Microsoft's).
ALTER TABLE subscriptions ADD COLUMN plan_id TEXT NOT NULL DEFAULT '';
-- Seats of a per-user plan; 0 for a flat-rate plan, the only kind metered.
ALTER TABLE subscriptions ADD COLUMN quantity BIGINT NOT NULL DEFAULT 0;
-- The name the buyer gave the subscription, and the beneficiary's e-mail.
ALTER TABLE subscriptions ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN buyer_email TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN term_start {{time}};
ALTER TABLE subscriptions ADD COLUMN term_end {{time}};
-- activation: '' when the marketplace needs none (AWS), 'wanted' once the
-- subscription is linked and the marketplace must be told to start
-- billing, 'done' when it has. Activation is not idempotent on Microsoft's,
-- so the activator reads the subscription before calling it; a process that
-- dies between the link and the call leaves 'wanted', which the activation
-- loop finishes.
ALTER TABLE subscriptions ADD COLUMN activation TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN activation_after {{time}};
ALTER TABLE subscriptions ADD COLUMN activation_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN activation_error TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN activated_at {{time}};
CREATE INDEX subscriptions_activation_wanted ON subscriptions (id) WHERE activation = 'wanted';
-- When the subscription was last read from its marketplace (a notice, a
-- landing visit, the reconciliation's list).
ALTER TABLE subscriptions ADD COLUMN read_at {{time}};

-- Notices from marketplaces other than AWS (Microsoft's webhook), stored
-- before they are acted on and de-duplicated on the marketplace's id. The
-- core reads the subscription again from the marketplace before acting:
-- the notice says only that something changed.
CREATE TABLE marketplace_notices (
    id {{id}},
    marketplace TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    subscription_key TEXT NOT NULL,
    action TEXT NOT NULL,
    -- The change the notice announces, when it names one (Microsoft's
    -- ChangePlan and ChangeQuantity), and whether the marketplace waits for
    -- the seller to accept it; acked_at once accepted, so that a retry
    -- reads again without accepting twice.
    plan_id TEXT NOT NULL DEFAULT '',
    quantity BIGINT NOT NULL DEFAULT 0,
    needs_ack BOOLEAN NOT NULL DEFAULT FALSE,
    acked_at {{time}},
    sent_at {{time}} NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'waiting', 'applied', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    retry_after {{time}},
    received_at {{time}} NOT NULL,
    applied_at {{time}},
    UNIQUE (marketplace, notice_id)
);
CREATE INDEX marketplace_notices_open ON marketplace_notices (status, id) WHERE status IN ('pending', 'waiting');
