//! The bank aggregate's rules, tested with the test kit: no backend, no domain.

use example_bank::{Account, AccountOpened, Banking, DepositMade, Withdraw, WithdrawalMade};
use fluvius::Error;
use fluvius::testkit::AggregateTest;
use serde_json::json;

fn opened(balance: i64) -> (&'static str, serde_json::Value) {
    (
        "account-opened",
        json!({"customer_id": "c-1", "initial_balance": balance}),
    )
}

#[tokio::test]
async fn opening_with_the_minimum_balance_emits_account_opened() {
    AggregateTest::new(Banking)
        .given("account", [])
        .when(
            "open-account",
            json!({"customer_id": "c-1", "initial_balance": 100}),
        )
        .await
        .then_expect_events(&[(
            "account-opened",
            AccountOpened {
                customer_id: "c-1".into(),
                initial_balance: 100,
            },
        )])
        .then_expect_state(&Account {
            customer_id: "c-1".into(),
            balance: 100,
            open: true,
            corrections: 0,
        });
}

#[tokio::test]
async fn opening_below_the_minimum_is_refused() {
    AggregateTest::new(Banking)
        .given("account", [])
        .when(
            "open-account",
            json!({"customer_id": "c-1", "initial_balance": 99}),
        )
        .await
        .then_expect_error_message("the minimum balance is 100, got 99");
}

#[tokio::test]
async fn opening_an_existing_account_is_refused() {
    AggregateTest::new(Banking)
        .given("account", [opened(100)])
        .when(
            "open-account",
            json!({"customer_id": "c-1", "initial_balance": 100}),
        )
        .await
        .then_expect_error(|e| matches!(e, Error::AlreadyExists { .. }));
}

#[tokio::test]
async fn deposits_add_up_over_the_history() {
    AggregateTest::new(Banking)
        .given(
            "account",
            [opened(150), ("deposit-made", json!({"amount": 50}))],
        )
        .when("deposit", json!({"amount": 25}))
        .await
        .then_expect_events(&[("deposit-made", DepositMade { amount: 25 })])
        .then_expect_state(&Account {
            customer_id: "c-1".into(),
            balance: 225,
            open: true,
            corrections: 0,
        });
}

#[tokio::test]
async fn withdrawing_more_than_the_balance_is_insufficient_funds() {
    let test = AggregateTest::new(Banking);
    test.given("account", [opened(100)])
        .when_typed(Withdraw { amount: 101 })
        .await
        .then_expect_error(|e| matches!(e, Error::Rule(rule) if rule.code.as_deref() == Some("insufficient-funds")));
    test.given("account", [opened(100)])
        .when_typed(Withdraw { amount: 100 })
        .await
        .then_expect_events(&[("withdrawal-made", WithdrawalMade { amount: 100 })]);
}

#[tokio::test]
async fn acting_on_a_missing_or_closed_account_is_not_found() {
    let test = AggregateTest::new(Banking);
    test.given("account", [])
        .when("deposit", json!({"amount": 1}))
        .await
        .then_expect_error(Error::is_not_found);
    test.given(
        "account",
        [
            opened(100),
            ("withdrawal-made", json!({"amount": 100})),
            ("account-closed", json!({"reason": "moved"})),
        ],
    )
    .when("deposit", json!({"amount": 1}))
    .await
    .then_expect_error(Error::is_not_found);
}

#[tokio::test]
async fn closing_requires_an_empty_account() {
    AggregateTest::new(Banking)
        .given("account", [opened(120)])
        .when("close-account", json!({"reason": "moved"}))
        .await
        .then_expect_error_message("still holds 120");
}

#[tokio::test]
async fn payloads_are_validated_by_field() {
    let test = AggregateTest::new(Banking);
    let then = test
        .given("account", [opened(100)])
        .when("deposit", json!({"amount": "ten"}))
        .await;
    then.then_expect_error(
        |e| matches!(e, Error::Validation { field: Some(f), .. } if f == "amount"),
    );
    let then = test
        .given("account", [opened(100)])
        .when("deposit", json!({"amount": 1, "memo": "x"}))
        .await;
    then.then_expect_error(
        |e| matches!(e, Error::Validation { field: Some(f), .. } if f == "memo"),
    );
    let then = test
        .given("account", [opened(100)])
        .when("deposit", json!({}))
        .await;
    then.then_expect_error(
        |e| matches!(e, Error::Validation { field: Some(f), .. } if f == "amount"),
    );
}

#[tokio::test]
async fn commands_on_the_wrong_resource_are_forbidden() {
    AggregateTest::new(Banking)
        .given(
            "customer",
            [("customer-registered", json!({"name": "Ada", "email": null}))],
        )
        .when("deposit", json!({"amount": 1}))
        .await
        .then_expect_error(|e| matches!(e, Error::ForbiddenResource { .. }));
}

#[tokio::test]
async fn corrections_are_compensating_events() {
    AggregateTest::new(Banking)
        .given("account", [opened(100)])
        .when(
            "correct-balance",
            json!({"amount": -30, "reason": "double booking"}),
        )
        .await
        .then_expect_state(&Account {
            customer_id: "c-1".into(),
            balance: 70,
            open: true,
            corrections: 1,
        });
}

#[tokio::test]
async fn a_large_withdrawal_sends_an_alert_and_a_small_one_does_not() {
    let test = AggregateTest::new(Banking);
    let large = test
        .given("account", [opened(20_000)])
        .when_typed(Withdraw {
            amount: example_bank::LARGE_WITHDRAWAL,
        })
        .await;
    assert_eq!(
        large.messages().unwrap(),
        vec![(
            example_bank::ALERTS,
            "account/test-root",
            &json!({"amount": 10_000, "balance": 10_000})
        )]
    );
    let small = test
        .given("account", [opened(20_000)])
        .when_typed(Withdraw { amount: 9_999 })
        .await;
    assert!(small.messages().unwrap().is_empty());
    let refused = test
        .given("account", [opened(100)])
        .when_typed(Withdraw { amount: 20_000 })
        .await;
    assert!(refused.messages().is_err(), "a refusal sends nothing");
}
