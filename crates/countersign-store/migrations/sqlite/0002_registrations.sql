-- A registered change's base, head and requester are fixed: registering the same content from
-- another base, head, requester, purpose or set of plans is another change, so the key of a change
-- includes them. The plans uploaded with a registration are kept with it.
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt (outside a transaction, to
-- switch foreign keys off while the referenced table is replaced).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE changes_rebuilt (
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
    purpose TEXT NOT NULL DEFAULT 'deploy',
    plans TEXT NOT NULL DEFAULT '[]',
    plans_digest TEXT NOT NULL DEFAULT ''
);
INSERT INTO changes_rebuilt (id, repository, environment, fingerprint, name, base, head, requester, state, verdict,
    decision, owners, registered_by, created_at, updated_at, first_review_at, allowed_at)
SELECT id, repository, environment, fingerprint, name, base, head, requester, state,
    verdict, decision, owners, registered_by, created_at, updated_at, first_review_at, allowed_at FROM changes;
DROP TABLE changes;
ALTER TABLE changes_rebuilt RENAME TO changes;
CREATE UNIQUE INDEX changes_registration
    ON changes (repository, environment, fingerprint, base, head, COALESCE(requester, ''), purpose, plans_digest);
CREATE INDEX changes_content ON changes (repository, environment, fingerprint);
CREATE INDEX changes_name ON changes (repository, environment, name);
COMMIT;
PRAGMA foreign_keys = ON;
