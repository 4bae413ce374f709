-- The webhook event log: one row per Svix message id, updated by every
-- redelivery and replay of that message.
CREATE TABLE webhook_events (
    svix_id           TEXT        NOT NULL PRIMARY KEY,
    type              TEXT        NOT NULL,
    -- data.id of user.* events; NULL for other types and undecodable bodies.
    clerk_user_id     TEXT,
    -- The body as received, so that a replay applies exactly what was delivered.
    payload           TEXT        NOT NULL,
    outcome           TEXT        NOT NULL
        CHECK (outcome IN ('applied', 'unchanged', 'stale', 'ignored', 'failed')),
    error             TEXT,
    -- Deliveries received; a replay is not a delivery.
    attempts          INTEGER     NOT NULL CHECK (attempts >= 1),
    first_received_at TIMESTAMPTZ NOT NULL,
    last_received_at  TIMESTAMPTZ NOT NULL,
    -- When the event last went through the users service (NULL while it never decoded).
    last_applied_at   TIMESTAMPTZ
);
--bun:split
-- Listing is newest first by first_received_at, paged by (first_received_at, svix_id);
-- the outcome and type filters get the same order behind their equality column.
CREATE INDEX webhook_events_received_idx ON webhook_events (first_received_at, svix_id);
--bun:split
CREATE INDEX webhook_events_outcome_received_idx ON webhook_events (outcome, first_received_at, svix_id);
--bun:split
CREATE INDEX webhook_events_type_received_idx ON webhook_events (type, first_received_at, svix_id);
