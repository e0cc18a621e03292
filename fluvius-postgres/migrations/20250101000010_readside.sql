-- The read side's bookkeeping: where each subscription stands, and the events its handlers
-- parked or skipped. Projections keep their own state in the user's tables.

CREATE TABLE fluvius.checkpoints (
    name       text        PRIMARY KEY,
    "cursor"   text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events an event handler could not handle, per stream key in log order: the first one of a key
-- carries the error and the attempts; the later ones of the key wait behind it.
CREATE TABLE fluvius.parked (
    subscription text        NOT NULL,
    tenant       text        NOT NULL,
    namespace    text        NOT NULL,
    resource     text        NOT NULL,
    identifier   text        NOT NULL,
    "cursor"     text        NOT NULL,
    event        jsonb       NOT NULL,
    error        text,
    attempts     integer     NOT NULL DEFAULT 0,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    retry        boolean     NOT NULL DEFAULT false,
    skip_reason  text,
    PRIMARY KEY (subscription, tenant, namespace, resource, identifier, "cursor")
);

-- Parked events an operator chose to skip: never handled, and never silently.
CREATE TABLE fluvius.skipped (
    subscription text        NOT NULL,
    tenant       text        NOT NULL,
    namespace    text        NOT NULL,
    resource     text        NOT NULL,
    identifier   text        NOT NULL,
    "cursor"     text        NOT NULL,
    event        jsonb       NOT NULL,
    error        text,
    attempts     integer     NOT NULL,
    reason       text        NOT NULL,
    skipped_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription, tenant, namespace, resource, identifier, "cursor")
);
