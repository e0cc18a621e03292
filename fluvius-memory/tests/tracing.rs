//! Every command runs in a `fluvius.command` span and every commit in a `fluvius.commit` span,
//! with the fields operators filter on. The domain draws them, so every backend has the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use fluvius_conformance::domain;
use fluvius_conformance::support::{command, open_account};
use fluvius_core::Backend;
use fluvius_memory::MemBackend;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;
type Opened = (Id, &'static str, Fields);

/// Collects each span's name and fields, in the order the spans were opened.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Opened>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        let name = attrs.metadata().name();
        self.0.lock().unwrap().push((id.clone(), name, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, _, fields)) = spans.iter_mut().rev().find(|(i, _, _)| i == id) {
            values.record(&mut Collect(fields));
        }
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<Fields> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(_, n, _)| *n == name)
            .map(|(_, _, f)| f.clone())
            .collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn commands_and_commits_have_spans_with_their_fields() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let bank = domain::domain(backend);
    open_account(&bank, "a", "ann", 100).await;
    let deposit = command(&bank, "deposit", json!({"amount": 5}), ("account", "a"));
    let command_id = deposit.id().to_string();
    let correlation = deposit.context().correlation_id.to_string();
    bank.process_command(deposit).await.expect("deposit");
    let refused = command(&bank, "withdraw", json!({"amount": 1000}), ("account", "a"));
    bank.process_command(refused)
        .await
        .expect_err("insufficient funds");

    let commands = spans.named("fluvius.command");
    assert_eq!(commands.len(), 3, "{commands:#?}");
    let deposit = &commands[1];
    for (field, want) in [
        ("namespace", domain::NAMESPACE),
        ("key", "deposit"),
        ("resource", "account"),
        ("id", "a"),
        ("tenant", ""),
        ("command_id", command_id.as_str()),
        ("correlation_id", correlation.as_str()),
        ("outcome", "ok"),
        ("retries", "0"),
    ] {
        assert_eq!(
            deposit.get(field).map(String::as_str),
            Some(want),
            "field `{field}` of {deposit:?}"
        );
    }
    assert_eq!(commands[2].get("outcome").map(String::as_str), Some("rule"));

    let commits = spans.named("fluvius.commit");
    assert_eq!(
        commits.len(),
        2,
        "the refused command commits nothing: {commits:#?}"
    );
    for (field, want) in [
        ("backend", "memory"),
        ("streams", "1"),
        ("events", "1"),
        ("commands", "1"),
        ("outcome", "committed"),
    ] {
        assert_eq!(
            commits[1].get(field).map(String::as_str),
            Some(want),
            "field `{field}` of {:?}",
            commits[1]
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_unit_has_one_span_one_commit_and_one_signal() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "b", "bob", 0).await;
    let signal = backend
        .commit_signal()
        .expect("the memory backend raises commit signals");
    let raised = signal.raised();
    let transfer = vec![
        command(&bank, "withdraw", json!({"amount": 5}), ("account", "a")),
        command(&bank, "deposit", json!({"amount": 5}), ("account", "b")),
        command(&bank, "deposit", json!({"amount": 1}), ("account", "b")),
    ];
    bank.process_unit(transfer).await.expect("the transfer");
    assert_eq!(signal.raised(), raised + 1, "one signal for the whole unit");
    let refused = vec![
        command(&bank, "deposit", json!({"amount": 5}), ("account", "b")),
        command(&bank, "withdraw", json!({"amount": 1000}), ("account", "a")),
    ];
    bank.process_unit(refused)
        .await
        .expect_err("insufficient funds");
    assert_eq!(signal.raised(), raised + 1, "a refused unit raises nothing");

    let units = spans.named("fluvius.unit");
    assert_eq!(units.len(), 2, "{units:#?}");
    for (field, want) in [
        ("namespace", domain::NAMESPACE),
        ("tenant", ""),
        ("commands", "3"),
        ("streams", "2"),
        ("outcome", "ok"),
        ("retries", "0"),
    ] {
        assert_eq!(
            units[0].get(field).map(String::as_str),
            Some(want),
            "field `{field}` of {:?}",
            units[0]
        );
    }
    assert_eq!(units[1].get("outcome").map(String::as_str), Some("rule"));
    let commits = spans.named("fluvius.commit");
    let last = commits.last().expect("the unit's commit");
    for (field, want) in [("streams", "2"), ("events", "3"), ("commands", "3")] {
        assert_eq!(last.get(field).map(String::as_str), Some(want), "{last:?}");
    }
    assert_eq!(
        commits.len(),
        3,
        "the two opens and the one unit: {commits:#?}"
    );
}
