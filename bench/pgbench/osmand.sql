-- GET /api/ingest/osmand with one new point: the transaction of
-- tracking.Service.Ingest: the device found by the SHA-256 of its token
-- and locked, the point inserted, last_seen_at and the last fix updated.
-- Client c of nc goes round devices 1+c, 1+c+nc, …; each time round, each
-- device's point is one second after its previous one (from
-- :osmand_from), so every insert stores a new row (\gset fails on a
-- conflict) and every fix update applies.
\set n :n + 1
\set d 1 + :client_id + :nc * (:n % (:users / :nc))
\set t :osmand_from + (:n / (:users / :nc)) * 1000
\set r :t + 1500
BEGIN;
SELECT "d"."id" FROM "devices" AS "d" WHERE (token_hash = sha256(convert_to('trk_BENCH' || lpad(:d::text, 21, '0'), 'UTF8'))) FOR UPDATE \gset r_
INSERT INTO "locations" AS "l" ("device_id", "recorded_at", "received_at", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "battery_pct", "motion", "odometer_m", "charging", "activity", "event", "alarm") VALUES (:r_id, :t, :r, 52.520008, 13.404954, 4.8, 41.2, 1.5433333333333334, 90, 87, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT) ON CONFLICT (device_id, recorded_at) DO NOTHING RETURNING recorded_at \gset r_
UPDATE "devices" AS "d" SET last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < :r THEN :r ELSE last_seen_at END WHERE (id = :r_id);
UPDATE "devices" AS "d" SET "last_recorded_at" = :t, "last_received_at" = :r, "lat" = 52.520008, "lon" = 13.404954, "accuracy_m" = 4.8, "altitude_m" = 41.2, "speed_mps" = 1.5433333333333334, "course_deg" = 90, "battery_pct" = 87, "motion" = NULL, "odometer_m" = NULL, "charging" = NULL, "activity" = NULL, "event" = NULL, "alarm" = NULL WHERE (id = :r_id AND (last_recorded_at IS NULL OR last_recorded_at < :t));
COMMIT;
