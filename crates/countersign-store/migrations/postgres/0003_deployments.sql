-- When the deploy verdict on a change allowed it: the last such change of a repository and
-- environment is what runs there, and the base of its next check.
ALTER TABLE changes ADD COLUMN deployed_at BIGINT;
CREATE INDEX changes_deployed ON changes (repository, environment, deployed_at);
