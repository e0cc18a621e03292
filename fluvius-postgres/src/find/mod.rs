//! The state manager's queries: the filter DSL, sort keys and pagination translated to one SQL
//! statement over `fluvius.states`, with bound parameters only.
//!
//! The statement has the shape
//!
//! ```sql
//! SELECT identifier, version, state, .., (creator of version 1) AS created_by,
//!        count(*) OVER () AS total
//!   FROM fluvius.states
//!  WHERE tenant = $1 AND namespace = $2 AND resource = $3 [AND NOT deleted] AND <filter>
//!  ORDER BY <sort keys>, identifier
//!  LIMIT $n OFFSET $m
//! ```
//!
//! The scope columns lead the primary key, so the scan is an index scan of one resource kind of
//! one tenant, in identifier order. Field paths are bound as `text[]` (`state #> $4`), values as
//! `jsonb` or `text`: no user string is ever part of the SQL text. See [`filter`] and [`sort`]
//! for how each operator and sort key keeps the in-memory evaluator's semantics. A second
//! statement (`count(*)`) runs only when the page is empty and the offset is not 0.

mod audit;
mod filter;
mod sort;

use fluvius_core::{StatePage, StateQuery, StateRow};
use sqlx::{Postgres, QueryBuilder};

use crate::PgBackend;
use crate::error::{PgError, to_u64};
use crate::read::{STATE_COLUMNS, get, state_from_row};
use crate::wall::Scope;

impl PgBackend {
    /// One page of the state rows matching a query, and how many match in all.
    pub(crate) async fn find_states(&self, query: &StateQuery) -> Result<StatePage, PgError> {
        const DOING: &str = "querying states";
        let mut conn = self.conn(Scope::Tenant(&query.tenant), DOING).await?;
        let rows = find_statement("", query, self.tenant_filters)
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;

        let total = match rows.first() {
            Some(row) => to_u64("row count", get(row, "total")?)?,
            None if query.page.offset > 0 => self.count_states(&mut conn, query).await?,
            None => 0,
        };
        conn.done(DOING).await?;
        let mut page = Vec::with_capacity(rows.len());
        for row in &rows {
            page.push(
                StateRow::new(get(row, "identifier")?, state_from_row(row)?)
                    .with_created_by(get(row, "created_by")?),
            );
        }
        Ok(StatePage::new(page, total))
    }

    /// The plan PostgreSQL chooses for the statement that answers a state query (`EXPLAIN`,
    /// as text, one line per row): to check that a query over your states uses an index.
    pub async fn explain_find(&self, query: &StateQuery) -> Result<String, PgError> {
        let lines: Vec<String> = find_statement("EXPLAIN ", query, self.tenant_filters)
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(PgError::query("explaining a state query"))?;
        Ok(lines.join("\n"))
    }

    /// How many state rows match a query (for a page past the last match).
    async fn count_states(
        &self,
        conn: &mut sqlx::PgConnection,
        query: &StateQuery,
    ) -> Result<u64, PgError> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT count(*) FROM fluvius.states");
        push_where(&mut sql, query, self.tenant_filters);
        let count: i64 = sql
            .build_query_scalar()
            .fetch_one(conn)
            .await
            .map_err(PgError::query("counting states"))?;
        to_u64("row count", count)
    }
}

/// ` WHERE tenant = <tenant>`, or the tenant bound and not compared (see
/// [`PgBackend::without_tenant_filters`]).
fn push_tenant(sql: &mut QueryBuilder<Postgres>, tenant: &str, tenant_filter: bool) {
    if tenant_filter {
        sql.push(" WHERE tenant = ");
        sql.push_bind(tenant.to_owned());
    } else {
        sql.push(" WHERE ");
        sql.push_bind(tenant.to_owned());
        sql.push("::text IS NOT NULL");
    }
}

/// The user of a state row's first event, one lookup on the events' unique key per row returned
/// (the `LIMIT` applies before the select list is computed for the rows it keeps).
const CREATED_BY: &str = "(SELECT e.metadata ->> 'user' FROM fluvius.events e \
     WHERE e.tenant = states.tenant AND e.namespace = states.namespace \
       AND e.resource = states.resource AND e.identifier = states.identifier \
       AND e.version = 1) AS created_by";

/// The statement of a state query, after `prefix` (`EXPLAIN ` or nothing).
fn find_statement(prefix: &str, query: &StateQuery, tenant_filter: bool) -> QueryBuilder<Postgres> {
    let mut sql = QueryBuilder::<Postgres>::new(prefix);
    sql.push("SELECT identifier, ");
    sql.push(STATE_COLUMNS);
    sql.push(", ");
    sql.push(CREATED_BY);
    sql.push(", count(*) OVER () AS total FROM fluvius.states");
    push_where(&mut sql, query, tenant_filter);
    push_order_and_page(&mut sql, &query.sort, query.page);
    sql
}

/// `ORDER BY` the sort keys then the identifier, `LIMIT` and `OFFSET` of the page.
fn push_order_and_page(
    sql: &mut QueryBuilder<Postgres>,
    keys: &[fluvius_core::filter::SortKey],
    page: fluvius_core::filter::Page,
) {
    sql.push(" ORDER BY ");
    for key in keys {
        sort::push_key(sql, key);
    }
    sql.push("identifier ASC LIMIT ");
    sql.push_bind(page.limit);
    sql.push(" OFFSET ");
    sql.push_bind(page.offset);
}

/// The scope (tenant, namespace, resource), the deletion flag and the filter. Without
/// `tenant_filter` (see [`PgBackend::without_tenant_filters`]) the tenant is bound but not
/// compared.
fn push_where(sql: &mut QueryBuilder<Postgres>, query: &StateQuery, tenant_filter: bool) {
    push_tenant(sql, &query.tenant, tenant_filter);
    sql.push(" AND namespace = ");
    sql.push_bind(query.namespace.clone());
    sql.push(" AND resource = ");
    sql.push_bind(query.resource.clone());
    if !query.include_deleted {
        sql.push(" AND NOT deleted");
    }
    sql.push(" AND ");
    filter::push_filter(sql, &query.filter);
}
