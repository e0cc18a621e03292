-- Which version of each projection serves reads. A later version fills its own tables from the
-- start of the log while the live one keeps serving; the swap moves `live_version` in one
-- transaction, and from then on the older versions write nothing (each batch of a projection
-- reads this row, shared-locked, in its own transaction). No row: version 1 is live.
CREATE TABLE fluvius.projection_versions (
    name         text        PRIMARY KEY,
    live_version integer     NOT NULL CHECK (live_version >= 1),
    swapped_at   timestamptz NOT NULL DEFAULT now()
);
