-- One write function. Every commit, whether a call flushed alone, several calls flushed
-- together or an import of many streams, goes through `fluvius.commit`: the group function of
-- the previous migration under its final name, a lone call being a group of one. So a new
-- column, a new kind of row written with the events or a new check is added in one place, and
-- every call takes the same locks: its streams', then its command ids' (D1, D12).
DROP FUNCTION fluvius.commit_batch(
    text[], text[], text[], text[], bigint[], integer[], text[], jsonb[], text[], boolean[],
    timestamptz[], timestamptz[], text[], integer[], integer[], uuid[], text[], integer[],
    jsonb[], jsonb[], timestamptz[], text[], uuid[], text[], text[], text[], bigint[], bigint[],
    jsonb[], timestamptz[], bigint);

ALTER FUNCTION fluvius.commit_group(
    integer[], integer[], bigint[], integer[], integer[], integer[],
    text[], text[], text[], text[], bigint[], integer[], text[], jsonb[], text[], boolean[],
    timestamptz[], timestamptz[], text[], integer[], integer[], uuid[], text[], integer[],
    jsonb[], jsonb[], timestamptz[], text[], uuid[], text[], text[], text[], bigint[], bigint[],
    jsonb[], timestamptz[]) RENAME TO commit;

COMMENT ON FUNCTION fluvius.commit(
    integer[], integer[], bigint[], integer[], integer[], integer[],
    text[], text[], text[], text[], bigint[], integer[], text[], jsonb[], text[], boolean[],
    timestamptz[], timestamptz[], text[], integer[], integer[], uuid[], text[], integer[],
    jsonb[], jsonb[], timestamptz[], text[], uuid[], text[], text[], text[], bigint[], bigint[],
    jsonb[], timestamptz[]) IS
'Commits a group of calls (c_*: per call its stream writes, idempotency records and snapshot '
'interval; w_*: per stream write; e_*: per event; i_*: per idempotency record; f_*: the calls '
'the client found fit for the set-based step). Each call commits whole or is refused whole; '
'returns the positions of the events in group order (0 for a refused call) and, per call, NULL '
'or why it was refused: {"code": "FV001", "write": n, "actual": head}, {"code": "FV002", '
'"write": n} or {"code": "FV003", "tenant": .., "command_id": ..}.';
