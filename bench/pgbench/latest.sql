-- GET /api/locations/{id}/latest: the user and device lookups, which the
-- service does in one statement (tracking.Service.UserDevice): the device
-- by id, if it is the live user's. Client c of nc goes round users (and
-- their devices) 1+c, 1+c+nc, …; \gset fails unless the device is found.
\set n :n + 1
\set u 1 + :client_id + :nc * (:n % (:users / :nc))
SELECT "d"."id", "d"."user_id", "d"."name", "d"."hardware_id", "d"."token_hash", "d"."token_hint", "d"."last_seen_at", "d"."push_token", "d"."last_recorded_at", "d"."last_received_at", "d"."lat", "d"."lon", "d"."accuracy_m", "d"."altitude_m", "d"."speed_mps", "d"."course_deg", "d"."battery_pct", "d"."motion", "d"."odometer_m", "d"."charging", "d"."activity", "d"."event", "d"."alarm", "d"."created_at", "d"."updated_at" FROM "devices" AS "d" WHERE (d.id = :u) AND (d.user_id = (SELECT u.id FROM users AS u WHERE u.clerk_user_id = ('user_bench_' || :u) AND u.deleted_at IS NULL)) \gset r_
