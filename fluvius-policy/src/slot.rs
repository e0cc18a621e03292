//! The policies of one (resource, action), bucketed by their principal scope: those for one
//! user, those for one role, and the rest. A check evaluates only the rest and the buckets of
//! its user and roles, so its cost follows the policies that can apply to that principal, not
//! every policy of the application.

use std::collections::HashMap;

use cedar_policy::{
    Authorizer, Decision as CedarDecision, Entities, Policy, PolicySet, PrincipalConstraint,
    Request,
};
use fluvius_core::{Context, Decision};

use crate::entities::Names;

#[derive(Debug, Default)]
pub(crate) struct Slot {
    general: PolicySet,
    by_user: HashMap<String, PolicySet>,
    by_role: HashMap<String, PolicySet>,
}

impl Slot {
    /// Files a policy in its bucket (one whose principal can never match is dropped).
    pub(crate) fn add(&mut self, policy: &Policy, names: &Names) {
        let set = match policy.principal_constraint() {
            PrincipalConstraint::Eq(uid) | PrincipalConstraint::In(uid)
                if uid.type_name() == &names.user =>
            {
                self.by_user
                    .entry(uid.id().unescaped().to_owned())
                    .or_default()
            }
            PrincipalConstraint::In(uid) if uid.type_name() == &names.role => self
                .by_role
                .entry(uid.id().unescaped().to_owned())
                .or_default(),
            // Users are members of roles only, and every principal is a user.
            PrincipalConstraint::Eq(_) | PrincipalConstraint::In(_) => return,
            _ => &mut self.general,
        };
        // Ids are unique in the whole set, so a subset cannot clash.
        let _ = set.add(policy.clone());
    }

    /// Decides a request as Cedar would over all the slot's policies: denied when a forbid
    /// holds, else allowed when a permit does, else denied with no deciding policy.
    pub(crate) fn decide(
        &self,
        request: &Request,
        entities: &Entities,
        context: &Context,
    ) -> Decision {
        let user = context.user.as_deref().unwrap_or("");
        let sets = std::iter::once(&self.general)
            .chain(self.by_user.get(user))
            .chain(
                context
                    .roles
                    .iter()
                    .filter_map(|role| self.by_role.get(role)),
            );
        let authorizer = Authorizer::new();
        let (mut permits, mut forbids) = (Vec::new(), Vec::new());
        for set in sets {
            if set.is_empty() {
                continue;
            }
            let response = authorizer.is_authorized(request, set, entities);
            let reasons = response.diagnostics().reason().map(ToString::to_string);
            match response.decision() {
                CedarDecision::Allow => permits.extend(reasons),
                // A deny with reasons is a forbid that holds; without, nothing permitted.
                CedarDecision::Deny => forbids.extend(reasons),
            }
        }
        if !forbids.is_empty() {
            Decision::deny(forbids)
        } else if !permits.is_empty() {
            Decision::allow(permits)
        } else {
            Decision::deny(Vec::<String>::new())
        }
    }
}
