//! A small policy engine written in plain Rust over the test domain's JSON state, so the
//! policy cases test the domain's consultation of an engine (every command, every read, `find`
//! filters) on every backend, independently of any policy language.
//!
//! The rules, each with the id reported when it decides:
//!
//! - `admin-all`: role `admin` may do anything.
//! - `teller-opens`, `teller-deposits`, `teller-reads`: role `teller` may open accounts, deposit
//!   and read every account.
//! - `owner-acts`: the account's owner (`owner` = the context's user) may deposit, withdraw,
//!   tag and read it.
//! - `frozen-admin-only` (a forbid): an account tagged `frozen` may be changed by admins only.
//! - `customers-open`: everyone may do anything with customers.
//!
//! Anything else is denied with no policy id (nothing permits it).

use fluvius_core::{
    Context, Decision, Operation, PolicyEngine, PolicyError, PolicyRequest, Visibility,
    VisibilityRequest,
};
use serde_json::{Value, json};

/// How an engine of the policy cases may be broken on purpose (for the sensitivity tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyFlaw {
    /// Allows whatever it would deny.
    IgnoresDenials,
    /// Lets `find` see every root, whatever the rules say.
    ForgetsFindFilter,
    /// Skips the `frozen-admin-only` forbid.
    IgnoresForbids,
}

/// The test engine; see the [module docs](self) for its rules.
#[derive(Debug, Clone, Default)]
pub struct OwnerPolicy {
    flaw: Option<PolicyFlaw>,
}

impl OwnerPolicy {
    /// The engine as its rules say.
    pub fn new() -> Self {
        OwnerPolicy::default()
    }

    /// The engine broken in one way, for sensitivity tests.
    pub fn flawed(flaw: PolicyFlaw) -> Self {
        OwnerPolicy { flaw: Some(flaw) }
    }

    fn decide(&self, request: &PolicyRequest<'_>) -> Decision {
        let context = request.context;
        if request.resource == "customer" {
            return Decision::allow(["customers-open"]);
        }
        let owner = request.state.get("owner").and_then(Value::as_str);
        let is_owner = request.exists && owner.is_some() && owner == context.user.as_deref();
        let frozen = request
            .state
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| tags.contains(&json!("frozen")));
        let admin = has_role(context, "admin");
        if request.operation.is_command()
            && frozen
            && !admin
            && self.flaw != Some(PolicyFlaw::IgnoresForbids)
        {
            return Decision::deny(["frozen-admin-only"]);
        }
        if admin {
            return Decision::allow(["admin-all"]);
        }
        let teller = has_role(context, "teller");
        let permit = match request.operation {
            Operation::Command("open-account") if teller => Some("teller-opens"),
            Operation::Command("deposit") if teller => Some("teller-deposits"),
            Operation::Command("deposit" | "withdraw" | "tag") if is_owner => Some("owner-acts"),
            Operation::Command(_) => None,
            _ if teller => Some("teller-reads"),
            _ if is_owner => Some("owner-acts"),
            _ => None,
        };
        match permit {
            Some(id) => Decision::allow([id]),
            None => Decision::deny(Vec::<String>::new()),
        }
    }
}

fn has_role(context: &Context, role: &str) -> bool {
    context.roles.contains(role)
}

impl PolicyEngine for OwnerPolicy {
    fn authorize(&self, request: &PolicyRequest<'_>) -> Result<Decision, PolicyError> {
        let mut decision = self.decide(request);
        if self.flaw == Some(PolicyFlaw::IgnoresDenials) {
            decision.allowed = true;
        }
        Ok(decision)
    }

    fn visible(&self, request: &VisibilityRequest<'_>) -> Result<Visibility, PolicyError> {
        let context = request.context;
        if request.resource == "customer"
            || has_role(context, "admin")
            || has_role(context, "teller")
            || self.flaw == Some(PolicyFlaw::ForgetsFindFilter)
        {
            return Ok(Visibility::All);
        }
        Ok(match &context.user {
            Some(user) => Visibility::Filter(json!({"owner.eq": user})),
            None => Visibility::Nothing,
        })
    }
}
