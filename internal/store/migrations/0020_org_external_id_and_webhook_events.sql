-- Issue 12: organizations tied to the vendor's tenants, and the events the
-- vendor's product learns through webhooks.
--
-- external_id is the vendor's own id of the tenant an organization bills
-- for; NULL until the vendor sets it, unique once set (both engines allow
-- many NULLs under a unique index).
ALTER TABLE organizations ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX organizations_external_id ON organizations (external_id);

-- event_seq is the sequence number of an organization's last event. Taking
-- the next one updates the organization's row, which orders the events of
-- one organization and locks out a concurrent change to its billing.
ALTER TABLE organizations ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

-- webhook_events is the outbox: an event is written in the transaction of
-- the change it reports, so that none is lost and none is sent for a change
-- that rolled back. event_id is the webhook-id of every delivery attempt;
-- data is the JSON of the body's "data".
CREATE TABLE webhook_events (
    id {{id}},
    event_id TEXT NOT NULL UNIQUE,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    occurred_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX webhook_events_org_seq ON webhook_events (org_id, seq);
