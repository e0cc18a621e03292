//! The scripted scenario of `cargo run -p example-bank` runs to the end and shows what it
//! promises: events, a rejected command with its error, an outbox alert, a query, the audit
//! trail, time travel.

mod support;

use std::process::Command;

#[test]
fn the_bank_scenario_runs_and_reports_each_step() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-bank"))
        .env_remove("DATABASE_URL")
        .output()
        .expect("the example binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the scenario failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "on the memory backend",
        "event v1 account-opened",
        "event v2 deposit-made {\"amount\":50}",
        "error: rule broken: insufficient funds: the balance is 80, the withdrawal 1000",
        "error: rule broken: the minimum balance is 100, got 20",
        "error: invalid payload for `deposit`: unknown field `amont`, expected `amount`",
        "balance-corrected",
        "accounts with balance >= 100, richest first (3 of 3)",
        "alert: 10000 withdrawn from",
        "time travel: account",
        "at version 2: balance 200",
        "before the correction (version 3): balance 80",
        "transfer 90 to savings (one unit)",
        "\"balance\":190",
        "error: command 0 of the unit (`withdraw` on account/",
        "nothing was written: rule broken: insufficient funds: the balance is 0, the withdrawal 1",
        "fetch after close:",
        "not found",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
}

/// The same scenario on PostgreSQL, in a throw-away database of the server `DATABASE_URL` names.
#[tokio::test]
async fn the_bank_scenario_runs_on_postgres() {
    let db = support::ScratchDb::create("example_bank").await;
    let output = Command::new(env!("CARGO_BIN_EXE_example-bank"))
        .args(["--postgres", &db.url])
        .output()
        .expect("the example binary starts");
    db.drop_now().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the scenario failed on PostgreSQL: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "on the postgres backend",
        "error: rule broken: insufficient funds: the balance is 80, the withdrawal 1000",
        "accounts with balance >= 100, richest first (3 of 3)",
        "alert: 10000 withdrawn from",
        "before the correction (version 3): balance 80",
        "transfer 90 to savings (one unit)",
        "nothing was written: rule broken: insufficient funds: the balance is 0, the withdrawal 1",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
}
