//! Reads: stream ranges, the global log, idempotency records, tenant walls and shared clones.

use fluvius_core::filter::{Filter, Page};
use fluvius_core::{Backend, LogCursor, LogQuery, StreamRange};
use uuid::Uuid;

use super::{at, commit_one, key, log, positions, record, versions, write};
use crate::MemBackend;
use crate::find::FindSpec;

#[tokio::test]
async fn read_stream_honours_after_up_to_and_until() {
    let backend = MemBackend::new();
    let a = key("", "a");
    commit_one(&backend, write(&a, 0, 3)).await.unwrap();
    commit_one(&backend, write(&key("", "b"), 0, 1))
        .await
        .unwrap();
    commit_one(&backend, write(&a, 3, 3)).await.unwrap();

    let read = |range| {
        let backend = backend.clone();
        let a = a.clone();
        async move { versions(&backend.read_stream(&a, range).await.unwrap()) }
    };
    assert_eq!(read(StreamRange::all()).await, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(read(StreamRange::after(4)).await, vec![5, 6]);
    assert_eq!(read(StreamRange::all().up_to(2)).await, vec![1, 2]);
    assert_eq!(read(StreamRange::after(2).up_to(4)).await, vec![3, 4]);
    // Events of version v are recorded at `at(v)`.
    assert_eq!(read(StreamRange::all().until(at(3))).await, vec![1, 2, 3]);
    assert_eq!(
        read(StreamRange::after(1).up_to(5).until(at(4))).await,
        vec![2, 3, 4]
    );
    assert!(read(StreamRange::after(6)).await.is_empty());
    assert!(read(StreamRange::after(9)).await.is_empty());
    assert!(read(StreamRange::after(4).up_to(2)).await.is_empty());
    assert_eq!(read(StreamRange::all().up_to(100)).await.len(), 6);
    let positions_of_a = positions(
        &backend
            .read_stream(&a, StreamRange::after(2))
            .await
            .unwrap(),
    );
    assert_eq!(positions_of_a, vec![3, 5, 6, 7]);
}

#[tokio::test]
async fn read_log_pages_through_the_log() {
    let backend = MemBackend::new();
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        commit_one(&backend, write(&key("", id), 0, i as u64 + 1))
            .await
            .unwrap();
    }
    let mut after = LogCursor::START;
    let mut pages = Vec::new();
    loop {
        let page = backend
            .read_log(&LogQuery::after(after).limit(4))
            .await
            .unwrap();
        assert_eq!(page.cursors.len(), page.events.len());
        pages.push((positions(&page.events), page.caught_up));
        after = page.next;
        if page.caught_up {
            break;
        }
    }
    assert_eq!(
        pages,
        vec![(vec![1, 2, 3, 4], false), (vec![5, 6], true)],
        "(positions, caught_up) per page"
    );
    assert_eq!(after, LogCursor::new(0, 6));

    let zero = backend
        .read_log(&LogQuery::from_start().limit(0))
        .await
        .unwrap();
    assert!(zero.is_empty() && !zero.caught_up && zero.next == LogCursor::START);
    let head = backend.read_log(&LogQuery::after(after)).await.unwrap();
    assert!(head.is_empty() && head.caught_up && head.next == after);
    let far = LogCursor::new(0, u64::MAX);
    let past = backend.read_log(&LogQuery::after(far)).await.unwrap();
    assert!(past.is_empty() && past.caught_up && past.next == far);
    let foreign = LogCursor::new(9, 1);
    let other = backend.read_log(&LogQuery::after(foreign)).await.unwrap();
    assert!(other.is_empty() && other.next == foreign);
}

#[tokio::test]
async fn a_filtered_read_moves_past_what_it_skips() {
    let backend = MemBackend::new();
    commit_one(&backend, write(&key("t1", "a"), 0, 2))
        .await
        .unwrap();
    commit_one(&backend, write(&key("t2", "b"), 0, 3))
        .await
        .unwrap();
    let page = backend
        .read_log(&LogQuery::from_start().tenant("t1"))
        .await
        .unwrap();
    assert_eq!(positions(&page.events), vec![1, 2]);
    assert!(page.caught_up);
    assert_eq!(
        page.next,
        LogCursor::new(0, 5),
        "past the other tenant's events"
    );
    assert_eq!(
        backend.log_cursor(3).await.unwrap(),
        Some(LogCursor::new(0, 3))
    );
    assert_eq!(backend.log_cursor(0).await.unwrap(), None);
    assert_eq!(backend.log_cursor(6).await.unwrap(), None);
}

#[tokio::test]
async fn purge_removes_only_records_older_than_the_cutoff() {
    let backend = MemBackend::new();
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    for (secs, id) in ids.iter().enumerate() {
        let tenant = if secs % 2 == 0 { "t1" } else { "t2" };
        let k = key(tenant, &format!("s{secs}"));
        let mut w = write(&k, 0, 1);
        w.idempotency.push(record(&k, *id, secs as i64 * 10));
        commit_one(&backend, w).await.unwrap();
    }
    assert_eq!(backend.purge_idempotency(at(15)).await.unwrap(), 2);
    assert!(backend.idempotency("t1", ids[0]).await.unwrap().is_none());
    assert!(backend.idempotency("t2", ids[1]).await.unwrap().is_none());
    assert!(backend.idempotency("t1", ids[2]).await.unwrap().is_some());
    assert!(backend.idempotency("t2", ids[3]).await.unwrap().is_some());
    assert_eq!(backend.purge_idempotency(at(15)).await.unwrap(), 0);
    assert_eq!(backend.purge_idempotency(at(1000)).await.unwrap(), 2);

    // A purged id can be used again.
    let k = key("t1", "s0");
    let mut w = write(&k, 1, 1);
    w.idempotency.push(record(&k, ids[0], 50));
    commit_one(&backend, w).await.unwrap();
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let backend = MemBackend::new();
    let (mine, theirs) = (key("mine", "a"), key("theirs", "a"));
    let id = Uuid::now_v7();
    let mut w = write(&mine, 0, 2);
    w.idempotency.push(record(&mine, id, 0));
    commit_one(&backend, w).await.unwrap();

    assert!(backend.load_state(&theirs).await.unwrap().is_none());
    let events = backend
        .read_stream(&theirs, StreamRange::all())
        .await
        .unwrap();
    assert!(events.is_empty());
    assert!(backend.idempotency("theirs", id).await.unwrap().is_none());
    assert!(backend.idempotency("mine", id).await.unwrap().is_some());
    let find = |tenant| FindSpec {
        tenant,
        namespace: "bank",
        resource: "account",
        filter: &Filter::All,
        sort: &[],
        page: Page::default(),
        include_deleted: true,
    };
    let page = backend.find_spec(&find("theirs")).unwrap();
    assert_eq!((page.rows.len(), page.total), (0, 0));
    assert_eq!(backend.find_spec(&find("mine")).unwrap().total, 1);

    // The same id and command id in the other tenant are a different stream and record.
    let mut w = write(&theirs, 0, 1);
    w.idempotency.push(record(&theirs, id, 0));
    commit_one(&backend, w).await.unwrap();
    assert_eq!(backend.load_state(&mine).await.unwrap().unwrap().version, 2);
    assert_eq!(
        backend.load_state(&theirs).await.unwrap().unwrap().version,
        1
    );
}

#[tokio::test]
async fn clones_share_one_store() {
    let backend = MemBackend::new();
    let other = backend.clone();
    let a = key("", "a");
    commit_one(&backend, write(&a, 0, 1)).await.unwrap();
    assert_eq!(other.load_state(&a).await.unwrap().unwrap().version, 1);
    commit_one(&other, write(&a, 1, 1)).await.unwrap();
    assert!(commit_one(&backend, write(&a, 1, 1)).await.is_err());
    assert_eq!(log(&backend).await.len(), 2);
    assert_eq!(backend.name(), "memory");
    let shown = format!("{other:?}");
    assert!(
        shown.contains("events: 2") && shown.contains("streams: 1"),
        "{shown}"
    );
    assert!(format!("{:?}", MemBackend::default()).contains("events: 0"));
}
