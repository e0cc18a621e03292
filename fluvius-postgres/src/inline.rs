//! The rows of inline projections (migration `..18_inline_rows.sql`): the commit's statement
//! writes them (see `commit.rs`); this module reads one back, scoped to its stream's tenant.

use fluvius_core::{InlineRow, StreamKey};
use serde_json::Value;

use crate::PgBackend;
use crate::error::{PgError, to_u64};
use crate::wall::Scope;

const READ_SQL: &str = "\
SELECT version, \"row\" FROM fluvius.inline_rows
 WHERE projection = $1 AND tenant = $2 AND namespace = $3 AND resource = $4 AND identifier = $5";

impl PgBackend {
    pub(crate) async fn read_inline_row(
        &self,
        projection: &str,
        key: &StreamKey,
    ) -> Result<Option<InlineRow>, PgError> {
        const DOING: &str = "reading an inline projection's row";
        let mut conn = self.conn(Scope::Tenant(&key.tenant), DOING).await?;
        let row: Option<(i64, Value)> = sqlx::query_as(self.read_sql(READ_SQL))
            .bind(projection)
            .bind(&key.tenant)
            .bind(&key.namespace)
            .bind(&key.resource)
            .bind(&key.id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        row.map(|(version, row)| Ok(InlineRow::new(to_u64("a row's version", version)?, row)))
            .transpose()
    }
}
