ALTER TABLE devices
    DROP COLUMN push_token,
    DROP COLUMN alarm,
    DROP COLUMN event,
    DROP COLUMN activity,
    DROP COLUMN charging,
    DROP COLUMN odometer_m,
    DROP COLUMN motion;
--bun:split
ALTER TABLE locations
    DROP COLUMN alarm,
    DROP COLUMN event,
    DROP COLUMN activity,
    DROP COLUMN charging,
    DROP COLUMN odometer_m,
    DROP COLUMN motion;
