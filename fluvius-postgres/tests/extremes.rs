//! The backend called directly, past the checks of the domain: instants at the ends of
//! chrono's range are answered, never a panic.

mod support;

use chrono::{DateTime, Utc};
use fluvius_core::Backend;
use support::TestDb;

/// `purge_idempotency` at `DateTime::MAX_UTC` (which has no next microsecond) and at
/// `DateTime::MIN_UTC` returns, with a result or an error.
#[tokio::test]
async fn purge_at_the_ends_of_time_does_not_panic() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    for before in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
        let outcome = backend.purge_idempotency(before).await;
        if let Ok(purged) = outcome {
            assert_eq!(purged, 0, "nothing to purge in an empty store");
        }
    }
}
