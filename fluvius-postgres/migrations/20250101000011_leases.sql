-- Which worker owns which subscription: a lease per name with an expiry and a fencing epoch,
-- raised each time the lease changes hands. Checkpoint writes of a fenced subscription check the
-- row in their own transaction, so a stale owner writes nothing.

CREATE TABLE fluvius.leases (
    name       text        PRIMARY KEY,
    owner      text        NOT NULL,
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now()
);
