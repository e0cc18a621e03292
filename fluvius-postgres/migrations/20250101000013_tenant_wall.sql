-- Row-level security: a second tenant wall under the tenant each statement of the backend names.
--
-- The policies admit a row when the transaction's `fluvius.tenant` setting names its tenant
-- (`t:<tenant>`) or all tenants (`*`, set only by the operations that cross tenants by design: the
-- global log read without a tenant filter, idempotency purges, the stale-row listing, cursor
-- lookups). The backend sets it with `set_config(.., true)`, for one transaction, never for the
-- session, so a pooled connection carries nothing over. Unset, or left empty by an earlier
-- transaction of the same session, it admits nothing.
--
-- Table owners and superusers are not subject to these policies (no FORCE): a backend connected
-- as the schema's owner behaves as before and sets nothing. A backend connected as a role that is
-- subject to them finds that out when it connects and sets the tenant for every transaction.

ALTER TABLE fluvius.events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.events
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));

ALTER TABLE fluvius.states ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.states
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));

ALTER TABLE fluvius.snapshots ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.snapshots
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));

ALTER TABLE fluvius.idempotency ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.idempotency
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));

ALTER TABLE fluvius.audit ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON fluvius.audit
    USING (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant))
    WITH CHECK (current_setting('fluvius.tenant', true) IN ('*', 't:' || tenant));

-- Where a caught-up reader of the log stands: the last event below the horizon after its cursor,
-- whatever its tenant, so a tenant's reader moves past the other tenants' events instead of
-- reading them again. It returns a cursor and nothing of the event, and runs as the schema's
-- owner so that the policies above do not hide the other tenants' positions.
CREATE FUNCTION fluvius.log_tail(horizon xid8, after_xid xid8, after_position bigint)
RETURNS TABLE (xid_n bigint, "position" bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$
    SELECT e.xid::text::bigint, e.position
      FROM fluvius.events e
     WHERE e.xid < horizon
       AND (e.xid, e.position) > (after_xid, after_position)
     ORDER BY e.xid DESC, e.position DESC
     LIMIT 1
$$;
