//! [`PgError`]: everything that can go wrong between this crate and the database server.

use fluvius_core::StoreError;

/// Why the PostgreSQL backend failed.
///
/// Store calls report these as [`StoreError::Backend`] with the same message; only connecting and
/// migrating return a `PgError` directly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The server could not be reached or refused the connection.
    #[error("could not connect to PostgreSQL: {0}; check the URL and that the server is running")]
    Connect(#[source] sqlx::Error),
    /// The embedded migrations could not be applied.
    #[error("could not apply the Fluvius schema migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
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
    fn from(err: PgError) -> Self {
        StoreError::Backend(err.to_string())
    }
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
