//! Audit reports: the filter DSL, sort keys and pagination over `fluvius.audit`, through the
//! translation state queries use. The records are read as `identifier` (the id as text, in the
//! "C" collation, so the default order is the in-memory one) and `state` (the record), so every
//! operator keeps exactly the semantics of `Filter::matches`:
//!
//! ```sql
//! SELECT state, count(*) OVER () AS total
//!   FROM (SELECT id::text COLLATE "C" AS identifier, record AS state
//!           FROM fluvius.audit WHERE tenant = $1 AND namespace = $2) AS audit
//!  WHERE <filter> ORDER BY <sort keys>, identifier LIMIT $n OFFSET $m
//! ```

use fluvius_core::{AuditPage, AuditQuery, AuditRecord};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder, Row};

use super::filter;
use crate::PgBackend;
use crate::columns::micros;
use crate::error::{PgError, to_u64};
use crate::wall::Scope;

impl PgBackend {
    /// Writes records of attempts that did not commit, in one statement.
    pub(crate) async fn append_audit_rows(
        &self,
        mut records: Vec<AuditRecord>,
    ) -> Result<(), PgError> {
        if records.is_empty() {
            return Ok(());
        }
        if self.walled().await? {
            // Behind the wall, one transaction per tenant, each scoped to its tenant.
            records.sort_by(|a, b| a.tenant.cmp(&b.tenant));
            while !records.is_empty() {
                let tenant = records[0].tenant.clone();
                let split = records.partition_point(|r| r.tenant == tenant);
                let rest = records.split_off(split);
                self.insert_audit_rows(Scope::Tenant(&tenant), records)
                    .await?;
                records = rest;
            }
            return Ok(());
        }
        self.insert_audit_rows(Scope::All, records).await
    }

    /// One `INSERT` of records, in a transaction scoped to `scope` behind the wall.
    async fn insert_audit_rows(
        &self,
        scope: Scope<'_>,
        records: Vec<AuditRecord>,
    ) -> Result<(), PgError> {
        const DOING: &str = "writing audit records";
        let mut tenants = Vec::with_capacity(records.len());
        let mut namespaces = Vec::with_capacity(records.len());
        let mut ids = Vec::with_capacity(records.len());
        let mut times = Vec::with_capacity(records.len());
        let mut docs = Vec::with_capacity(records.len());
        for record in records {
            let doc = serde_json::to_value(&record).map_err(|err| PgError::Encode {
                what: format!("audit record {}", record.id),
                message: err.to_string(),
            })?;
            tenants.push(record.tenant);
            namespaces.push(record.namespace);
            ids.push(record.id);
            times.push(micros(record.recorded_at));
            docs.push(doc);
        }
        let mut conn = self.conn(scope, DOING).await?;
        sqlx::query(
            "INSERT INTO fluvius.audit (tenant, namespace, id, recorded_at, record) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], \
             $5::jsonb[])",
        )
        .bind(tenants)
        .bind(namespaces)
        .bind(ids)
        .bind(times)
        .bind(docs)
        .execute(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await
    }

    /// One page of the audit records matching a query, and how many match in all.
    pub(crate) async fn query_audit_rows(&self, query: &AuditQuery) -> Result<AuditPage, PgError> {
        const DOING: &str = "querying the audit log";
        let mut conn = self.conn(Scope::Tenant(&query.tenant), DOING).await?;
        let mut sql = QueryBuilder::<Postgres>::new("SELECT state, count(*) OVER () AS total");
        push_scope(&mut sql, query, self.tenant_filters);
        super::push_order_and_page(&mut sql, &query.sort, query.page);
        let rows = sql
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        let total = match rows.first() {
            Some(row) => to_u64("row count", row.try_get::<i64, _>("total").map_err(decode)?)?,
            None if query.page.offset > 0 => {
                let mut count = QueryBuilder::<Postgres>::new("SELECT count(*)");
                push_scope(&mut count, query, self.tenant_filters);
                let n: i64 = count
                    .build_query_scalar()
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(PgError::query("counting audit records"))?;
                to_u64("row count", n)?
            }
            None => 0,
        };
        conn.done(DOING).await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let doc: Value = row.try_get("state").map_err(decode)?;
            let record: AuditRecord =
                serde_json::from_value(doc).map_err(|err| PgError::Decode {
                    what: "an audit record".into(),
                    message: err.to_string(),
                })?;
            records.push(record);
        }
        Ok(AuditPage::new(records, total))
    }
}

/// `FROM` the tenant's records of the namespace `WHERE` the filter holds.
fn push_scope(sql: &mut QueryBuilder<Postgres>, query: &AuditQuery, tenant_filter: bool) {
    sql.push(
        " FROM (SELECT id::text COLLATE \"C\" AS identifier, record AS state FROM fluvius.audit",
    );
    super::push_tenant(sql, &query.tenant, tenant_filter);
    sql.push(" AND namespace = ");
    sql.push_bind(query.namespace.clone());
    sql.push(") AS audit WHERE ");
    filter::push_filter(sql, &query.filter);
}

fn decode(err: sqlx::Error) -> PgError {
    PgError::query("reading the audit log")(err)
}
