-- POST /api/ingest/locations with 1,000 points: one multi-row insert of
-- 1,000 new points, the statement tracking.Service.Ingest writes them with
-- (same table, columns, ON CONFLICT and RETURNING; the service sends them
-- as VALUES lists of 250 rows). pgbench -M prepared binds at most 255
-- parameters a statement, so the rows come from generate_series, as from
-- a list of values. Client c writes device c+1, as worker c of the HTTP
-- load does; each transaction's points follow the previous one's, 100 ms
-- apart from :batch_from, so all 1,000 are new.
\set n :n + 1
\set d 1 + :client_id
\set t :batch_from + (:n - 1) * 100000
INSERT INTO "locations" AS "l" ("device_id", "recorded_at", "received_at", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "battery_pct", "motion", "odometer_m", "charging", "activity", "event", "alarm") SELECT :d::bigint, :t::bigint + g * 100, :t::bigint + 100000, 52.52 + g * 0.00001, 13.40 + g * 0.00001, 4.8, 41.2, 1.39, g % 360, 87, NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(0, 999) AS g ON CONFLICT (device_id, recorded_at) DO NOTHING RETURNING recorded_at;
