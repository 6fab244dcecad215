-- Issue 12: delivering the events of webhook_events (0020) to the vendor's
-- endpoints, signed as Standard Webhooks.
--
-- An endpoint is set by flags (from_config, with config_key its URL, read
-- only in the operator view) or by an operator. types is the comma-framed
-- list of the event types it takes (",organization.linked,"); empty takes
-- every type. secret signs every delivery; after a rotation the previous
-- secret signs too until previous_until, so that a receiver has a day to
-- change its own. after_event is the last event recorded before the
-- endpoint was made: it gets none of those. failing_since is the first
-- failure after its last success; an endpoint failing for days is disabled,
-- with the reason in disabled_reason.
CREATE TABLE webhook_endpoints (
    id {{id}},
    url TEXT NOT NULL,
    types TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    secret TEXT NOT NULL,
    previous_secret TEXT NOT NULL DEFAULT '',
    previous_until {{time}},
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    config_key TEXT UNIQUE,
    after_event BIGINT NOT NULL DEFAULT 0,
    created_at {{time}} NOT NULL,
    last_success_at {{time}},
    failing_since {{time}},
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_at {{time}},
    disabled_reason TEXT NOT NULL DEFAULT ''
);

-- fanned_out marks an event whose deliveries have been made. The delivery
-- worker takes events by this mark, not by a cursor over ids: on
-- PostgreSQL ids are taken when a row is inserted, not when it commits, so
-- an event can become visible after one with a higher id, and a cursor
-- would pass it by for good.
ALTER TABLE webhook_events ADD COLUMN fanned_out BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX webhook_events_to_fan_out ON webhook_events (id) WHERE fanned_out = FALSE;

-- One delivery per (event, endpoint). pending: to send when next_attempt_at
-- comes and no process holds its lease; delivered: answered 2xx; failed:
-- retried for days (give_up_at) without a 2xx. step is the position in the
-- backoff schedule, which "send again" resets with give_up_at.
CREATE TABLE webhook_deliveries (
    id {{id}},
    event_id BIGINT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {{time}} NOT NULL,
    give_up_at {{time}} NOT NULL,
    lease_until {{time}},
    claimed_by TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    created_at {{time}} NOT NULL,
    delivered_at {{time}},
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
-- What a process has in flight to an endpoint, so that one slow endpoint
-- cannot hold every worker while the others wait.
CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (endpoint_id, claimed_by) WHERE status = 'pending' AND lease_until IS NOT NULL;

-- Every attempt, for the operator view: when, the HTTP status (0 when no
-- answer came), how long it took, and the start of the answer or the error.
CREATE TABLE webhook_attempts (
    id {{id}},
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    attempted_at {{time}} NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    latency_ms BIGINT NOT NULL DEFAULT 0,
    response TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
