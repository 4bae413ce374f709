-- What trackers send beyond the position: all nullable, null meaning
-- "not reported". The device row keeps the same attributes of its newest
-- fix, and the push token that Traccar Client 10.x registers (stored,
-- never returned).
ALTER TABLE locations
    ADD COLUMN motion     BOOLEAN,
    ADD COLUMN odometer_m DOUBLE PRECISION,
    ADD COLUMN charging   BOOLEAN,
    ADD COLUMN activity   TEXT,
    ADD COLUMN event      TEXT,
    ADD COLUMN alarm      TEXT;
--bun:split
ALTER TABLE devices
    ADD COLUMN motion     BOOLEAN,
    ADD COLUMN odometer_m DOUBLE PRECISION,
    ADD COLUMN charging   BOOLEAN,
    ADD COLUMN activity   TEXT,
    ADD COLUMN event      TEXT,
    ADD COLUMN alarm      TEXT,
    ADD COLUMN push_token TEXT;
