//! Tenant walls as a property: two tenants run the same generated history, with the same root
//! identifiers and the same caller-supplied command ids, their payloads differing only by a
//! marker of their own. No answer one tenant gets (commands and their replays, `fetch`,
//! `fetch_record`, `find`, `fetch_at`, `history`, the walled log, the audit log, imports) holds a
//! byte of the other's marker or name, and each tenant's states equal those of a third tenant
//! that ran the same history alone.
//!
//! The histories are drawn by proptest (deterministic seed) and run against the backend case by
//! case, each case with tenants of its own ([`tenants`]); a failure names the case and the
//! operations. The read side's tests read what it wrote back through tenant-filtered
//! subscriptions, projections and handlers.

use std::sync::Arc;

use fluvius_core::{
    At, AuditRecord, Backend, Context, Domain, Error, ImportEvent, LogQuery, ManualClock, Query,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain;
use crate::support::{clock, t};

/// How many generated histories a run checks.
pub const CASES: u32 = 48;

/// One generated operation on root `acct-<root>`, with an optional caller-supplied id.
#[derive(Debug, Clone)]
enum Op {
    Open {
        root: u8,
        id: Option<u8>,
    },
    Deposit {
        root: u8,
        amount: i64,
        id: Option<u8>,
    },
    Withdraw {
        root: u8,
        amount: i64,
        id: Option<u8>,
    },
    Tag {
        root: u8,
        tag: u8,
        id: Option<u8>,
    },
    Close {
        root: u8,
    },
    Import {
        root: u8,
        amount: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let root = 0u8..3;
    let id = proptest::option::of(0u8..4);
    prop_oneof![
        (root.clone(), id.clone()).prop_map(|(root, id)| Op::Open { root, id }),
        (root.clone(), 1i64..50, id.clone()).prop_map(|(root, amount, id)| Op::Deposit {
            root,
            amount,
            id
        }),
        (root.clone(), 1i64..80, id.clone()).prop_map(|(root, amount, id)| Op::Withdraw {
            root,
            amount,
            id
        }),
        (root.clone(), 0u8..3, id).prop_map(|(root, tag, id)| Op::Tag { root, tag, id }),
        root.clone().prop_map(|root| Op::Close { root }),
        (root, 1i64..20).prop_map(|(root, amount)| Op::Import { root, amount }),
    ]
}

fn history() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 4..16)
}

/// A tenant of one case: its name and the marker its payloads carry.
struct Side {
    context: Context,
    marker: String,
}

/// The two tenants that run case `case`'s history side by side (a third, alone, is
/// `c<case>-solo`): for tests of other layers that read what this property wrote.
pub fn tenants(case: u32) -> [String; 2] {
    [format!("c{case}-alpha"), format!("c{case}-bravo")]
}

/// The marker `tenant`'s payloads carry: no byte of it may reach another tenant.
pub fn marker(tenant: &str) -> String {
    format!("mark-{tenant}")
}

impl Side {
    fn new(name: String) -> Side {
        Side {
            marker: marker(&name),
            context: crate::support::tenant(&name).user(format!("user-{name}")),
        }
    }

    fn name(&self) -> &str {
        &self.context.tenant
    }
}

fn root(n: u8) -> String {
    format!("acct-{n}")
}

/// The command id `n`: the same in every tenant, so ids collide across them.
fn command_id(n: u8) -> Uuid {
    Uuid::from_u128(0x7e7a_0000 + u128::from(n))
}

/// Runs one operation as `side`; returns what the caller saw, as JSON.
async fn apply(domain: &Domain, side: &Side, op: &Op) -> Value {
    let (key, payload, target, id) = match op {
        Op::Open { root: r, id } => (
            "open-account",
            json!({"owner": format!("owner-{}", side.marker), "initial": 10, "tags": []}),
            root(*r),
            *id,
        ),
        Op::Deposit {
            root: r,
            amount,
            id,
        } => ("deposit", json!({"amount": amount}), root(*r), *id),
        Op::Withdraw {
            root: r,
            amount,
            id,
        } => ("withdraw", json!({"amount": amount}), root(*r), *id),
        Op::Tag { root: r, tag, id } => (
            "tag",
            json!({"tag": format!("{}-{tag}", side.marker)}),
            root(*r),
            *id,
        ),
        Op::Close { root: r } => (
            "close-account",
            json!({"reason": format!("closed by {}", side.marker)}),
            root(*r),
            None,
        ),
        Op::Import { root: r, amount } => {
            let event = ImportEvent::new(
                "account",
                format!("imported-{r}"),
                "deposit-made",
                json!({"amount": amount}),
            )
            .tenant(side.name());
            return match domain.import(vec![event]).await {
                Ok(report) => json!({"imported": format!("{report:?}")}),
                Err(err) => json!({"error": err.to_string()}),
            };
        }
    };
    let mut command = domain
        .create_command(key, payload, ("account", target.as_str()))
        .unwrap_or_else(|err| panic!("building `{key}` failed: {err}"))
        .with_context(side.context.clone());
    if let Some(n) = id {
        command = command.with_id(command_id(n));
    }
    match domain.process_command(command).await {
        Ok(response) => json!({
            "root": response.root,
            "version": response.version,
            "replayed": response.replayed,
            "events": response.events,
            "state": response.state_json().unwrap_or(Value::Null),
        }),
        Err(err) => json!({"error": err.to_string(), "code": err.code()}),
    }
}

/// Everything a tenant can read, as JSON, and its states alone (for the comparison with the
/// tenant that ran the history alone).
async fn reads(domain: &Domain, side: &Side) -> (Value, Value) {
    let reads = domain.statemgr_for(&side.context).with_deleted();
    let mut all = Vec::new();
    let mut states = Vec::new();
    for name in (0..3)
        .map(root)
        .chain((0..3).map(|n| format!("imported-{n}")))
    {
        let record = reads.fetch_record::<Value>("account", &name).await;
        states.push(json!({"id": name, "state": result(&record.as_ref().map(|r| &r.state))}));
        all.push(result(&record));
        all.push(result(&reads.history("account", &name).await));
        if let Ok(record) = &record {
            for version in 1..=record.version {
                let past = reads
                    .fetch_at::<Value>("account", &name, At::Version(version))
                    .await;
                all.push(result(&past.map(|p| p.state)));
            }
        }
    }
    let found = reads
        .find::<Value>("account", &Query::new().sort(["id"]).limit(100))
        .await;
    all.push(result(&found));
    let log = reads.read_log(&LogQuery::from_start().limit(1000)).await;
    all.push(result(&log.map(|page| page.events)));
    let audit = domain
        .audit_log(&side.context)
        .query(&Query::new().limit(1000))
        .await
        .map(|report| report.items);
    all.push(result(&audit.as_ref().map(|items| strip_ids(items))));
    (Value::Array(all), Value::Array(states))
}

/// Audit records without what differs between two runs of one history (ids and instants).
fn strip_ids(items: &[AuditRecord]) -> Vec<Value> {
    items
        .iter()
        .map(|r| {
            json!([
                r.tenant,
                r.command,
                r.identifier,
                r.outcome,
                r.code,
                r.message,
                r.version
            ])
        })
        .collect()
}

fn result<T: Serialize, E: std::borrow::Borrow<Error>>(value: &Result<T, E>) -> Value {
    match value {
        Ok(value) => serde_json::to_value(value).unwrap_or(Value::Null),
        Err(err) => json!({"error": err.borrow().to_string()}),
    }
}

/// Panics if `text` holds the other side's marker or name.
fn walled(text: &str, other: &Side, what: &str, case: u32, ops: &[Op]) {
    for foreign in [other.marker.as_str(), other.name()] {
        assert!(
            !text.contains(foreign),
            "case {case}: {what} holds `{foreign}` of the other tenant\nops: {ops:?}\n{text}"
        );
    }
}

/// Generated histories, run by two tenants at once and by a third alone: each tenant's answers
/// hold nothing of the other, and its states are those of the tenant alone.
pub async fn tenants_never_see_each_other(backend: Arc<dyn Backend>) {
    let clock: ManualClock = clock();
    let domain = domain::builder(backend.clone())
        .multi_tenant(true)
        .clock(clock.clone())
        .audit(true)
        .finish()
        .expect("the audited multi-tenant test domain is well formed");
    let mut runner = TestRunner::deterministic();
    for case in 0..CASES {
        let ops = history()
            .new_tree(&mut runner)
            .expect("a history")
            .current();
        // Names are prefixes of nothing else: `c3-a` is not inside `c3-ab`.
        let [a, b] = tenants(case).map(Side::new);
        let solo_b = Side::new(format!("c{case}-solo"));
        // The lone tenant runs B's history with B's marker, so its states are B's exactly.
        let solo = Side {
            marker: b.marker.clone(),
            context: solo_b.context.clone(),
        };
        for (n, op) in ops.iter().enumerate() {
            clock.set(t(i64::from(case) * 1000 + n as i64));
            let seen_a = apply(&domain, &a, op).await;
            let seen_b = apply(&domain, &b, op).await;
            walled(&seen_a.to_string(), &b, "a command's answer", case, &ops);
            walled(&seen_b.to_string(), &a, "a command's answer", case, &ops);
        }
        for (n, op) in ops.iter().enumerate() {
            clock.set(t(i64::from(case) * 1000 + n as i64));
            apply(&domain, &solo, op).await;
        }
        let (all_a, _) = reads(&domain, &a).await;
        let (all_b, states_b) = reads(&domain, &b).await;
        let (_, states_solo) = reads(&domain, &solo).await;
        walled(&all_a.to_string(), &b, "a read", case, &ops);
        walled(&all_b.to_string(), &a, "a read", case, &ops);
        assert_eq!(
            states_b, states_solo,
            "case {case}: a tenant's states are those it would have alone\nops: {ops:?}"
        );
    }
}
