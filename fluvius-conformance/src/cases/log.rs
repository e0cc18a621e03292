//! Reading back what was written: the global log through its cursor (invariant 7, decision
//! D13), and a record's bookkeeping through `fetch_record` and `find`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fluvius_core::{Backend, Domain, EventEnvelope, LogCursor, LogQuery, Record, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::Account;
use crate::support::{self, clocked, ok, read_log, read_to_end, t, t0};

/// The global log is in commit order across streams; pages of any size concatenate to it with
/// cursors strictly increasing; `caught_up` is false exactly while more is readable; a read after
/// any event's cursor continues right after that event.
pub async fn log_in_commit_order(backend: Arc<dyn Backend>) {
    let domain = crate::domain::domain(backend.clone());
    let mut order = Vec::new();
    for round in 1..=3 {
        for id in ["r-a", "r-b", "r-c"] {
            if round == 1 {
                support::open_account(&domain, id, "owner", 0).await;
            } else {
                support::deposit(&domain, id, round).await;
            }
            order.push((id.to_owned(), round as u64));
        }
    }
    let (log, end) = read_to_end(&backend, LogQuery::from_start()).await;
    let seen: Vec<(String, u64)> = log
        .iter()
        .map(|(_, e)| (e.identifier.clone(), e.version))
        .collect();
    assert_eq!(seen, order, "the global log is in commit order");
    assert_eq!(end, log[8].0, "a caught-up reader stands at the last event");

    for limit in [1, 2, 4, 9] {
        let mut after = LogCursor::START;
        let mut paged = Vec::new();
        loop {
            let page = read_log(&backend, &LogQuery::after(after).limit(limit)).await;
            let more = paged.len() + page.events.len() < log.len();
            assert_eq!(
                page.caught_up,
                !more,
                "limit {limit}: caught_up after {} of {} events",
                paged.len() + page.events.len(),
                log.len()
            );
            after = page.next;
            paged.extend(page.cursors.into_iter().zip(page.events));
            if !more {
                break;
            }
        }
        assert_eq!(paged, log, "pages of {limit} concatenate to the whole log");
        assert_eq!(
            after, end,
            "limit {limit}: the last page ends at the last event"
        );
    }

    for (i, (cursor, _)) in log.iter().enumerate() {
        let tail = read_log(&backend, &LogQuery::after(*cursor)).await;
        let want: Vec<EventEnvelope> = log[i + 1..].iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(
            tail.events,
            want,
            "a read after event #{} continues after it",
            i + 1
        );
        assert!(tail.caught_up);
    }
    let past = read_log(&backend, &LogQuery::after(end)).await;
    assert!(past.is_empty() && past.caught_up, "nothing after the head");
    assert_eq!(past.next, end, "a caught-up reader stays where it is");
    let none = read_log(&backend, &LogQuery::from_start().limit(0)).await;
    assert!(
        none.is_empty() && !none.caught_up && none.next == LogCursor::START,
        "limit 0 returns nothing, moves nowhere and says more is waiting"
    );
}

/// Readers paging with small limits while several tasks write see every event exactly once, in
/// the order of the log as read afterwards: no late-committing write is jumped.
pub async fn log_pages_under_concurrent_writers(backend: Arc<dyn Backend>) {
    const WRITERS: usize = 4;
    const DEPOSITS: i64 = 15;
    let domain = crate::domain::domain(backend.clone());
    support::open_account(&domain, "hot", "owner", 0).await;
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = [1, 2, 3]
        .into_iter()
        .map(|limit| {
            let (backend, done) = (backend.clone(), done.clone());
            tokio::spawn(async move { follow(&backend, limit, &done).await })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let domain = domain.clone();
            tokio::spawn(async move {
                let id = format!("w-{w}");
                let mut answers = vec![support::open_account(&domain, &id, "owner", 0).await];
                for amount in 1..=DEPOSITS {
                    answers.push(support::deposit(&domain, &id, amount).await);
                    answers.push(support::deposit(&domain, "hot", amount).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for writer in writers {
        answers.extend(writer.await.expect("a writer panicked"));
    }
    done.store(true, Ordering::SeqCst);
    let expected = 1 + WRITERS * (1 + 2 * DEPOSITS as usize);
    let (entries, _) = read_to_end(&backend, LogQuery::from_start()).await;
    assert_eq!(entries.len(), expected, "every event is in the log");
    for answer in &answers {
        let last = answer.events.last().expect("one event").event_id;
        let at = entries.iter().find(|(_, e)| e.event_id == last);
        assert_eq!(
            at.map(|(cursor, _)| *cursor),
            Some(answer.cursor()),
            "a response written concurrently with others carries its event's cursor"
        );
    }
    let log: Vec<EventEnvelope> = entries.into_iter().map(|(_, e)| e).collect();
    let ids: Vec<Uuid> = log.iter().map(|e| e.event_id).collect();
    for (limit, reader) in [1, 2, 3].into_iter().zip(readers) {
        let seen = reader.await.expect("a reader panicked");
        let unique: HashSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "limit {limit}: a reader saw an event twice"
        );
        assert_eq!(
            seen, ids,
            "limit {limit}: a reader following the cursor saw the log as it is"
        );
    }
}

/// Follows the log from the start in pages of `limit` until the writers are done and the reader
/// has caught up with all of it. The reader waits between reads when caught up: the backend
/// never does.
async fn follow(backend: &Arc<dyn Backend>, limit: usize, done: &AtomicBool) -> Vec<Uuid> {
    let mut after = LogCursor::START;
    let mut seen = Vec::new();
    let mut idle_after_done = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let page = read_log(backend, &LogQuery::after(after).limit(limit)).await;
        after = page.next;
        let got = page.events.len();
        seen.extend(page.events.iter().map(|e| e.event_id));
        if page.caught_up {
            if finished && got == 0 {
                idle_after_done += 1;
                if idle_after_done >= 20 {
                    return seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Every filter (namespace, tenant, resource, event keys, and all of them at once) returns
/// exactly the matching events of the log in log order, at every page size, and moves the
/// cursor past what it skips: a caught-up filtered reader stands at the last event of the log.
pub async fn log_filters(backend: Arc<dyn Backend>) {
    let single = crate::domain::domain(backend.clone());
    let tenants = crate::domain::multi_tenant_domain(backend.clone());
    let other = Domain::builder("elsewhere")
        .aggregate(crate::domain::Bank)
        .shared_backend(backend.clone())
        .finish()
        .expect("the test domain builds in another namespace");
    support::open_account(&single, "f-1", "ann", 10).await;
    for (tenant, id) in [("t1", "f-2"), ("t2", "f-3"), ("t1", "f-4")] {
        let cmd = support::command(
            &tenants,
            "open-account",
            json!({"owner": "bo", "initial": 5, "tags": []}),
            ("account", id),
        )
        .with_context(support::tenant(tenant));
        ok(&tenants, cmd).await;
        let cmd = support::command(&tenants, "deposit", json!({"amount": 1}), ("account", id))
            .with_context(support::tenant(tenant));
        ok(&tenants, cmd).await;
    }
    support::run(
        &single,
        "register",
        json!({"name": "Cy", "email": null, "tier": "gold", "city": null}),
        ("customer", "c-1"),
    )
    .await;
    support::open_account(&other, "f-5", "dee", 1).await;
    support::deposit(&single, "f-1", 2).await;
    support::run(
        &single,
        "withdraw",
        json!({"amount": 3}),
        ("account", "f-1"),
    )
    .await;
    support::open_account(&other, "f-6", "eve", 1).await;

    let (log, end) = read_to_end(&backend, LogQuery::from_start()).await;
    assert_eq!(log.len(), 12);
    let queries = [
        LogQuery::from_start().namespace(crate::domain::NAMESPACE),
        LogQuery::from_start().namespace("elsewhere"),
        LogQuery::from_start().tenant("t1"),
        LogQuery::from_start().tenant(""),
        LogQuery::from_start().resource("customer"),
        LogQuery::from_start().evt_key("deposit-made"),
        LogQuery::from_start()
            .evt_key("money-withdrawn")
            .evt_key("customer-registered"),
        LogQuery::from_start()
            .namespace(crate::domain::NAMESPACE)
            .tenant("t1")
            .resource("account")
            .evt_key("deposit-made"),
        LogQuery::from_start().namespace("nowhere"),
    ];
    let counts = [10, 2, 4, 6, 1, 4, 2, 2, 0];
    for (query, count) in queries.into_iter().zip(counts) {
        let want: Vec<_> = log
            .iter()
            .filter(|(_, e)| query.filter.matches(e))
            .cloned()
            .collect();
        assert_eq!(
            want.len(),
            count,
            "{:?} matches {count} events",
            query.filter
        );
        for limit in [1, 2, 100] {
            let (got, next) = read_to_end(&backend, query.clone().limit(limit)).await;
            assert_eq!(got, want, "{:?}, pages of {limit}", query.filter);
            assert_eq!(
                next, end,
                "{:?}, pages of {limit}: a caught-up filtered reader stands at the end of the log",
                query.filter
            );
        }
        let first = read_log(&backend, &query.clone().limit(1)).await;
        assert_eq!(first.caught_up, count <= 1, "{:?}: caught_up", query.filter);
        // The lag a reader of the filter has: all of it from the start, one less past its
        // first event, none at the end.
        let lag = |after: LogCursor| {
            let (backend, filter) = (backend.clone(), query.filter.clone());
            async move {
                backend
                    .log_lag(after, &filter)
                    .await
                    .expect("log_lag")
                    .expect("the backend measures lag")
            }
        };
        let from_start = lag(LogCursor::START).await;
        assert_eq!(
            (from_start.events, from_start.at_least),
            (count as u64, false),
            "{:?}: lag from the start",
            query.filter
        );
        if let Some((cursor, _)) = want.first() {
            assert_eq!(
                lag(*cursor).await.events,
                count as u64 - 1,
                "{:?}",
                query.filter
            );
        }
        assert_eq!(
            lag(end).await.events,
            0,
            "{:?}: lag at the end",
            query.filter
        );
    }
}

/// A command's response carries the cursor of its last event: a reader has passed the write
/// (`next >= response.cursor`) exactly once it has read that event, or skipped it as not
/// matching. A command without events carries the origin; a replayed answer, the original's.
pub async fn response_cursor_read_your_writes(backend: Arc<dyn Backend>) {
    let domain = crate::domain::domain(backend.clone());
    let opened = support::open_account(&domain, "y-1", "ann", 10).await;
    let many = support::run(
        &domain,
        "deposit-many",
        json!({"amounts": [1, 2, 3]}),
        ("account", "y-1"),
    )
    .await;
    support::run(
        &domain,
        "register",
        json!({"name": "Cy", "email": null, "tier": "gold", "city": null}),
        ("customer", "c-1"),
    )
    .await;
    let id = Uuid::now_v7();
    let deposit = |id| {
        support::command(&domain, "deposit", json!({"amount": 4}), ("account", "y-1")).with_id(id)
    };
    let first = ok(&domain, deposit(id)).await;
    let replayed = ok(&domain, deposit(id)).await;
    let noop = support::run(&domain, "tag", json!({"tag": "x"}), ("account", "y-1")).await;
    let noop_again = support::run(&domain, "tag", json!({"tag": "x"}), ("account", "y-1")).await;

    let (log, _) = read_to_end(&backend, LogQuery::from_start()).await;
    let cursor_of = |response: &Response| {
        let last = response.events.last().expect("the command wrote events");
        log.iter()
            .find(|(_, e)| e.event_id == last.event_id)
            .map(|(cursor, _)| *cursor)
            .expect("the command's last event is in the log")
    };
    for (what, response) in [
        ("open", &opened),
        ("deposit-many", &many),
        ("first", &first),
    ] {
        assert_eq!(
            response.cursor(),
            cursor_of(response),
            "{what}: the response carries the cursor of its last event"
        );
    }
    assert!(opened.cursor() < many.cursor() && many.cursor() < first.cursor());
    let json = serde_json::to_value(&first).expect("a response serialises");
    assert_eq!(
        json["cursor"],
        json!(first.cursor().to_string()),
        "a response's JSON carries its cursor in string form"
    );
    assert!(replayed.replayed);
    assert_eq!(
        replayed.cursor, first.cursor,
        "a replayed answer carries the original commit's cursor"
    );
    assert_eq!(noop.events.len(), 1);
    assert!(noop_again.events.is_empty());
    assert_eq!(
        noop_again.cursor,
        LogCursor::START,
        "a command without events carries the origin"
    );

    for query in [
        LogQuery::from_start(),
        LogQuery::from_start().resource("customer"),
    ] {
        for (what, response) in [
            ("open", &opened),
            ("deposit-many", &many),
            ("first", &first),
        ] {
            let last = response.events.last().expect("events").event_id;
            let mut after = LogCursor::START;
            let mut scanned = HashSet::new();
            loop {
                let mut step = query.clone().limit(1);
                step.after = after;
                let page = read_log(&backend, &step).await;
                // Everything up to `next` has been scanned, whether it matched or not.
                scanned.extend(
                    log.iter()
                        .filter(|(cursor, _)| *cursor <= page.next)
                        .map(|(_, e)| e.event_id),
                );
                assert_eq!(
                    page.next >= response.cursor(),
                    scanned.contains(&last),
                    "{what}, {:?}: `next >= cursor` holds exactly once the write is passed \
                     (next {})",
                    query.filter,
                    page.next
                );
                assert!(
                    page.next >= noop_again.cursor,
                    "every reader has passed the origin"
                );
                after = page.next;
                if page.caught_up {
                    break;
                }
            }
            assert!(
                after >= response.cursor(),
                "{what}: a caught-up reader has passed it"
            );
        }
    }
}

/// A checkpoint survives its string form: every cursor of the log round-trips through
/// `to_string`/`parse` (and serde), the strings sort as the cursors do, a read after a parsed
/// checkpoint continues where the original would, and garbage is refused with an error.
pub async fn cursor_checkpoint_round_trip(backend: Arc<dyn Backend>) {
    let domain = crate::domain::domain(backend.clone());
    for id in ["k-1", "k-2"] {
        support::open_account(&domain, id, "ann", 1).await;
        support::deposit(&domain, id, 1).await;
    }
    let (log, end) = read_to_end(&backend, LogQuery::from_start()).await;
    let mut cursors: Vec<LogCursor> = log.iter().map(|(cursor, _)| *cursor).collect();
    cursors.insert(0, LogCursor::START);
    for pair in cursors.windows(2) {
        assert!(
            pair[0].to_string() < pair[1].to_string(),
            "string order is log order"
        );
    }
    for cursor in cursors.iter().copied().chain([end]) {
        let text = cursor.to_string();
        let parsed: LogCursor = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(parsed, cursor, "{text} parses back");
        let json = serde_json::to_value(cursor).expect("a cursor serialises");
        assert_eq!(json, Value::String(text.clone()));
        assert_eq!(serde_json::from_value::<LogCursor>(json).ok(), Some(cursor));
        let from_original = read_log(&backend, &LogQuery::after(cursor)).await;
        let from_parsed = read_log(&backend, &LogQuery::after(parsed)).await;
        assert_eq!(
            from_parsed, from_original,
            "a parsed checkpoint reads on identically"
        );
    }
    for garbage in ["", "checkpoint", "12", "zz-00", &format!("{end} ")] {
        let err = garbage
            .parse::<LogCursor>()
            .expect_err("garbage is not a cursor");
        assert!(err.to_string().contains("is not a log cursor"), "{err}");
    }
}

/// A record's bookkeeping (version, timestamps, last user) is the same through `fetch_record`
/// and `find`, and matches the stream.
pub async fn record_bookkeeping(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    support::open_account(&domain, "rec-1", "ann", 10).await;
    clock.advance(chrono::Duration::seconds(30));
    let command = support::command(
        &domain,
        "deposit",
        json!({"amount": 5}),
        ("account", "rec-1"),
    )
    .with_context(support::ctx().user("bob"));
    ok(&domain, command).await;

    let fetched: Record<Account> = domain
        .statemgr()
        .fetch_record("account", "rec-1")
        .await
        .expect("fetch_record rec-1");
    let found = domain
        .statemgr()
        .find::<Account>("account", &fluvius_core::Query::new())
        .await
        .expect("find accounts");
    assert_eq!(found.items.len(), 1);
    let listed = &found.items[0];
    let want = (2, false, t0(), t(30), Some("bob".to_owned()), 15);
    let from_find = (
        listed.version,
        listed.deleted,
        listed.created_at,
        listed.updated_at,
        listed.updated_by.clone(),
        listed.state.balance,
    );
    let from_fetch = (
        fetched.version,
        fetched.deleted,
        fetched.created_at,
        fetched.updated_at,
        fetched.updated_by.clone(),
        fetched.state.balance,
    );
    assert_eq!(
        from_find, want,
        "find: (version, deleted, created_at, updated_at, updated_by, balance)"
    );
    assert_eq!(
        from_fetch, want,
        "fetch_record: (version, deleted, created_at, updated_at, updated_by, balance)"
    );
    let json: Value = domain
        .statemgr()
        .fetch_json("account", "rec-1")
        .await
        .expect("fetch_json rec-1");
    assert_eq!(json["balance"], json!(15));
}
