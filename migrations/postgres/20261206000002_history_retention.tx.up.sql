-- History and retention (docs/retention.md). locations becomes a table
-- range-partitioned by the month of recorded_at (UTC), so that retention
-- drops whole months and a route reads only the months it spans. Every
-- stored point is copied over. The partitions ahead and behind are kept by
-- the pruner (package retention) from here on; locations_default catches a
-- point for a month that has no partition yet, so that an insert never
-- fails, and the pruner moves such points into their month when it creates it.
ALTER TABLE locations RENAME TO locations_unpartitioned;
--bun:split
ALTER TABLE locations_unpartitioned RENAME CONSTRAINT locations_pkey TO locations_unpartitioned_pkey;
--bun:split
CREATE TABLE locations (
    device_id   BIGINT           NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    -- Unix ms: the key of idempotent ingest, first write wins; the partition key.
    recorded_at BIGINT           NOT NULL,
    received_at BIGINT           NOT NULL,
    lat         DOUBLE PRECISION NOT NULL,
    lon         DOUBLE PRECISION NOT NULL,
    accuracy_m  DOUBLE PRECISION,
    altitude_m  DOUBLE PRECISION,
    speed_mps   DOUBLE PRECISION,
    course_deg  DOUBLE PRECISION,
    battery_pct DOUBLE PRECISION,
    motion      BOOLEAN,
    odometer_m  DOUBLE PRECISION,
    charging    BOOLEAN,
    activity    TEXT,
    event       TEXT,
    alarm       TEXT,
    PRIMARY KEY (device_id, recorded_at)
) PARTITION BY RANGE (recorded_at);
--bun:split
CREATE TABLE locations_default PARTITION OF locations DEFAULT;
--bun:split
-- One partition per month, from the month of the oldest stored point (or the
-- month before this one) to two months ahead, with no gap, named
-- locations_yYYYYmMM. Bounds are Unix ms of the first instant of a month, UTC.
DO $$
DECLARE
    first_month timestamp;
    last_month  timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months';
    m           timestamp;
BEGIN
    SELECT least(
               date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month',
               date_trunc('month', to_timestamp(min(recorded_at) / 1000.0) AT TIME ZONE 'UTC'))
      INTO first_month
      FROM locations_unpartitioned;
    m := first_month;
    WHILE m <= last_month LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF locations FOR VALUES FROM (%s) TO (%s)',
                       'locations_' || to_char(m, '"y"YYYY"m"MM'),
                       (extract(epoch FROM m) * 1000)::bigint,
                       (extract(epoch FROM m + interval '1 month') * 1000)::bigint);
        m := m + interval '1 month';
    END LOOP;
END
$$;
--bun:split
INSERT INTO locations (device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m,
                       speed_mps, course_deg, battery_pct, motion, odometer_m, charging,
                       activity, event, alarm)
SELECT device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m,
       speed_mps, course_deg, battery_pct, motion, odometer_m, charging,
       activity, event, alarm
  FROM locations_unpartitioned;
--bun:split
DROP TABLE locations_unpartitioned;
--bun:split
-- The pruner deletes event-log records by last_received_at, oldest first.
CREATE INDEX webhook_events_last_received_idx ON webhook_events (last_received_at);
