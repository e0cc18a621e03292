-- Background commands waiting to run (fluvius-readside's `PgCommandQueue`). The id is the
-- command id the domain runs the command with, so a command run twice (its runner died after
-- the commit, before it recorded the outcome) applies once. A runner claims due rows for a
-- lease (`claimed_by`, `claimed_until`) with `FOR UPDATE SKIP LOCKED`; it records the outcome
-- only while it still holds the claim. Runners read it across tenants; each command runs in its
-- own tenant through the domain.
CREATE TABLE fluvius.command_queue (
    id            uuid        PRIMARY KEY,
    tenant        text        NOT NULL,
    namespace     text        NOT NULL,
    command       text        NOT NULL,
    resource      text        NOT NULL,
    identifier    text,
    payload       jsonb       NOT NULL,
    context       jsonb       NOT NULL,
    status        text        NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'done', 'failed', 'parked', 'cancelled')),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    outcome       jsonb,
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    run_after     timestamptz NOT NULL DEFAULT now(),
    claimed_by    text,
    claimed_until timestamptz,
    finished_at   timestamptz
);

-- The due commands of a namespace, oldest first.
CREATE INDEX command_queue_due ON fluvius.command_queue (namespace, run_after, enqueued_at)
    WHERE status = 'queued';
-- An operator's lists per status.
CREATE INDEX command_queue_status ON fluvius.command_queue (namespace, status, enqueued_at);
