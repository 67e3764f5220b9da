-- countersign approval service, SQLite. Times are milliseconds since the epoch.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository TEXT NOT NULL,
    environment TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    name TEXT,
    base TEXT NOT NULL,
    head TEXT NOT NULL,
    requester TEXT,
    state TEXT NOT NULL,
    verdict TEXT NOT NULL,
    decision TEXT NOT NULL,
    owners TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    first_review_at INTEGER,
    allowed_at INTEGER,
    UNIQUE (repository, environment, fingerprint)
);
CREATE INDEX changes_name ON changes (repository, environment, name);

CREATE TABLE statements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id INTEGER NOT NULL REFERENCES changes (id),
    person TEXT NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    statement TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX statements_change ON statements (change_id);


CREATE TABLE assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id INTEGER NOT NULL REFERENCES changes (id),
    rule TEXT NOT NULL,
    person TEXT NOT NULL,
    state TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    picked_up_at INTEGER,
    closed_at INTEGER,
    escalated_from INTEGER
);
CREATE INDEX assignments_change ON assignments (change_id);
CREATE INDEX assignments_person ON assignments (person, state);

CREATE TABLE overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id INTEGER NOT NULL REFERENCES changes (id),
    person TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    reviewed_by TEXT,
    reviewed_at INTEGER,
    review_comment TEXT
);
CREATE INDEX overrides_change ON overrides (change_id);

CREATE TABLE away (
    person TEXT PRIMARY KEY,
    until INTEGER,
    note TEXT NOT NULL,
    set_at INTEGER NOT NULL
);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
