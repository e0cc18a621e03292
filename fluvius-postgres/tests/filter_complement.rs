//! Generated filters over generated rows full of nulls and absent fields: on both backends a
//! negated filter returns exactly the rows the filter does not, and PostgreSQL returns exactly
//! what the in-memory backend returns (two-valued logic, decision D8).

mod support;

use std::cell::Cell;
use std::collections::BTreeSet;

use fluvius_core::filter::{FieldIndex, FieldKind, Filter, Page};
use fluvius_core::{Backend, CommitBatch, ExpectedVersion, StateDoc, StateQuery};
use fluvius_memory::MemBackend;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use support::{TestDb, key, write};

/// The fields rows may carry, with their kinds.
const FIELDS: [(&str, FieldKind); 8] = [
    ("s", FieldKind::String),
    ("n", FieldKind::Integer),
    ("x", FieldKind::Number),
    ("b", FieldKind::Boolean),
    ("t", FieldKind::DateTime),
    ("tags", FieldKind::Array),
    ("o", FieldKind::Object),
    ("o.c", FieldKind::String),
];

/// Identifiers of the rows, in the order rows are given them.
const IDS: [&str; 12] = [
    "a", "B", "b", "É", "z", "_1", "a1", "A1", "0", "ab", "Z", "c",
];

fn fields() -> FieldIndex {
    let mut index = FieldIndex::new();
    for (name, kind) in FIELDS {
        index.insert(name, kind);
    }
    index
}

/// A value of a field's kind, from a pool small enough that rows and filters meet.
fn value(kind: FieldKind) -> BoxedStrategy<Value> {
    match kind {
        FieldKind::String => prop::sample::select(vec!["", "a", "A", "ab", "b", "É", "é", "z"])
            .prop_map(Value::from)
            .boxed(),
        FieldKind::Integer => (-2i64..4).prop_map(Value::from).boxed(),
        FieldKind::Number => prop::sample::select(vec![-1.5, 0.0, 1.0, 2.5])
            .prop_map(Value::from)
            .boxed(),
        FieldKind::Boolean => any::<bool>().prop_map(Value::from).boxed(),
        FieldKind::DateTime => prop::sample::select(vec![
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:00:00+01:00",
            "2024-01-01T00:00:01Z",
            "2023-12-31T23:00:00Z",
        ])
        .prop_map(Value::from)
        .boxed(),
        FieldKind::Array => prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec!["a", "b", "A"]).prop_map(Value::from),
                (0i64..3).prop_map(Value::from),
            ],
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        _ => prop_oneof![
            Just(json!({})),
            value(FieldKind::String).prop_map(|c| json!({ "c": c })),
            Just(json!({ "c": null })),
        ]
        .boxed(),
    }
}

/// One field of a row: absent (`None`), null, or a value.
fn slot(kind: FieldKind) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        3 => value(kind).prop_map(Some),
    ]
}

/// A row: every top-level field absent, null or a value (`o` carries `o.c`).
fn row() -> impl Strategy<Value = Value> {
    let top: Vec<_> = FIELDS
        .iter()
        .filter(|(name, _)| !name.contains('.'))
        .map(|(name, kind)| slot(*kind).prop_map(move |v| (*name, v)))
        .collect();
    top.prop_map(|slots| {
        let mut doc = Map::new();
        for (name, v) in slots {
            if let Some(v) = v {
                doc.insert(name.to_owned(), v);
            }
        }
        Value::Object(doc)
    })
}

/// The operand of `op` on a field of `kind`.
fn operand(op: &'static str, kind: FieldKind) -> BoxedStrategy<Value> {
    match op {
        "null" => any::<bool>().prop_map(Value::from).boxed(),
        "in" => prop::collection::vec(prop_oneof![4 => value(kind), 1 => Just(Value::Null)], 0..3)
            .prop_map(Value::Array)
            .boxed(),
        "between" => (value(kind), value(kind))
            .prop_map(|(a, b)| json!([a, b]))
            .boxed(),
        "ov" => prop::collection::vec(value(FieldKind::Array), 0..2)
            .prop_map(|arrays| {
                arrays
                    .into_iter()
                    .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .prop_map(Value::Array)
            .boxed(),
        "has" if kind == FieldKind::Array => {
            prop_oneof![value(FieldKind::String), (0i64..3).prop_map(Value::from)].boxed()
        }
        // `eq null` and `ne null` are the null tests.
        "eq" | "ne" | "" => prop_oneof![6 => value(kind), 1 => Just(Value::Null)].boxed(),
        _ => value(kind),
    }
}

/// One `key: value` condition, in every spelling: bare, `.op`, `!op`, `field!`.
fn condition() -> impl Strategy<Value = (String, Value)> {
    let ops = vec![
        "", "!", "eq", "ne", "lt", "lte", "gt", "gte", "in", "has", "ov", "between", "null",
    ];
    let targets: Vec<(&'static str, FieldKind)> = FIELDS
        .iter()
        .copied()
        .chain([("id", FieldKind::String)])
        .collect();
    (
        prop::sample::select(targets),
        prop::sample::select(ops),
        any::<bool>(),
    )
        .prop_flat_map(|((field, kind), op, negated)| {
            let key = match op {
                "" => field.to_owned(),
                "!" => format!("{field}!"),
                op if negated => format!("{field}!{op}"),
                op => format!("{field}.{op}"),
            };
            let kind = if field == "id" {
                FieldKind::String
            } else {
                kind
            };
            let values = if field == "id" {
                prop::sample::select(IDS.to_vec())
                    .prop_map(Value::from)
                    .boxed()
            } else {
                operand(if op == "!" { "eq" } else { op }, kind)
            };
            (Just(key), values)
        })
}

/// A filter object: conditions and compositions, each composition over a list or a dict.
fn filter() -> impl Strategy<Value = Value> {
    let leaf = prop::collection::vec(condition(), 1..3)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()));
    leaf.prop_recursive(3, 16, 3, |inner| {
        (
            prop::sample::select(vec![".and", ".or", "!and", "!or"]),
            prop::collection::vec(inner, 0..3),
            any::<bool>(),
        )
            .prop_map(|(key, members, as_dict)| {
                let value = if as_dict {
                    let mut dict = Map::new();
                    for member in &members {
                        dict.extend(member.as_object().cloned().unwrap_or_default());
                    }
                    Value::Object(dict)
                } else {
                    Value::Array(members)
                };
                json!({ key: value })
            })
    })
}

/// A filter as given to `find`: an object, or (sometimes) a list of objects.
fn top_level() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => filter(),
        1 => prop::collection::vec(filter(), 0..3).prop_map(Value::Array),
    ]
}

/// The exact negation of a filter, written in the DSL.
fn negate(filter: &Value) -> Value {
    match filter {
        Value::Array(_) => json!({ "!and": filter }),
        _ => json!({ "!and": [filter] }),
    }
}

fn query(resource: &str, filter: Filter) -> StateQuery {
    let page = Page::new(Some(1000), None).expect("a valid page");
    StateQuery::new(
        String::new(),
        "test".into(),
        resource.into(),
        filter,
        Vec::new(),
        page,
        false,
    )
}

async fn store(backend: &dyn Backend, resource: &str, rows: &[Value]) {
    let writes = rows
        .iter()
        .zip(IDS)
        .map(|(doc, id)| {
            let mut w = write(&key("", resource, id), ExpectedVersion::NoStream, 1);
            w.state.state = StateDoc::Json(doc.clone());
            w
        })
        .collect();
    backend
        .commit(CommitBatch::new(writes))
        .await
        .expect("commit the rows");
}

async fn ids(backend: &dyn Backend, resource: &str, filter: &Filter) -> BTreeSet<String> {
    let found = backend
        .find(&query(resource, filter.clone()))
        .await
        .expect("find");
    assert_eq!(
        found.total,
        found.rows.len() as u64,
        "the total counts the rows"
    );
    found.rows.into_iter().map(|r| r.id).collect()
}

#[test]
fn negation_is_the_complement_and_postgres_equals_memory() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let db = runtime.block_on(TestDb::create());
    let pg = runtime.block_on(db.backend());
    let fields = fields();
    let case = Cell::new(0u32);
    let parsed = Cell::new(0u32);
    let strategy = (prop::collection::vec(row(), 0..IDS.len()), top_level());
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(rows, json)| {
        case.set(case.get() + 1);
        let Ok(positive) = Filter::parse(&json, &fields) else {
            // Out-of-order `between` bounds and the like: refused alike on every backend.
            return Ok(());
        };
        parsed.set(parsed.get() + 1);
        let negative = Filter::parse(&negate(&json), &fields).expect("the negation parses");
        let resource = format!("doc{}", case.get());
        let all: BTreeSet<String> = IDS[..rows.len()]
            .iter()
            .map(|id| (*id).to_owned())
            .collect();
        runtime.block_on(async {
            let mem = MemBackend::new();
            store(&mem, &resource, &rows).await;
            store(&pg, &resource, &rows).await;
            for (backend, name) in [(&mem as &dyn Backend, "memory"), (&pg, "postgres")] {
                let yes = ids(backend, &resource, &positive).await;
                let no = ids(backend, &resource, &negative).await;
                prop_assert!(
                    yes.is_disjoint(&no),
                    "{name}: {json} and its negation overlap"
                );
                let union: BTreeSet<String> = yes.union(&no).cloned().collect();
                prop_assert_eq!(
                    &union,
                    &all,
                    "{}: {} and its negation miss rows",
                    name,
                    json
                );
            }
            for filter in [&positive, &negative] {
                let in_memory = ids(&mem, &resource, filter).await;
                let in_postgres = ids(&pg, &resource, filter).await;
                prop_assert_eq!(in_memory, in_postgres, "{:?} over {:?}", filter, rows);
            }
            Ok::<(), TestCaseError>(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (parsed, case) = (parsed.get(), case.get());
    assert!(
        parsed * 2 > case,
        "only {parsed} of {case} generated filters parsed"
    );
}
