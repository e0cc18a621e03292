//! An aggregate as the domain runs it: errors about what an action produced name the action,
//! which the generated code that finds them does not know.

use crate::aggregate::{ActionCall, ActionOutcome, Aggregate, AggregateDescriptor};
use crate::backend::BoxFuture;
use crate::error::Error;

/// Wraps a user aggregate and names the action in its [`Error::Unstorable`] errors.
pub(crate) struct Named<A> {
    inner: A,
    keys: Vec<&'static str>,
}

impl<A> Named<A> {
    pub(crate) fn new(inner: A, descriptor: &AggregateDescriptor) -> Self {
        Named {
            inner,
            keys: descriptor.actions.iter().map(|a| a.key).collect(),
        }
    }
}

impl<A: Aggregate> Aggregate for Named<A> {
    fn descriptor() -> AggregateDescriptor {
        A::descriptor()
    }

    fn handle<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<ActionOutcome, Error>> {
        let key = self.keys.get(call.action).copied().unwrap_or_default();
        let decided = self.inner.handle(call);
        Box::pin(async move { decided.await.map_err(|err| err.for_command(key)) })
    }
}
