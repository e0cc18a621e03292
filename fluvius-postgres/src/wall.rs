//! The second tenant wall: PostgreSQL row-level security (migration `..13_tenant_wall.sql`).
//!
//! Every statement of the backend names its tenant. Under that, the tables `events`, `states`,
//! `snapshots`, `idempotency` and `audit` carry a policy that admits a row only when the
//! transaction's `fluvius.tenant` setting names the row's tenant (`t:<tenant>`) or all tenants
//! (`*`). Owners and superusers are exempt, so a backend connected as the schema's owner pays
//! nothing. A backend connected as a role the policies apply to (it asks the server once, with
//! `row_security_active`) runs each statement in a transaction that first sets the tenant with
//! `set_config('fluvius.tenant', .., true)`: for that transaction only, never for the session, so
//! nothing carries over on a pooled connection. A commit needs no transaction of its own: its one
//! statement sets the tenant before it calls `fluvius.commit` (see `commit.rs`), so it keeps its
//! single round trip; a read is `BEGIN`, the setting, the statement, `COMMIT`.
//!
//! Which tenant a statement is scoped to comes from the call, not from the rows it touches: the
//! key of a read, the tenant of a query, the single tenant of a commit's streams. The group
//! commit then groups calls of one tenant per transaction. Calls that cross tenants by design
//! are scoped to all tenants, each named in [`Scope::All`].

use std::borrow::Cow;
use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Transaction};

use crate::PgBackend;
use crate::error::PgError;

/// Which tenants' rows a statement may see and write behind the wall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope<'a> {
    /// One tenant's rows.
    Tenant(&'a str),
    /// Every tenant's rows: the global log read without a tenant filter, idempotency purges,
    /// listing stale state rows across tenants, looking an event's cursor up by position, and a
    /// commit whose streams belong to several tenants.
    All,
}

impl Scope<'_> {
    /// The value of `fluvius.tenant` for this scope: `t:` before a tenant keeps an empty
    /// tenant apart from a setting an earlier transaction left empty.
    pub(crate) fn setting(self) -> String {
        match self {
            Scope::Tenant(tenant) => format!("t:{tenant}"),
            Scope::All => "*".to_owned(),
        }
    }
}

/// Scopes the transaction open on `conn` (the setting ends with it).
pub(crate) async fn enter(conn: &mut PgConnection, scope: Scope<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('fluvius.tenant', $1, true)")
        .bind(scope.setting())
        .execute(conn)
        .await
        .map(drop)
}

/// A connection for the statements of one call: a plain pooled connection, or behind the wall
/// a transaction scoped to the call's tenant. Dropped without [`Conn::done`], the transaction
/// rolls back.
pub(crate) enum Conn {
    Plain(PoolConnection<Postgres>),
    Walled(Transaction<'static, Postgres>),
}

impl Conn {
    /// Ends the call: commits the walled transaction.
    pub(crate) async fn done(self, doing: &'static str) -> Result<(), PgError> {
        match self {
            Conn::Plain(_) => Ok(()),
            Conn::Walled(tx) => tx.commit().await.map_err(PgError::query(doing)),
        }
    }
}

impl Deref for Conn {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Conn::Plain(conn) => conn,
            Conn::Walled(tx) => tx,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Conn::Plain(conn) => conn,
            Conn::Walled(tx) => tx,
        }
    }
}

impl PgBackend {
    /// Whether the row-level security policies apply to the role this backend connects as
    /// (asked once, on first use).
    pub(crate) async fn walled(&self) -> Result<bool, PgError> {
        self.wall
            .get_or_try_init(|| async {
                sqlx::query_scalar::<_, bool>(
                    "SELECT row_security_active('fluvius.events'::regclass)",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(PgError::query("asking whether row-level security applies"))
            })
            .await
            .copied()
    }

    /// A connection for one call's statements, scoped to `scope` behind the wall.
    pub(crate) async fn conn(
        &self,
        scope: Scope<'_>,
        doing: &'static str,
    ) -> Result<Conn, PgError> {
        if !self.walled().await? {
            let conn = self.pool.acquire().await.map_err(PgError::query(doing))?;
            return Ok(Conn::Plain(conn));
        }
        let mut tx = self.pool.begin().await.map_err(PgError::query(doing))?;
        enter(&mut tx, scope).await.map_err(PgError::query(doing))?;
        Ok(Conn::Walled(tx))
    }

    /// The text of a read statement: as written, or with its tenant predicates replaced by
    /// `true` when the backend was built [without them](PgBackend::without_tenant_filters).
    pub(crate) fn read_sql(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        if self.tenant_filters {
            AssertSqlSafe(Cow::Borrowed(sql))
        } else {
            AssertSqlSafe(Cow::Owned(without_tenant_predicates(sql)))
        }
    }
}

/// `sql` with each `[alias.]tenant = $n` replaced by `$n::text IS NOT NULL`: the parameter stays
/// bound and typed, the condition holds for every row.
pub(crate) fn without_tenant_predicates(sql: &str) -> String {
    const NEEDLE: &str = "tenant = $";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(NEEDLE) {
        let head = &rest[..at];
        let start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |i| i + 1);
        let after = &rest[at + NEEDLE.len()..];
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        out.push_str(&head[..start]);
        out.push('$');
        out.push_str(&after[..digits]);
        out.push_str("::text IS NOT NULL");
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without_tenant_predicates;

    #[test]
    fn tenant_predicates_become_true() {
        assert_eq!(
            without_tenant_predicates("WHERE tenant = $1 AND namespace = $2"),
            "WHERE $1::text IS NOT NULL AND namespace = $2"
        );
        assert_eq!(
            without_tenant_predicates("($4::text IS NULL OR e.tenant = $4) AND x"),
            "($4::text IS NULL OR $4::text IS NOT NULL) AND x"
        );
        assert_eq!(
            without_tenant_predicates("e.tenant = states.tenant"),
            "e.tenant = states.tenant"
        );
    }
}
