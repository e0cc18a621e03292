//! The embedded migrations: applied twice they change nothing, and processes starting at once on
//! an empty database all succeed.

mod support;

use fluvius_core::{Backend, CommitBatch, ExpectedVersion};
use fluvius_postgres::{PgBackend, migrate};
use support::{TestDb, key, write};

async fn applied(pool: &sqlx::PgPool) -> Vec<(i64, bool)> {
    sqlx::query_as("SELECT version, success FROM fluvius._sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("read the migrations table")
}

#[tokio::test]
async fn migrations_applied_twice_change_nothing() {
    let db = TestDb::create().await;
    let pool = db.pool(2).await;
    migrate(&pool).await.expect("first run");
    let first = applied(&pool).await;
    assert!(!first.is_empty() && first.iter().all(|(_, ok)| *ok));

    // Data written between the runs survives the second run.
    let backend = PgBackend::from_pool(pool.clone())
        .await
        .expect("second run");
    backend
        .commit(CommitBatch::single(write(
            &key("", "a", "1"),
            ExpectedVersion::NoStream,
            1,
        )))
        .await
        .expect("commit");
    migrate(&pool).await.expect("third run");
    assert_eq!(applied(&pool).await, first, "no migration ran again");
    assert_eq!(support::count(&pool, "events").await, 1);

    // Nothing went to the public schema.
    let public: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&pool)
            .await
            .expect("count public tables");
    assert_eq!(
        public, 0,
        "the migrations table lives in the fluvius schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_all_succeed() {
    let db = TestDb::create().await;
    let mut starts = Vec::new();
    for _ in 0..6 {
        let pool = db.pool(1).await;
        starts.push(tokio::spawn(PgBackend::from_pool(pool)));
    }
    let mut backends = Vec::new();
    for start in starts {
        backends.push(
            start
                .await
                .expect("task")
                .expect("every start migrates or waits"),
        );
    }
    let pool = db.pool(1).await;
    let runs = applied(&pool).await;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("the migrations directory")
        .count();
    assert_eq!(runs.len(), files, "each migration applied once: {runs:?}");
    for (n, backend) in backends.iter().enumerate() {
        let stream = key("", "a", &n.to_string());
        backend
            .commit(CommitBatch::single(write(
                &stream,
                ExpectedVersion::NoStream,
                1,
            )))
            .await
            .expect("each backend works");
    }
}
