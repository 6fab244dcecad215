-- maybe_sent marks a record whose call ended without an answer (a timeout,
-- a lost connection, a 5xx): AWS may hold it. Resending it inside AWS's window
-- settles that (an identical record is answered idempotently); one that can
-- no longer be resent is not carried into the next hour, which could bill it
-- twice, but left for an operator (status conflict).
ALTER TABLE metering_records ADD COLUMN maybe_sent BOOLEAN NOT NULL DEFAULT FALSE;

-- in_flight is set when a record is claimed for a call and cleared when the
-- call's outcome is stored: still set after the claim's lease ran out means
-- the process died during the call, which AWS may have received.
ALTER TABLE metering_records ADD COLUMN in_flight BOOLEAN NOT NULL DEFAULT FALSE;
