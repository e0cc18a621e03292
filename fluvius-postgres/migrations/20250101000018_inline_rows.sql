-- The rows of inline projections: one per projection and stream, written by the commit's
-- statement in its transaction (so a row is always folded up to its stream's version) and read
-- back by the domain before the stream's next commit.
CREATE TABLE fluvius.inline_rows (
    projection text   NOT NULL,
    tenant     text   NOT NULL,
    namespace  text   NOT NULL,
    resource   text   NOT NULL,
    identifier text   NOT NULL,
    version    bigint NOT NULL,
    "row"      jsonb  NOT NULL,
    PRIMARY KEY (projection, tenant, namespace, resource, identifier)
);

ALTER TABLE fluvius.inline_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.inline_rows
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));
