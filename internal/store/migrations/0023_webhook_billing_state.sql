-- Issue 12: the billing state each organization's webhook events last told
-- the vendor's product (subscription.updated), so that a state that time
-- alone brings about, a grace period that ends (R19) or a contract that
-- expires (R14), is recorded once: the process that records it sets this
-- column in the same transaction, under the lock of the organization's row
-- that taking its next event sequence number holds, and every other process
-- then finds the state already told. NULL until the first such event, and
-- read as "none". The values are package marketplace's billing states (none,
-- active, cancellation-pending, grace, suspended, contract-expired).
-- Organizations already suspended, or whose contract already expired, when
-- this migration runs were never told so: the first pass tells them, once.
ALTER TABLE organizations ADD COLUMN billing_state_told TEXT;

-- The periodic pass looks for cancelled links whose grace is over.
CREATE INDEX billing_links_ended ON billing_links (end_reason, ended_at);

-- credit_alerts (0015) now also keeps threshold 100, the committed credits
-- used up: it is not mailed (R15 mails at 50, 75 and 90%), only told to the
-- vendor's product as a credits.threshold event, once per term and
-- commitment as the others.
