ALTER TABLE devices DROP COLUMN push_token;
--bun:split
ALTER TABLE devices DROP COLUMN alarm;
--bun:split
ALTER TABLE devices DROP COLUMN event;
--bun:split
ALTER TABLE devices DROP COLUMN activity;
--bun:split
ALTER TABLE devices DROP COLUMN charging;
--bun:split
ALTER TABLE devices DROP COLUMN odometer_m;
--bun:split
ALTER TABLE devices DROP COLUMN motion;
--bun:split
ALTER TABLE locations DROP COLUMN alarm;
--bun:split
ALTER TABLE locations DROP COLUMN event;
--bun:split
ALTER TABLE locations DROP COLUMN activity;
--bun:split
ALTER TABLE locations DROP COLUMN charging;
--bun:split
ALTER TABLE locations DROP COLUMN odometer_m;
--bun:split
ALTER TABLE locations DROP COLUMN motion;
