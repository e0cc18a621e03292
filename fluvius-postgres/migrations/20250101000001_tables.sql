-- The tables of a Fluvius store. The tenant leads every key (design decision D9); key columns
-- use the "C" collation so that identifiers sort by code point, as the in-memory backend does,
-- straight from the primary key index.

CREATE SCHEMA IF NOT EXISTS fluvius;

-- The event log: append-only, one row per event of every stream.
CREATE TABLE fluvius.events (
    -- Global position, in insertion order. Readers order by (xid, position), see read_all.
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: readers never pass a transaction that may still commit.
    xid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid NOT NULL,
    tenant         text COLLATE "C" NOT NULL,
    namespace      text COLLATE "C" NOT NULL,
    resource       text COLLATE "C" NOT NULL,
    identifier     text COLLATE "C" NOT NULL,
    version        bigint NOT NULL CHECK (version > 0),
    evt_key        text NOT NULL,
    schema_version integer NOT NULL,
    payload        jsonb NOT NULL,
    metadata       jsonb NOT NULL,
    recorded_at    timestamptz NOT NULL,
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    -- A second writer of one version fails here: never ON CONFLICT DO NOTHING on events.
    CONSTRAINT events_stream_version_key UNIQUE (tenant, namespace, resource, identifier, version)
);

-- The global reader walks (xid, position).
CREATE INDEX events_xid_position_idx ON fluvius.events (xid, position);

-- The head of each stream: its current state and version (the head snapshot, D10/D12).
CREATE TABLE fluvius.states (
    tenant      text COLLATE "C" NOT NULL,
    namespace   text COLLATE "C" NOT NULL,
    resource    text COLLATE "C" NOT NULL,
    identifier  text COLLATE "C" NOT NULL,
    version     bigint NOT NULL,
    state       jsonb NOT NULL,
    digest      text NOT NULL DEFAULT '',
    deleted     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text,
    CONSTRAINT states_pkey PRIMARY KEY (tenant, namespace, resource, identifier)
) WITH (fillfactor = 75); -- room on each page for HOT updates: one per command

-- States of long streams at some versions, for time travel.
CREATE TABLE fluvius.snapshots (
    tenant      text COLLATE "C" NOT NULL,
    namespace   text COLLATE "C" NOT NULL,
    resource    text COLLATE "C" NOT NULL,
    identifier  text COLLATE "C" NOT NULL,
    version     bigint NOT NULL,
    state       jsonb NOT NULL,
    digest      text NOT NULL DEFAULT '',
    -- When the event at `version` was recorded.
    recorded_at timestamptz NOT NULL,
    CONSTRAINT snapshots_pkey PRIMARY KEY (tenant, namespace, resource, identifier, version)
);

-- Caller-supplied command ids and what their command answered.
CREATE TABLE fluvius.idempotency (
    tenant       text COLLATE "C" NOT NULL,
    command_id   uuid NOT NULL,
    fingerprint  text NOT NULL,
    resource     text COLLATE "C" NOT NULL,
    identifier   text COLLATE "C" NOT NULL,
    from_version bigint NOT NULL,
    to_version   bigint NOT NULL,
    state        jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL,
    CONSTRAINT idempotency_pkey PRIMARY KEY (tenant, command_id)
);

CREATE INDEX idempotency_recorded_at_idx ON fluvius.idempotency (recorded_at);
