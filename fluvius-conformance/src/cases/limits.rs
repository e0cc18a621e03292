//! The input limits (`fluvius_core::limits`): what breaks one is refused with an error naming
//! the limit, the same on every backend, and writes nothing; what keeps them is stored and reads
//! back through every read path.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::filter::FilterError;
use fluvius_core::limits::{self, Limit, MAX_FILTER_TERMS, MAX_IDENTIFIER_BYTES, MAX_JSON_DEPTH};
use fluvius_core::{
    Apply, At, Backend, Context, Domain, DomainError, Error, ImportEvent, Query, StreamKey,
    StreamRange,
};
use fluvius_macros::aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{self, Account};
use crate::support::{
    self, assert_log_unchanged, command, ctx, expect_err, fails, global_log, open_account, run,
};

/// A document holding any JSON and a computed ratio: the state of the `doc` resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Doc {
    /// Whatever the caller stored.
    pub data: Value,
    /// The last ratio computed.
    pub ratio: f64,
}

/// Event data of `doc-created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocCreated {
    /// The data.
    pub data: Value,
}

/// Event data of `doc-wrapped`: the state's data moves `levels` arrays down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocWrapped {
    /// How many arrays to wrap the data in.
    pub levels: usize,
}

/// Event data of `ratio-computed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RatioComputed {
    /// The quotient.
    pub ratio: f64,
}

impl Apply<DocCreated> for Doc {
    fn apply(&mut self, event: &DocCreated) {
        self.data = event.data.clone();
    }
}

impl Apply<DocWrapped> for Doc {
    fn apply(&mut self, event: &DocWrapped) {
        for _ in 0..event.levels {
            self.data = Value::Array(vec![std::mem::take(&mut self.data)]);
        }
    }
}

impl Apply<RatioComputed> for Doc {
    fn apply(&mut self, event: &RatioComputed) {
        self.ratio = event.ratio;
    }
}

/// The aggregate of the limits cases.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lab;

#[aggregate(crate = ::fluvius_core, resources(doc = Doc))]
impl Lab {
    /// Creates a document holding `data`.
    #[action(evt_key = "doc-created", resources = ["doc"], new)]
    async fn create_doc(&self, data: Value) -> Result<DocCreated, DomainError> {
        Ok(DocCreated { data })
    }

    /// Wraps the document's data in arrays: the state grows deeper than the event.
    #[action(evt_key = "doc-wrapped", resources = ["doc"])]
    async fn wrap(&self, _doc: &Doc, levels: usize) -> Result<DocWrapped, DomainError> {
        Ok(DocWrapped { levels })
    }

    /// Computes `a / b`, whatever it gives.
    #[action(evt_key = "ratio-computed", resources = ["doc"])]
    async fn divide(&self, _doc: &Doc, a: f64, b: f64) -> Result<RatioComputed, DomainError> {
        Ok(RatioComputed { ratio: a / b })
    }
}

/// The domain of the limits cases: `doc` roots holding any JSON.
pub fn lab(backend: &Arc<dyn Backend>) -> Domain {
    Domain::builder("limits")
        .aggregate(Lab)
        .shared_backend(backend.clone())
        .finish()
        .expect("the lab domain is well formed")
}

/// `levels` nested arrays around a number: a value of depth `levels`.
pub fn nested(levels: usize) -> Value {
    let mut value = json!(0);
    for _ in 0..levels {
        value = Value::Array(vec![value]);
    }
    value
}

/// `{key: value}`, built without serialising `value` again (which would recurse as deep as it
/// nests).
pub fn object(key: &str, value: Value) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

/// Asserts a command-side error is a validation error naming `limit`.
fn assert_refused(err: &Error, limit: Limit, step: &str) {
    let Error::Validation { message, .. } = err else {
        panic!("{step}: expected a validation error, got {err:?}");
    };
    assert!(
        message.contains(&limit.to_string()),
        "{step}: the message names the limit `{limit}`: {message}"
    );
}

/// Asserts a read-side error is a malformed-query error naming `limit`.
fn assert_bad_read<T: std::fmt::Debug>(result: Result<T, Error>, limit: Limit, step: &str) {
    match expect_err(result, step) {
        Error::InvalidQuery(FilterError::Limit(err)) => {
            assert_eq!(err.limit, limit, "{step}: {err}")
        }
        other => panic!("{step}: expected a refused read naming {limit:?}, got {other:?}"),
    }
}

/// A JSON payload at the nesting limit is stored and reads back through every read path; one
/// level more is refused, JSON or typed, at any depth and without exhausting the stack.
pub async fn json_depth(backend: Arc<dyn Backend>) {
    let domain = lab(&backend);
    // `{"data": X}` nests one level more than X.
    let deepest = nested(MAX_JSON_DEPTH - 1);
    run(
        &domain,
        "create-doc",
        json!({"data": deepest}),
        ("doc", "deep"),
    )
    .await;
    let reader = domain.statemgr();
    let doc: Doc = reader.fetch("doc", "deep").await.expect("fetch");
    assert_eq!(doc.data, deepest, "fetch");
    let json = reader.fetch_json("doc", "deep").await.expect("fetch_json");
    assert_eq!(json["data"], deepest, "fetch_json");
    let at = reader
        .fetch_at::<Doc>("doc", "deep", At::Version(1))
        .await
        .expect("fetch_at")
        .state;
    assert_eq!(at.data, deepest, "fetch_at");
    let found = reader
        .find::<Doc>("doc", &Query::new())
        .await
        .expect("find");
    assert_eq!(found.items.len(), 1, "find");
    assert_eq!(found.items[0].state.data, deepest, "find");
    let history = reader.history("doc", "deep").await.expect("history");
    assert_eq!(history[0].payload["data"], deepest, "history");
    let before = global_log(&backend).await;
    assert_eq!(before[0].payload["data"], deepest, "global log");

    for levels in [MAX_JSON_DEPTH, 1_000, 5_000] {
        let payload = object("data", nested(levels));
        let err = expect_err(
            domain.create_command("create-doc", payload, ("doc", "deeper")),
            "deep JSON payload",
        );
        assert_refused(
            &err,
            Limit::JsonDepth,
            &format!("JSON payload of {levels} levels"),
        );
        let typed = CreateDoc {
            data: nested(levels),
        };
        let err = expect_err(
            domain.command(typed, ("doc", "deeper")),
            "deep typed payload",
        );
        assert_refused(
            &err,
            Limit::JsonDepth,
            &format!("typed payload of {levels} levels"),
        );
    }
    assert_log_unchanged(&backend, &before, "deep payloads").await;
}

/// An action whose state would nest past the limit is refused naming the action; nothing is
/// written and the root still reads back.
pub async fn state_depth(backend: Arc<dyn Backend>) {
    let domain = lab(&backend);
    run(
        &domain,
        "create-doc",
        json!({"data": nested(10)}),
        ("doc", "d"),
    )
    .await;
    let before = global_log(&backend).await;
    let cmd = command(
        &domain,
        "wrap",
        json!({"levels": MAX_JSON_DEPTH}),
        ("doc", "d"),
    );
    match fails(&domain, cmd).await {
        Error::Unstorable { command, limit, .. } => {
            assert_eq!(command, "wrap", "the error names the action");
            assert_eq!(limit.limit, Limit::JsonDepth);
        }
        other => panic!("expected an unstorable state, got {other:?}"),
    }
    assert_log_unchanged(&backend, &before, "a state too deep").await;
    let doc: Doc = domain.statemgr().fetch("doc", "d").await.expect("fetch");
    assert_eq!(doc.data, nested(10));
    // Up to the limit is fine: `{"data": X}` with X of depth 63.
    run(
        &domain,
        "wrap",
        json!({"levels": MAX_JSON_DEPTH - 11}),
        ("doc", "d"),
    )
    .await;
    let doc: Doc = domain.statemgr().fetch("doc", "d").await.expect("fetch");
    assert_eq!(doc.data, nested(MAX_JSON_DEPTH - 1));
}

/// `0/0` and `1/0` are refused naming the action (JSON has no NaN or infinity, which would be
/// stored as `null` and never decode); nothing is written and time travel still works.
pub async fn non_finite_numbers(backend: Arc<dyn Backend>) {
    let domain = lab(&backend);
    run(&domain, "create-doc", json!({"data": null}), ("doc", "r")).await;
    run(&domain, "divide", json!({"a": 1.0, "b": 4.0}), ("doc", "r")).await;
    let before = global_log(&backend).await;
    for (a, b) in [(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0)] {
        let typed = Divide { a, b };
        let cmd = domain
            .command(typed, ("doc", "r"))
            .expect("the payload is finite")
            .with_context(ctx());
        match fails(&domain, cmd).await {
            Error::Unstorable {
                command,
                what,
                limit,
            } => {
                assert_eq!(command, "divide", "the error names the action");
                assert!(what.contains("ratio-computed"), "{what}");
                assert_eq!(limit.limit, Limit::FiniteNumbers, "{limit}");
                assert!(limit.message.contains("`ratio`"), "{limit}");
            }
            other => panic!("{a}/{b}: expected an unstorable event, got {other:?}"),
        }
    }
    assert_log_unchanged(&backend, &before, "non-finite ratios").await;
    let reader = domain.statemgr();
    let doc: Doc = reader.fetch("doc", "r").await.expect("fetch");
    assert_eq!(doc.ratio, 0.25);
    let then = reader
        .fetch_at::<Doc>("doc", "r", At::Version(2))
        .await
        .expect("time travel")
        .state;
    assert_eq!(then.ratio, 0.25);
}

/// NUL (U+0000) is refused in identifiers, tenants, users, headers, payload strings and keys,
/// filter values and reads; nothing is written.
pub async fn nul_characters(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    let tenants = domain::multi_tenant_domain(backend.clone());
    open_account(&domain, "a", "ann", 1).await;
    let before = global_log(&backend).await;
    let owner = json!({"owner": "ann\u{0}", "initial": 1, "tags": []});
    let err = expect_err(
        domain.create_command("open-account", owner, ("account", "n1")),
        "NUL in a payload string",
    );
    assert_refused(&err, Limit::NoNul, "NUL in a payload string");
    let tags = json!({"owner": "ann", "initial": 1, "tags": ["x\u{0}"]});
    let err = expect_err(
        domain.create_command("open-account", tags, ("account", "n1")),
        "NUL in a payload array",
    );
    assert_refused(&err, Limit::NoNul, "NUL in a payload array");
    let lab = lab(&backend);
    let err = expect_err(
        lab.create_command("create-doc", json!({"data": {"k\u{0}": 1}}), ("doc", "n")),
        "NUL in a payload key",
    );
    assert_refused(&err, Limit::NoNul, "NUL in a payload key");
    let err = expect_err(
        domain.create_command("deposit", json!({"amount": 1}), ("account", "a\u{0}")),
        "NUL in an identifier",
    );
    assert_refused(&err, Limit::NoNul, "NUL in an identifier");

    let deposit = || command(&domain, "deposit", json!({"amount": 1}), ("account", "a"));
    let err = fails(&domain, deposit().with_context(ctx().user("u\u{0}"))).await;
    assert_refused(&err, Limit::NoNul, "NUL in the user");
    let err = fails(&domain, deposit().with_context(ctx().header("h", "\u{0}"))).await;
    assert_refused(&err, Limit::NoNul, "NUL in a header");
    let cmd = tenants
        .create_command("deposit", json!({"amount": 1}), ("account", "a"))
        .expect("routes")
        .with_context(support::tenant("t\u{0}"));
    let err = fails(&tenants, cmd).await;
    assert_refused(&err, Limit::NoNul, "NUL in the tenant");
    assert_log_unchanged(&backend, &before, "NUL in commands").await;

    let reader = domain.statemgr();
    assert_bad_read(
        reader.fetch::<Account>("account", "a\u{0}").await,
        Limit::NoNul,
        "fetch with NUL",
    );
    assert_bad_read(
        reader.history("account", "a\u{0}").await,
        Limit::NoNul,
        "history with NUL",
    );
    assert_bad_read(
        reader
            .fetch_at::<Account>("account", "a\u{0}", At::Version(1))
            .await,
        Limit::NoNul,
        "fetch_at with NUL",
    );
    assert_bad_read(
        tenants
            .statemgr_for(&support::tenant("t\u{0}"))
            .fetch::<Account>("account", "a")
            .await,
        Limit::NoNul,
        "read as a tenant with NUL",
    );
    let query = Query::new().filter(json!({"owner": "ann\u{0}"}));
    assert_bad_read(
        reader.find::<Account>("account", &query).await,
        Limit::NoNul,
        "filter value with NUL",
    );
}

/// Identifiers and tenants of up to `MAX_IDENTIFIER_BYTES` bytes are stored and read back; one
/// byte more is refused on writes and reads alike.
pub async fn identifier_length(backend: Arc<dyn Backend>) {
    let domain = domain::multi_tenant_domain(backend.clone());
    // Varied text, so no store can shrink the key by compressing it.
    let longest = |seed: u64| -> String {
        let mut x = seed;
        (0..MAX_IDENTIFIER_BYTES)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from(b'!' + ((x >> 33) % 94) as u8)
            })
            .collect()
    };
    let (id, tenant) = (longest(1), longest(2));
    let context = support::tenant(&tenant);
    let open = domain
        .create_command(
            "open-account",
            json!({"owner": "o", "initial": 5, "tags": []}),
            ("account", id.as_str()),
        )
        .expect("routes")
        .with_context(context.clone());
    support::ok(&domain, open).await;
    let reader = domain.statemgr_for(&context);
    let account: Account = reader.fetch("account", &id).await.expect("fetch");
    assert_eq!(account.balance, 5);
    let history = reader.history("account", &id).await.expect("history");
    assert_eq!(history[0].identifier, id);
    assert_eq!(history[0].tenant, tenant);
    let found = reader
        .find::<Account>("account", &Query::new())
        .await
        .expect("find");
    assert_eq!(found.items[0].id, id);

    let before = global_log(&backend).await;
    let too_long = format!("{id}x");
    let err = expect_err(
        domain.create_command(
            "deposit",
            json!({"amount": 1}),
            ("account", too_long.as_str()),
        ),
        "an identifier over the limit",
    );
    assert_refused(&err, Limit::Identifier, "an identifier over the limit");
    let cmd = domain
        .create_command("deposit", json!({"amount": 1}), ("account", id.as_str()))
        .expect("routes")
        .with_context(support::tenant(&format!("{tenant}x")));
    let err = fails(&domain, cmd).await;
    assert_refused(&err, Limit::Identifier, "a tenant over the limit");
    let err = expect_err(
        domain.create_command("deposit", json!({"amount": 1}), ("account", "")),
        "an empty identifier",
    );
    assert_refused(&err, Limit::Identifier, "an empty identifier");
    assert_log_unchanged(&backend, &before, "identifiers over the limit").await;
    assert_bad_read(
        reader.fetch::<Account>("account", &too_long).await,
        Limit::Identifier,
        "fetch with a long identifier",
    );
}

/// A filter's values keep the JSON limits, and its comparisons (each `in` value counting) are
/// at most `MAX_FILTER_TERMS`; a deep value is refused without exhausting the stack.
pub async fn filter_limits(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "f", "fay", 7).await;
    let reader = domain.statemgr();
    let owners: Vec<String> = (0..MAX_FILTER_TERMS).map(|i| format!("o{i}")).collect();
    let mut all = owners.clone();
    all[MAX_FILTER_TERMS - 1] = "fay".into();
    let query = Query::new().filter(json!({"owner.in": all}));
    let found = reader
        .find::<Account>("account", &query)
        .await
        .expect("an `in` list at the limit");
    assert_eq!(support::ids(&found), ["f"]);

    let mut over = owners;
    over.push("fay".into());
    let query = Query::new().filter(json!({"owner.in": over}));
    assert_bad_read(
        reader.find::<Account>("account", &query).await,
        Limit::FilterTerms,
        "an `in` list over the limit",
    );
    let alternatives: Vec<Value> = (0..=MAX_FILTER_TERMS)
        .map(|i| json!({"balance": i}))
        .collect();
    let query = Query::new().filter(json!({".or": alternatives}));
    assert_bad_read(
        reader.find::<Account>("account", &query).await,
        Limit::FilterTerms,
        "too many comparisons",
    );
    let keys = vec!["balance.desc"; limits::MAX_SORT_KEYS];
    let found = reader
        .find::<Account>("account", &Query::new().sort(keys.clone()))
        .await
        .expect("sort keys at the limit");
    assert_eq!(support::ids(&found), ["f"]);
    let mut over = keys;
    over.push("owner");
    assert_bad_read(
        reader
            .find::<Account>("account", &Query::new().sort(over))
            .await,
        Limit::SortKeys,
        "too many sort keys",
    );
    for levels in [MAX_JSON_DEPTH + 1, 2_000] {
        for key in ["tags.has", "owner.in", "owner"] {
            let query = Query::new().filter(object(key, nested(levels)));
            assert_bad_read(
                reader.find::<Account>("account", &query).await,
                Limit::JsonDepth,
                &format!("`{key}` with a value of {levels} levels"),
            );
        }
    }
}

/// Versions above `MAX_VERSION` and instants outside the years 1 to 9999 are refused on
/// commands, reads and purges alike; the extremes inside the range work.
pub async fn version_and_time_limits(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "v", "vic", 3).await;
    let before = global_log(&backend).await;
    let deposit = || command(&domain, "deposit", json!({"amount": 1}), ("account", "v"));
    let err = fails(&domain, deposit().expect_version(u64::MAX)).await;
    assert_refused(&err, Limit::Version, "expected version above the limit");
    let err = fails(&domain, deposit().expect_version(limits::MAX_VERSION)).await;
    assert!(err.is_conflict(), "expected version at the limit: {err:?}");
    for time in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        let err = fails(&domain, deposit().with_context(Context::new().time(time))).await;
        assert_refused(&err, Limit::TimeRange, "business time out of range");
    }
    assert_log_unchanged(&backend, &before, "versions and times out of range").await;

    let reader = domain.statemgr();
    assert_bad_read(
        reader
            .fetch_at::<Account>("account", "v", At::Version(u64::MAX))
            .await,
        Limit::Version,
        "time travel above the version limit",
    );
    let err = expect_err(
        reader
            .fetch_at::<Account>("account", "v", At::Version(limits::MAX_VERSION))
            .await,
        "time travel to the version limit",
    );
    assert!(
        matches!(err, Error::InvalidVersion { head: 1, .. }),
        "past the head: {err:?}"
    );
    for time in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        assert_bad_read(
            reader
                .fetch_at::<Account>("account", "v", At::Time(time))
                .await,
            Limit::TimeRange,
            "time travel out of range",
        );
        assert_bad_read(
            domain.purge_idempotency_all_tenants(time).await,
            Limit::TimeRange,
            "purge out of range",
        );
    }
    let last = reader
        .fetch_at::<Account>("account", "v", At::Time(limits::max_time()))
        .await
        .expect("time travel to the last instant")
        .state;
    assert_eq!(last.balance, 3);
    let first = reader
        .fetch_at::<Account>("account", "v", At::Time(limits::min_time()))
        .await;
    assert!(expect_err(first, "before the first event").is_not_found());
    domain
        .purge_idempotency_all_tenants(limits::max_time())
        .await
        .expect("purge up to the last instant");
    domain
        .purge_idempotency_all_tenants(limits::min_time())
        .await
        .expect("purge up to the first instant");

    // A clock past the range records the nearest instant every backend stores.
    let (clocked, clock) = support::clocked(&backend);
    for (time, stored) in [
        (DateTime::<Utc>::MIN_UTC, limits::min_time()),
        (DateTime::<Utc>::MAX_UTC, limits::max_time()),
    ] {
        clock.set(time);
        let id = format!("clock-{}", stored.timestamp());
        let response = open_account(&clocked, &id, "cal", 1).await;
        assert_eq!(response.events[0].recorded_at, stored, "the response");
        let history = clocked
            .statemgr()
            .history("account", &id)
            .await
            .expect("history");
        assert_eq!(history[0].recorded_at, stored, "the stored event");
    }
}

/// `Domain::import` keeps the limits a command keeps: identifiers, NUL, JSON depth, instants.
pub async fn import_limits(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    let lab = lab(&backend);
    let good = || {
        ImportEvent::new(
            "account",
            "imp",
            "account-opened",
            json!({"owner": "o", "initial": 1, "tags": [], "opened_at": support::t0()}),
        )
    };
    let opened = |id: &str, owner: &str| {
        ImportEvent::new(
            "account",
            id,
            "account-opened",
            json!({"owner": owner, "initial": 1, "tags": [], "opened_at": support::t0()}),
        )
    };
    let cases = vec![
        ("an empty identifier", opened("", "o"), Limit::Identifier),
        ("NUL in an identifier", opened("i\u{0}", "o"), Limit::NoNul),
        (
            "an identifier over the limit",
            opened(&"i".repeat(MAX_IDENTIFIER_BYTES + 1), "o"),
            Limit::Identifier,
        ),
        ("NUL in the data", opened("i", "o\u{0}"), Limit::NoNul),
        (
            "a recording time out of range",
            opened("i", "o").recorded_at(DateTime::<Utc>::MAX_UTC),
            Limit::TimeRange,
        ),
    ];
    for (step, event, limit) in cases {
        let err = expect_err(domain.import(vec![good(), event]).await, step);
        assert_refused(&err, limit, step);
    }
    let deep = ImportEvent::new("doc", "deep", "doc-created", object("data", nested(1_000)));
    let err = expect_err(lab.import(vec![deep]).await, "deep import");
    assert_refused(&err, Limit::JsonDepth, "deep import");
    let wrapped = vec![
        ImportEvent::new("doc", "w", "doc-created", json!({"data": 1})),
        ImportEvent::new("doc", "w", "doc-wrapped", json!({"levels": MAX_JSON_DEPTH})),
    ];
    let err = expect_err(lab.import(wrapped).await, "import leading to a deep state");
    assert_refused(&err, Limit::JsonDepth, "import leading to a deep state");

    assert!(
        global_log(&backend).await.is_empty(),
        "no import wrote anything"
    );
    let key = StreamKey {
        tenant: String::new(),
        namespace: domain::NAMESPACE.into(),
        resource: "account".into(),
        id: String::new(),
    };
    let empty = backend
        .read_stream(&key, StreamRange::all())
        .await
        .expect("read the empty identifier's stream");
    assert!(empty.is_empty(), "no stream with an empty identifier");
}
