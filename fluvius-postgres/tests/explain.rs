//! The statements the backend issues use indexes (checked with `EXPLAIN` on a database holding
//! many resource kinds, after `ANALYZE`).

mod support;

use fluvius_core::filter::{FieldIndex, FieldKind, Filter, Page, parse_sort};
use fluvius_core::{CommitBatch, ExpectedVersion, LogCursor, LogQuery, StateQuery, StreamWrite};
use serde_json::json;
use support::{TestDb, key, write};

async fn explain(pool: &sqlx::PgPool, sql: &'static str) -> String {
    let lines: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .expect("explain");
    lines.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_and_reads_use_indexes() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    // 60 resource kinds of 100 roots each, with 2 events per root, in one batch.
    let writes: Vec<StreamWrite> = (0..60)
        .flat_map(|r| (0..100).map(move |i| (r, i)))
        .map(|(r, i)| {
            write(
                &key("", &format!("kind{r}"), &format!("id{i:03}")),
                ExpectedVersion::NoStream,
                2,
            )
        })
        .collect();
    let receipt = fluvius_core::Backend::commit(&backend, CommitBatch::new(writes))
        .await
        .expect("one batch of 6,000 streams");
    assert_eq!(receipt.positions.len(), 6_000);
    let pool = db.pool(1).await;
    sqlx::query("ANALYZE")
        .execute(&pool)
        .await
        .expect("analyze");

    let mut fields = FieldIndex::new();
    fields.insert("n", FieldKind::Integer);
    let filter = Filter::parse(&json!({"n.gte": 1}), &fields).expect("filter");
    let sort = parse_sort(&["n.desc".to_owned()], &fields).expect("sort");
    let by_id = Filter::parse(&json!({"id": "id042"}), &fields).expect("id filter");
    let by_ids = Filter::parse(&json!({"id.in": ["id001", "id042"]}), &fields).expect("ids");
    for filter in [by_id, by_ids] {
        let query = StateQuery::new(
            String::new(),
            "test".into(),
            "kind7".into(),
            filter,
            Vec::new(),
            Page::default(),
            false,
        );
        let plan = backend
            .explain_find(&query)
            .await
            .expect("explain find by id");
        let cond = plan
            .lines()
            .find(|line| line.contains("Index Cond") && line.contains("states.identifier"));
        assert!(
            cond.is_some(),
            "an id filter is an index condition:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan"),
            "find by id scans no table:\n{plan}"
        );
    }
    for (filter, sort) in [(Filter::All, Vec::new()), (filter, sort)] {
        let query = StateQuery::new(
            String::new(),
            "test".into(),
            "kind7".into(),
            filter,
            sort,
            Page::default(),
            false,
        );
        let plan = backend.explain_find(&query).await.expect("explain find");
        assert!(
            plan.contains("states_pkey"),
            "find uses the primary key:\n{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "find scans no table:\n{plan}");
    }

    let load_state = explain(
        &pool,
        "EXPLAIN SELECT version, state, digest, deleted, created_at, updated_at, updated_by \
         FROM fluvius.states \
         WHERE tenant = '' AND namespace = 'test' AND resource = 'kind7' AND identifier = 'id042'",
    )
    .await;
    assert!(
        load_state.contains("Index Scan using states_pkey"),
        "{load_state}"
    );

    let read_stream = explain(
        &pool,
        "EXPLAIN SELECT * FROM fluvius.events \
         WHERE tenant = '' AND namespace = 'test' AND resource = 'kind7' AND identifier = 'id042' \
           AND version > 0 ORDER BY version",
    )
    .await;
    assert!(
        read_stream.contains("events_stream_version_key"),
        "{read_stream}"
    );

    for query in [
        LogQuery::after(LogCursor::new(5, 10)),
        LogQuery::from_start()
            .namespace("test")
            .tenant("")
            .resource("kind7")
            .evt_key("bumped"),
    ] {
        let plan = backend
            .explain_read_log(&query)
            .await
            .expect("explain read_log");
        assert!(
            plan.contains("events_xid_position_idx"),
            "reading the log walks (xid, position):\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on events"),
            "reading the log scans no table:\n{plan}"
        );
    }
}
