//! Golden fixtures: a stored sample of every version of every bank event, kept in
//! `tests/golden/<evt_key>.v<N>.json` with what this build must read it as. An accidental break
//! of old data (a renamed field without its upcast step, a removed action without a
//! `#[retired]` reader) fails here, on both backends.
//!
//! Adding a schema version or retiring a key needs a new fixture: the first test fails until
//! every declared version has one.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use example_bank::{Account, Banking, Customer};
use fluvius::backend::Backend;
use fluvius::prelude::*;
use fluvius::{ImportEvent, MemBackend, PgBackend, ResourceDescriptor};
use serde_json::{Value, json};

/// One fixture file: a stored event and the current events it reads as.
struct Fixture {
    file: PathBuf,
    resource: String,
    evt_key: String,
    schema_version: u32,
    stored: Value,
    reads_as: Vec<(String, u32, Value)>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn fixtures() -> Vec<Fixture> {
    let mut files: Vec<_> = std::fs::read_dir(dir())
        .expect("tests/golden exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("a fixture reads");
            let doc: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
            let text = |field: &str| {
                doc[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: `{field}` is a string", file.display()))
                    .to_owned()
            };
            let version = |value: &Value| {
                u32::try_from(value.as_u64().expect("a schema version is an integer"))
                    .expect("a schema version fits u32")
            };
            let reads_as = doc["reads_as"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: `reads_as` is a list", file.display()))
                .iter()
                .map(|e| {
                    let key = e["evt_key"].as_str().expect("an event key").to_owned();
                    (key, version(&e["schema_version"]), e["payload"].clone())
                })
                .collect();
            Fixture {
                resource: text("resource"),
                evt_key: text("evt_key"),
                schema_version: version(&doc["schema_version"]),
                stored: doc["stored"].clone(),
                reads_as,
                file,
            }
        })
        .collect()
}

fn descriptors() -> Vec<ResourceDescriptor> {
    <Banking as fluvius::__private::Aggregate>::descriptor().resources
}

fn descriptor(resource: &str) -> ResourceDescriptor {
    descriptors()
        .into_iter()
        .find(|r| r.name == resource)
        .unwrap_or_else(|| panic!("the bank has no resource `{resource}`"))
}

#[test]
fn every_declared_version_has_a_fixture_and_no_fixture_is_stale() {
    let mut declared = BTreeSet::new();
    for resource in descriptors() {
        for event in &resource.events {
            for version in 1..=event.current {
                declared.insert((resource.name.to_owned(), event.evt_key.to_owned(), version));
            }
        }
        for retired in &resource.retired {
            declared.insert((resource.name.to_owned(), retired.evt_key.to_owned(), 1));
        }
    }
    let present: BTreeSet<_> = fixtures()
        .into_iter()
        .map(|f| (f.resource, f.evt_key, f.schema_version))
        .collect();
    let missing: Vec<_> = declared.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "no golden fixture for {missing:?}: add tests/golden/<evt_key>.v<N>.json with a stored sample"
    );
    let stale: Vec<_> = present.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "fixtures of versions the bank no longer declares: {stale:?}"
    );
}

#[test]
fn every_fixture_reads_as_recorded() {
    for fixture in fixtures() {
        let resource = descriptor(&fixture.resource);
        let read = resource
            .upcast(&fixture.evt_key, fixture.schema_version, &fixture.stored)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file.display()));
        let read: Vec<_> = match read {
            None => vec![(
                fixture.evt_key.clone(),
                fixture.schema_version,
                fixture.stored.clone(),
            )],
            Some(events) => events
                .into_iter()
                .map(|e| (e.evt_key, e.schema_version, e.payload))
                .collect(),
        };
        assert_eq!(read, fixture.reads_as, "{}", fixture.file.display());
    }
}

/// The stored fixtures as an import: each customer fixture its own customer, every account
/// fixture one account's history in the order a bank would write it.
fn import_events() -> Vec<ImportEvent> {
    const ACCOUNT_ORDER: [&str; 6] = [
        "account-opened",
        "deposit-made",
        "interest-credited",
        "balance-corrected",
        "withdrawal-made",
        "account-closed",
    ];
    let fixtures = fixtures();
    let mut events = Vec::new();
    for fixture in fixtures.iter().filter(|f| f.resource == "customer") {
        let id = format!("cus-v{}", fixture.schema_version);
        events.push(
            ImportEvent::new("customer", id, &fixture.evt_key, fixture.stored.clone())
                .schema_version(fixture.schema_version),
        );
    }
    for key in ACCOUNT_ORDER {
        let fixture = fixtures
            .iter()
            .find(|f| f.resource == "account" && f.evt_key == key)
            .unwrap_or_else(|| panic!("a fixture of `{key}`"));
        events.push(
            ImportEvent::new("account", "acc-golden", key, fixture.stored.clone())
                .schema_version(fixture.schema_version),
        );
    }
    events
}

/// Imports the stored fixtures and reads them back through the domain: states, time travel
/// and history, all in the current shapes.
async fn fixtures_read_back_on(backend: Arc<dyn Backend>) {
    let domain = Domain::builder("bank")
        .aggregate(Banking)
        .shared_backend(backend)
        .finish()
        .expect("the bank domain builds");
    domain
        .import(import_events())
        .await
        .expect("every stored version imports");
    let reads = domain.statemgr();
    for version in [1, 2] {
        let customer: Customer = reads
            .fetch("customer", format!("cus-v{version}"))
            .await
            .expect("a customer of every version reads");
        assert!(!customer.name.is_empty(), "v{version}: the name reads");
    }
    let ada: Customer = reads.fetch("customer", "cus-v1").await.expect("fetch");
    assert_eq!(ada.name, "Ada Lovelace", "`full_name` reads as `name`");

    let closed = domain
        .statemgr()
        .with_deleted()
        .fetch_record::<Account>("account", "acc-golden")
        .await
        .expect("the closed account reads with deleted roots");
    assert!(closed.deleted && !closed.state.open);
    let before_close = reads
        .fetch_at::<Account>("account", "acc-golden", At::Version(4))
        .await
        .expect("time travel through the retired key");
    assert_eq!(
        before_close.state.balance, 150,
        "100 opened, 50 deposited, 3 interest, 3 corrected"
    );
    assert_eq!(before_close.state.corrections, 1);

    let history = reads
        .history("account", "acc-golden")
        .await
        .expect("history");
    let keys: Vec<_> = history.iter().map(|e| e.evt_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "account-opened",
            "deposit-made",
            "deposit-made",
            "balance-corrected",
            "withdrawal-made",
            "account-closed"
        ],
        "the retired `interest-credited` reads as a deposit"
    );
    assert_eq!(history[2].payload, json!({"amount": 3}));
    let stored = domain
        .backend()
        .read_log(&fluvius::LogQuery::from_start().resource("account"))
        .await
        .expect("the raw log");
    assert_eq!(
        stored.events[2].evt_key, "interest-credited",
        "the store keeps the event as written"
    );
}

#[tokio::test]
async fn fixtures_read_back_in_memory() {
    fixtures_read_back_on(Arc::new(MemBackend::new())).await;
}

#[tokio::test]
async fn fixtures_read_back_on_postgres() {
    let db = support::ScratchDb::create("example_bank_golden").await;
    let backend = PgBackend::connect(&db.url).await.expect("connect");
    fixtures_read_back_on(Arc::new(backend)).await;
    db.drop_now().await;
}
