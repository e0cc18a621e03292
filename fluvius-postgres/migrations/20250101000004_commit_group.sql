-- Group commit across streams: one call of `fluvius.commit_group` commits the writes of several
-- independent calls of `PgBackend::commit` (different tasks, domains or streams) in ONE
-- transaction, so they share one WAL flush, while each call keeps its own all-or-nothing outcome
-- (invariant 3, decisions D1 and D12).

-- The advisory lock key of an idempotency key (tenant, command id): a 64-bit hash of its
-- length-prefixed parts. It is taken with the two-integer form of `pg_advisory_xact_lock`, whose
-- lock space is disjoint from the one-bigint space of the stream locks, so the two kinds of key
-- never collide. Two ids sharing a key only serialise their writers.
CREATE FUNCTION fluvius.command_lock_key(tenant text, command_id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT hashtextextended(length(tenant)::text || ':' || tenant || command_id::text, 7046)
$$;

-- Arguments are parallel arrays, as for `fluvius.commit_batch`, with three more per call:
-- `c_writes` (how many stream writes the call has), `c_records` (how many idempotency records)
-- and `c_snapshot_every` (its backend's snapshot interval). The writes of call 1 come first, then
-- those of call 2, and so on; the same for the records and (through their writes) the events.
-- `e_write` is the 1-based write in the whole group, `e_k` the 1-based event within its write.
-- `f_call`, `f_write`, `f_event` list the calls the client found fit for step 2 (below), with
-- their write and event; empty arrays are always correct.
--
-- Returns `positions` (one per event, in group order; 0 for the events of a refused call) and
-- `failures` (one per call: NULL when it committed, else why it was refused, as JSON:
-- `{"code": "FV001", "write": n, "actual": head}` for a version conflict (n the write in the whole
-- group), `{"code": "FV002", "write": n}` for a malformed write, `{"code": "FV003", "tenant": ..,
-- "command_id": ..}` for a command id already recorded). A refused call writes nothing; the
-- others commit. Any error raised (none is expected: the client then sends each call alone)
-- rolls the whole group back.
--
-- Steps:
-- 1. the advisory locks of every stream of the group, sorted and deduplicated, then those of
--    every idempotency key, sorted: all of them before any statement takes a transaction id, so
--    that within a stream the transaction order is the version order (invariant 7), groups never
--    deadlock, and the duplicate check below cannot race another group;
-- 2. the calls that share nothing with any other call of the group (one event on an existing
--    stream at a known version, no command id, no other write of the group on that stream): one
--    UPDATE .. FROM moves all their state rows from the expected head to the next version, and
--    one INSERT adds an event for each row that moved. A call whose row did not move goes on to
--    step 3, which says why;
-- 3. the other calls in order, each checked completely (expected versions against the heads as
--    the earlier committed calls of the group left them, malformed writes, recorded command ids,
--    including those of earlier calls of the group) before anything of it is written; a call that
--    passes writes its events, state rows, snapshots and idempotency records at once, so later
--    calls see them, and a refused one leaves nothing for them to see. A call of one stream write
--    takes single-row statements; one event at a known version takes a single statement (the
--    state row moves from the expected head, and the event is inserted only if it did). A call
--    of several writes (an import) takes set-based statements over its slice.
CREATE FUNCTION fluvius.commit_group(
    c_writes integer[], c_records integer[], c_snapshot_every bigint[],
    f_call integer[], f_write integer[], f_event integer[],
    w_tenant text[], w_namespace text[], w_resource text[], w_identifier text[],
    w_expected bigint[], w_count integer[], w_malformed text[],
    w_state jsonb[], w_digest text[], w_deleted boolean[],
    w_created_at timestamptz[], w_updated_at timestamptz[], w_updated_by text[],
    e_write integer[], e_k integer[], e_event_id uuid[], e_evt_key text[], e_schema_version integer[],
    e_payload jsonb[], e_metadata jsonb[], e_recorded_at timestamptz[],
    i_tenant text[], i_command_id uuid[], i_fingerprint text[], i_resource text[],
    i_identifier text[], i_from bigint[], i_to bigint[], i_state jsonb[],
    i_recorded_at timestamptz[],
    OUT positions bigint[], OUT failures jsonb[]
)
LANGUAGE plpgsql VOLATILE
-- Plans are cached per session; generic ones skip re-planning these statements on every call.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    lock_key bigint;
    wa integer := 1;    -- its first write, event and record (in the whole group)
    ea integer := 1;
    ra integer := 1;
    wb integer;         -- its last write, event and record (inclusive; below the first if none)
    eb integer;
    rb integer;
    every bigint;       -- its snapshot interval
    failure jsonb;      -- why it is refused, NULL while it passes
    head bigint;        -- single write: the stream's head before it
    pos bigint;         -- single event: its position
    ps bigint[];        -- several events: their positions
    stored bigint[];    -- several writes: per write, its stream's head before the call
    heads bigint[];     -- several writes: per write, its stream's head before the write (chained)
    bad record;
    moved boolean[];    -- per call: committed by step 2
    hit record;
BEGIN
    positions := array_fill(0::bigint, ARRAY[cardinality(e_event_id)]);
    failures := array_fill(NULL::jsonb, ARRAY[cardinality(c_writes)]);

    -- 1. The locks, before anything takes a transaction id.
    FOR lock_key IN
        SELECT DISTINCT fluvius.stream_lock_key(t, ns, r, id)
          FROM unnest(w_tenant, w_namespace, w_resource, w_identifier) AS u(t, ns, r, id)
         ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
    END LOOP;
    IF cardinality(i_command_id) > 0 THEN
        FOR lock_key IN
            SELECT DISTINCT fluvius.command_lock_key(t, id)
              FROM unnest(i_tenant, i_command_id) AS u(t, id)
             ORDER BY 1
        LOOP
            PERFORM pg_advisory_xact_lock((lock_key >> 32)::integer,
                                          ((lock_key << 32) >> 32)::integer);
        END LOOP;
    END IF;

    -- 2. The commonest call (one event on an existing stream at a known version, no command id,
    --    the only call of the group on its stream; the client lists them in `f_*`: call, write,
    --    event) for all such calls at once: their state rows move from the expected head to the
    --    next version, and an event is inserted for each row that moved. Such a call shares
    --    nothing with any other call of the group, so it may go first. A call whose row did not
    --    move (its head is not the expected one) is left to step 3, which says why. The
    --    conditions are checked again here: a wrong hint costs time, never correctness.
    moved := array_fill(false, ARRAY[cardinality(c_writes)]);
    IF cardinality(f_call) > 0 THEN
        FOR hit IN
            WITH moved_rows AS (
                UPDATE fluvius.states s
                   SET version = w_expected[f.w] + 1, state = w_state[f.w], digest = w_digest[f.w],
                       deleted = w_deleted[f.w], updated_at = w_updated_at[f.w],
                       updated_by = w_updated_by[f.w]
                  FROM unnest(f_call, f_write, f_event) AS f(c, w, e)
                 WHERE s.tenant = w_tenant[f.w] AND s.namespace = w_namespace[f.w]
                   AND s.resource = w_resource[f.w] AND s.identifier = w_identifier[f.w]
                   AND s.version = w_expected[f.w]
                   AND w_expected[f.w] > 0 AND w_count[f.w] = 1 AND c_writes[f.c] = 1
                   AND c_records[f.c] = 0 AND w_malformed[f.w] IS NULL
                RETURNING f.c, f.w, f.e
            ),
            inserted AS (
                INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier,
                                            version, evt_key, schema_version, payload, metadata,
                                            recorded_at)
                SELECT e_event_id[m.e], w_tenant[m.w], w_namespace[m.w], w_resource[m.w],
                       w_identifier[m.w], w_expected[m.w] + 1, e_evt_key[m.e],
                       e_schema_version[m.e], e_payload[m.e], e_metadata[m.e], e_recorded_at[m.e]
                  FROM moved_rows m
                 ORDER BY m.c
                RETURNING fluvius.events.event_id, fluvius.events.position
            )
            SELECT m.c, m.e, i.position FROM moved_rows m
              JOIN inserted i ON i.event_id = e_event_id[m.e]
        LOOP
            positions[hit.e] := hit.position;
            moved[hit.c] := true;
        END LOOP;
    END IF;

    -- 3. The other calls, in order: nothing of a call is written unless all its checks pass.
    FOR c IN 1 .. cardinality(c_writes) LOOP
        wb := wa + c_writes[c] - 1;
        rb := ra + c_records[c] - 1;
        every := c_snapshot_every[c];
        failure := NULL;

        IF moved[c] THEN
            -- Written by step 2; only its snapshot may be missing.
            eb := ea;
            head := w_expected[wa];
            IF every > 0 AND head / every < (head + 1) / every THEN
                INSERT INTO fluvius.snapshots (tenant, namespace, resource, identifier, version,
                                               state, digest, recorded_at)
                VALUES (w_tenant[wa], w_namespace[wa], w_resource[wa], w_identifier[wa],
                        head + 1, w_state[wa], w_digest[wa], w_updated_at[wa])
                ON CONFLICT DO NOTHING;
            END IF;
        ELSIF c_writes[c] = 1 THEN
            -- One stream write (every command): single-row statements.
            eb := ea + w_count[wa] - 1;
            -- 2a. Its command ids: recorded before the group, or by an earlier call of it. One
            --     primary-key lookup each (a call rarely has more than one).
            FOR j IN ra .. rb LOOP
                PERFORM 1 FROM fluvius.idempotency x
                  WHERE x.tenant = i_tenant[j] AND x.command_id = i_command_id[j];
                IF FOUND THEN
                    failure := jsonb_build_object('code', 'FV003', 'tenant', i_tenant[j],
                                                  'command_id', i_command_id[j]);
                    EXIT;
                END IF;
            END LOOP;
            -- 2b. The common case, one event expected at a known head, in ONE statement: the
            --     state row moves from the expected head to the next version (a new row for a
            --     new stream), and the event is inserted only if it did. If it did not, the head
            --     is not the expected one and the checks below say why; nothing was written.
            pos := NULL;
            IF failure IS NULL AND w_count[wa] = 1 AND w_expected[wa] >= 0
               AND w_malformed[wa] IS NULL THEN
                head := w_expected[wa];
                IF head = 0 THEN
                    WITH moved AS (
                        INSERT INTO fluvius.states (tenant, namespace, resource, identifier,
                                                    version, state, digest, deleted, created_at,
                                                    updated_at, updated_by)
                        VALUES (w_tenant[wa], w_namespace[wa], w_resource[wa], w_identifier[wa],
                                1, w_state[wa], w_digest[wa], w_deleted[wa], w_created_at[wa],
                                w_updated_at[wa], w_updated_by[wa])
                        -- The version check of a new stream (on its state row; an event is
                        -- never inserted so): a row already there means a head above 0.
                        ON CONFLICT DO NOTHING
                        RETURNING 1
                    )
                    INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier,
                                                version, evt_key, schema_version, payload,
                                                metadata, recorded_at)
                    SELECT e_event_id[ea], w_tenant[wa], w_namespace[wa], w_resource[wa],
                           w_identifier[wa], 1, e_evt_key[ea], e_schema_version[ea],
                           e_payload[ea], e_metadata[ea], e_recorded_at[ea]
                      FROM moved
                    RETURNING fluvius.events.position INTO pos;
                ELSE
                    WITH moved AS (
                        UPDATE fluvius.states s
                           SET version = head + 1, state = w_state[wa], digest = w_digest[wa],
                               deleted = w_deleted[wa], updated_at = w_updated_at[wa],
                               updated_by = w_updated_by[wa]
                         WHERE s.tenant = w_tenant[wa] AND s.namespace = w_namespace[wa]
                           AND s.resource = w_resource[wa] AND s.identifier = w_identifier[wa]
                           AND s.version = head
                        RETURNING 1
                    )
                    INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier,
                                                version, evt_key, schema_version, payload,
                                                metadata, recorded_at)
                    SELECT e_event_id[ea], w_tenant[wa], w_namespace[wa], w_resource[wa],
                           w_identifier[wa], head + 1, e_evt_key[ea], e_schema_version[ea],
                           e_payload[ea], e_metadata[ea], e_recorded_at[ea]
                      FROM moved
                    RETURNING fluvius.events.position INTO pos;
                END IF;
            END IF;
            IF pos IS NOT NULL THEN
                positions[ea] := pos;
                IF every > 0 AND head / every < (head + 1) / every THEN
                    INSERT INTO fluvius.snapshots (tenant, namespace, resource, identifier,
                                                   version, state, digest, recorded_at)
                    VALUES (w_tenant[wa], w_namespace[wa], w_resource[wa], w_identifier[wa],
                            head + 1, w_state[wa], w_digest[wa], w_updated_at[wa])
                    ON CONFLICT DO NOTHING;
                END IF;
            ELSE
                -- 2c. The checks, in the order of `commit_batch`: the expected version, a
                --     malformed write, then the command ids (found above).
                SELECT s.version INTO head FROM fluvius.states s
                 WHERE s.tenant = w_tenant[wa] AND s.namespace = w_namespace[wa]
                   AND s.resource = w_resource[wa] AND s.identifier = w_identifier[wa];
                head := coalesce(head, 0);
                IF w_expected[wa] <> -1 AND w_expected[wa] <> head THEN
                    failure := jsonb_build_object('code', 'FV001', 'write', wa, 'actual', head);
                ELSIF w_malformed[wa] IS NOT NULL THEN
                    failure := jsonb_build_object('code', 'FV002', 'write', wa);
                END IF;
                -- 2d. Every other single write: its events, state row and snapshot.
                IF failure IS NULL THEN
                    IF w_count[wa] = 1 THEN
                        INSERT INTO fluvius.events (event_id, tenant, namespace, resource,
                                                    identifier, version, evt_key, schema_version,
                                                    payload, metadata, recorded_at)
                        VALUES (e_event_id[ea], w_tenant[wa], w_namespace[wa], w_resource[wa],
                                w_identifier[wa], head + 1, e_evt_key[ea], e_schema_version[ea],
                                e_payload[ea], e_metadata[ea], e_recorded_at[ea])
                        RETURNING fluvius.events.position INTO pos;
                        positions[ea] := pos;
                    ELSIF w_count[wa] > 1 THEN
                        WITH inserted AS (
                            INSERT INTO fluvius.events (event_id, tenant, namespace, resource,
                                                        identifier, version, evt_key,
                                                        schema_version, payload, metadata,
                                                        recorded_at)
                            SELECT e_event_id[g.j], w_tenant[wa], w_namespace[wa], w_resource[wa],
                                   w_identifier[wa], head + e_k[g.j], e_evt_key[g.j],
                                   e_schema_version[g.j], e_payload[g.j], e_metadata[g.j],
                                   e_recorded_at[g.j]
                              FROM generate_series(ea, eb) AS g(j)
                             ORDER BY g.j
                            RETURNING fluvius.events.position AS p
                        )
                        SELECT array_agg(inserted.p ORDER BY inserted.p) INTO ps FROM inserted;
                        positions[ea:eb] := ps;
                    END IF;
                    IF w_count[wa] > 0 THEN
                        -- Under the stream lock the row exists exactly when the head is above 0.
                        IF head = 0 THEN
                            INSERT INTO fluvius.states (tenant, namespace, resource, identifier,
                                                        version, state, digest, deleted,
                                                        created_at, updated_at, updated_by)
                            VALUES (w_tenant[wa], w_namespace[wa], w_resource[wa],
                                    w_identifier[wa], w_count[wa], w_state[wa], w_digest[wa],
                                    w_deleted[wa], w_created_at[wa], w_updated_at[wa],
                                    w_updated_by[wa]);
                        ELSE
                            UPDATE fluvius.states s
                               SET version = head + w_count[wa], state = w_state[wa],
                                   digest = w_digest[wa], deleted = w_deleted[wa],
                                   updated_at = w_updated_at[wa], updated_by = w_updated_by[wa]
                             WHERE s.tenant = w_tenant[wa] AND s.namespace = w_namespace[wa]
                               AND s.resource = w_resource[wa]
                               AND s.identifier = w_identifier[wa];
                        END IF;
                        IF every > 0 AND head / every < (head + w_count[wa]) / every THEN
                            INSERT INTO fluvius.snapshots (tenant, namespace, resource,
                                                           identifier, version, state, digest,
                                                           recorded_at)
                            VALUES (w_tenant[wa], w_namespace[wa], w_resource[wa],
                                    w_identifier[wa], head + w_count[wa], w_state[wa],
                                    w_digest[wa], w_updated_at[wa])
                            ON CONFLICT DO NOTHING;
                        END IF;
                    END IF;
                END IF;
            END IF;
        ELSE
            -- Several stream writes (an import; or none): set-based over the call's slice, as
            -- the general path of `commit_batch`. A stream written twice in the call chains.
            -- 2a. The heads, then the checks in the order of `commit_batch`: the expected
            --     versions, a malformed write, the command ids.
            eb := ea - 1
                  + coalesce((SELECT sum(w_count[g.i]) FROM generate_series(wa, wb) AS g(i)), 0);
            SELECT array_agg(x.base ORDER BY x.i),
                   array_agg(x.base + coalesce(x.before, 0) ORDER BY x.i)
              INTO stored, heads
              FROM (
                SELECT g.i, coalesce(s.version, 0) AS base,
                       sum(w_count[g.i]) OVER (
                           PARTITION BY w_tenant[g.i], w_namespace[g.i], w_resource[g.i],
                                        w_identifier[g.i]
                           ORDER BY g.i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
                  FROM generate_series(wa, wb) AS g(i)
                  LEFT JOIN fluvius.states s
                    ON s.tenant = w_tenant[g.i] AND s.namespace = w_namespace[g.i]
                   AND s.resource = w_resource[g.i] AND s.identifier = w_identifier[g.i]
              ) AS x;
            SELECT g.i, heads[g.i - wa + 1] AS actual INTO bad
              FROM generate_series(wa, wb) AS g(i)
             WHERE w_expected[g.i] <> -1 AND w_expected[g.i] <> heads[g.i - wa + 1]
             ORDER BY g.i LIMIT 1;
            IF FOUND THEN
                failure := jsonb_build_object('code', 'FV001', 'write', bad.i,
                                              'actual', bad.actual);
            ELSE
                SELECT g.i INTO bad FROM generate_series(wa, wb) AS g(i)
                 WHERE w_malformed[g.i] IS NOT NULL ORDER BY g.i LIMIT 1;
                IF FOUND THEN
                    failure := jsonb_build_object('code', 'FV002', 'write', bad.i);
                END IF;
            END IF;
            IF failure IS NULL THEN
                FOR j IN ra .. rb LOOP
                    PERFORM 1 FROM fluvius.idempotency x
                      WHERE x.tenant = i_tenant[j] AND x.command_id = i_command_id[j];
                    IF FOUND THEN
                        failure := jsonb_build_object('code', 'FV003', 'tenant', i_tenant[j],
                                                      'command_id', i_command_id[j]);
                        EXIT;
                    END IF;
                END LOOP;
            END IF;

            -- 2b. Its events, one state row and snapshot per stream.
            IF failure IS NULL AND eb >= ea THEN
                WITH inserted AS (
                    INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier,
                                                version, evt_key, schema_version, payload,
                                                metadata, recorded_at)
                    SELECT e_event_id[g.j], w_tenant[e_write[g.j]], w_namespace[e_write[g.j]],
                           w_resource[e_write[g.j]], w_identifier[e_write[g.j]],
                           heads[e_write[g.j] - wa + 1] + e_k[g.j], e_evt_key[g.j],
                           e_schema_version[g.j], e_payload[g.j], e_metadata[g.j],
                           e_recorded_at[g.j]
                      FROM generate_series(ea, eb) AS g(j)
                     ORDER BY g.j
                    RETURNING fluvius.events.position AS p
                )
                SELECT array_agg(inserted.p ORDER BY inserted.p) INTO ps FROM inserted;
                positions[ea:eb] := ps;

                INSERT INTO fluvius.states AS s (tenant, namespace, resource, identifier, version,
                                                 state, digest, deleted, created_at, updated_at,
                                                 updated_by)
                SELECT DISTINCT ON (w_tenant[g.i], w_namespace[g.i], w_resource[g.i],
                                    w_identifier[g.i])
                       w_tenant[g.i], w_namespace[g.i], w_resource[g.i], w_identifier[g.i],
                       heads[g.i - wa + 1] + w_count[g.i], w_state[g.i], w_digest[g.i],
                       w_deleted[g.i], w_created_at[g.i], w_updated_at[g.i], w_updated_by[g.i]
                  FROM generate_series(wa, wb) AS g(i)
                 WHERE w_count[g.i] > 0
                 ORDER BY w_tenant[g.i], w_namespace[g.i], w_resource[g.i], w_identifier[g.i],
                          g.i DESC
                ON CONFLICT (tenant, namespace, resource, identifier) DO UPDATE
                   SET version = excluded.version, state = excluded.state,
                       digest = excluded.digest, deleted = excluded.deleted,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by;

                IF every > 0 THEN
                    INSERT INTO fluvius.snapshots (tenant, namespace, resource, identifier,
                                                   version, state, digest, recorded_at)
                    SELECT DISTINCT ON (w_tenant[g.i], w_namespace[g.i], w_resource[g.i],
                                        w_identifier[g.i])
                           w_tenant[g.i], w_namespace[g.i], w_resource[g.i], w_identifier[g.i],
                           heads[g.i - wa + 1] + w_count[g.i], w_state[g.i], w_digest[g.i],
                           w_updated_at[g.i]
                      FROM generate_series(wa, wb) AS g(i)
                     WHERE w_count[g.i] > 0
                       AND stored[g.i - wa + 1] / every
                           < (heads[g.i - wa + 1] + w_count[g.i]) / every
                     ORDER BY w_tenant[g.i], w_namespace[g.i], w_resource[g.i],
                              w_identifier[g.i], g.i DESC
                    ON CONFLICT DO NOTHING;
                END IF;
            END IF;
        END IF;

        IF failure IS NOT NULL THEN
            -- Refused: nothing of it was written.
            failures[c] := failure;
        END IF;

        -- Its idempotency records, once everything else of it is written.
        IF failure IS NULL THEN
            IF rb = ra THEN
                INSERT INTO fluvius.idempotency (tenant, command_id, fingerprint, resource,
                                                 identifier, from_version, to_version, state,
                                                 recorded_at)
                VALUES (i_tenant[ra], i_command_id[ra], i_fingerprint[ra], i_resource[ra],
                        i_identifier[ra], i_from[ra], i_to[ra], i_state[ra], i_recorded_at[ra]);
            ELSIF rb > ra THEN
                INSERT INTO fluvius.idempotency (tenant, command_id, fingerprint, resource,
                                                 identifier, from_version, to_version, state,
                                                 recorded_at)
                SELECT i_tenant[g.j], i_command_id[g.j], i_fingerprint[g.j], i_resource[g.j],
                       i_identifier[g.j], i_from[g.j], i_to[g.j], i_state[g.j],
                       i_recorded_at[g.j]
                  FROM generate_series(ra, rb) AS g(j)
                 ORDER BY i_tenant[g.j], i_command_id[g.j];
            END IF;
        END IF;

        wa := wb + 1;
        ea := eb + 1;
        ra := rb + 1;
    END LOOP;
END
$$;
