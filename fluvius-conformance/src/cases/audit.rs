//! The audit log: every command attempt leaves exactly one record, whatever became of it, with
//! who, for which tenant, through what and why; an accepted record exists exactly when the
//! commit does; reports filter, sort and page with the filter DSL, stay within their tenant, and
//! export as JSON lines and CSV.

use std::collections::BTreeMap;
use std::sync::Arc;

use fluvius_core::{
    AuditOutcome, AuditRecord, Backend, Command, Context, Domain, ExportFormat, ManualClock, Query,
    Transport,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain;
use crate::policy::OwnerPolicy;
use crate::support::{clock, expect_err, global_log, run_as, t, tenant};

/// The multi-tenant test domain with the owner policy, recording an audit log.
fn audited(backend: &Arc<dyn Backend>, clock: ManualClock) -> Domain {
    domain::builder(backend.clone())
        .multi_tenant(true)
        .clock(clock)
        .policy(OwnerPolicy::new())
        .audit(true)
        .finish()
        .expect("the audited test domain is well formed")
}

fn command(domain: &Domain, context: &Context, key: &str, payload: Value, id: &str) -> Command {
    domain
        .create_command(key, payload, ("account", id))
        .unwrap_or_else(|err| panic!("building `{key}` failed: {err}"))
        .with_context(context.clone())
}

/// Every record of a tenant's audit log, in the default order.
async fn all(domain: &Domain, context: &Context) -> Vec<AuditRecord> {
    domain
        .audit_log(context)
        .query(&Query::new().limit(1000))
        .await
        .expect("reading the audit log")
        .items
}

fn teller(tenant_name: &str) -> Context {
    tenant(tenant_name).user("tess").role("teller")
}

fn owner(tenant_name: &str) -> Context {
    tenant(tenant_name).user("ada")
}

/// Runs one attempt of each outcome in tenant `name` at instants t(1)..t(8); returns them as
/// (command key, outcome) in order.
async fn one_of_each(domain: &Domain, clock: &ManualClock, name: &str) {
    clock.set(t(1));
    let open = json!({"owner": "ada", "initial": 100, "tags": []});
    run_as(domain, &teller(name), "open-account", open, "a-1")
        .await
        .expect("the teller opens");
    clock.set(t(2));
    run_as(domain, &owner(name), "deposit", json!({"amount": 5}), "a-1")
        .await
        .expect("the owner deposits");
    clock.set(t(3));
    let denied = run_as(
        domain,
        &teller(name),
        "withdraw",
        json!({"amount": 5}),
        "a-1",
    )
    .await;
    assert!(expect_err(denied, "a teller withdraws").is_forbidden());
    clock.set(t(4));
    let refused = run_as(
        domain,
        &owner(name),
        "withdraw",
        json!({"amount": 1000}),
        "a-1",
    )
    .await;
    assert_eq!(expect_err(refused, "overdraw").code(), "rule");
    clock.set(t(5));
    let invalid = run_as(
        domain,
        &owner(name),
        "deposit",
        json!({"amount": "x"}),
        "a-1",
    )
    .await;
    assert_eq!(expect_err(invalid, "bad payload").code(), "validation");
    clock.set(t(6));
    let unknown = domain.create_command("levitate", json!({}), ("account", "a-1"));
    let unknown = expect_err(unknown, "unknown command");
    assert_eq!(unknown.code(), "unknown-command");
    domain
        .record_rejected(&owner(name), "levitate", ("account", "a-1"), None, &unknown)
        .await;
    clock.set(t(7));
    let id = Uuid::from_u128(0xA0D1);
    let first = command(domain, &owner(name), "deposit", json!({"amount": 1}), "a-1").with_id(id);
    domain
        .process_command(first)
        .await
        .expect("an idempotent deposit");
    clock.set(t(8));
    let again = command(domain, &owner(name), "deposit", json!({"amount": 1}), "a-1").with_id(id);
    let again = domain.process_command(again).await.expect("its repeat");
    assert!(again.replayed);
}

/// Each outcome is recorded once, with the principal, tenant, transport, error and policies;
/// accepted records match the committed events one for one.
pub async fn every_attempt_is_recorded(backend: Arc<dyn Backend>) {
    let clock = clock();
    let domain = audited(&backend, clock.clone());
    one_of_each(&domain, &clock, "t-1").await;

    let records = all(&domain, &owner("t-1")).await;
    let seen: Vec<(&str, AuditOutcome)> = records
        .iter()
        .map(|r| (r.command.as_str(), r.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            ("open-account", AuditOutcome::Accepted),
            ("deposit", AuditOutcome::Accepted),
            ("withdraw", AuditOutcome::Denied),
            ("withdraw", AuditOutcome::Refused),
            ("deposit", AuditOutcome::Invalid),
            ("levitate", AuditOutcome::Invalid),
            ("deposit", AuditOutcome::Accepted),
            ("deposit", AuditOutcome::Replayed),
        ],
        "one record per attempt, in the order they were decided"
    );
    let open = &records[0];
    assert_eq!(open.user.as_deref(), Some("tess"));
    assert_eq!(open.roles, ["teller"]);
    assert_eq!(open.tenant, "t-1");
    assert_eq!(open.namespace, domain.namespace());
    assert_eq!(
        (open.resource.as_str(), open.identifier.as_str()),
        ("account", "a-1")
    );
    assert_eq!(open.transport, Transport::InProcess);
    assert_eq!(open.policies, ["teller-opens"], "the permitting policy");
    assert_eq!(
        (open.version, open.events, open.code.as_deref()),
        (Some(1), 1, None)
    );
    assert_eq!(open.recorded_at, t(1));

    let denied = &records[2];
    assert_eq!(denied.code.as_deref(), Some("forbidden"));
    assert!(
        denied
            .message
            .as_deref()
            .is_some_and(|m| m.contains("withdraw"))
    );
    assert_eq!(denied.version, None);
    let refused = &records[3];
    assert_eq!(refused.code.as_deref(), Some("rule"));
    assert_eq!(records[4].code.as_deref(), Some("validation"));
    assert_eq!(records[5].code.as_deref(), Some("unknown-command"));
    let (first, replay) = (&records[6], &records[7]);
    assert_eq!(
        first.command_id, replay.command_id,
        "the repeat names the same command id"
    );
    assert_eq!(
        (replay.version, replay.events),
        (first.version, first.events)
    );

    let log = global_log(&backend).await;
    let accepted: Vec<_> = records
        .iter()
        .filter(|r| r.outcome == AuditOutcome::Accepted)
        .map(|r| r.command_id)
        .collect();
    let committed: Vec<_> = log.iter().map(|e| e.metadata.causation_id).collect();
    assert_eq!(
        accepted, committed,
        "an accepted record for each committed command, no other"
    );
    let correlation = owner("t-1").correlation_id;
    assert_ne!(
        records[1].correlation_id, correlation,
        "each context's own correlation id"
    );
}

/// Reports: by root, by actor, by time window, by outcome, sorted and paged exactly; a
/// malformed filter names what is wrong; another tenant's records never show.
pub async fn reports_filter_and_page(backend: Arc<dyn Backend>) {
    let clock = clock();
    let domain = audited(&backend, clock.clone());
    one_of_each(&domain, &clock, "t-1").await;
    one_of_each(&domain, &clock, "t-2").await;
    let log = domain.audit_log(&owner("t-1"));
    let count = |filter: Value| {
        let log = log.clone();
        async move {
            log.query(&Query::new().filter(filter.clone()))
                .await
                .unwrap_or_else(|err| panic!("filter {filter}: {err}"))
                .page
                .total
        }
    };
    assert_eq!(
        count(json!({"resource": "account", "identifier": "a-1"})).await,
        8
    );
    assert_eq!(count(json!({"user": "tess"})).await, 2, "by actor");
    assert_eq!(
        count(json!({"recorded_at.between": [t(3).to_rfc3339(), t(5).to_rfc3339()]})).await,
        3,
        "by time window"
    );
    assert_eq!(
        count(json!({"outcome.in": ["denied", "refused"]})).await,
        2,
        "by outcome"
    );
    assert_eq!(
        count(json!({"outcome": "accepted", "command": "deposit"})).await,
        2
    );
    assert_eq!(count(json!({"policies.has": "teller-opens"})).await, 1);

    let newest_first = log
        .query(&Query::new().sort(["recorded_at.desc"]).limit(3).page(2))
        .await
        .expect("a sorted page");
    let times: Vec<_> = newest_first.items.iter().map(|r| r.recorded_at).collect();
    assert_eq!(times, [t(5), t(4), t(3)], "page 2 of 3, newest first");
    assert_eq!(newest_first.page.total, 8);
    assert!(
        newest_first.items.iter().all(|r| r.tenant == "t-1"),
        "only its tenant"
    );

    let err = expect_err(
        log.query(&Query::new().filter(json!({"balance.gt": 1})))
            .await,
        "a field audit records do not have",
    );
    assert_eq!(err.code(), "invalid-query");
    assert!(
        err.to_string().contains("balance"),
        "names the field: {err}"
    );
    let err = expect_err(
        domain.audit_log(&tenant("")).query(&Query::new()).await,
        "a report without a tenant",
    );
    assert_eq!(err.code(), "missing-tenant");
    let other = all(&domain, &owner("t-3")).await;
    assert!(other.is_empty(), "a tenant without attempts sees nothing");
}

/// A unit that fails records each of its commands with the unit's error and commits no
/// accepted record; one that commits records each command as accepted.
pub async fn units_are_recorded_whole(backend: Arc<dyn Backend>) {
    let clock = clock();
    let domain = audited(&backend, clock.clone());
    let admin = tenant("t-1").user("root").role("admin");
    let open = |id: &str| {
        command(
            &domain,
            &admin,
            "open-account",
            json!({"owner": "ada", "initial": 10, "tags": []}),
            id,
        )
    };
    domain
        .process_unit([open("u-1"), open("u-2")])
        .await
        .expect("a unit of two openings");
    let failing = [
        command(&domain, &admin, "deposit", json!({"amount": 1}), "u-1"),
        command(&domain, &admin, "withdraw", json!({"amount": 99}), "u-2"),
    ];
    let err = expect_err(domain.process_unit(failing).await, "an overdraw in a unit");
    assert_eq!(err.code(), "rule");

    let records = all(&domain, &admin).await;
    let seen: Vec<(&str, &str, AuditOutcome)> = records
        .iter()
        .map(|r| (r.command.as_str(), r.identifier.as_str(), r.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            ("open-account", "u-1", AuditOutcome::Accepted),
            ("open-account", "u-2", AuditOutcome::Accepted),
            ("deposit", "u-1", AuditOutcome::Refused),
            ("withdraw", "u-2", AuditOutcome::Refused),
        ]
    );
    let message = records[2].message.as_deref().unwrap_or_default();
    assert!(
        message.contains("withdraw"),
        "the unit's error names the failing command: {message}"
    );
    assert_eq!(
        global_log(&backend).await.len(),
        2,
        "the failed unit wrote no event"
    );
}

/// Exports hold every matching record: JSON lines that read back as the records, CSV with a
/// header and one quoted row per record.
pub async fn exports_json_lines_and_csv(backend: Arc<dyn Backend>) {
    let clock = clock();
    let domain = audited(&backend, clock.clone());
    one_of_each(&domain, &clock, "t-1").await;
    let log = domain.audit_log(&owner("t-1"));
    let records = all(&domain, &owner("t-1")).await;

    let mut lines = Vec::new();
    log.export(&Query::new(), ExportFormat::JsonLines)
        .expect("an export")
        .write_to(&mut lines)
        .await
        .expect("writing JSON lines");
    let text = String::from_utf8(lines).expect("UTF-8");
    let read: Vec<AuditRecord> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a record"))
        .collect();
    assert_eq!(read, records, "the JSON lines are the records");

    let mut csv = Vec::new();
    log.export(
        &Query::new().filter(json!({"outcome": "denied"})),
        ExportFormat::Csv,
    )
    .expect("a filtered export")
    .write_to(&mut csv)
    .await
    .expect("writing CSV");
    let text = String::from_utf8(csv).expect("UTF-8");
    let rows: Vec<&str> = text.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 2, "a header and the one denial: {text}");
    assert!(rows[0].starts_with("id,recorded_at,tenant,namespace,command,"));
    let header: Vec<&str> = rows[0].split(',').collect();
    let denial = records
        .iter()
        .find(|r| r.outcome == AuditOutcome::Denied)
        .expect("a denial");
    assert!(rows[1].starts_with(&denial.id.to_string()));
    let by_column: BTreeMap<&str, usize> =
        header.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    assert!(by_column.contains_key("outcome") && by_column.contains_key("policies"));
    assert!(
        rows[1].contains(",denied,forbidden,"),
        "outcome and code: {}",
        rows[1]
    );

    let err = expect_err(
        log.export(
            &Query::new().filter(json!({"outcome.gt": []})),
            ExportFormat::Csv,
        )
        .map(|_| ()),
        "an export with a malformed filter",
    );
    assert_eq!(err.code(), "invalid-query");
}

/// Concurrent commands on many streams (grouped into shared commits where the backend groups
/// them), some of them conflicting: each attempt has exactly one record, and the accepted ones
/// are exactly the committed ones.
pub async fn concurrent_attempts_recorded_once(backend: Arc<dyn Backend>) {
    let clock = clock();
    let domain = audited(&backend, clock.clone());
    let admin = tenant("t-1").user("root").role("admin");
    for n in 0..8 {
        let open = json!({"owner": "ada", "initial": 0, "tags": []});
        run_as(&domain, &admin, "open-account", open, &format!("c-{n}"))
            .await
            .expect("opening");
    }
    let mut tasks = Vec::new();
    for n in 0..64u64 {
        let domain = domain.clone();
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("c-{}", n % 8);
            let mut cmd = command(&domain, &admin, "deposit", json!({"amount": 1}), &id);
            if n % 5 == 0 {
                // Version 1 is long gone for most of them: a conflict, refused.
                cmd = cmd.expect_version(1);
            }
            domain.process_command(cmd).await.is_ok()
        }));
    }
    let mut accepted = 8;
    for task in tasks {
        if task.await.expect("a command task") {
            accepted += 1;
        }
    }
    let records = all(&domain, &admin).await;
    assert_eq!(records.len(), 72, "one record per attempt");
    let ok = records
        .iter()
        .filter(|r| r.outcome == AuditOutcome::Accepted)
        .count();
    assert_eq!(
        ok, accepted,
        "accepted records are the commands that succeeded"
    );
    let refused = records
        .iter()
        .filter(|r| r.outcome == AuditOutcome::Refused)
        .all(|r| r.code.as_deref() == Some("version-conflict"));
    assert!(
        refused,
        "every other attempt was refused by its expected version"
    );
    assert_eq!(global_log(&backend).await.len(), accepted);
}
