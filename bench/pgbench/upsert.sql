-- POST /api/auth/sync: the users service's upsert (users.Service.Upsert),
-- as a sync with a name sends it. Client c of nc goes round users
-- 1+c, 1+c+nc, … (as worker c of the HTTP load does); :n counts its
-- transactions, so its versions only grow and its names are all new:
-- every statement updates its row (\gset fails on an empty RETURNING).
\set n :n + 1
\set u 1 + :client_id + :nc * (:n % (:users / :nc))
INSERT INTO "users" AS "u" ("clerk_user_id", "email", "name", "version", "created_at", "updated_at") VALUES (('user_bench_' || :u), ('bench_' || :u || '@example.com'), ('Bench User ' || :n), :n, '2026-12-06 07:30:08.432739+00:00', '2026-12-06 07:30:08.432739+00:00') ON CONFLICT (clerk_user_id) DO UPDATE SET email = EXCLUDED.email, version = EXCLUDED.version, name = EXCLUDED.name, updated_at = CASE WHEN u.email IS NOT DISTINCT FROM EXCLUDED.email AND u.name IS NOT DISTINCT FROM EXCLUDED.name THEN u.updated_at ELSE EXCLUDED.updated_at END WHERE (u.deleted_at IS NULL AND u.version <= EXCLUDED.version) RETURNING * \gset r_
