-- Helpers the filter translation calls, so that SQL compares values exactly as the in-memory
-- evaluator of the filter DSL does (fluvius_core::filter).

-- An RFC 3339 timestamp as an exact, totally ordered number, or NULL when the text is not one.
--
-- Mirrors chrono's `DateTime::parse_from_rfc3339`: `YYYY-MM-DD`, `T`, `t` or a space, `hh:mm:ss`,
-- an optional fraction (digits after the ninth ignored), then `Z`, `z` or `+hh:mm` / `-hh:mm`
-- (offset hours up to 23); the date must exist; second 60 is a leap second, which orders after
-- every instant of the second before it and before the next second. The value is
-- `2 * unix seconds + fraction`, with 1 added for a leap second: equal instants give equal values
-- and the order is chrono's. Pure arithmetic, so it never raises an error, whatever the text.
CREATE FUNCTION fluvius.instant(s text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p.mo BETWEEN 1 AND 12
         AND p.d BETWEEN 1 AND CASE
                WHEN p.mo = 2 THEN
                    CASE WHEN p.y % 4 = 0 AND (p.y % 100 <> 0 OR p.y % 400 = 0) THEN 29 ELSE 28 END
                WHEN p.mo IN (4, 6, 9, 11) THEN 30
                ELSE 31
             END
         AND p.h <= 23 AND p.mi <= 59 AND p.sec <= 60 AND p.oh <= 23
        THEN 2 * (
                (
                    -- days from 1970-01-01 (H. Hinnant's days_from_civil, years shifted by 400
                    -- so every division is of non-negative numbers)
                    ((p.y + 400 - (p.mo <= 2)::int) / 400) * 146097
                    + ((p.y + 400 - (p.mo <= 2)::int) % 400) * 365
                    + ((p.y + 400 - (p.mo <= 2)::int) % 400) / 4
                    - ((p.y + 400 - (p.mo <= 2)::int) % 400) / 100
                    + (153 * (p.mo + CASE WHEN p.mo > 2 THEN -3 ELSE 9 END) + 2) / 5 + p.d - 1
                    - 719468 - 146097
                )::bigint * 86400
                + p.h * 3600 + p.mi * 60 + least(p.sec, 59)
                - p.off
             )::numeric
             + (p.sec = 60)::int
             + p.frac
    END
    FROM (
        SELECT m[1]::int AS y, m[2]::int AS mo, m[3]::int AS d,
               m[4]::int AS h, m[5]::int AS mi, m[6]::int AS sec,
               coalesce(('0.' || left(m[7], 9))::numeric, 0) AS frac,
               coalesce(m[9]::int, 0) AS oh,
               CASE WHEN m[8] IS NULL THEN 0
                    WHEN m[8] = '+' THEN m[9]::int * 3600 + m[10]::int * 60
                    ELSE -(m[9]::int * 3600 + m[10]::int * 60)
               END AS off
        FROM regexp_match(
            s,
            '^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:[Zz]|([-+−])([0-9]{2}):([0-5][0-9]))$'
        ) AS m
    ) AS p
$$;

-- Lower case as Rust's `str::to_lowercase` does it (full Unicode mapping, final sigma), for the
-- case-insensitive `has` operator: ICU's root locale where the server has ICU, lower() otherwise.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        EXECUTE $f$
            CREATE FUNCTION fluvius.fold_case(s text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT lower(s COLLATE "und-x-icu")'
        $f$;
    ELSE
        EXECUTE $f$
            CREATE FUNCTION fluvius.fold_case(s text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT lower(s)'
        $f$;
    END IF;
END
$$;

-- The advisory lock key of a stream: a 64-bit hash of its length-prefixed key parts. Two streams
-- sharing a key only serialise their writers; correctness never depends on the hash. Only
-- immutable operators (`::text`, not `int || text`), so that the planner inlines it.
CREATE FUNCTION fluvius.stream_lock_key(tenant text, namespace text, resource text, identifier text)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT hashtextextended(
        length(tenant)::text || ':' || tenant || length(namespace)::text || ':' || namespace
        || length(resource)::text || ':' || resource || length(identifier)::text || ':' || identifier,
        7045
    )
$$;
