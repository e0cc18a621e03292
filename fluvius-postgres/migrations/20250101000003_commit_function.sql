-- The write path: one call commits a whole batch (one or many stream writes) in the caller's
-- transaction, so a command costs one round trip (design decisions D1, D12).
--
-- Arguments are parallel arrays: `w_*` has one entry per stream write, `e_*` one per event (in
-- batch order, grouped by write; `e_write` is the 1-based write, `e_k` the 1-based index of the
-- event within its write), `i_*` one per idempotency record. `w_expected` is the expected version,
-- -1 for "any" (renumber after the head). `w_malformed` holds, per write, why its events cannot
-- be written (checked by the client) or NULL. Returns the events' positions in batch order.
--
-- Errors: SQLSTATE FV001 (detail `{"write": n, "actual": head}`) when a stream is not at the
-- expected version, FV002 (detail `{"write": n}`) for a malformed write, FV003 (detail
-- `{"tenant": .., "command_id": ..}`) for a command id already recorded.
CREATE FUNCTION fluvius.commit_batch(
    w_tenant text[], w_namespace text[], w_resource text[], w_identifier text[],
    w_expected bigint[], w_count integer[], w_malformed text[],
    w_state jsonb[], w_digest text[], w_deleted boolean[],
    w_created_at timestamptz[], w_updated_at timestamptz[], w_updated_by text[],
    e_write integer[], e_k integer[], e_event_id uuid[], e_evt_key text[], e_schema_version integer[],
    e_payload jsonb[], e_metadata jsonb[], e_recorded_at timestamptz[],
    i_tenant text[], i_command_id uuid[], i_fingerprint text[], i_resource text[],
    i_identifier text[], i_from bigint[], i_to bigint[], i_state jsonb[],
    i_recorded_at timestamptz[],
    snapshot_every bigint
) RETURNS bigint[]
LANGUAGE plpgsql VOLATILE
-- Plans are cached per session; generic ones skip re-planning these statements on every call.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    lock_key bigint;
    stored bigint[];   -- per write: the stream's version before the batch
    heads bigint[];    -- per write: the stream's version before this write (chained)
    bad record;
    positions bigint[];
    head bigint;       -- the single write's head (fast path)
    pos bigint;        -- the position of its single event
BEGIN
    -- 0. The common case, one stream write (one command, or a group of queued commands of one
    --    stream), in single-row statements: cheaper than the set-based path below (measured),
    --    with the same steps in the same order.
    IF cardinality(w_tenant) = 1 THEN
        PERFORM pg_advisory_xact_lock(fluvius.stream_lock_key(w_tenant[1], w_namespace[1],
                                                              w_resource[1], w_identifier[1]));
        SELECT s.version INTO head FROM fluvius.states s
         WHERE s.tenant = w_tenant[1] AND s.namespace = w_namespace[1]
           AND s.resource = w_resource[1] AND s.identifier = w_identifier[1];
        head := coalesce(head, 0);
        IF w_expected[1] <> -1 AND w_expected[1] <> head THEN
            RAISE EXCEPTION USING ERRCODE = 'FV001', MESSAGE = 'stream version conflict',
                DETAIL = json_build_object('write', 1, 'actual', head)::text;
        END IF;
        IF w_malformed[1] IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'FV002', MESSAGE = 'malformed stream write',
                DETAIL = json_build_object('write', 1)::text;
        END IF;
        IF cardinality(i_command_id) > 0 THEN
            SELECT x.tenant, x.command_id INTO bad
              FROM unnest(i_tenant, i_command_id) AS u(t, c)
              JOIN fluvius.idempotency x ON x.tenant = u.t AND x.command_id = u.c
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'FV003', MESSAGE = 'command id already recorded',
                    DETAIL = json_build_object('tenant', bad.tenant,
                                               'command_id', bad.command_id)::text;
            END IF;
        END IF;
        IF w_count[1] = 1 THEN
            INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier,
                                        version, evt_key, schema_version, payload, metadata,
                                        recorded_at)
            VALUES (e_event_id[1], w_tenant[1], w_namespace[1], w_resource[1], w_identifier[1],
                    head + 1, e_evt_key[1], e_schema_version[1], e_payload[1], e_metadata[1],
                    e_recorded_at[1])
            RETURNING fluvius.events.position INTO pos;
            positions := ARRAY[pos];
        ELSIF w_count[1] > 1 THEN
            WITH inserted AS (
                INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier,
                                            version, evt_key, schema_version, payload, metadata,
                                            recorded_at)
                SELECT u.event_id, w_tenant[1], w_namespace[1], w_resource[1], w_identifier[1],
                       head + u.ord, u.evt_key, u.schema_version, u.payload, u.metadata,
                       u.recorded_at
                  FROM unnest(e_event_id, e_evt_key, e_schema_version, e_payload, e_metadata,
                              e_recorded_at)
                       WITH ORDINALITY AS u(event_id, evt_key, schema_version, payload, metadata,
                                            recorded_at, ord)
                 ORDER BY u.ord
                RETURNING fluvius.events.position AS p
            )
            SELECT array_agg(inserted.p ORDER BY inserted.p) INTO positions FROM inserted;
        END IF;
        IF w_count[1] > 0 THEN
            -- Under the stream lock the row exists exactly when the head is above 0; a plain
            -- UPDATE (HOT, as no key changes) is cheaper than INSERT .. ON CONFLICT.
            IF head = 0 THEN
                INSERT INTO fluvius.states (tenant, namespace, resource, identifier, version,
                                            state, digest, deleted, created_at, updated_at,
                                            updated_by)
                VALUES (w_tenant[1], w_namespace[1], w_resource[1], w_identifier[1],
                        w_count[1], w_state[1], w_digest[1], w_deleted[1], w_created_at[1],
                        w_updated_at[1], w_updated_by[1]);
            ELSE
                UPDATE fluvius.states s
                   SET version = head + w_count[1], state = w_state[1], digest = w_digest[1],
                       deleted = w_deleted[1], updated_at = w_updated_at[1],
                       updated_by = w_updated_by[1]
                 WHERE s.tenant = w_tenant[1] AND s.namespace = w_namespace[1]
                   AND s.resource = w_resource[1] AND s.identifier = w_identifier[1];
            END IF;
            IF snapshot_every > 0
               AND head / snapshot_every < (head + w_count[1]) / snapshot_every THEN
                INSERT INTO fluvius.snapshots (tenant, namespace, resource, identifier, version,
                                               state, digest, recorded_at)
                VALUES (w_tenant[1], w_namespace[1], w_resource[1], w_identifier[1],
                        head + w_count[1], w_state[1], w_digest[1], w_updated_at[1])
                ON CONFLICT DO NOTHING;
            END IF;
        END IF;
        IF cardinality(i_command_id) > 0 THEN
            INSERT INTO fluvius.idempotency (tenant, command_id, fingerprint, resource,
                                             identifier, from_version, to_version, state,
                                             recorded_at)
            SELECT * FROM unnest(i_tenant, i_command_id, i_fingerprint, i_resource,
                                 i_identifier, i_from, i_to, i_state, i_recorded_at) AS u
             ORDER BY 1, 2;
        END IF;
        RETURN coalesce(positions, '{}');
    END IF;

    -- The general case: many stream writes (imports), set-based.
    -- 1. The stream locks, before anything takes a transaction id: within a stream, xid order is
    --    version order (invariant 7). Sorted and deduplicated, so batches never deadlock.
    FOR lock_key IN
        SELECT DISTINCT fluvius.stream_lock_key(t, ns, r, id)
        FROM unnest(w_tenant, w_namespace, w_resource, w_identifier) AS u(t, ns, r, id)
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
    END LOOP;

    -- 2. The heads, read after the locks (a new snapshot per statement). A stream written twice
    --    in one batch chains: the second write starts where the first ends.
    SELECT array_agg(x.base ORDER BY x.i),
           array_agg(x.base + coalesce(x.before, 0) ORDER BY x.i)
      INTO stored, heads
      FROM (
        SELECT u.i, coalesce(s.version, 0) AS base,
               sum(u.cnt) OVER (PARTITION BY u.t, u.ns, u.r, u.id ORDER BY u.i
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
          FROM unnest(w_tenant, w_namespace, w_resource, w_identifier, w_count)
               WITH ORDINALITY AS u(t, ns, r, id, cnt, i)
          LEFT JOIN fluvius.states s
            ON s.tenant = u.t AND s.namespace = u.ns AND s.resource = u.r AND s.identifier = u.id
      ) AS x;

    -- 3. Checks, in the order the in-memory backend makes them.
    SELECT u.i, heads[u.i] AS actual INTO bad
      FROM unnest(w_expected) WITH ORDINALITY AS u(expected, i)
     WHERE u.expected <> -1 AND u.expected <> heads[u.i]
     ORDER BY u.i LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'FV001', MESSAGE = 'stream version conflict',
            DETAIL = json_build_object('write', bad.i, 'actual', bad.actual)::text;
    END IF;
    SELECT u.i INTO bad
      FROM unnest(w_malformed) WITH ORDINALITY AS u(why, i)
     WHERE u.why IS NOT NULL ORDER BY u.i LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'FV002', MESSAGE = 'malformed stream write',
            DETAIL = json_build_object('write', bad.i)::text;
    END IF;
    IF cardinality(i_command_id) > 0 THEN
        SELECT x.tenant, x.command_id INTO bad
          FROM unnest(i_tenant, i_command_id) AS u(t, c)
          JOIN fluvius.idempotency x ON x.tenant = u.t AND x.command_id = u.c
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'FV003', MESSAGE = 'command id already recorded',
                DETAIL = json_build_object('tenant', bad.tenant, 'command_id', bad.command_id)::text;
        END IF;
    END IF;

    -- 4. The events, versions continuing each stream's head, positions in batch order.
    IF cardinality(e_write) > 0 THEN
        WITH inserted AS (
            INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier, version,
                                        evt_key, schema_version, payload, metadata, recorded_at)
            SELECT u.event_id, w_tenant[u.w], w_namespace[u.w], w_resource[u.w], w_identifier[u.w],
                   heads[u.w] + u.k, u.evt_key, u.schema_version, u.payload, u.metadata,
                   u.recorded_at
              FROM unnest(e_write, e_k, e_event_id, e_evt_key, e_schema_version, e_payload,
                          e_metadata, e_recorded_at)
                   WITH ORDINALITY AS u(w, k, event_id, evt_key, schema_version, payload, metadata,
                                        recorded_at, ord)
             ORDER BY u.ord
            RETURNING position
        )
        SELECT array_agg(position ORDER BY position) INTO positions FROM inserted;

        -- 5. One state row per stream: the last write of it that has events. created_at stays.
        INSERT INTO fluvius.states AS s (tenant, namespace, resource, identifier, version, state,
                                         digest, deleted, created_at, updated_at, updated_by)
        SELECT DISTINCT ON (u.t, u.ns, u.r, u.id)
               u.t, u.ns, u.r, u.id, heads[u.i] + u.cnt, w_state[u.i], w_digest[u.i],
               w_deleted[u.i], w_created_at[u.i], w_updated_at[u.i], w_updated_by[u.i]
          FROM unnest(w_tenant, w_namespace, w_resource, w_identifier, w_count)
               WITH ORDINALITY AS u(t, ns, r, id, cnt, i)
         WHERE u.cnt > 0
         ORDER BY u.t, u.ns, u.r, u.id, u.i DESC
        ON CONFLICT (tenant, namespace, resource, identifier) DO UPDATE
           SET version = excluded.version, state = excluded.state, digest = excluded.digest,
               deleted = excluded.deleted, updated_at = excluded.updated_at,
               updated_by = excluded.updated_by;

        -- 6. A snapshot of each stream whose head crossed a multiple of `snapshot_every`.
        IF snapshot_every > 0 THEN
            INSERT INTO fluvius.snapshots (tenant, namespace, resource, identifier, version, state,
                                           digest, recorded_at)
            SELECT DISTINCT ON (u.t, u.ns, u.r, u.id)
                   u.t, u.ns, u.r, u.id, heads[u.i] + u.cnt, w_state[u.i], w_digest[u.i],
                   w_updated_at[u.i]
              FROM unnest(w_tenant, w_namespace, w_resource, w_identifier, w_count)
                   WITH ORDINALITY AS u(t, ns, r, id, cnt, i)
             WHERE u.cnt > 0
               AND stored[u.i] / snapshot_every < (heads[u.i] + u.cnt) / snapshot_every
             ORDER BY u.t, u.ns, u.r, u.id, u.i DESC
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;

    -- 7. The idempotency records, in key order so concurrent batches never deadlock on them.
    IF cardinality(i_command_id) > 0 THEN
        INSERT INTO fluvius.idempotency (tenant, command_id, fingerprint, resource, identifier,
                                         from_version, to_version, state, recorded_at)
        SELECT * FROM unnest(i_tenant, i_command_id, i_fingerprint, i_resource, i_identifier,
                             i_from, i_to, i_state, i_recorded_at) AS u
         ORDER BY 1, 2;
    END IF;

    RETURN coalesce(positions, '{}');
END
$$;
