//! State types behind type erasure: what the domain caches, stores and hands back.

use std::any::Any;
use std::fmt::Debug;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a resource's state type must be: the `#[aggregate(resources(...))]` types.
pub trait State:
    Clone + Default + Debug + Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static
{
}

impl<T> State for T where
    T: Clone + Default + Debug + Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static
{
}

/// The state transition for one event: a pure function of (state, event data).
///
/// `#[aggregate]` requires one for each action's event on each resource the action may apply to.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no state transition for the event data `{E}`",
    label = "this action emits `{E}` on a resource whose state is `{Self}`",
    note = "write the transition: `impl fluvius::Apply<{E}> for {Self} {{ fn apply(&mut self, event: &{E}) {{ ... }} }}`"
)]
pub trait Apply<E> {
    /// Evolves the state by one event. Must not fail and must not have side effects.
    fn apply(&mut self, event: &E);
}

/// A state value with its type erased.
pub trait AnyState: Any + Send + Sync + Debug {
    /// The state as JSON.
    fn to_json(&self) -> Result<Value, serde_json::Error>;
    /// A boxed copy.
    fn clone_state(&self) -> Box<dyn AnyState>;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The Rust type name, for error messages.
    fn type_name(&self) -> &'static str;
    /// Checks the state against the JSON limits of [`limits`](crate::limits) (nesting, finite
    /// numbers, no NUL) without encoding it.
    fn check_limits(&self, what: &str) -> Result<(), crate::limits::LimitError> {
        match self.to_json() {
            Ok(json) => crate::limits::check_json(what, &json),
            Err(_) => Ok(()),
        }
    }
}

impl<T: State> AnyState for T {
    fn to_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn clone_state(&self) -> Box<dyn AnyState> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn check_limits(&self, what: &str) -> Result<(), crate::limits::LimitError> {
        crate::limits::check_json(what, self)
    }
}
