CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    clerk_user_id TEXT      NOT NULL UNIQUE,
    email         TEXT,
    name          TEXT,
    -- Unix milliseconds of the newest source information applied (see docs/design.md).
    version       INTEGER   NOT NULL,
    -- Tombstone: set by user.deleted, never cleared.
    deleted_at    TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
