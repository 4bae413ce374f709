-- What trackers send beyond the position: all nullable, null meaning
-- "not reported". Booleans are INTEGER 0/1. The device row keeps the same
-- attributes of its newest fix, and the push token that Traccar Client
-- 10.x registers (stored, never returned).
ALTER TABLE locations ADD COLUMN motion INTEGER;
--bun:split
ALTER TABLE locations ADD COLUMN odometer_m REAL;
--bun:split
ALTER TABLE locations ADD COLUMN charging INTEGER;
--bun:split
ALTER TABLE locations ADD COLUMN activity TEXT;
--bun:split
ALTER TABLE locations ADD COLUMN event TEXT;
--bun:split
ALTER TABLE locations ADD COLUMN alarm TEXT;
--bun:split
ALTER TABLE devices ADD COLUMN motion INTEGER;
--bun:split
ALTER TABLE devices ADD COLUMN odometer_m REAL;
--bun:split
ALTER TABLE devices ADD COLUMN charging INTEGER;
--bun:split
ALTER TABLE devices ADD COLUMN activity TEXT;
--bun:split
ALTER TABLE devices ADD COLUMN event TEXT;
--bun:split
ALTER TABLE devices ADD COLUMN alarm TEXT;
--bun:split
ALTER TABLE devices ADD COLUMN push_token TEXT;
