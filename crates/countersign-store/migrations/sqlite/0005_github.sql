-- The GitHub App: webhook deliveries queued before they are processed, the check run posted for
-- each change, deployment protection rules waiting for an answer, and the pull request a change
-- was registered from (its branch and description are contextual AI signals).
-- The body's SHA-256 is unique too: the signature covers the body, not the delivery id, so a
-- captured delivery resent under a new id is still the same delivery.
CREATE TABLE github_events (
    delivery TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    received_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    done_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX github_events_due ON github_events (next_at) WHERE done_at IS NULL AND failed_at IS NULL;

CREATE TABLE github_checks (
    change_id BIGINT PRIMARY KEY REFERENCES changes (id),
    repository TEXT NOT NULL,
    check_run_id BIGINT NOT NULL,
    installation BIGINT
);

CREATE TABLE github_gates (
    callback_url TEXT PRIMARY KEY,
    change_id BIGINT NOT NULL REFERENCES changes (id),
    repository TEXT NOT NULL,
    environment TEXT NOT NULL,
    installation BIGINT,
    created_at BIGINT NOT NULL,
    answered TEXT,
    answered_at BIGINT
);
CREATE INDEX github_gates_change ON github_gates (change_id);

ALTER TABLE changes ADD COLUMN context TEXT NOT NULL DEFAULT '';
