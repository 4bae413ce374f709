-- History and retention (docs/retention.md). SQLite keeps locations as one table:
-- the pruner deletes expired points device by device along the primary key,
-- so it needs no other index there. The event log is pruned by
-- last_received_at, oldest first.
CREATE INDEX webhook_events_last_received_idx ON webhook_events (last_received_at);
