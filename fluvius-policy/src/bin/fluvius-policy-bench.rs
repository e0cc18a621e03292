//! Decision latency of the Cedar engine in process: builds an engine with N policies over a
//! generated domain, decides R command requests and prints one JSON line with percentiles.
//!
//! `cargo run --release -p fluvius-policy --bin fluvius-policy-bench -- --policies 1000 --requests 200000`
//!
//! `--layout spread` (default) spreads the policies over 20 commands, users and roles as an
//! application would, with 50 forbids on every command; `--layout single` puts every policy on
//! one command, the worst case for the per-action index. Latency includes turning the state
//! JSON into a Cedar entity, as the domain's check does.

use std::time::Instant;

use fluvius_core::{Context, Operation, PolicyEngine, PolicyModel, PolicyRequest};
use fluvius_policy::CedarEngine;
use serde_json::json;

const COMMANDS: usize = 20;

struct Options {
    policies: usize,
    requests: usize,
    single: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        policies: 1000,
        requests: 200_000,
        single: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--policies" => {
                options.policies = value()?.parse().map_err(|e| format!("--policies: {e}"))?
            }
            "--requests" => {
                options.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?
            }
            "--layout" => match value()?.as_str() {
                "spread" => options.single = false,
                "single" => options.single = true,
                other => return Err(format!("--layout is `spread` or `single`, not `{other}`")),
            },
            other => {
                return Err(format!(
                    "unknown argument `{other}`: --policies N --requests R --layout spread|single"
                ));
            }
        }
    }
    Ok(options)
}

fn model() -> PolicyModel {
    let schema = json!({
        "type": "object",
        "properties": {
            "owner": {"type": "string"},
            "balance": {"type": "integer", "format": "int64"},
            "frozen": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["owner", "balance", "frozen", "tags"],
    });
    let mut model = PolicyModel::new("bench").resource("account", schema);
    for c in 0..COMMANDS {
        model = model.command(format!("cmd-{c}"), ["account"], false);
    }
    model
}

fn policies(n: usize, single: bool) -> String {
    // The action is drawn independently of the kind of policy (`i % 20`), so every kind spreads
    // over every command.
    let action = |i: usize| if single { 0 } else { (i / 20 + i) % COMMANDS };
    let mut text = String::new();
    for i in 0..n {
        let policy = match i % 20 {
            // A forbid on every command (spread) or on the one command (single).
            0 if single => format!(
                "forbid(principal, action == bench::Action::\"cmd-0\", resource) when {{ resource.frozen && principal.id == \"user-{i}\" }};"
            ),
            0 => format!(
                "forbid(principal == bench::User::\"user-{i}\", action in bench::Action::\"write\", resource) when {{ resource.frozen }};"
            ),
            1..=4 => format!(
                "permit(principal in bench::Role::\"role-{}\", action == bench::Action::\"cmd-{}\", resource is bench::account) when {{ resource.owner == principal.id || resource.tags.contains(\"shared\") }};",
                i % 40,
                action(i)
            ),
            _ => format!(
                "permit(principal == bench::User::\"user-{i}\", action == bench::Action::\"cmd-{}\", resource is bench::account) when {{ resource.balance > {} }};",
                action(i),
                i % 500
            ),
        };
        text.push_str(&format!("@id(\"p{i}\")\n{policy}\n"));
    }
    text
}

fn main() -> std::process::ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("fluvius-policy-bench: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let built = Instant::now();
    let engine = match CedarEngine::new([model()], &policies(options.policies, options.single)) {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("fluvius-policy-bench: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let build_ms = built.elapsed().as_secs_f64() * 1000.0;
    let contexts: Vec<Context> = (0..64)
        .map(|u| {
            Context::new()
                .user(format!("user-{}", u * 7))
                .role(format!("role-{}", u % 40))
        })
        .collect();
    let states: Vec<_> = (0..16)
        .map(|s| json!({"owner": format!("user-{}", s * 7), "balance": s * 60, "frozen": s % 5 == 0, "tags": if s % 3 == 0 { vec!["shared"] } else { vec![] }}))
        .collect();
    let keys: Vec<String> = (0..COMMANDS).map(|c| format!("cmd-{c}")).collect();
    let mut latencies = Vec::with_capacity(options.requests);
    let mut allowed = 0u64;
    for r in 0..options.requests {
        let context = &contexts[r % contexts.len()];
        let state = &states[(r / 3) % states.len()];
        let key = if options.single {
            &keys[0]
        } else {
            &keys[(r / 7) % COMMANDS]
        };
        let request = PolicyRequest::new(
            "bench",
            context,
            Operation::Command(key),
            "account",
            "a-1",
            state,
        );
        let start = Instant::now();
        let decision = engine.authorize(&request);
        latencies.push(start.elapsed().as_nanos() as u64);
        match decision {
            Ok(decision) => allowed += u64::from(decision.allowed),
            Err(err) => {
                eprintln!("fluvius-policy-bench: {err}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)] as f64 / 1000.0
    };
    println!(
        "{}",
        json!({
            "policies": options.policies,
            "layout": if options.single { "single" } else { "spread" },
            "requests": options.requests,
            "allowed": allowed,
            "build_ms": (build_ms * 10.0).round() / 10.0,
            "p50_us": at(0.50),
            "p99_us": at(0.99),
            "p999_us": at(0.999),
            "max_us": at(1.0),
        })
    );
    std::process::ExitCode::SUCCESS
}
