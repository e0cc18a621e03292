-- `fluvius.log_tail` returns one row at most. Without saying so its estimate is the default
-- 1,000 rows, which makes a log read's plan look costly enough for JIT compilation; that
-- compilation costs more than the read itself (about 250 ms per page behind the tenant wall).
ALTER FUNCTION fluvius.log_tail(xid8, xid8, bigint) ROWS 1;
