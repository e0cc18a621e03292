//! The write path: every commit is one call of `fluvius.commit`, one round trip, carrying one
//! [`CommitBatch`] or several (a group). The commit queue ([`crate::group`]) decides which
//! batches travel together; this module lays them out ([`Prepared`], [`arguments`]), sends a lone
//! one, and reads the function's answer back into one outcome per batch ([`answers`]).

use std::collections::{HashMap, HashSet};

use fluvius_core::{
    CommitBatch, CommitReceipt, EventEnvelope, ExpectedVersion, StoreError, StreamKey, StreamWrite,
};
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgDatabaseError};

use crate::PgBackend;
use crate::columns::{Columns, small};
use crate::error::PgError;
use crate::wall::Scope;
use sqlx::PgConnection;

/// The arguments of `fluvius.commit` after the first, `$2` to `$36`.
macro_rules! rest_of_commit_args {
    () => {
        "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
         $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36"
    };
}

/// The audit records of the calls of `c` that committed (`$37`..`$42`), inserted by the
/// commit's statement, so in its transaction, after the function ran (its result is
/// materialised once; a refused call's records are left out).
macro_rules! audit_insert {
    () => {
        "a AS (INSERT INTO fluvius.audit (tenant, namespace, id, recorded_at, record) \
         SELECT u.tenant, u.namespace, u.id, u.recorded_at, u.record FROM c, \
         unnest($37::integer[], $38::text[], $39::text[], $40::uuid[], $41::timestamptz[], \
         $42::jsonb[]) AS u(call, tenant, namespace, id, recorded_at, record) \
         WHERE c.failures[u.call] IS NULL) "
    };
}

/// The outbox messages of the calls of `c` that committed (`$43`..`$52`), inserted like the
/// audit records, in log order: by the position of the last event of the stream write they came
/// with (`$52`, its number among the group's events; 0 for a write without events, whose
/// messages go last), then as sent. A message whose id is stored already stays as it is.
macro_rules! outbox_insert {
    () => {
        "o AS (INSERT INTO fluvius.outbox (message_id, tenant, namespace, topic, key, payload, \
         origin, created_at) \
         SELECT u.id, u.tenant, u.namespace, u.topic, u.key, u.payload, u.origin, u.created_at \
         FROM c, unnest($43::integer[], $44::uuid[], $45::text[], $46::text[], $47::text[], \
         $48::text[], $49::jsonb[], $50::jsonb[], $51::timestamptz[], $52::integer[]) \
         WITH ORDINALITY AS u(call, id, tenant, namespace, topic, key, payload, origin, \
         created_at, event, ord) \
         WHERE c.failures[u.call] IS NULL \
         ORDER BY c.positions[u.event] NULLS LAST, u.ord \
         ON CONFLICT (message_id) DO NOTHING) "
    };
}

/// The rows of inline projections of the calls of `c` that committed (`$53`..`$60`), written
/// like the audit records: inserted, or replacing the stream's row.
macro_rules! inline_upsert {
    () => {
        "r AS (INSERT INTO fluvius.inline_rows (projection, tenant, namespace, resource, \
         identifier, version, \"row\") \
         SELECT u.projection, u.tenant, u.namespace, u.resource, u.identifier, u.version, u.doc \
         FROM c, unnest($53::integer[], $54::text[], $55::text[], $56::text[], $57::text[], \
         $58::text[], $59::bigint[], $60::jsonb[]) \
         AS u(call, projection, tenant, namespace, resource, identifier, version, doc) \
         WHERE c.failures[u.call] IS NULL \
         ON CONFLICT (projection, tenant, namespace, resource, identifier) \
         DO UPDATE SET version = excluded.version, \"row\" = excluded.\"row\") "
    };
}

/// The select list over the function's result. The transaction's id (the first component of
/// its events' log cursors) is read there, with the `_if_assigned` form: asking for it must not
/// assign one before the function has taken its stream locks.
macro_rules! commit_result {
    () => {
        "SELECT positions, failures, \
         coalesce(pg_current_xact_id_if_assigned()::text::bigint, 0) AS xid "
    };
}

/// Behind the [wall](crate::wall): the tenant set for the statement's transaction (`$n`, the
/// argument after the others), before the function runs. The function's first argument depends
/// on the setting's result, so the function cannot be called before it is set.
macro_rules! scoped {
    ($n:literal) => {
        concat!(
            "s AS MATERIALIZED (SELECT set_config('fluvius.tenant', $",
            $n,
            ", true) AS scope)"
        )
    };
}

/// The first argument of the function behind the wall: `$1`, once the scope is set.
macro_rules! first_arg_after_scope {
    () => {
        "CASE WHEN s.scope IS NOT NULL THEN $1::integer[] END, "
    };
}

/// The one statement a commit issues; its implicit transaction is the commit's transaction.
pub(crate) const COMMIT_SQL: &str = concat!(
    commit_result!(),
    "FROM fluvius.commit($1, ",
    rest_of_commit_args!(),
    ")"
);

/// [`COMMIT_SQL`] for a group that carries audit records, outbox messages or inline rows.
pub(crate) const AUDITED_COMMIT_SQL: &str = concat!(
    "WITH c AS MATERIALIZED (SELECT positions, failures FROM fluvius.commit($1, ",
    rest_of_commit_args!(),
    ")), ",
    audit_insert!(),
    ", ",
    outbox_insert!(),
    ", ",
    inline_upsert!(),
    commit_result!(),
    "FROM c"
);

/// [`COMMIT_SQL`] behind the wall, the scope in `$37`.
const WALLED_COMMIT_SQL: &str = concat!(
    "WITH ",
    scoped!("37"),
    " ",
    commit_result!(),
    "FROM s, fluvius.commit(",
    first_arg_after_scope!(),
    rest_of_commit_args!(),
    ")"
);

/// [`AUDITED_COMMIT_SQL`] behind the wall, the scope in `$61`.
const WALLED_AUDITED_COMMIT_SQL: &str = concat!(
    "WITH ",
    scoped!("61"),
    ", c AS MATERIALIZED (SELECT positions, failures FROM s, fluvius.commit(",
    first_arg_after_scope!(),
    rest_of_commit_args!(),
    ")), ",
    audit_insert!(),
    ", ",
    outbox_insert!(),
    ", ",
    inline_upsert!(),
    commit_result!(),
    "FROM c"
);

/// What the commit function returns: per event its position (group order), per batch why it was
/// refused (NULL when it committed), and the transaction's id.
pub(crate) type CommitRow = (Vec<i64>, Vec<Option<Value>>, i64);

/// What one batch's caller hears back.
pub(crate) type Answer = Result<CommitReceipt, StoreError>;

/// A batch checked and laid out as the server's arrays, by the caller's task (so that encoding
/// runs in parallel), ready to be sent alone or as one call of a group.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The batch itself: its keys and expected versions name a refusal.
    pub(crate) batch: CommitBatch,
    /// The arrays; taken when the batch is sent.
    pub(crate) columns: Columns,
    /// Per write, why its events cannot be written, if they cannot.
    pub(crate) malformed: Vec<Option<String>>,
    /// Per write, how many events it carries.
    pub(crate) counts: Vec<usize>,
    /// The snapshot interval of the backend the batch was committed through.
    pub(crate) snapshot_every: i64,
    /// The one tenant of the batch's streams; `None` when they belong to several.
    pub(crate) tenant: Option<String>,
}

impl Prepared {
    /// How many stream writes the batch has.
    pub(crate) fn writes(&self) -> usize {
        self.counts.len()
    }

    /// The tenants the batch writes behind the wall: its one tenant, or all of them.
    pub(crate) fn scope(&self) -> Scope<'_> {
        self.tenant.as_deref().map_or(Scope::All, Scope::Tenant)
    }

    /// Lays the batch out again, after its columns were taken for a group that failed.
    pub(crate) fn lay_out_again(&mut self) -> Result<(), StoreError> {
        self.columns = Columns::from_batch(&self.batch, self.malformed.clone())?;
        Ok(())
    }
}

impl PgBackend {
    /// Checks and lays out a non-empty batch; refuses what needs no server (a command id twice
    /// in the batch, a value PostgreSQL cannot store).
    pub(crate) fn prepare(&self, batch: CommitBatch) -> Result<Prepared, StoreError> {
        reject_repeated_ids(&batch)?;
        let malformed: Vec<Option<String>> = batch.streams.iter().map(malformed).collect();
        let columns = Columns::from_batch(&batch, malformed.clone())?;
        let counts = columns.counts();
        let snapshot_every = crate::error::to_i64("snapshot interval", self.snapshot_every)?;
        let first = batch.streams.first().map(|w| w.key.tenant.as_str());
        let tenant = batch
            .streams
            .iter()
            .all(|w| Some(w.key.tenant.as_str()) == first)
            .then(|| first.map(str::to_owned))
            .flatten();
        Ok(Prepared {
            batch,
            columns,
            malformed,
            counts,
            snapshot_every,
            tenant,
        })
    }

    /// Commits a prepared batch atomically, on its own: a group of one in `fluvius.commit`.
    /// Every stream's head is checked and its events, state row, snapshot and idempotency
    /// records written, or nothing is.
    pub(crate) async fn commit_prepared(
        &self,
        conn: &mut PgConnection,
        prepared: Prepared,
    ) -> Result<CommitReceipt, StoreError> {
        let scope = self.wall_scope(&prepared);
        let mut one = [prepared];
        let (args, sql) = arguments(&mut one, scope)?;
        let [prepared] = one;
        let result = sqlx::query_as_with::<_, CommitRow, _>(sql, args)
            .fetch_one(conn)
            .await;
        match result {
            Ok(row) => answers(std::slice::from_ref(&prepared), row)
                .pop()
                .unwrap_or_else(|| {
                    Err(StoreError::outcome_unknown(
                        "the commit answered for no batch",
                        None,
                    ))
                }),
            Err(err) => Err(self.commit_error(err, &prepared).await),
        }
    }

    /// [`commit_prepared`](PgBackend::commit_prepared) on a connection of the pool.
    pub(crate) async fn commit_alone(
        &self,
        prepared: Prepared,
    ) -> Result<CommitReceipt, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|err| {
            StoreError::from(PgError::query("acquiring a connection to commit")(err))
        })?;
        self.commit_prepared(&mut conn, prepared).await
    }

    /// Behind the [wall](crate::wall), the setting a commit of `prepared` (and of the calls
    /// grouped with it, all of its tenant) runs with; `None` in front of it. The caller has
    /// asked [`walled`](PgBackend::walled) before.
    pub(crate) fn wall_scope(&self, prepared: &Prepared) -> Option<String> {
        (self.wall.get() == Some(&true)).then(|| prepared.scope().setting())
    }

    /// Turns the server's refusal into the contract's error.
    async fn commit_error(&self, err: sqlx::Error, prepared: &Prepared) -> StoreError {
        let Some(db) = database_error(&err) else {
            if crate::error::outcome_unknown(&err) {
                let detail = fluvius_core::Detail::new(PgError::query("committing a batch")(err));
                tracing::warn!(error = %detail, "commit outcome unknown");
                return StoreError::outcome_unknown(
                    "the connection to PostgreSQL failed while the commit was in flight: \
                     whether it committed is unknown",
                    detail,
                );
            }
            return PgError::query("committing a batch")(err).into();
        };
        let batch = &prepared.batch;
        match (db.code(), db.constraint()) {
            // A writer that raced past the checks: possible only without the stream lock or for
            // a command id committed between the check and the insert.
            ("23505", Some("idempotency_pkey")) => self.duplicate_of(batch).await,
            ("23505", Some("events_stream_version_key")) => self.conflict_of(batch).await,
            _ => PgError::query("committing a batch")(err).into(),
        }
    }

    /// The duplicate command id of a batch whose idempotency insert hit the primary key.
    async fn duplicate_of(&self, batch: &CommitBatch) -> StoreError {
        let records = batch.streams.iter().flat_map(|w| &w.idempotency);
        for record in records {
            match self
                .idempotency_record(&record.tenant, record.command_id)
                .await
            {
                Ok(None) => continue,
                Ok(Some(_)) => {
                    return StoreError::DuplicateCommandId {
                        tenant: record.tenant.clone(),
                        command_id: record.command_id,
                    };
                }
                Err(err) => return err.into(),
            }
        }
        StoreError::unavailable(
            "a command id of the batch was recorded concurrently; nothing was written",
            None,
        )
    }

    /// The conflict of a batch whose event insert hit the (stream, version) key.
    async fn conflict_of(&self, batch: &CommitBatch) -> StoreError {
        for write in &batch.streams {
            match self.state_row(&write.key).await {
                Ok(row) => {
                    let actual = row.map_or(0, |r| r.version);
                    if !write.expected.matches(actual) {
                        return StoreError::Conflict {
                            key: write.key.clone(),
                            expected: write.expected,
                            actual,
                        };
                    }
                }
                Err(err) => return err.into(),
            }
        }
        StoreError::unavailable(
            "a stream of the batch was written concurrently; nothing was written",
            None,
        )
    }
}

pub(crate) fn database_error(err: &sqlx::Error) -> Option<&PgDatabaseError> {
    match err {
        sqlx::Error::Database(db) => db.try_downcast_ref::<PgDatabaseError>(),
        _ => None,
    }
}

/// The contract's error for a refusal the commit function reports: `code` FV001 (conflict), FV002
/// (malformed write) or FV003 (duplicate command id), with its JSON `detail`, where
/// `detail["write"]` counts from 1 at the write `first_write + 1` (the first of this batch).
/// `None` for any other code, or a detail that names no write of the batch.
fn refusal(
    code: &str,
    detail: &Value,
    first_write: usize,
    prepared: &Prepared,
) -> Option<StoreError> {
    let write = detail["write"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| n.checked_sub(first_write + 1))
        .and_then(|i| prepared.batch.streams.get(i).map(|w| (i, w)));
    match (code, write) {
        ("FV001", Some((_, write))) => Some(StoreError::Conflict {
            key: write.key.clone(),
            expected: write.expected,
            actual: detail["actual"].as_u64().unwrap_or_default(),
        }),
        ("FV002", Some((i, _))) => Some(StoreError::Invalid(
            prepared.malformed[i].clone().unwrap_or_default(),
        )),
        ("FV003", _) => match detail["command_id"].as_str().map(str::parse) {
            Some(Ok(command_id)) => Some(StoreError::DuplicateCommandId {
                tenant: detail["tenant"].as_str().unwrap_or_default().to_owned(),
                command_id,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// The same (tenant, command id) twice in one batch is a duplicate, as in the memory backend.
fn reject_repeated_ids(batch: &CommitBatch) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for record in batch.streams.iter().flat_map(|w| &w.idempotency) {
        if !seen.insert((record.tenant.as_str(), record.command_id)) {
            return Err(StoreError::DuplicateCommandId {
                tenant: record.tenant.clone(),
                command_id: record.command_id,
            });
        }
    }
    Ok(())
}

/// Why a write's events cannot be written whatever the stream's head, if they cannot: an event
/// addressed to another stream, or versions that do not continue
/// the expected head without gaps. Reported after the version check, as memory does.
fn malformed(write: &StreamWrite) -> Option<String> {
    let key = &write.key;
    let base = write.expected.as_u64();
    for (k, event) in (1..).zip(write.events.iter()) {
        if !belongs_to(event, key) {
            return Some(format!(
                "event {} is addressed to stream {}/{}.{}/{} but was written to stream {key}",
                event.event_id, event.tenant, event.namespace, event.resource, event.identifier,
            ));
        }
        if event.version != base + k {
            return Some(format!(
                "event {} of stream {key} has version {}, but the stream's next version is {}: \
                 events must continue their stream without gaps",
                event.event_id,
                event.version,
                base + k,
            ));
        }
    }
    None
}

fn belongs_to(event: &EventEnvelope, key: &StreamKey) -> bool {
    event.tenant == key.tenant
        && event.namespace == key.namespace
        && event.resource == key.resource
        && event.identifier == key.id
}

/// Splits the positions (batch order) into one list per stream write; `xid` is the committing
/// transaction's.
pub(crate) fn receipt(
    counts: &[usize],
    positions: Vec<i64>,
    xid: i64,
) -> Result<CommitReceipt, StoreError> {
    let total: usize = counts.iter().sum();
    if positions.len() != total {
        return Err(StoreError::outcome_unknown(
            format!(
                "the commit returned {} positions for {total} events",
                positions.len()
            ),
            None,
        ));
    }
    let mut positions = positions.into_iter();
    let mut per_write = Vec::with_capacity(counts.len());
    for &count in counts {
        let mut list = Vec::with_capacity(count);
        for position in positions.by_ref().take(count) {
            list.push(crate::error::to_u64("event position", position)?);
        }
        per_write.push(list);
    }
    let xid = crate::error::to_u64("transaction id", xid)?;
    Ok(CommitReceipt::new(per_write).with_tx(xid))
}

/// The arguments of `fluvius.commit` for the batches, in order; their columns are taken (see
/// [`Prepared::lay_out_again`]).
///
/// Answers the statement to send them with: [`AUDITED_COMMIT_SQL`] when they carry audit
/// records, outbox messages or inline rows, else [`COMMIT_SQL`]; behind the [wall](crate::wall), their scoped forms, with
/// `scope` (the setting of `fluvius.tenant`) bound last.
pub(crate) fn arguments(
    batches: &mut [Prepared],
    scope: Option<String>,
) -> Result<(PgArguments, &'static str), StoreError> {
    let (f_call, f_write, f_event) = set_based_calls(batches)?;
    let mut columns = Columns::default();
    let mut c_writes = Vec::with_capacity(batches.len());
    let mut c_records = Vec::with_capacity(batches.len());
    let mut c_snapshot_every = Vec::with_capacity(batches.len());
    for (call, prepared) in (1..).zip(batches.iter_mut()) {
        let own = std::mem::take(&mut prepared.columns);
        c_writes.push(small("stream writes in one call", own.writes())?);
        c_records.push(small("idempotency records in one call", own.records())?);
        c_snapshot_every.push(prepared.snapshot_every);
        columns.append(own, call)?;
    }
    let sql = match (columns.extras(), scope.is_some()) {
        (true, false) => AUDITED_COMMIT_SQL,
        (false, false) => COMMIT_SQL,
        (true, true) => WALLED_AUDITED_COMMIT_SQL,
        (false, true) => WALLED_COMMIT_SQL,
    };
    let mut args = PgArguments::default();
    let encoded = (|| {
        sqlx::Arguments::add(&mut args, c_writes)?;
        sqlx::Arguments::add(&mut args, c_records)?;
        sqlx::Arguments::add(&mut args, c_snapshot_every)?;
        sqlx::Arguments::add(&mut args, f_call)?;
        sqlx::Arguments::add(&mut args, f_write)?;
        sqlx::Arguments::add(&mut args, f_event)?;
        columns.add_to(&mut args)?;
        match scope {
            Some(scope) => sqlx::Arguments::add(&mut args, scope),
            None => Ok(()),
        }
    })();
    encoded.map_err(|err| {
        StoreError::from(PgError::query("encoding a commit")(sqlx::Error::Encode(
            err,
        )))
    })?;
    Ok((args, sql))
}

/// The batches `fluvius.commit` may write in one set-based statement, as (call, write, event)
/// numbers counted from 1 in the group: one event on an existing stream at a known version, no
/// command id, and no other write of the group on that stream. The function checks all of it
/// again but the last, which only the client knows cheaply.
type SetBased = (Vec<i32>, Vec<i32>, Vec<i32>);

/// Below this many such batches, single-row statements per batch are as cheap (measured: the
/// set-based statement costs more for one call, the same for 2 to 8, a third less for 16).
const SET_BASED_MIN: usize = 4;

fn set_based_calls(batches: &[Prepared]) -> Result<SetBased, StoreError> {
    if batches.len() < SET_BASED_MIN {
        return Ok(SetBased::default());
    }
    let mut writes_per_stream: HashMap<&StreamKey, usize> = HashMap::new();
    for write in batches.iter().flat_map(|p| &p.batch.streams) {
        *writes_per_stream.entry(&write.key).or_default() += 1;
    }
    let (mut f_call, mut f_write, mut f_event) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first_write, mut first_event) = (0, 0);
    for (i, prepared) in batches.iter().enumerate() {
        if let [write] = prepared.batch.streams.as_slice()
            && write.events.len() == 1
            && matches!(write.expected, ExpectedVersion::Exact(v) if v > 0)
            && write.idempotency.is_empty()
            && prepared.malformed.iter().all(Option::is_none)
            && writes_per_stream.get(&write.key) == Some(&1)
        {
            f_call.push(small("calls in one group", i + 1)?);
            f_write.push(small("stream writes in one group", first_write + 1)?);
            f_event.push(small("events in one group", first_event + 1)?);
        }
        first_write += prepared.writes();
        first_event += prepared.counts.iter().sum::<usize>();
    }
    if f_call.len() < SET_BASED_MIN {
        return Ok(SetBased::default());
    }
    Ok((f_call, f_write, f_event))
}

/// One outcome per batch, in order, from the commit function's answer.
pub(crate) fn answers(batches: &[Prepared], (positions, failures, xid): CommitRow) -> Vec<Answer> {
    let events: usize = batches.iter().map(|p| p.counts.iter().sum::<usize>()).sum();
    if positions.len() != events || failures.len() != batches.len() {
        let err = StoreError::outcome_unknown(
            format!(
                "a commit of {} batches committed but answered {} positions for {events} events \
                 and {} outcomes: the batches' positions are unknown",
                batches.len(),
                positions.len(),
                failures.len(),
            ),
            None,
        );
        return batches.iter().map(|_| Err(err.clone())).collect();
    }
    let mut first_write = 0;
    let mut first_event = 0;
    let mut out = Vec::with_capacity(batches.len());
    for (prepared, failure) in batches.iter().zip(&failures) {
        let events: usize = prepared.counts.iter().sum();
        out.push(match failure {
            None => receipt(
                &prepared.counts,
                positions[first_event..first_event + events].to_vec(),
                xid,
            ),
            Some(why) => Err(refusal(
                why["code"].as_str().unwrap_or_default(),
                why,
                first_write,
                prepared,
            )
            .unwrap_or_else(|| {
                StoreError::internal(
                    "the commit refused a batch for a reason it does not name",
                    Some(fluvius_core::Detail::new(why)),
                )
            })),
        });
        first_write += prepared.writes();
        first_event += events;
    }
    out
}
