-- The outbox: messages actions send, inserted by the commit's statement in its transaction (so a
-- message exists exactly when its command's events do), and messages event handlers send, once
-- per id. `xid` orders messages the way the log orders events: a relay claims a message only
-- below the horizon (every transaction with a smaller id has ended), so no message of an earlier
-- transaction can appear after a later one of its topic and key was delivered. `seq` orders the
-- messages of one transaction.
CREATE TABLE fluvius.outbox (
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    xid           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    message_id    uuid        PRIMARY KEY,
    tenant        text        NOT NULL,
    namespace     text        NOT NULL,
    topic         text        NOT NULL,
    key           text        NOT NULL,
    payload       jsonb       NOT NULL,
    origin        jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'parked', 'skipped')),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    available_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by    text,
    claimed_until timestamptz,
    settled_at    timestamptz,
    resolution    text
);

-- The open messages of each key (of one tenant, namespace and topic) in delivery order: the
-- heads a relay may claim.
CREATE INDEX outbox_open ON fluvius.outbox (tenant, namespace, topic, key, xid, seq)
    WHERE status IN ('pending', 'parked');
-- Listings in outbox order, and purges of settled messages.
CREATE UNIQUE INDEX outbox_seq ON fluvius.outbox (seq);
CREATE INDEX outbox_settled ON fluvius.outbox (settled_at)
    WHERE status IN ('delivered', 'skipped');

ALTER TABLE fluvius.outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.outbox
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));
