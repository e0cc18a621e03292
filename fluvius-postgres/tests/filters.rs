//! The filter DSL translated to SQL selects exactly what the in-memory evaluator selects, and
//! sorts exactly as it sorts: a few thousand filters and sort orders over documents chosen to
//! hit the edges (nulls and absent fields, numbers in different spellings, instants with
//! offsets and nanoseconds, Unicode case, `%` and `_`, values of the wrong type), every
//! operator in its positive and negated spellings (`.op`, `!op`, `ne`, `field!`, `eq null`,
//! `ne null`, `null` among `in` values), the identifier as a field, and every composition.

mod support;

use fluvius_core::filter::{
    FieldIndex, FieldKind, Filter, Page, SortKey, compare_docs, parse_sort,
};
use fluvius_core::{Backend, CommitBatch, ExpectedVersion, StateQuery, StreamKey};
use serde_json::{Value, json};
use support::{TestDb, key, write};

fn fields() -> FieldIndex {
    let mut fields = FieldIndex::new();
    for (name, kind) in [
        ("name", FieldKind::String),
        ("n", FieldKind::Number),
        ("i", FieldKind::Integer),
        ("flag", FieldKind::Boolean),
        ("at", FieldKind::DateTime),
        ("tags", FieldKind::Array),
        ("meta", FieldKind::Object),
        ("meta.city", FieldKind::String),
        ("any", FieldKind::Any),
        ("blob", FieldKind::Any),
        ("list.0", FieldKind::String),
    ] {
        fields.insert(name, kind);
    }
    fields
}

fn docs() -> Vec<(&'static str, Value)> {
    vec![
        (
            "A1",
            json!({"name": "Alice", "n": 1, "i": 1, "flag": true, "at": "2024-01-01T00:00:00Z",
                      "tags": ["x", "y"], "meta": {"city": "Oslo"}, "any": 1, "blob": [1, 2]}),
        ),
        (
            "a1",
            json!({"name": "alice", "n": 1.0, "i": 2, "flag": false,
                      "at": "2024-01-01T01:00:00+01:00", "tags": [], "meta": {"city": "oslo"},
                      "any": "1", "blob": {"k": 1}}),
        ),
        (
            "b",
            json!({"name": "Bob", "n": 1.5, "i": -3, "at": "2023-12-31T23:59:59.999999999Z",
                     "tags": ["X"], "meta": {}, "any": true, "blob": [[1], {"k": 1}]}),
        ),
        (
            "c",
            json!({"name": null, "n": null, "i": null, "flag": null, "at": null, "tags": null,
                     "meta": null, "any": null, "blob": null}),
        ),
        ("d", json!({})),
        (
            "e",
            json!({"name": "Straße", "n": 10, "i": 100, "flag": true,
                     "at": "2024-06-01T12:00:00.5Z", "tags": ["ß", 1, {"k": 1}],
                     "meta": {"city": "München"}, "any": 2.5, "blob": "text"}),
        ),
        (
            "f",
            json!({"name": "ΟΔΟΣ", "n": -2, "i": 0, "at": "2024-06-01T12:00:00.500000001Z",
                     "tags": [1.0, null], "meta": {"city": null}, "any": "b", "list": ["first"]}),
        ),
        (
            "g",
            json!({"name": "İstanbul", "n": 1e20, "i": 5, "at": "2024-06-01 12:00:00z",
                     "tags": [["a"]], "meta": {"city": "Σ"}, "any": false, "list": {"0": "zero"}}),
        ),
        (
            "h",
            json!({"name": "100%_done", "n": 0.1, "i": 1, "at": "not a date",
                     "tags": "x", "meta": [1], "any": [1], "blob": [null]}),
        ),
        (
            "i",
            json!({"name": "a_b", "n": "7", "i": "5", "flag": "true", "at": 1_704_067_200,
                     "tags": {"0": "x"}, "meta": "Oslo", "any": {"a": 1}, "list": {"0": "alpha"}}),
        ),
        (
            "É",
            json!({"name": "", "n": 9_223_372_036_854_775_807_u64, "i": -1,
                     "at": "2024-01-01T00:00:00.000Z", "tags": ["", "%"], "any": "",
                     "list": {"0": null}}),
        ),
        (
            "z",
            json!({"name": "zoë", "n": 18_446_744_073_709_551_615_u64, "i": 7,
                     "at": "2023-12-31T23:59:60.5Z", "tags": ["a", "b"], "meta": {"city": "Zürich"},
                     "any": 0, "blob": [{"k": 1, "j": 2}]}),
        ),
        (
            "_x",
            json!({"name": "ALICE", "n": 2, "i": 2, "flag": false,
                      "at": "2024-01-01T00:00:00+00:00", "any": -1.5, "list": {"0": "Zero"}}),
        ),
    ]
}

/// Operands worth trying for a field of each kind.
fn operands(kind: FieldKind) -> Vec<Value> {
    let strings = || {
        vec![
            json!("alice"),
            json!("Alice"),
            json!(""),
            json!("ß"),
            json!("İ"),
            json!("%"),
            json!("_"),
            json!("o"),
            json!("zero"),
            json!("σ"),
            json!("STRASSE"),
        ]
    };
    match kind {
        FieldKind::String => strings(),
        FieldKind::Number => vec![
            json!(0),
            json!(1),
            json!(1.5),
            json!(-2),
            json!(10),
            json!(1e20),
            json!(0.1),
            json!(9_223_372_036_854_775_807_i64),
        ],
        FieldKind::Integer => vec![
            json!(0),
            json!(1),
            json!(2),
            json!(-3),
            json!(100),
            json!(5.0),
        ],
        FieldKind::Boolean => vec![json!(true), json!(false)],
        FieldKind::DateTime => vec![
            json!("2024-01-01T00:00:00Z"),
            json!("2024-01-01T00:00:00.000000001Z"),
            json!("2023-12-31T23:59:59.999999999Z"),
            json!("2024-06-01T13:00:00.5+01:00"),
            json!("2023-12-31T23:59:60Z"),
            json!("2024-06-01T12:00:00.500000001Z"),
        ],
        FieldKind::Array => vec![
            json!("x"),
            json!(1),
            json!({"k": 1}),
            json!(["a"]),
            json!([]),
            json!(["x", "y"]),
            json!(""),
            json!("%"),
        ],
        FieldKind::Object => vec![json!({"city": "Oslo"}), json!({})],
        _ => vec![
            json!(1),
            json!("1"),
            json!(true),
            json!(1.0),
            json!("b"),
            json!([1]),
            json!({"k": 1}),
            json!(-1.5),
            json!(""),
        ],
    }
}

/// Identifiers worth comparing with: equal to a document's, differing in case or accent, and
/// between them.
fn identifiers() -> Vec<Value> {
    ["A1", "a1", "b", "É", "_x", "a", "z", ""]
        .into_iter()
        .map(Value::from)
        .collect()
}

/// Every single-condition filter (and its negation) the fields and operands allow.
fn conditions(fields: &FieldIndex) -> Vec<Value> {
    let mut out = Vec::new();
    let all = fields
        .fields()
        .map(|(field, kind)| (field.to_owned(), operands(kind)))
        .chain([("id".to_owned(), identifiers())]);
    for (field, values) in all {
        for op in ["eq", "ne", "lt", "lte", "gt", "gte", "has"] {
            for value in &values {
                for sep in [".", "!"] {
                    out.push(json!({ format!("{field}{sep}{op}"): value }));
                }
            }
        }
        for value in &values {
            out.push(json!({ field.clone(): value }));
            out.push(json!({ format!("{field}!"): value }));
        }
        for (a, b) in values.iter().zip(values.iter().skip(1)) {
            for sep in [".", "!"] {
                out.push(json!({ format!("{field}{sep}in"): [a, b] }));
                out.push(json!({ format!("{field}{sep}in"): [a, null] }));
                out.push(json!({ format!("{field}{sep}ov"): [a, b] }));
                out.push(json!({ format!("{field}{sep}between"): [a, b] }));
                out.push(json!({ format!("{field}{sep}between"): [b, a] }));
            }
        }
        for sep in [".", "!"] {
            for flag in [true, false] {
                out.push(json!({ format!("{field}{sep}null"): flag }));
            }
            out.push(json!({ format!("{field}{sep}eq"): null }));
            out.push(json!({ format!("{field}{sep}ne"): null }));
            out.push(json!({ format!("{field}{sep}ov"): [] }));
            out.push(json!({ format!("{field}{sep}in"): [] }));
        }
    }
    out
}

/// A deterministic pseudo-random sequence (64-bit LCG).
struct Lcg(u64);
impl Lcg {
    fn pick(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).expect("fits") % n
    }
}

fn compositions(singles: &[Value]) -> Vec<Value> {
    let mut rng = Lcg(7);
    let mut out = Vec::new();
    for _ in 0..300 {
        let mut pick = || singles[rng.pick(singles.len())].clone();
        let (a, b, c) = (pick(), pick(), pick());
        out.push(json!({".and": [a, b]}));
        out.push(json!({".or": [a, {"!and": [b, c]}]}));
        out.push(json!({"!or": [a, b, c]}));
        out.push(json!([a, b]));
        out.push(json!({"!and": a, ".or": [b, c]}));
        out.push(json!({"!or": merge(&b, &c)}));
    }
    out.push(json!({".and": []}));
    out.push(json!({".or": []}));
    out.push(json!({}));
    out
}

/// The keys of two single-key filters as one object (the second wins on a shared key).
fn merge(a: &Value, b: &Value) -> Value {
    let mut out = a.as_object().cloned().unwrap_or_default();
    out.extend(b.as_object().cloned().unwrap_or_default());
    Value::Object(out)
}

fn query(filter: Filter, sort: Vec<SortKey>) -> StateQuery {
    let page = Page::new(Some(1000), None).expect("a valid page");
    StateQuery::new(
        String::new(),
        "test".into(),
        "doc".into(),
        filter,
        sort,
        page,
        false,
    )
}

async fn load(backend: &impl Backend) -> Vec<(&'static str, Value)> {
    let docs = docs();
    let writes = docs
        .iter()
        .map(|(id, doc)| {
            let mut w = write(&key("", "doc", id), ExpectedVersion::NoStream, 1);
            w.state.state = fluvius_core::StateDoc::Json(doc.clone());
            w
        })
        .collect();
    backend
        .commit(CommitBatch::new(writes))
        .await
        .expect("commit the documents");
    // A document of another resource and another tenant must never show up.
    let other: StreamKey = key("other", "doc", "A1");
    backend
        .commit(CommitBatch::single(write(
            &other,
            ExpectedVersion::NoStream,
            1,
        )))
        .await
        .expect("commit a foreign document");
    docs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_filters_select_what_the_evaluator_selects() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let docs = load(&backend).await;
    let fields = fields();
    let singles: Vec<Value> = conditions(&fields)
        .into_iter()
        .filter(|f| Filter::parse(f, &fields).is_ok())
        .collect();
    assert!(
        singles.len() > 1500,
        "only {} filters parsed",
        singles.len()
    );
    let mut all = singles.clone();
    all.extend(compositions(&singles));

    let mut failures = Vec::new();
    for json in &all {
        let filter = Filter::parse(json, &fields).expect("parsed before");
        let mut want: Vec<&str> = docs
            .iter()
            .filter(|(id, d)| filter.matches(id, d))
            .map(|(id, _)| *id)
            .collect();
        want.sort_unstable();
        let found = backend.find(&query(filter, Vec::new())).await;
        let found = found.unwrap_or_else(|err| panic!("filter {json} failed: {err}"));
        let got: Vec<&str> = found.rows.iter().map(|r| r.id.as_str()).collect();
        let got: Vec<&str> = got
            .iter()
            .map(|id| docs.iter().find(|(d, _)| d == id).map_or("?", |(d, _)| *d))
            .collect();
        if got != want || found.total != want.len() as u64 {
            failures.push(format!(
                "{json}: sql {got:?} (total {}), memory {want:?}",
                found.total
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} filters differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_sorts_as_the_evaluator_sorts() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let docs = load(&backend).await;
    let fields = fields();
    let mut orders: Vec<Vec<String>> = Vec::new();
    for (field, kind) in fields.fields() {
        if matches!(kind, FieldKind::Array | FieldKind::Object) {
            continue;
        }
        orders.push(vec![field.to_owned()]);
        orders.push(vec![format!("{field}.desc")]);
    }
    orders.push(vec!["id".into()]);
    orders.push(vec!["id.desc".into()]);
    orders.push(vec!["flag.desc,id.desc".into()]);
    orders.push(vec!["flag.desc,n".into()]);
    orders.push(vec!["i".into(), "name.desc".into()]);
    orders.push(vec!["any.desc".into(), "at".into()]);

    for order in orders {
        let sort = parse_sort(&order, &fields).expect("a valid sort");
        let mut want: Vec<&(&str, Value)> = docs.iter().collect();
        want.sort_by(|a, b| compare_docs(&a.1, a.0, &b.1, b.0, &sort));
        let want: Vec<&str> = want.iter().map(|(id, _)| *id).collect();
        let found = backend.find(&query(Filter::All, sort)).await.expect("find");
        let got: Vec<&str> = found.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, want, "sort {order:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_totals() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let docs = load(&backend).await;
    let fields = fields();
    let sort = parse_sort(&["n.desc".to_owned()], &fields).expect("sort");
    let mut want: Vec<&(&str, Value)> = docs.iter().collect();
    want.sort_by(|a, b| compare_docs(&a.1, a.0, &b.1, b.0, &sort));
    for (limit, offset) in [(1, 0), (3, 2), (5, 10), (4, 13), (2, 40)] {
        let page = Page::new(Some(limit), Some(offset)).expect("page");
        let q = StateQuery::new(
            String::new(),
            "test".into(),
            "doc".into(),
            Filter::All,
            sort.clone(),
            page,
            false,
        );
        let found = backend.find(&q).await.expect("find");
        let got: Vec<&str> = found.rows.iter().map(|r| r.id.as_str()).collect();
        let slice: Vec<&str> = want
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(got, slice, "limit {limit} offset {offset}");
        assert_eq!(
            found.total,
            docs.len() as u64,
            "the total counts every match"
        );
    }
}
