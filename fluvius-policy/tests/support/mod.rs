//! A small bank for the Cedar tests: accounts with an owner, a balance, a frozen flag, tags and
//! an optional note, and the commands to open, deposit, withdraw and freeze.

#![allow(dead_code)]

use std::sync::Arc;

use fluvius::policy::PolicyEngine;
use fluvius::prelude::*;
use fluvius::{DomainBuilder, Error};
use fluvius_policy::CedarEngine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub owner: String,
    pub balance: i64,
    pub frozen: bool,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Opened {
    pub owner: String,
    pub balance: i64,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Moved {
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Frozen {}

impl Apply<Opened> for Account {
    fn apply(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
        self.balance = event.balance;
        self.tags = event.tags.clone();
    }
}

impl Apply<Moved> for Account {
    fn apply(&mut self, event: &Moved) {
        self.balance += event.amount;
    }
}

impl Apply<Frozen> for Account {
    fn apply(&mut self, _: &Frozen) {
        self.frozen = true;
    }
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(evt_key = "account-opened", resources = ["account"], new)]
    async fn open(
        &self,
        owner: String,
        balance: i64,
        tags: Vec<String>,
    ) -> Result<Opened, DomainError> {
        Ok(Opened {
            owner,
            balance,
            tags,
        })
    }

    #[action(evt_key = "deposited", resources = ["account"])]
    async fn deposit(&self, _account: &Account, amount: i64) -> Result<Moved, DomainError> {
        Ok(Moved { amount })
    }

    #[action(evt_key = "withdrawn", resources = ["account"])]
    async fn withdraw(&self, _account: &Account, amount: i64) -> Result<Moved, DomainError> {
        Ok(Moved { amount: -amount })
    }

    #[action(evt_key = "frozen", resources = ["account"])]
    async fn freeze(&self, _account: &Account) -> Result<Frozen, DomainError> {
        Ok(Frozen {})
    }
}

pub fn builder() -> DomainBuilder {
    Domain::builder("bank").aggregate(Bank)
}

pub fn ctx(user: &str, roles: &[&str]) -> Context {
    Context::new().user(user).roles(roles.iter().copied())
}

/// The policies most tests use: tellers open and deposit, owners withdraw and read, tellers read
/// what is not frozen, a frozen account is for admins only, admins do anything.
pub const POLICIES: &str = r#"
@id("tellers-open")
permit(principal in bank::Role::"teller", action == bank::Action::"open", resource is bank::account);

@id("tellers-deposit")
permit(principal in bank::Role::"teller", action == bank::Action::"deposit", resource is bank::account);

@id("owner-withdraws")
permit(principal, action == bank::Action::"withdraw", resource is bank::account)
when { resource.owner == principal.id };

@id("owner-reads")
permit(principal, action in bank::Action::"read", resource is bank::account)
when { resource.owner == principal.id };

@id("tellers-read-unfrozen")
permit(principal in bank::Role::"teller", action in bank::Action::"read", resource is bank::account)
when { !resource.frozen || resource.balance < 0 };

@id("frozen-is-for-admins")
forbid(principal, action in bank::Action::"write", resource is bank::account)
when { resource.frozen }
unless { principal.roles.contains("admin") };

@id("admins-all")
permit(principal in bank::Role::"admin", action, resource);

@id("auditors-find")
permit(principal in bank::Role::"auditor", action == bank::Action::"find", resource is bank::account)
when {
    (resource.tags.containsAny(["vip", "audit"]) && resource.balance >= 100)
    || resource in [bank::account::"acc-01", bank::account::"acc-02"]
    || ["cy"].contains(resource.owner)
}
unless { resource has note && resource.note == "sealed" };

@id("auditors-skip-frozen")
forbid(principal in bank::Role::"auditor", action == bank::Action::"find", resource is bank::account)
when { resource.owner != "bob" && resource.frozen && !(resource.balance > 1000) };
"#;

pub async fn run(
    domain: &Domain,
    context: &Context,
    key: &str,
    payload: Value,
    id: &str,
) -> Result<Response, Error> {
    let command = domain
        .create_command(key, payload, ("account", id))?
        .with_context(context.clone());
    domain.process_command(command).await
}

pub async fn open(domain: &Domain, id: &str, owner: &str, tags: &[&str]) {
    let payload = json!({"owner": owner, "balance": 100, "tags": tags});
    run(domain, &ctx("tess", &["teller"]), "open", payload, id)
        .await
        .expect("a teller opens");
}

/// `find` lists exactly the roots the authorizer allows `find` on, page by page, with the
/// caller's filter ANDed in, for several principals, on the backend `builder` is configured with.
pub async fn find_agrees_with_the_authorizer(builder: DomainBuilder) {
    let engine = Arc::new(CedarEngine::new([builder.policy_model()], POLICIES).expect("fits"));
    let domain = builder
        .shared_policy(engine.clone())
        .build()
        .expect("builds");
    let owners = ["ann", "bob", "cy"];
    for i in 0..15 {
        let id = format!("acc-{i:02}");
        open(
            &domain,
            &id,
            owners[i % 3],
            if i % 4 == 0 { &["vip"] } else { &[] },
        )
        .await;
        if i % 5 == 0 {
            run(&domain, &ctx("root", &["admin"]), "freeze", json!({}), &id)
                .await
                .expect("frozen");
        }
    }
    let all = domain
        .statemgr_for(&ctx("root", &["admin"]))
        .find::<Value>("account", &Query::new().limit(100))
        .await
        .expect("admin");
    assert_eq!(all.page.total, 15);
    for who in [
        ctx("ann", &[]),
        ctx("bob", &[]),
        ctx("tess", &["teller"]),
        ctx("root", &["admin"]),
        ctx("ada", &["auditor"]),
        ctx("ann", &["auditor"]),
        Context::new(),
    ] {
        // The authorizer's answer for `find` on each root, one by one.
        let mut expected = Vec::new();
        for record in &all.items {
            let request = fluvius::policy::PolicyRequest::new(
                "bank",
                &who,
                fluvius::policy::Operation::Find,
                "account",
                &record.id,
                &record.state,
            );
            if engine.authorize(&request).expect("decides").allowed {
                expected.push(record.id.clone());
            }
        }
        if who.roles.contains("auditor") {
            assert!(
                !expected.is_empty() && expected.len() < all.items.len(),
                "the auditors' policies select some roots, not all: {expected:?}"
            );
        }
        let reads = domain.statemgr_for(&who);
        let mut listed = Vec::new();
        for page in 1.. {
            let found = reads
                .find::<Value>("account", &Query::new().sort(["id"]).limit(2).page(page))
                .await
                .expect("finds");
            assert_eq!(
                found.page.total,
                expected.len() as u64,
                "{:?}: the total",
                who.user
            );
            if found.items.is_empty() {
                break;
            }
            assert!(
                found.items.len() == 2 || listed.len() + found.items.len() == expected.len(),
                "a short page"
            );
            listed.extend(found.items.into_iter().map(|r| r.id));
        }
        assert_eq!(
            listed, expected,
            "{:?}: find and the authorizer disagree",
            who.user
        );
        let vip = reads
            .find::<Value>(
                "account",
                &Query::new().filter(json!({"tags.has": "vip"})).limit(100),
            )
            .await
            .expect("finds");
        let vips: Vec<_> = all
            .items
            .iter()
            .filter(|r| r.state["tags"] == json!(["vip"]) && expected.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(
            vip.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            vips,
            "the caller's filter AND the policies'"
        );
    }
    let tellers = domain
        .statemgr_for(&ctx("tess", &["teller"]))
        .find::<Value>("account", &Query::new())
        .await
        .expect("teller");
    assert_eq!(tellers.page.total, 12, "tellers see the unfrozen accounts");
}
