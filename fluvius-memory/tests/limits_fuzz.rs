//! Generated input against the limits: payloads, identifiers and filters of every shape either
//! work and read back, or are refused with a catalogued error naming the limit, writing nothing;
//! nothing panics or exhausts the stack.

use std::sync::Arc;

use fluvius_conformance::cases::limits::{lab, object};
use fluvius_conformance::domain::{self, Account};
use fluvius_conformance::support::global_log;
use fluvius_core::limits::{self, MAX_IDENTIFIER_BYTES};
use fluvius_core::{Backend, Context, Error, Query};
use fluvius_memory::MemBackend;
use proptest::prelude::*;
use serde_json::{Value, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn store() -> Arc<dyn Backend> {
    Arc::new(MemBackend::new())
}

/// Short texts, some holding NUL.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{0,6}",
        1 => "[a-z]{0,2}\u{0}[a-z]{0,2}",
        1 => "\\PC{0,4}",
    ]
}

/// JSON of any shape, then wrapped in up to 150 arrays.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    let tree = leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    });
    (tree, 0usize..150).prop_map(|(mut value, wrap)| {
        for _ in 0..wrap {
            value = Value::Array(vec![value]);
        }
        value
    })
}

/// Identifiers around every limit: ordinary, empty, with NUL, near and past the byte limit.
fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9-]{1,12}",
        1 => Just(String::new()),
        1 => "[a-z]{0,3}\u{0}[a-z]{0,3}",
        2 => prop::collection::vec(prop::char::range('!', '~'), 1015..1035)
            .prop_map(|chars| chars.into_iter().collect()),
        1 => "\\PC{250,300}",
    ]
}

/// Whether a value keeps the JSON limits, worked out independently of the checker under test.
fn storable(value: &Value, depth: usize) -> bool {
    match value {
        Value::String(s) => !s.contains('\0'),
        Value::Array(items) => {
            depth < limits::MAX_JSON_DEPTH && items.iter().all(|v| storable(v, depth + 1))
        }
        Value::Object(map) => {
            depth < limits::MAX_JSON_DEPTH
                && map
                    .iter()
                    .all(|(k, v)| !k.contains('\0') && storable(v, depth + 1))
        }
        _ => true,
    }
}

/// Whether an identifier keeps the identifier limits, worked out independently.
fn valid_identifier(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_IDENTIFIER_BYTES && !id.contains('\0')
}

fn limit_message(err: &Error) -> bool {
    matches!(err, Error::Validation { message, .. } if message.contains("(limit: "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A payload is accepted exactly when it keeps the JSON limits, and then reads back as sent.
    #[test]
    fn payloads(data in json()) {
        runtime().block_on(async {
            let backend = store();
            let domain = lab(&backend);
            let payload = object("data", data.clone());
            let allowed = storable(&payload, 0);
            let result = match domain.create_command("create-doc", payload, ("doc", "x")) {
                Ok(command) => domain.process_command(command).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(_) => {
                    assert!(allowed, "a payload breaking a limit was accepted");
                    let stored = domain.statemgr().fetch_json("doc", "x").await.expect("fetch");
                    assert_eq!(stored["data"], data, "the payload reads back");
                }
                Err(err) => {
                    assert!(!allowed, "a payload within the limits was refused: {err}");
                    assert!(limit_message(&err), "a catalogued error: {err:?}");
                    assert!(global_log(&backend).await.is_empty(), "nothing written");
                }
            }
            // Deep values recurse when dropped; this one is at most ~200 levels.
            drop(data);
        });
    }

    /// An identifier and a tenant are accepted exactly when they keep the identifier limits, and
    /// the root then reads back under them.
    #[test]
    fn identifiers(id in identifier(), tenant in identifier()) {
        runtime().block_on(async {
            let backend = store();
            let domain = domain::multi_tenant_domain(backend.clone());
            let context = Context::new().tenant(tenant.clone());
            let allowed = valid_identifier(&id) && valid_identifier(&tenant);
            let payload = json!({"owner": "o", "initial": 3, "tags": []});
            let result = match domain.create_command("open-account", payload, ("account", id.as_str())) {
                Ok(command) => domain.process_command(command.with_context(context.clone())).await,
                Err(err) => Err(err),
            };
            let reader = domain.statemgr_for(&context);
            match result {
                Ok(_) => {
                    assert!(allowed, "an identifier breaking a limit was accepted");
                    let account: Account = reader.fetch("account", &id).await.expect("fetch");
                    assert_eq!(account.balance, 3);
                }
                Err(err) => {
                    assert!(!allowed, "an identifier within the limits was refused: {err}");
                    let catalogued = limit_message(&err) || matches!(err, Error::MissingTenant(_));
                    assert!(catalogued, "a catalogued error: {err:?}");
                    assert!(global_log(&backend).await.is_empty(), "nothing written");
                    let read = reader.fetch::<Account>("account", &id).await;
                    assert!(read.is_err(), "nothing to read");
                }
            }
        });
    }

    /// A filter of any shape is answered or refused as an invalid query, never a panic, and a
    /// query writes nothing.
    #[test]
    fn filters(
        entries in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "owner", "owner.in", "owner!ne", "balance.gt", "balance.between", "tags.has",
                    "opened_at.lt", "closed", ".or", "!and", ".and", "nope.eq", "balance.what",
                ]),
                json(),
            ),
            0..4,
        )
    ) {
        runtime().block_on(async {
            let backend = store();
            let domain = domain::domain(backend.clone());
            let open = domain
                .create_command("open-account", json!({"owner": "o", "initial": 1, "tags": ["t"]}), ("account", "a"))
                .expect("routes");
            domain.process_command(open).await.expect("open");
            let before = global_log(&backend).await;
            let mut filter = serde_json::Map::new();
            for (key, value) in entries {
                filter.insert(key.to_owned(), value);
            }
            let query = Query::new().filter(Value::Object(filter));
            match domain.statemgr().find::<Account>("account", &query).await {
                Ok(found) => assert!(found.items.len() <= 1),
                Err(Error::InvalidQuery(_)) => {}
                Err(other) => panic!("a filter gave an uncatalogued error: {other:?}"),
            }
            assert_eq!(global_log(&backend).await, before, "a query writes nothing");
            drop(query);
        });
    }
}
