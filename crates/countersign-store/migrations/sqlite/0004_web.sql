-- The web interface: sign-in sessions, the files a reviewer opened, and outgoing notifications.

-- A session stands for the token it was signed in with: revoking the token ends it too. Only
-- the SHA-256 of the session secret is kept.
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    token_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);

-- Which changed files a person opened on a change's page, for informed reviews.
CREATE TABLE file_views (
    person TEXT NOT NULL,
    change_id BIGINT NOT NULL REFERENCES changes (id),
    path TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    PRIMARY KEY (person, change_id, path)
);

-- Outgoing webhook deliveries, queued with the write that caused them and retried with backoff.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- When the overdue notice of an override's after-the-fact review went out (once).
ALTER TABLE overrides ADD COLUMN overdue_notified_at BIGINT;
