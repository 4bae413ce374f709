-- Devices and their locations (docs/tracking.md). Times of fixes and reports are
-- Unix milliseconds in INTEGER on both databases, so that "millisecond
-- precision" and every comparison mean the same on PostgreSQL and SQLite.
-- Foreign keys are enforced: every connection turns them on (migrations/open.go).
CREATE TABLE devices (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT      NOT NULL,
    -- A label (an IMEI, a serial), never a credential; unique per user only.
    hardware_id      TEXT,
    -- SHA-256 of the ingest token: the token itself is never stored.
    token_hash       BLOB      NOT NULL UNIQUE,
    token_hint       TEXT      NOT NULL,
    -- Unix ms, server time of the last accepted report.
    last_seen_at     INTEGER,
    -- The newest fix by recorded_at, kept on the row so that "latest" is one row read.
    last_recorded_at INTEGER,
    last_received_at INTEGER,
    lat              REAL,
    lon              REAL,
    accuracy_m       REAL,
    altitude_m       REAL,
    speed_mps        REAL,
    course_deg       REAL,
    battery_pct      REAL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    -- Also the index for "the devices of a user" (its leading column).
    UNIQUE (user_id, hardware_id)
);

-- WITHOUT ROWID: the table is stored in its key's order, as a route reads it.
CREATE TABLE locations (
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    -- Unix ms: the key of idempotent ingest, first write wins.
    recorded_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    lat         REAL    NOT NULL,
    lon         REAL    NOT NULL,
    accuracy_m  REAL,
    altitude_m  REAL,
    speed_mps   REAL,
    course_deg  REAL,
    battery_pct REAL,
    PRIMARY KEY (device_id, recorded_at)
) WITHOUT ROWID;
