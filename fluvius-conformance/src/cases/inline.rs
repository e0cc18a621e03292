//! Inline projections: one row per stream, written in the command's own commit, folded from that
//! stream's events exactly once, also when writers of the stream compete; a projection added
//! after its streams began catches up from their events.

use std::sync::Arc;

use fluvius_core::inline::Inline;
use fluvius_core::{Backend, Domain, Error};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::{self, DepositMade, MoneyWithdrawn};
use crate::support::{command, deposit, ok, open_account};

/// A statement: deposits and withdrawals counted, the balance they add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Deposits made.
    pub deposits: u32,
    /// Withdrawals made.
    pub withdrawals: u32,
    /// The balance after them.
    pub balance: i64,
}

#[derive(Deserialize)]
struct Opened {
    initial: i64,
}

/// The `statement` projection over accounts.
pub fn statement() -> Inline<Statement> {
    Inline::new("statement", "account")
        .on("account-opened", |row: &mut Statement, data: Opened, _| {
            row.balance = data.initial;
        })
        .on(
            "deposit-made",
            |row: &mut Statement, data: DepositMade, _| {
                row.deposits += 1;
                row.balance += data.amount;
            },
        )
        .on(
            "money-withdrawn",
            |row: &mut Statement, data: MoneyWithdrawn, _| {
                row.withdrawals += 1;
                row.balance -= data.amount;
            },
        )
}

fn with_statement(backend: &Arc<dyn Backend>) -> Domain {
    domain::builder(Arc::clone(backend))
        .inline_projection(statement())
        .finish()
        .expect("the domain with an inline projection is well formed")
}

async fn row(domain: &Domain, id: &str) -> (Statement, u64) {
    domain
        .statemgr()
        .fetch_inline::<Statement>("statement", id)
        .await
        .unwrap_or_else(|err| panic!("the statement of {id}: {err}"))
}

/// The row follows each command, a refused command leaves it alone, competing writers (two
/// domains on one store, many tasks) each land exactly once, and a unit writes the row of each
/// of its streams.
pub async fn inline_rows_fold_their_own_stream_in_the_commit(backend: Arc<dyn Backend>) {
    let domain = with_statement(&backend);
    open_account(&domain, "a-1", "ann", 10).await;
    for _ in 0..3 {
        deposit(&domain, "a-1", 5).await;
    }
    let expected = Statement {
        deposits: 3,
        withdrawals: 0,
        balance: 25,
    };
    assert_eq!(row(&domain, "a-1").await, (expected.clone(), 4));
    let refused = domain
        .process_command(command(
            &domain,
            "withdraw",
            json!({"amount": 1000}),
            ("account", "a-1"),
        ))
        .await;
    assert!(refused.is_err(), "an overdraft is refused");
    assert_eq!(
        row(&domain, "a-1").await,
        (expected, 4),
        "a refusal writes no row"
    );

    // Competing writers: eight tasks of this domain and a second domain on the same store.
    let other = with_statement(&backend);
    let mut tasks = Vec::new();
    for t in 0..9 {
        let domain = if t == 8 {
            other.clone()
        } else {
            domain.clone()
        };
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                deposit(&domain, "a-1", 1).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer");
    }
    let (statement, version) = row(&other, "a-1").await;
    assert_eq!(version, 94);
    assert_eq!(
        statement,
        Statement {
            deposits: 93,
            withdrawals: 0,
            balance: 115,
        },
        "each event folded exactly once"
    );
    let account = crate::support::account(&domain, "a-1").await;
    assert_eq!(
        account.balance, statement.balance,
        "the row agrees with the state"
    );

    // A unit writes both streams' rows in its commit.
    open_account(&domain, "a-2", "bob", 0).await;
    domain
        .process_unit([
            command(
                &domain,
                "withdraw",
                json!({"amount": 15}),
                ("account", "a-1"),
            ),
            command(
                &domain,
                "deposit",
                json!({"amount": 15}),
                ("account", "a-2"),
            ),
        ])
        .await
        .expect("the unit commits");
    assert_eq!(row(&domain, "a-1").await.0.balance, 100);
    assert_eq!(row(&domain, "a-1").await.0.withdrawals, 1);
    assert_eq!(
        row(&domain, "a-2").await,
        (
            Statement {
                deposits: 1,
                withdrawals: 0,
                balance: 15,
            },
            2
        )
    );

    // Reads: a missing root is not found; an unknown projection is named.
    let missing = domain
        .statemgr()
        .fetch_inline::<Statement>("statement", "nope")
        .await
        .expect_err("no such account");
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
    let unknown = domain
        .statemgr()
        .fetch_inline::<Statement>("no-such", "a-1")
        .await
        .expect_err("no such projection");
    assert!(unknown.to_string().contains("no-such"), "{unknown}");
}

/// A projection added to a domain whose streams already have events answers reads folded from
/// them, and writes its row, caught up, with the stream's next command. Projections that do not
/// fit the domain are refused when it is built.
pub async fn inline_projection_added_later_catches_up(backend: Arc<dyn Backend>) {
    let plain = domain::domain(Arc::clone(&backend));
    open_account(&plain, "a-9", "cy", 100).await;
    for amount in 1..=4 {
        deposit(&plain, "a-9", amount).await;
    }
    let domain = with_statement(&backend);
    let folded = Statement {
        deposits: 4,
        withdrawals: 0,
        balance: 110,
    };
    assert_eq!(row(&domain, "a-9").await, (folded, 5));
    assert!(
        backend
            .read_inline(
                "statement",
                &crate::support::stream(&domain, "account", "a-9")
            )
            .await
            .expect("read")
            .is_none(),
        "a read stores nothing"
    );
    ok(
        &domain,
        command(
            &domain,
            "deposit",
            json!({"amount": 10}),
            ("account", "a-9"),
        ),
    )
    .await;
    let stored = backend
        .read_inline(
            "statement",
            &crate::support::stream(&domain, "account", "a-9"),
        )
        .await
        .expect("read")
        .expect("written with the command");
    assert_eq!(stored.version, 6);
    assert_eq!(
        serde_json::from_value::<Statement>(stored.row).expect("a statement"),
        Statement {
            deposits: 5,
            withdrawals: 0,
            balance: 120,
        }
    );

    let refused = |builder: fluvius_core::DomainBuilder, what: &str| {
        let err = builder.finish().expect_err(what);
        assert!(matches!(err, Error::Config(_)), "{what}: {err:?}");
        err.to_string()
    };
    let no_resource = refused(
        domain::builder(Arc::clone(&backend))
            .inline_projection(Inline::<Statement>::new("statement", "invoice")),
        "a projection over an unknown resource",
    );
    assert!(no_resource.contains("invoice"), "{no_resource}");
    let twice = refused(
        domain::builder(Arc::clone(&backend))
            .inline_projection(statement())
            .inline_projection(statement()),
        "two projections of one name",
    );
    assert!(twice.contains("statement"), "{twice}");
}
