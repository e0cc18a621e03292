//! The outbox on PostgreSQL (migration `..17_outbox.sql`): the commit's statement inserts the
//! messages of its commands (see `commit.rs`); this module answers relays and operators.
//!
//! A relay claims the first open message of each topic and key, below the log's horizon (every
//! transaction with a smaller id has ended, exactly as a log read), so the order of a key's
//! messages is final before any of them is claimed: `(xid, seq)`, the log's own order. Claims are
//! row locks taken with `SKIP LOCKED` and held as a lease (`claimed_by`, `claimed_until`) between
//! statements, so relays in many processes share the outbox without waiting for one another, and
//! a settlement counts only while its relay still holds the claim. A key is one tenant's and
//! namespace's. Relays and operators work across tenants by design (behind the wall their
//! statements are scoped to all tenants), unless a relay serves one tenant: its claims are
//! scoped to that tenant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fluvius_core::outbox::MAX_OUTBOX_PAGE;
use fluvius_core::{
    BoxFuture, MessageClaim, MessageOrigin, MessageStatus, OutboxCounts, OutboxEntry,
    OutboxMessage, OutboxQuery, OutboxStore, Resolution, Settlement, StoreError,
};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::PgBackend;
use crate::columns::micros;
use crate::error::{PgError, to_i64, to_u64};
use crate::wall::Scope;

/// The columns of an entry, in the order [`entry`] reads them.
macro_rules! entry_columns {
    ($p:literal) => {
        concat!(
            $p,
            "seq, ",
            $p,
            "message_id, ",
            $p,
            "tenant, ",
            $p,
            "namespace, ",
            $p,
            "topic, ",
            $p,
            "key, ",
            $p,
            "payload, ",
            $p,
            "origin, ",
            $p,
            "created_at, ",
            $p,
            "status, ",
            $p,
            "attempts, ",
            $p,
            "last_error, ",
            $p,
            "available_at, ",
            $p,
            "claimed_by, ",
            $p,
            "claimed_until, ",
            $p,
            "settled_at, ",
            $p,
            "resolution"
        )
    };
}

/// Claims due heads: `$1` owner, `$2` topics (NULL: all), `$3` limit, `$4` lease in
/// milliseconds, `$5` tenant (NULL: all). A key is one tenant's and namespace's.
const CLAIM_SQL: &str = concat!(
    horizon_ctes!(),
    ",
heads AS MATERIALIZED (
    SELECT DISTINCT ON (o.tenant, o.namespace, o.topic, o.key) o.message_id
      FROM fluvius.outbox o, horizon
     WHERE o.status IN ('pending', 'parked')
       AND o.xid < horizon.h
       AND ($2::text[] IS NULL OR o.topic = ANY ($2))
       AND ($5::text IS NULL OR o.tenant = $5)
     ORDER BY o.tenant, o.namespace, o.topic, o.key, o.xid, o.seq
),
picked AS (
    SELECT o.message_id
      FROM fluvius.outbox o
     WHERE o.message_id IN (SELECT message_id FROM heads)
       AND o.status = 'pending'
       AND o.available_at <= now()
       AND (o.claimed_until IS NULL OR o.claimed_until <= now())
     ORDER BY o.xid, o.seq
     LIMIT $3
       FOR UPDATE OF o SKIP LOCKED
)
UPDATE fluvius.outbox AS o
   SET claimed_by = $1,
       claimed_until = now() + $4::bigint * interval '1 millisecond',
       attempts = o.attempts + 1
  FROM picked
 WHERE o.message_id = picked.message_id
RETURNING ",
    entry_columns!("o.")
);

/// Records a claimed delivery's end: `$1` id, `$2` owner, `$3` new status, `$4` error, `$5`
/// next attempt.
const SETTLE_SQL: &str = "\
UPDATE fluvius.outbox
   SET status = $3,
       last_error = coalesce($4, last_error),
       available_at = coalesce($5, available_at),
       settled_at = CASE WHEN $3 = 'pending' THEN settled_at ELSE now() END,
       claimed_by = NULL,
       claimed_until = NULL
 WHERE message_id = $1 AND claimed_by = $2 AND status = 'pending'";

const RETRY_SQL: &str = "\
UPDATE fluvius.outbox
   SET status = 'pending', attempts = 0, available_at = now(), settled_at = NULL
 WHERE message_id = $1 AND status = 'parked'";

const SKIP_SQL: &str = "\
UPDATE fluvius.outbox
   SET status = 'skipped', resolution = $2, settled_at = now()
 WHERE message_id = $1 AND status = 'parked'";

const LIST_SQL: &str = concat!(
    "SELECT ",
    entry_columns!(""),
    " FROM fluvius.outbox
 WHERE seq > $1
   AND ($2::text IS NULL OR status = $2)
   AND ($3::text IS NULL OR tenant = $3)
   AND ($4::text IS NULL OR topic = $4)
 ORDER BY seq
 LIMIT $5"
);

const GET_SQL: &str = concat!(
    "SELECT ",
    entry_columns!(""),
    " FROM fluvius.outbox WHERE message_id = $1"
);

const COUNTS_SQL: &str = "\
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'parked') AS parked
  FROM fluvius.outbox
 WHERE status IN ('pending', 'parked')
   AND ($1::text[] IS NULL OR topic = ANY ($1))";

const PURGE_SQL: &str = "\
DELETE FROM fluvius.outbox
 WHERE status IN ('delivered', 'skipped') AND settled_at < $1";

const SEND_SQL: &str = "\
INSERT INTO fluvius.outbox (message_id, tenant, namespace, topic, key, payload, origin, created_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                     $7::jsonb[], $8::timestamptz[])
ON CONFLICT (message_id) DO NOTHING";

/// The longest claim the server is asked for (a century): longer leases end there.
const LONGEST_LEASE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn entry(row: &PgRow) -> Result<OutboxEntry, PgError> {
    let decode = |err: sqlx::Error| PgError::Decode {
        what: "an outbox row".into(),
        message: err.to_string(),
    };
    let origin: Value = row.try_get("origin").map_err(decode)?;
    let origin: MessageOrigin = serde_json::from_value(origin).map_err(|err| PgError::Decode {
        what: "a message's origin".into(),
        message: err.to_string(),
    })?;
    let status: String = row.try_get("status").map_err(decode)?;
    let status = MessageStatus::parse(&status).ok_or_else(|| PgError::Decode {
        what: "a message's status".into(),
        message: format!("`{status}` is no status"),
    })?;
    let message = OutboxMessage {
        id: row.try_get("message_id").map_err(decode)?,
        tenant: row.try_get("tenant").map_err(decode)?,
        namespace: row.try_get("namespace").map_err(decode)?,
        topic: row.try_get("topic").map_err(decode)?,
        key: row.try_get("key").map_err(decode)?,
        payload: row.try_get("payload").map_err(decode)?,
        origin,
        created_at: row.try_get("created_at").map_err(decode)?,
    };
    let seq = to_u64("a message's place", row.try_get("seq").map_err(decode)?)?;
    let mut out = OutboxEntry::pending(message, seq, row.try_get("available_at").map_err(decode)?);
    out.status = status;
    let attempts: i32 = row.try_get("attempts").map_err(decode)?;
    out.attempts = u32::try_from(attempts).unwrap_or_default();
    out.last_error = row.try_get("last_error").map_err(decode)?;
    out.claimed_by = row.try_get("claimed_by").map_err(decode)?;
    out.claimed_until = row.try_get("claimed_until").map_err(decode)?;
    out.settled_at = row.try_get("settled_at").map_err(decode)?;
    out.resolution = row.try_get("resolution").map_err(decode)?;
    Ok(out)
}

impl PgBackend {
    async fn send_message_rows(&self, messages: Vec<OutboxMessage>) -> Result<u64, PgError> {
        const DOING: &str = "storing outbox messages";
        if messages.is_empty() {
            return Ok(0);
        }
        let n = messages.len();
        let (mut ids, mut tenants, mut namespaces) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut topics, mut keys, mut payloads) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut origins, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for message in messages {
            message.check().map_err(|limit| PgError::Encode {
                what: format!("message {}", message.id),
                message: limit.to_string(),
            })?;
            origins.push(
                serde_json::to_value(&message.origin).map_err(|err| PgError::Encode {
                    what: format!("the origin of message {}", message.id),
                    message: err.to_string(),
                })?,
            );
            ids.push(message.id);
            tenants.push(message.tenant);
            namespaces.push(message.namespace);
            topics.push(message.topic);
            keys.push(message.key);
            payloads.push(message.payload);
            times.push(micros(message.created_at));
        }
        let mut conn = self.conn(Scope::All, DOING).await?;
        let done = sqlx::query(SEND_SQL)
            .bind(ids)
            .bind(tenants)
            .bind(namespaces)
            .bind(topics)
            .bind(keys)
            .bind(payloads)
            .bind(origins)
            .bind(times)
            .execute(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        Ok(done.rows_affected())
    }

    async fn claim_message_rows(&self, claim: &MessageClaim) -> Result<Vec<OutboxEntry>, PgError> {
        const DOING: &str = "claiming outbox messages";
        let lease = i64::try_from(claim.lease.min(LONGEST_LEASE).as_millis()).unwrap_or(i64::MAX);
        let limit = i64::try_from(claim.limit.min(MAX_OUTBOX_PAGE)).unwrap_or(1);
        let scope = claim.tenant.as_deref().map_or(Scope::All, Scope::Tenant);
        let mut conn = self.conn(scope, DOING).await?;
        let rows = sqlx::query(CLAIM_SQL)
            .bind(&claim.owner)
            .bind(claim.topics.as_deref())
            .bind(limit)
            .bind(lease.max(1))
            .bind(claim.tenant.as_deref())
            .fetch_all(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        let mut out = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        // RETURNING keeps no order: deliver in outbox order.
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    async fn settle_message_row(
        &self,
        id: Uuid,
        owner: &str,
        settlement: Settlement,
    ) -> Result<bool, PgError> {
        const DOING: &str = "settling an outbox message";
        let (status, error, at): (&str, Option<String>, Option<DateTime<Utc>>) = match settlement {
            Settlement::Delivered => ("delivered", None, None),
            Settlement::Retry { error, at } => ("pending", Some(error), Some(at)),
            Settlement::Park { error } => ("parked", Some(error), None),
        };
        let mut conn = self.conn(Scope::All, DOING).await?;
        let done = sqlx::query(SETTLE_SQL)
            .bind(id)
            .bind(owner)
            .bind(status)
            .bind(error)
            .bind(at.map(micros))
            .execute(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn resolve_message_row(&self, id: Uuid, resolution: Resolution) -> Result<bool, PgError> {
        const DOING: &str = "resolving a parked outbox message";
        let mut conn = self.conn(Scope::All, DOING).await?;
        let query = match resolution {
            Resolution::Retry => sqlx::query(RETRY_SQL).bind(id),
            Resolution::Skip { by, reason } => sqlx::query(SKIP_SQL)
                .bind(id)
                .bind(format!("{by}: {reason}")),
        };
        let done = query
            .execute(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn outbox_rows(&self, query: &OutboxQuery) -> Result<Vec<OutboxEntry>, PgError> {
        const DOING: &str = "listing outbox messages";
        let after = to_i64("a message's place", query.after)?;
        let limit = i64::try_from(query.page_size()).unwrap_or(1);
        let mut conn = self.conn(Scope::All, DOING).await?;
        let rows = sqlx::query(LIST_SQL)
            .bind(after)
            .bind(query.status.map(MessageStatus::as_str))
            .bind(query.tenant.as_deref())
            .bind(query.topic.as_deref())
            .bind(limit)
            .fetch_all(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        rows.iter().map(entry).collect()
    }

    async fn outbox_row(&self, id: Uuid) -> Result<Option<OutboxEntry>, PgError> {
        const DOING: &str = "reading an outbox message";
        let mut conn = self.conn(Scope::All, DOING).await?;
        let row = sqlx::query(GET_SQL)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        row.as_ref().map(entry).transpose()
    }

    async fn outbox_count_rows(&self, topics: Option<&[String]>) -> Result<OutboxCounts, PgError> {
        const DOING: &str = "counting outbox messages";
        let mut conn = self.conn(Scope::All, DOING).await?;
        let (pending, parked): (i64, i64) = sqlx::query_as(COUNTS_SQL)
            .bind(topics)
            .fetch_one(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        let mut counts = OutboxCounts::default();
        counts.pending = to_u64("a count", pending)?;
        counts.parked = to_u64("a count", parked)?;
        Ok(counts)
    }

    async fn purge_message_rows(&self, before: DateTime<Utc>) -> Result<u64, PgError> {
        const DOING: &str = "purging settled outbox messages";
        let mut conn = self.conn(Scope::All, DOING).await?;
        let done = sqlx::query(PURGE_SQL)
            .bind(before)
            .execute(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        Ok(done.rows_affected())
    }
}

impl OutboxStore for PgBackend {
    fn send_messages(
        &self,
        messages: Vec<OutboxMessage>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.send_message_rows(messages).await?) })
    }

    fn claim_messages<'a>(
        &'a self,
        claim: &'a MessageClaim,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async move {
            claim.check()?;
            Ok(self.claim_message_rows(claim).await?)
        })
    }

    fn settle_message<'a>(
        &'a self,
        id: Uuid,
        owner: &'a str,
        settlement: Settlement,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.settle_message_row(id, owner, settlement).await?) })
    }

    fn resolve_message(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.resolve_message_row(id, resolution).await?) })
    }

    fn outbox_entries<'a>(
        &'a self,
        query: &'a OutboxQuery,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async move { Ok(self.outbox_rows(query).await?) })
    }

    fn outbox_entry(&self, id: Uuid) -> BoxFuture<'_, Result<Option<OutboxEntry>, StoreError>> {
        Box::pin(async move { Ok(self.outbox_row(id).await?) })
    }

    fn outbox_counts<'a>(
        &'a self,
        topics: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<OutboxCounts, StoreError>> {
        Box::pin(async move { Ok(self.outbox_count_rows(topics).await?) })
    }

    fn purge_messages(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.purge_message_rows(before).await?) })
    }
}
