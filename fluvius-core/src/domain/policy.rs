//! Where the domain consults its policy engine: one call per command, once its root's state is
//! known and before its action runs, and one per read. Kept apart from the pipeline so every
//! path that decides a command (a batch, a unit of several commands) makes the same one call.

use serde_json::Value;

use crate::command::Command;
use crate::context::Context;
use crate::error::Error;
use crate::filter::Filter;
use crate::policy::{
    Decision, Denial, Operation, PolicyModel, PolicyRequest, Visibility, VisibilityRequest,
};
use crate::state::AnyState;

use super::cache::CachedStream;
use super::{Domain, DomainInner, ResourceEntry};

/// Which roots a `find` may return, from [`DomainInner::visible_roots`].
pub(crate) enum Visible {
    /// No restriction.
    All,
    /// Only roots matching this filter (to be combined with the caller's).
    Only(Filter),
    /// None at all.
    Nothing,
}

impl DomainInner {
    /// Asks the policy engine whether `command` may run against the root as `head` holds it.
    /// A denial is [`Error::Forbidden`]; the command then writes nothing. Answers the ids of the
    /// policies that allowed it (none without an engine).
    pub(crate) fn authorize_command(
        &self,
        command: &Command,
        head: &CachedStream,
    ) -> Result<Vec<String>, Error> {
        if self.policy.is_none() {
            return Ok(Vec::new());
        }
        let exists = head.version > 0 && !head.deleted;
        let decision = self.decide_policy(
            &command.context,
            Operation::Command(&command.key),
            &command.root.resource,
            &command.root.id,
            head.state.as_ref(),
            exists,
        )?;
        if decision.allowed {
            return Ok(decision.policies);
        }
        Err(Error::Forbidden(Box::new(denial(
            &command.context,
            &command.key,
            &command.root.resource,
            &command.root.id,
            decision,
        ))))
    }

    /// Asks the policy engine whether a read of an existing root may see it. A root the
    /// principal may not read is answered as [`Error::NotFound`], the same as a root that does
    /// not exist, so a read never reveals what it may not show (and `find` agrees: it leaves
    /// such roots out).
    pub(crate) fn authorize_read(
        &self,
        context: &Context,
        operation: Operation<'_>,
        resource: &str,
        id: &str,
        head: &CachedStream,
    ) -> Result<(), Error> {
        if self.policy.is_none() {
            return Ok(());
        }
        let exists = head.version > 0 && !head.deleted;
        let decision = self.decide_policy(
            context,
            operation,
            resource,
            id,
            head.state.as_ref(),
            exists,
        )?;
        if decision.allowed {
            return Ok(());
        }
        tracing::debug!(
            namespace = %self.namespace,
            action = operation.action(),
            resource,
            id,
            policies = ?decision.policies,
            "read denied by policy; answered as not found",
        );
        Err(Error::not_found(resource, id))
    }

    /// Which roots of `entry` a `find` in `context` may return.
    pub(crate) fn visible_roots(
        &self,
        context: &Context,
        entry: &ResourceEntry,
    ) -> Result<Visible, Error> {
        let Some(engine) = &self.policy else {
            return Ok(Visible::All);
        };
        let resource = entry.descriptor.name;
        let request = VisibilityRequest {
            namespace: &self.namespace,
            context,
            resource,
        };
        match engine
            .visible(&request)
            .map_err(|err| engine_failed(resource, &err))?
        {
            Visibility::All => Ok(Visible::All),
            Visibility::Nothing => Ok(Visible::Nothing),
            Visibility::Filter(filter) => {
                let parsed = Filter::parse(&filter, &entry.fields).map_err(|err| {
                    Error::internal(format!(
                        "the policy engine's filter for `{resource}` is not a valid filter: {err}"
                    ))
                })?;
                Ok(Visible::Only(parsed))
            }
        }
    }

    fn decide_policy(
        &self,
        context: &Context,
        operation: Operation<'_>,
        resource: &str,
        id: &str,
        state: &dyn AnyState,
        exists: bool,
    ) -> Result<Decision, Error> {
        let Some(engine) = &self.policy else {
            return Ok(Decision::allow(Vec::<String>::new()));
        };
        let state: Value = state.to_json().map_err(|e| Error::Decode {
            what: format!("state of `{resource}` `{id}` for its policy check"),
            message: e.to_string(),
        })?;
        let request = PolicyRequest {
            namespace: &self.namespace,
            context,
            operation,
            resource,
            id,
            state: &state,
            exists,
        };
        engine
            .authorize(&request)
            .map_err(|err| engine_failed(resource, &err))
    }
}

impl Domain {
    /// Whether a policy engine is installed.
    pub fn has_policy(&self) -> bool {
        self.inner.policy.is_some()
    }

    /// What a policy engine needs to know about this domain (see
    /// [`DomainBuilder::policy_model`](super::DomainBuilder::policy_model)).
    pub fn policy_model(&self) -> PolicyModel {
        let mut model = PolicyModel::new(self.inner.namespace.clone());
        for resource in self.resources() {
            model = model.resource(
                resource.name,
                self.inner.resources[resource.name].schema.clone(),
            );
        }
        for action in self.actions() {
            model = model.command(action.key, action.resources.iter().copied(), action.creates);
        }
        model
    }
}

fn denial(context: &Context, action: &str, resource: &str, id: &str, decision: Decision) -> Denial {
    Denial {
        action: action.to_owned(),
        resource: resource.to_owned(),
        id: id.to_owned(),
        user: context.user.clone(),
        policies: decision.policies,
    }
}

fn engine_failed(resource: &str, err: &crate::policy::PolicyError) -> Error {
    tracing::error!(resource, error = %err, "policy engine failed");
    Error::internal(format!(
        "the policy engine could not decide a request on `{resource}`: {err}"
    ))
}
