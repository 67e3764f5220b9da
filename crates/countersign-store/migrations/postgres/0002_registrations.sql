-- A registered change's base, head and requester are fixed: registering the same content from
-- another base, head, requester, purpose or set of plans is another change, so the key of a change
-- includes them. The plans uploaded with a registration are kept with it.
ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_repository_environment_fingerprint_key;
ALTER TABLE changes ADD COLUMN purpose TEXT NOT NULL DEFAULT 'deploy';
ALTER TABLE changes ADD COLUMN plans TEXT NOT NULL DEFAULT '[]';
ALTER TABLE changes ADD COLUMN plans_digest TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX changes_registration
    ON changes (repository, environment, fingerprint, base, head, COALESCE(requester, ''), purpose, plans_digest);
CREATE INDEX changes_content ON changes (repository, environment, fingerprint);
