-- The audit log: one row per command attempt. Rows of accepted commands are inserted by the
-- statement that commits them (in its transaction, only for the calls that committed); rows of
-- every other outcome by a statement of their own. `record` is the whole record as reports
-- filter and sort it; `id` (a UUIDv7) orders it by default, as text in the "C" collation.
CREATE TABLE fluvius.audit (
    tenant      text COLLATE "C" NOT NULL,
    namespace   text COLLATE "C" NOT NULL,
    id          uuid NOT NULL,
    recorded_at timestamptz NOT NULL,
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant, namespace, id)
);

-- Reports by time window, the commonest after the default order.
CREATE INDEX audit_recorded_at_idx ON fluvius.audit (tenant, namespace, recorded_at);
