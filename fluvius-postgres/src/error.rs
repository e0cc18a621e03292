//! [`PgError`]: everything that can go wrong between this crate and the database server.

use fluvius_core::{Detail, StoreError};

/// Why the PostgreSQL backend failed.
///
/// Store calls report these as [`StoreError`]s sorted by what the caller can do (unavailable,
/// outcome unknown, invalid, internal), with this error's text as their detail; only connecting
/// and migrating return a `PgError` directly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The server could not be reached or refused the connection.
    #[error("could not connect to PostgreSQL: {0}; check the URL and that the server is running")]
    Connect(#[source] sqlx::Error),
    /// The embedded migrations could not be applied.
    #[error("could not apply the Fluvius schema migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database lacks migrations this version needs, and the backend was told not to apply
    /// them ([`PgBackend::from_migrated_pool`](crate::PgBackend::from_migrated_pool)).
    #[error(
        "the Fluvius schema is not migrated: this version needs migration {needed}, the database \
         has {}; run `fluvius_postgres::migrate` as the schema's owner",
        applied.map_or_else(|| "none".to_owned(), |v| v.to_string())
    )]
    NotMigrated {
        /// The latest migration applied, if any.
        applied: Option<i64>,
        /// The latest migration of this version.
        needed: i64,
    },
    /// A statement failed on the server or on the way to it.
    #[error("a PostgreSQL statement failed while {doing}: {source}")]
    Query {
        /// What the backend was doing.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A stored value could not be turned back into its Rust form.
    #[error("the stored {what} could not be decoded: {message}")]
    Decode {
        /// What was being read.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// A value could not be written because it does not fit PostgreSQL's types.
    #[error("{what} cannot be stored: {message}")]
    Encode {
        /// What was being written.
        what: String,
        /// Why it failed.
        message: String,
    },
}

impl PgError {
    /// A failed statement, with what the backend was doing.
    pub(crate) fn query(doing: &'static str) -> impl FnOnce(sqlx::Error) -> PgError {
        move |source| PgError::Query { doing, source }
    }
}

impl From<PgError> for StoreError {
    /// Sorts a failure into what the caller can do about it; the driver's and the server's own
    /// words go to the detail (the source chain) and to `tracing`, never into the message.
    fn from(err: PgError) -> Self {
        let detail = Detail::new(&err);
        tracing::warn!(error = %detail, "PostgreSQL backend call failed");
        match &err {
            PgError::Connect(_) => StoreError::unavailable("PostgreSQL cannot be reached", detail),
            PgError::Migrate(_) => {
                StoreError::internal("the Fluvius schema migrations failed", detail)
            }
            PgError::NotMigrated { .. } => {
                StoreError::internal("the Fluvius schema is not migrated", detail)
            }
            PgError::Query { doing, source } => query_failure(doing, source, detail),
            PgError::Decode { what, .. } => {
                StoreError::internal(format!("a stored {what} could not be decoded"), detail)
            }
            PgError::Encode { what, message } => {
                StoreError::Invalid(format!("{what} cannot be stored: {message}"))
            }
        }
    }
}

/// A failed statement: unavailable when the connection or the server's state is to blame (no
/// connection, pool exhausted, server shutting down, serialization failure, deadlock), else an
/// internal fault. Outcome-unknown failures of a commit are told apart where the commit is sent.
fn query_failure(doing: &str, source: &sqlx::Error, detail: Detail) -> StoreError {
    match source {
        sqlx::Error::PoolTimedOut => StoreError::unavailable(
            format!("no PostgreSQL connection was free in time while {doing}"),
            detail,
        ),
        sqlx::Error::PoolClosed => StoreError::unavailable(
            format!("the PostgreSQL connection pool is closed ({doing})"),
            detail,
        ),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            StoreError::unavailable(
                format!("the connection to PostgreSQL failed while {doing}"),
                detail,
            )
        }
        sqlx::Error::Database(db) if retryable_state(db.code().as_deref().unwrap_or("")) => {
            StoreError::unavailable(
                format!("PostgreSQL could not serve the request now while {doing}"),
                detail,
            )
        }
        _ => StoreError::internal(format!("PostgreSQL failed while {doing}"), detail),
    }
}

/// SQLSTATEs after which nothing was written and the same statement may succeed later:
/// connection exceptions (08), serialization failure and deadlock (40001, 40P01), insufficient
/// resources (53), operator intervention such as a shutdown (57P01..57P05).
pub(crate) fn retryable_state(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code == "40001"
        || code == "40P01"
}

/// Whether a failure of a sent commit leaves its outcome unknown: the connection broke (or the
/// driver lost track) rather than the server answering with an error.
pub(crate) fn outcome_unknown(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
    )
}

/// A version, position or count as PostgreSQL's `bigint`.
pub(crate) fn to_i64(what: &str, value: u64) -> Result<i64, PgError> {
    i64::try_from(value).map_err(|_| PgError::Encode {
        what: format!("{what} {value}"),
        message: "it is above the largest bigint (2^63 - 1)".into(),
    })
}

/// A `bigint` read back as a version, position or count.
pub(crate) fn to_u64(what: &str, value: i64) -> Result<u64, PgError> {
    u64::try_from(value).map_err(|_| PgError::Decode {
        what: what.to_owned(),
        message: format!("{value} is negative"),
    })
}
