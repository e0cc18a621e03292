//! Helpers the cases share: fixed instants, running commands that must succeed or fail, reading
//! the global log, and checking that a rejected command wrote nothing.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fluvius_core::{
    Backend, Command, Context, Domain, Error, EventEnvelope, IntoTarget, LogCursor, LogPage,
    LogQuery, ManualClock, Response,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{self, Account};

/// A fixed instant with whole seconds (every backend stores it exactly): 2024-01-01T00:00:00Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01 is a valid instant")
}

/// `t0()` plus some seconds.
pub fn t(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// A manual clock standing at `t0()`.
pub fn clock() -> ManualClock {
    ManualClock::new(t0())
}

/// A context at a whole-second business time, so stored times compare exactly on every backend.
pub fn ctx() -> Context {
    Context::new().time(t0())
}

/// A context for a tenant.
pub fn tenant(name: &str) -> Context {
    ctx().tenant(name)
}

/// Builds a JSON command; panics if the domain refuses to build it.
pub fn command(domain: &Domain, key: &str, payload: Value, target: impl IntoTarget) -> Command {
    domain
        .create_command(key, payload, target)
        .unwrap_or_else(|err| panic!("building command `{key}` failed: {err}"))
        .with_context(ctx())
}

/// Runs a command that must succeed.
pub async fn ok(domain: &Domain, command: Command) -> Response {
    let what = format!("{} on {}", command.key(), command.root());
    domain
        .process_command(command)
        .await
        .unwrap_or_else(|err| panic!("command {what} failed: {err}"))
}

/// Builds and runs a JSON command that must succeed.
pub async fn run(domain: &Domain, key: &str, payload: Value, target: impl IntoTarget) -> Response {
    ok(domain, command(domain, key, payload, target)).await
}

/// Builds a JSON command on an account in a context and runs it; answers its outcome.
pub async fn run_as(
    domain: &Domain,
    context: &Context,
    key: &str,
    payload: Value,
    id: &str,
) -> Result<Response, Error> {
    let command = domain
        .create_command(key, payload, ("account", id))
        .unwrap_or_else(|err| panic!("building `{key}` failed: {err}"))
        .with_context(context.clone());
    domain.process_command(command).await
}

/// Runs a command that must fail, and returns its error.
pub async fn fails(domain: &Domain, command: Command) -> Error {
    let what = format!("{} on {}", command.key(), command.root());
    match domain.process_command(command).await {
        Ok(response) => panic!(
            "command {what} should have failed, got version {}",
            response.version
        ),
        Err(err) => err,
    }
}

/// Opens an account with a known identifier and no tags.
pub async fn open_account(domain: &Domain, id: &str, owner: &str, initial: i64) -> Response {
    let payload = json!({"owner": owner, "initial": initial, "tags": []});
    run(domain, "open-account", payload, ("account", id)).await
}

/// Deposits into an account.
pub async fn deposit(domain: &Domain, id: &str, amount: i64) -> Response {
    run(
        domain,
        "deposit",
        json!({"amount": amount}),
        ("account", id),
    )
    .await
}

/// The current state of an account, which must exist.
pub async fn account(domain: &Domain, id: &str) -> Account {
    domain
        .statemgr()
        .fetch::<Account>("account", id)
        .await
        .unwrap_or_else(|err| panic!("fetching account `{id}` failed: {err}"))
}

/// The head version of a root as the state store reports it (deleted roots included).
pub async fn version(domain: &Domain, context: &Context, resource: &str, id: &str) -> u64 {
    domain
        .statemgr_for(context)
        .with_deleted()
        .fetch_record::<Value>(resource, id)
        .await
        .unwrap_or_else(|err| panic!("fetching {resource} `{id}` failed: {err}"))
        .version
}

/// One page of the global log; panics if the read fails or the page breaks the shape every
/// page has: at most `limit` events, each matching the filter, their cursors strictly increasing
/// and after `query.after`, and `next` at or past both `query.after` and the last event.
pub async fn read_log(backend: &Arc<dyn Backend>, query: &LogQuery) -> LogPage {
    let page = backend
        .read_log(query)
        .await
        .unwrap_or_else(|err| panic!("read_log after {} failed: {err}", query.after));
    let at = format!("the page after {} (limit {})", query.after, query.limit);
    assert_eq!(
        page.cursors.len(),
        page.events.len(),
        "{at}: one cursor per event"
    );
    assert!(
        page.events.len() <= query.limit,
        "{at}: {} events",
        page.events.len()
    );
    assert!(
        page.events.iter().all(|e| query.filter.matches(e)),
        "{at}: an event does not match the filter {:?}",
        query.filter
    );
    let mut previous = query.after;
    for cursor in &page.cursors {
        assert!(
            *cursor > previous,
            "{at}: cursor {cursor} does not follow {previous}"
        );
        previous = *cursor;
    }
    assert!(
        page.next >= previous,
        "{at}: next {} is before the last event or the query's cursor ({previous})",
        page.next
    );
    page
}

/// Every event of the log matching `query` after its cursor, with its cursor, read in pages of
/// `query.limit` until the backend reports it caught up and two later reads, a few milliseconds
/// apart, find nothing new. Returns the entries and the last `next`.
///
/// A caught-up page says nothing more is readable *now*: on PostgreSQL a transaction of another
/// database that ends while a read takes its horizon can hold that read back for a moment (the
/// conservative side, never a skip), hence the two later reads.
pub async fn read_to_end(
    backend: &Arc<dyn Backend>,
    query: LogQuery,
) -> (Vec<(LogCursor, EventEnvelope)>, LogCursor) {
    let mut query = query;
    let mut entries = Vec::new();
    let mut quiet = 0;
    loop {
        let page = read_log(backend, &query).await;
        let stuck = page.is_empty() && page.next == query.after && !page.caught_up;
        assert!(
            !stuck,
            "a page after {} was empty, not caught up, and did not move: a reader would spin",
            query.after
        );
        let (caught_up, empty) = (page.caught_up, page.is_empty());
        query.after = page.next;
        entries.extend(page.cursors.into_iter().zip(page.events));
        if !caught_up {
            continue;
        }
        quiet = if empty { quiet + 1 } else { 0 };
        if quiet == 2 {
            return (entries, query.after);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The whole global log, read in pages through [`Backend::read_log`] (see [`read_to_end`]).
pub async fn global_log(backend: &Arc<dyn Backend>) -> Vec<EventEnvelope> {
    let (entries, _) = read_to_end(backend, LogQuery::from_start().limit(500)).await;
    entries.into_iter().map(|(_, event)| event).collect()
}

/// Asserts that the global log is exactly `before`: the step wrote no event.
pub async fn assert_log_unchanged(
    backend: &Arc<dyn Backend>,
    before: &[EventEnvelope],
    step: &str,
) {
    let after = global_log(backend).await;
    assert_eq!(
        after.len(),
        before.len(),
        "{step}: the global log grew from {} to {} events, but the command should have written nothing",
        before.len(),
        after.len()
    );
    assert_eq!(after, before, "{step}: the global log changed");
}

/// Asserts that no idempotency record exists for a command id (rejections record nothing).
pub async fn assert_no_record(backend: &Arc<dyn Backend>, tenant: &str, id: Uuid, step: &str) {
    let record = backend
        .idempotency(tenant, fluvius_core::idempotency_key(domain::NAMESPACE, id))
        .await
        .unwrap_or_else(|err| panic!("{step}: reading idempotency record failed: {err}"));
    assert!(
        record.is_none(),
        "{step}: a rejected command left an idempotency record: {record:?}"
    );
}

/// Asserts a value is an error of the expected kind and returns it for closer checks.
pub fn expect_err<T: std::fmt::Debug>(result: Result<T, Error>, step: &str) -> Error {
    match result {
        Ok(value) => panic!("{step}: expected an error, got {value:?}"),
        Err(err) => err,
    }
}

/// The test domain with a manual clock, returned together.
pub fn clocked(backend: &Arc<dyn Backend>) -> (Domain, ManualClock) {
    let clock = clock();
    (
        domain::domain_with_clock(backend.clone(), clock.clone()),
        clock,
    )
}

/// The identifiers of a page of records.
pub fn ids<T>(found: &fluvius_core::Found<T>) -> Vec<String> {
    found.items.iter().map(|record| record.id.clone()).collect()
}

/// The key of a stream of a single-tenant `domain`.
pub fn stream(domain: &Domain, resource: &str, id: &str) -> fluvius_core::StreamKey {
    fluvius_core::StreamKey {
        tenant: String::new(),
        namespace: domain.namespace().to_owned(),
        resource: resource.to_owned(),
        id: id.to_owned(),
    }
}
