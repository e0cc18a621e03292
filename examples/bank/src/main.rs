//! The bank example: a scripted scenario on the in-memory backend that prints commands, events,
//! state, a rejected command with its error, an alert sent through the outbox and delivered by a
//! relay, a query, the audit trail, a time-travel read and a transfer between two accounts done
//! as one unit.
//!
//! Run it with `cargo run -p example-bank` (in memory), or on PostgreSQL with
//! `cargo run -p example-bank -- --postgres [URL]` (default: `DATABASE_URL`, else the local
//! server). On PostgreSQL the scenario writes to the database it is given: use a scratch one.

use example_bank::readside::AlertDesk;
use example_bank::{
    ALERTS, Account, Banking, Deposit, LARGE_WITHDRAWAL, OpenAccount, RegisterCustomer, Withdraw,
};
use fluvius::prelude::*;
use fluvius::{Error, Response};
use serde_json::json;

fn show(label: &str, response: &Response) {
    println!("> {label}");
    for event in &response.events {
        println!(
            "    event v{} {} {} (position {})",
            event.version, event.evt_key, event.payload, event.position
        );
    }
    match response.state_json() {
        Ok(state) => println!("    state v{}: {state}", response.version),
        Err(err) => println!("    state unavailable: {err}"),
    }
}

/// The backend named on the command line: in memory unless `--postgres [URL]`.
async fn builder() -> Result<fluvius::DomainBuilder, String> {
    let mut args = std::env::args().skip(1);
    let builder = Domain::builder("banking");
    match args.next().as_deref() {
        None => Ok(builder),
        Some("--postgres") => {
            let url = args
                .next()
                .or_else(|| std::env::var("DATABASE_URL").ok())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
            let backend = fluvius::PgBackend::connect(&url)
                .await
                .map_err(|e| format!("cannot use PostgreSQL at {url}: {e}"))?;
            Ok(builder.backend(backend))
        }
        Some(other) => Err(format!(
            "unknown argument `{other}`: run without arguments (in memory) or with `--postgres [URL]`"
        )),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = match builder().await {
        Ok(builder) => builder,
        Err(err) => {
            eprintln!("example-bank: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    match scenario(builder).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("example-bank: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs an outbox relay until the alerts waiting are delivered, then stops it.
async fn deliver_alerts(domain: &Domain) -> Result<(), Error> {
    use fluvius::readside::{OutboxAdmin, OutboxRelay};
    let backend = domain.backend().clone();
    let admin = OutboxAdmin::new(backend.clone()).map_err(|e| Error::Config(e.to_string()))?;
    let relay = OutboxRelay::new(backend, std::sync::Arc::new(AlertDesk::printing()))
        .topics([ALERTS])
        .poll_every(std::time::Duration::from_millis(10))
        .spawn()
        .map_err(|e| Error::Config(e.to_string()))?;
    let start = std::time::Instant::now();
    while admin
        .counts()
        .await
        .map_err(|e| Error::Config(e.to_string()))?
        .pending
        > 0
        && start.elapsed() < std::time::Duration::from_secs(10)
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    relay.stop().await;
    Ok(())
}

async fn scenario(builder: fluvius::DomainBuilder) -> Result<(), Error> {
    let domain = builder.aggregate(Banking).build()?;
    println!(
        "domain `{}` on the {} backend",
        domain.namespace(),
        domain.backend().name()
    );
    for action in domain.actions() {
        println!(
            "  command {:<18} emits {:<20} on {:?}",
            action.key, action.evt_key, action.resources
        );
    }

    let ctx = Context::new().user("alice@bank.example");
    let customer = domain
        .process_command(
            domain
                .command(
                    RegisterCustomer {
                        name: "Ada Lovelace".into(),
                        email: Some("ada@example.org".into()),
                    },
                    AggRoot::generate("customer"),
                )?
                .with_context(ctx.clone()),
        )
        .await?;
    show("register-customer", &customer);
    let customer_id = customer.root.id.clone();

    let opened = domain
        .execute(
            OpenAccount {
                customer_id: customer_id.clone(),
                initial_balance: 150,
            },
            AggRoot::generate("account"),
        )
        .await?;
    show("open-account (typed command)", &opened);
    let id = opened.root.id.clone();

    // JSON commands, as they arrive over HTTP.
    let deposit = domain.create_command("deposit", json!({"amount": 50}), ("account", &id))?;
    show(
        "deposit 50 (JSON command)",
        &domain
            .process_command(deposit.with_context(ctx.clone()))
            .await?,
    );
    show(
        "withdraw 120",
        &domain
            .execute(Withdraw { amount: 120 }, ("account", &id))
            .await?,
    );

    println!("> withdraw 1000 (rejected)");
    match domain
        .execute(Withdraw { amount: 1000 }, ("account", &id))
        .await
    {
        Err(err) => println!("    error: {err}"),
        Ok(_) => println!("    unexpectedly accepted"),
    }
    println!("> open-account with 20 (rejected)");
    let low = domain.create_command(
        "open-account",
        json!({"customer_id": customer_id, "initial_balance": 20}),
        AggRoot::generate("account"),
    )?;
    if let Err(err) = domain.process_command(low).await {
        println!("    error: {err}");
    }
    println!("> deposit with a misspelt field (rejected)");
    let bad = domain.create_command("deposit", json!({"amont": 5}), ("account", &id))?;
    if let Err(err) = domain.process_command(bad).await {
        println!("    error: {err}");
    }

    let fix = domain.create_command(
        "correct-balance",
        json!({"amount": 10, "reason": "fee charged twice on 2026-11-02"}),
        ("account", &id),
    )?;
    show(
        "correct-balance +10 (compensating event)",
        &domain.process_command(fix).await?,
    );

    // A second account, to have something to query.
    for (balance, deposits) in [(500, 3), (100, 0)] {
        let other = domain
            .execute(
                OpenAccount {
                    customer_id: customer_id.clone(),
                    initial_balance: balance,
                },
                AggRoot::generate("account"),
            )
            .await?;
        for _ in 0..deposits {
            domain
                .execute(Deposit { amount: 25 }, ("account", &other.root.id))
                .await?;
        }
    }

    // A large withdrawal sends an alert through the outbox, in its own transaction; a relay
    // delivers it (here to a desk that prints it).
    println!("> withdraw {LARGE_WITHDRAWAL} from a rich account (sends an alert)");
    let rich = domain
        .execute(
            OpenAccount {
                customer_id: customer_id.clone(),
                initial_balance: 25_000,
            },
            AggRoot::generate("account"),
        )
        .await?;
    domain
        .execute(
            Withdraw {
                amount: LARGE_WITHDRAWAL,
            },
            ("account", &rich.root.id),
        )
        .await?;
    deliver_alerts(&domain).await?;

    let statemgr = domain.statemgr();
    let now: Account = statemgr.fetch("account", &id).await?;
    println!("> current state of account {id}: {now:?}");

    let query = Query::new()
        .filter(json!({"balance.gte": 100, "open": true}))
        .sort(["balance.desc"]);
    let found = statemgr.find::<Account>("account", &query).await?;
    println!(
        "> accounts with balance >= 100, richest first ({} of {}):",
        found.items.len(),
        found.page.total
    );
    for record in &found.items {
        println!(
            "    {} v{} balance {}",
            record.id, record.version, record.state.balance
        );
    }

    println!("> audit trail of account {id}:");
    for event in statemgr.history("account", &id).await? {
        println!(
            "    v{} {:<18} by {:<20} at {} {}",
            event.version,
            event.evt_key,
            event.metadata.user.as_deref().unwrap_or("-"),
            event.recorded_at.format("%H:%M:%S%.3f"),
            event.payload
        );
    }

    let then = statemgr
        .fetch_at::<Account>("account", &id, At::Version(2))
        .await?;
    println!(
        "> time travel: account {id} at version {}: balance {}, last changed by {}",
        then.version,
        then.state.balance,
        then.updated_by.as_deref().unwrap_or("-")
    );
    let before_fix = statemgr
        .fetch_at::<Account>("account", &id, At::Version(3))
        .await?;
    println!(
        "> time travel: before the correction (version 3): balance {}",
        before_fix.state.balance
    );

    // Empty the account into a savings account in one unit (both bookings or neither), then
    // close it: a soft delete.
    let savings = domain
        .execute(
            OpenAccount {
                customer_id: customer_id.clone(),
                initial_balance: 100,
            },
            AggRoot::generate("account"),
        )
        .await?;
    let savings_id = savings.root.id.clone();
    let (out, into) =
        example_bank::transfer(&domain, &ctx, &id, &savings_id, now.balance, None).await?;
    show(
        &format!("transfer {} to savings (one unit)", now.balance),
        &out,
    );
    show("  the savings side of the same unit", &into);
    println!("> transfer 1 more from the empty account (rejected as a whole)");
    if let Err(err) = example_bank::transfer(&domain, &ctx, &id, &savings_id, 1, None).await {
        println!("    error: {err}");
    }
    let close = domain.create_command(
        "close-account",
        json!({"reason": "customer moved abroad"}),
        ("account", &id),
    )?;
    show("close-account", &domain.process_command(close).await?);
    match statemgr.fetch::<Account>("account", &id).await {
        Err(err) => println!("> fetch after close: {err}"),
        Ok(_) => println!("> fetch after close: still visible"),
    }
    let kept: Account = statemgr
        .clone()
        .with_deleted()
        .fetch("account", &id)
        .await?;
    println!("> with deleted roots included: {kept:?}");
    policies().await?;
    tenants().await
}

/// The same bank with its Cedar policies (`policies/bank.cedar`, read now, at startup):
/// tellers deposit, only the owner withdraws, and reads show only what the reader may see.
async fn policies() -> Result<(), Error> {
    let text = std::fs::read_to_string(example_bank::POLICY_FILE).map_err(|err| {
        Error::Config(format!("cannot read {}: {err}", example_bank::POLICY_FILE))
    })?;
    let (domain, engine) = example_bank::domain_with_policies(Domain::builder("banking"), &text)?;
    println!("> with policies {:?} (in memory)", engine.policy_ids());
    let teller = Context::new().user("tess").role("teller");
    let ada = Context::new().user("c-ada");
    let mut accounts = Vec::new();
    for owner in ["c-ada", "c-bob"] {
        let open = OpenAccount {
            customer_id: owner.into(),
            initial_balance: 200,
        };
        let opened = domain
            .execute_as(&teller, open, AggRoot::generate("account"))
            .await?;
        accounts.push(opened.root.id);
    }
    let id = &accounts[0];
    domain
        .execute_as(&teller, Deposit { amount: 50 }, ("account", id))
        .await?;
    println!("    the teller deposited 50 into {id}");
    match domain
        .execute_as(&teller, Withdraw { amount: 10 }, ("account", id))
        .await
    {
        Err(err) => println!("    the teller's withdrawal: {err}"),
        Ok(_) => println!("    the teller's withdrawal was unexpectedly accepted"),
    }
    let done = domain
        .execute_as(&ada, Withdraw { amount: 10 }, ("account", id))
        .await?;
    println!("    the owner withdrew 10: version {}", done.version);
    let mine = domain
        .statemgr_for(&ada)
        .find::<Account>("account", &Query::new())
        .await?;
    println!(
        "    the owner lists {} of the {} accounts: {:?}",
        mine.page.total,
        accounts.len(),
        mine.items.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    match domain
        .statemgr_for(&ada)
        .fetch::<Account>("account", &accounts[1])
        .await
    {
        Err(err) => println!("    the owner reads another's account: {err}"),
        Ok(_) => println!("    the owner read another's account"),
    }
    Ok(())
}

/// The bank as a multi-tenant service: two banks (tenants) on one store, the same policies,
/// every command attempt in the audit log, and an auditor's report of one tenant.
async fn tenants() -> Result<(), Error> {
    let text = std::fs::read_to_string(example_bank::POLICY_FILE).map_err(|err| {
        Error::Config(format!("cannot read {}: {err}", example_bank::POLICY_FILE))
    })?;
    let (domain, _engine) = example_bank::saas_domain(Domain::builder("banking"), &text)?;
    println!("> two tenants, with policies and an audit log (in memory)");
    for tenant in ["acme", "globex"] {
        let teller = Context::new().tenant(tenant).user("tess").role("teller");
        let owner = Context::new().tenant(tenant).user("c-ada");
        let open = OpenAccount {
            customer_id: "c-ada".into(),
            initial_balance: 100,
        };
        // The same identifier in both tenants: two different accounts.
        domain.execute_as(&teller, open, ("account", "a-1")).await?;
        domain
            .execute_as(&teller, Deposit { amount: 25 }, ("account", "a-1"))
            .await?;
        let denied = domain
            .execute_as(&teller, Withdraw { amount: 5 }, ("account", "a-1"))
            .await;
        let overdrawn = domain
            .execute_as(&owner, Withdraw { amount: 500 }, ("account", "a-1"))
            .await;
        println!(
            "    {tenant}: the teller's withdrawal: {}; the owner's 500: {}",
            denied
                .err()
                .map_or("accepted".into(), |e| e.code().to_owned()),
            overdrawn
                .err()
                .map_or("accepted".into(), |e| e.code().to_owned()),
        );
        domain
            .execute_as(&owner, Withdraw { amount: 20 }, ("account", "a-1"))
            .await?;
    }
    let auditor = Context::new().tenant("acme").user("audrey").role("auditor");
    let log = domain.audit_log(&auditor);
    let report = log.query(&Query::new().sort(["recorded_at"])).await?;
    println!(
        "> audit report of acme ({} attempts; globex's are not in it):",
        report.page.total
    );
    for record in &report.items {
        println!(
            "    {:<12} {:<9} by {:<5} on {}/{} {}",
            record.command,
            record.outcome.as_str(),
            record.user.as_deref().unwrap_or("-"),
            record.resource,
            record.identifier,
            if record.policies.is_empty() {
                record.code.clone().unwrap_or_default()
            } else {
                format!("policies {:?}", record.policies)
            }
        );
    }
    let refused = Query::new().filter(json!({"outcome.in": ["denied", "refused"]}));
    let mut csv = Vec::new();
    log.export(&refused, fluvius::ExportFormat::Csv)?
        .write_to(&mut csv)
        .await?;
    println!("> acme's denied and refused attempts as CSV:");
    for line in String::from_utf8_lossy(&csv).lines() {
        let short: String = line.chars().take(110).collect();
        println!("    {short}");
    }
    Ok(())
}
