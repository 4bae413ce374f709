-- Back to one table, keeping every stored point.
DROP INDEX webhook_events_last_received_idx;
--bun:split
CREATE TABLE locations_unpartitioned (
    device_id   BIGINT           NOT NULL,
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
    alarm       TEXT
);
--bun:split
INSERT INTO locations_unpartitioned (device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m,
                                     speed_mps, course_deg, battery_pct, motion, odometer_m, charging,
                                     activity, event, alarm)
SELECT device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m,
       speed_mps, course_deg, battery_pct, motion, odometer_m, charging,
       activity, event, alarm
  FROM locations;
--bun:split
-- Every partition goes with its parent.
DROP TABLE locations;
--bun:split
ALTER TABLE locations_unpartitioned RENAME TO locations;
--bun:split
ALTER TABLE locations ADD CONSTRAINT locations_pkey PRIMARY KEY (device_id, recorded_at);
--bun:split
ALTER TABLE locations ADD CONSTRAINT locations_device_id_fkey
    FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;
