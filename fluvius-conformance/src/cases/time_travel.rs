//! Time travel (decision D7): fold to each version, or to the last event recorded at or before
//! an instant; `recorded_at` comes from the domain's clock and never decreases within a stream.

use std::sync::Arc;

use chrono::Duration;
use fluvius_core::{At, Backend};
use serde_json::json;

use crate::domain::{self, Account};
use crate::support::{self, clocked, expect_err, run, t, t0};

fn state(balance: i64, tags: &[&str]) -> Account {
    Account {
        owner: "tim".into(),
        balance,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        opened_at: Some(t0()),
        closed: false,
    }
}

/// `At::Version(v)` is the state right after event `v`, for every `v` of the stream.
pub async fn fetch_at_each_version(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    support::open_account(&domain, "tt", "tim", 100).await;
    let steps = [
        ("deposit", json!({"amount": 10})),
        ("withdraw", json!({"amount": 30})),
        ("tag", json!({"tag": "x"})),
        ("deposit-many", json!({"amounts": [1, 2, 3]})),
    ];
    for (key, payload) in steps {
        run(&domain, key, payload, ("account", "tt")).await;
    }
    let expected = [
        state(100, &[]),
        state(110, &[]),
        state(80, &[]),
        state(80, &["x"]),
        state(81, &["x"]),
        state(83, &["x"]),
        state(86, &["x"]),
    ];
    let reads = domain.statemgr();
    for (i, want) in expected.iter().enumerate() {
        let version = i as u64 + 1;
        let then = reads
            .fetch_at::<Account>("account", "tt", At::Version(version))
            .await
            .unwrap_or_else(|err| panic!("fetch_at version {version}: {err}"));
        assert_eq!(&then.state, want, "state at version {version}");
        assert_eq!(
            (then.id.as_str(), then.version, then.deleted),
            ("tt", version, false),
            "the record at version {version}"
        );
        let json = reads
            .fetch_at_json("account", "tt", At::Version(version))
            .await
            .unwrap_or_else(|err| panic!("fetch_at_json version {version}: {err}"))
            .state;
        assert_eq!(
            json,
            serde_json::to_value(want).expect("JSON"),
            "JSON at {version}"
        );
    }
    let now: Account = reads.fetch("account", "tt").await.expect("current");
    assert_eq!(now, expected[6]);
}

/// `At::Time(t)` folds to the last event recorded at or before `t`; before the first event the
/// root is not found.
pub async fn fetch_at_time(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    support::open_account(&domain, "tt", "tim", 100).await; // recorded at t0
    clock.advance(Duration::seconds(10));
    support::deposit(&domain, "tt", 10).await; // t0 + 10s
    clock.advance(Duration::seconds(10));
    run(
        &domain,
        "deposit-many",
        json!({"amounts": [1, 2]}),
        ("account", "tt"),
    )
    .await; // t0 + 20s

    let history = domain
        .statemgr()
        .history("account", "tt")
        .await
        .expect("history");
    let recorded: Vec<_> = history.iter().map(|e| e.recorded_at).collect();
    assert_eq!(
        recorded,
        vec![t(0), t(10), t(20), t(20)],
        "recorded_at from the clock"
    );

    let reads = domain.statemgr();
    let err = expect_err(
        reads
            .fetch_at::<Account>("account", "tt", At::Time(t0() - Duration::microseconds(1)))
            .await,
        "before the first event",
    );
    assert!(err.is_not_found(), "before the first event: {err:?}");
    let points = [
        (0, 100),
        (5, 100),
        (10, 110),
        (19, 110),
        (20, 113),
        (3600, 113),
    ];
    for (at, balance) in points {
        let then = reads
            .fetch_at::<Account>("account", "tt", At::Time(t(at)))
            .await
            .unwrap_or_else(|err| panic!("fetch_at t0+{at}s: {err}"));
        assert_eq!(then.state.balance, balance, "balance at t0+{at}s");
        assert!(then.updated_at <= t(at), "updated by t0+{at}s");
        assert_eq!(then.created_at, t(0), "created at t0");
    }
    let json = reads
        .fetch_at_json("account", "tt", At::Time(t(10)))
        .await
        .expect("JSON at t0+10s");
    assert_eq!((json.version, json.updated_at), (2, t(10)));
    let json = json.state;
    assert_eq!(json["balance"], json!(110));
}

/// A clock that goes backwards does not make `recorded_at` decrease within a stream, in the
/// domain that wrote last and in a fresh one alike.
pub async fn recorded_at_never_decreases(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    clock.set(t(60));
    support::open_account(&domain, "mono", "mo", 0).await;
    clock.set(t(0));
    support::deposit(&domain, "mono", 1).await;
    let fresh_clock = support::clock(); // stands at t0, behind the stream
    let fresh = domain::domain_with_clock(backend, fresh_clock.clone());
    support::deposit(&fresh, "mono", 1).await;
    fresh_clock.set(t(90));
    support::deposit(&fresh, "mono", 1).await;
    clock.set(t(30));
    support::deposit(&domain, "mono", 1).await;

    let history = domain
        .statemgr()
        .history("account", "mono")
        .await
        .expect("history");
    let recorded: Vec<_> = history.iter().map(|e| e.recorded_at).collect();
    assert_eq!(
        recorded,
        vec![t(60), t(60), t(60), t(90), t(90)],
        "recorded_at never decreases"
    );

    let reads = domain.statemgr();
    let early = reads
        .fetch_at::<Account>("account", "mono", At::Time(t(30)))
        .await;
    assert!(expect_err(early, "before t0+60s").is_not_found());
    let at_60 = reads
        .fetch_at::<Account>("account", "mono", At::Time(t(60)))
        .await
        .expect("state at t0+60s")
        .state;
    assert_eq!(
        at_60.balance, 2,
        "both events clamped to t0+60s are included"
    );
    let record = reads
        .fetch_record::<Account>("account", "mono")
        .await
        .expect("record");
    assert_eq!((record.created_at, record.updated_at), (t(60), t(90)));
}

/// Records say who created a root and who changed it last, now and at every point in its past:
/// `fetch_record`, `find` and `fetch_at` agree, and a context without a user leaves `None`.
pub async fn records_carry_their_users(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    let by = |user: &str| support::ctx().user(user);
    let open = support::command(
        &domain,
        "open-account",
        json!({"owner": "ann", "initial": 10, "tags": []}),
        ("account", "u-1"),
    )
    .with_context(by("ann"));
    support::ok(&domain, open).await; // v1 at t0, by ann
    clock.advance(Duration::seconds(5));
    let deposit = support::command(&domain, "deposit", json!({"amount": 5}), ("account", "u-1"))
        .with_context(by("bob"));
    support::ok(&domain, deposit).await; // v2 at t0 + 5s, by bob
    clock.advance(Duration::seconds(5));
    support::deposit(&domain, "u-1", 1).await; // v3 at t0 + 10s, no user
    support::open_account(&domain, "u-2", "nobody", 1).await; // no user at all

    let reads = domain.statemgr();
    let who = |r: &fluvius_core::Record<Account>| {
        (
            r.version,
            r.created_at,
            r.created_by.clone(),
            r.updated_at,
            r.updated_by.clone(),
        )
    };
    let ann = Some("ann".to_owned());
    let bob = Some("bob".to_owned());
    let now = reads
        .fetch_record::<Account>("account", "u-1")
        .await
        .expect("record");
    assert_eq!(who(&now), (3, t(0), ann.clone(), t(10), None), "now");
    let found = reads
        .find::<Account>("account", &fluvius_core::Query::new().sort(["id"]))
        .await
        .expect("find");
    let listed: Vec<_> = found.items.iter().map(who).collect();
    assert_eq!(
        listed,
        vec![
            (3, t(0), ann.clone(), t(10), None),
            (1, t(10), None, t(10), None)
        ],
        "find carries the same users"
    );
    let points = [
        (At::Version(1), (1, t(0), ann.clone(), t(0), ann.clone())),
        (At::Version(2), (2, t(0), ann.clone(), t(5), bob.clone())),
        (At::Time(t(7)), (2, t(0), ann.clone(), t(5), bob.clone())),
        (At::Version(3), (3, t(0), ann.clone(), t(10), None)),
    ];
    for (at, want) in points {
        let then = reads
            .fetch_at::<Account>("account", "u-1", at)
            .await
            .unwrap_or_else(|err| panic!("fetch_at {at:?}: {err}"));
        assert_eq!(who(&then), want, "at {at:?}");
        assert!(!then.deleted, "at {at:?}");
    }
}
