//! Testing an aggregate without any infrastructure: given events, when a command, then expect
//! events, an error or a state.
//!
//! The kit folds the given events through the resource's own event decoder, runs the action
//! exactly as the domain would (payload validation, resource and existence checks included), and
//! lets the test inspect what the action decided. No backend, no domain, no runtime beyond the
//! test's own.
//!
//! `examples/bank/tests/aggregate.rs` shows it on the bank domain.

use serde::Serialize;
use serde_json::Value;

use crate::aggregate::{ActionCall, Aggregate, AggregateDescriptor};
use crate::command::{AggRoot, CommandPayload, Payload};
use crate::context::Context;
use crate::error::Error;
use crate::event::RawEvent;
use crate::state::{AnyState, State};

/// The entry point: wraps an aggregate value.
#[derive(Debug)]
pub struct AggregateTest<A> {
    aggregate: A,
    descriptor: AggregateDescriptor,
    context: Context,
}

impl<A: Aggregate> AggregateTest<A> {
    /// A test of this aggregate.
    pub fn new(aggregate: A) -> Self {
        AggregateTest {
            aggregate,
            descriptor: A::descriptor(),
            context: Context::new(),
        }
    }

    /// Runs commands with this context.
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// A root of `resource` whose history is these `(evt_key, payload)` events, each in the
    /// current shape of its key (the schema version this build writes). An empty history means
    /// the root does not exist yet.
    pub fn given<'k, I>(&self, resource: &str, events: I) -> Given<'_, A>
    where
        I: IntoIterator<Item = (&'k str, Value)>,
    {
        let current = |key: &str| {
            self.descriptor
                .resources
                .iter()
                .filter(|r| r.name == resource)
                .flat_map(|r| r.events.iter())
                .find(|e| e.evt_key == key)
                .map_or(1, |e| e.current)
        };
        let events: Vec<_> = events
            .into_iter()
            .map(|(key, payload)| (key, current(key), payload))
            .collect();
        self.given_versioned(resource, events)
    }

    /// Like [`AggregateTest::given`], with each event's schema version:
    /// `(evt_key, schema_version, payload)`. Events at older versions, and events of retired
    /// keys, are read through the aggregate's upcasters, exactly as the store's are.
    pub fn given_versioned<'k, I>(&self, resource: &str, events: I) -> Given<'_, A>
    where
        I: IntoIterator<Item = (&'k str, u32, Value)>,
    {
        let resource_descriptor = self
            .descriptor
            .resources
            .iter()
            .find(|r| r.name == resource);
        let mut version = 0;
        let state = match resource_descriptor {
            None => Err(Error::UnknownResource(resource.to_owned())),
            Some(descriptor) => {
                let mut state = (descriptor.default_state)();
                let mut deleted = false;
                let mut result = Ok(());
                for (evt_key, schema_version, payload) in events {
                    version += 1;
                    match descriptor.apply(state.as_mut(), evt_key, schema_version, &payload) {
                        Ok(d) => deleted |= d,
                        Err(err) => {
                            result = Err(err);
                            break;
                        }
                    }
                }
                result.map(|()| (state, deleted))
            }
        };
        Given {
            test: self,
            resource: resource.to_owned(),
            version,
            state,
        }
    }
}

/// A root with a known history, ready for a command.
#[derive(Debug)]
pub struct Given<'t, A> {
    test: &'t AggregateTest<A>,
    resource: String,
    version: u64,
    state: Result<(Box<dyn AnyState>, bool), Error>,
}

impl<A: Aggregate> Given<'_, A> {
    /// Runs a JSON command against the root.
    pub async fn when(self, key: &str, payload: Value) -> Then {
        self.run(key, Payload::json(payload)).await
    }

    /// Runs a typed command against the root.
    pub async fn when_typed<P: CommandPayload>(self, payload: P) -> Then {
        self.run(P::KEY, Payload::typed(payload)).await
    }

    async fn run(self, key: &str, payload: Payload) -> Then {
        let outcome = self.decide(key, payload).await;
        Then { outcome }
    }

    async fn decide(self, key: &str, payload: Payload) -> Result<Decision, Error> {
        let (state, deleted) = self.state?;
        let descriptor = &self.test.descriptor;
        let (index, action) = descriptor
            .actions
            .iter()
            .enumerate()
            .find(|(_, a)| a.key == key)
            .ok_or_else(|| Error::UnknownCommand(key.to_owned()))?;
        if !action.resources.contains(&self.resource.as_str()) {
            return Err(Error::ForbiddenResource {
                command: key.to_owned(),
                resource: self.resource.clone(),
                allowed: action.resources.join(", "),
            });
        }
        let root = AggRoot::new(self.resource.clone(), "test-root");
        if action.creates && self.version > 0 {
            return Err(Error::AlreadyExists {
                resource: root.resource,
                id: root.id,
            });
        }
        if !action.creates && (self.version == 0 || deleted) {
            return Err(Error::not_found(&root.resource, &root.id));
        }
        let mut context = self.test.context.clone();
        context.command_id = Some(crate::ids::new_v7());
        context.root = Some(root.clone());
        let outbox = crate::outbox::Outbox::new();
        let call = ActionCall::new(index, &context, &root, state.as_ref(), &payload, &outbox);
        let outcome = self
            .test
            .aggregate
            .handle(call)
            .await
            .map_err(|err| err.for_command(key))?;
        let live = outcome.state.unwrap_or_else(|| state.clone_state());
        // What the store will replay is the events' JSON: the state after the command must be
        // exactly that fold, or live and replayed state would part ways.
        if let Some(resource) = descriptor
            .resources
            .iter()
            .find(|r| r.name == self.resource)
        {
            let mut replayed = state.clone_state();
            for event in &outcome.events {
                resource.apply(
                    replayed.as_mut(),
                    event.evt_key,
                    event.schema_version,
                    &event.payload,
                )?;
            }
            let (live_json, replayed_json) = (live.to_json(), replayed.to_json());
            if live_json.as_ref().ok() != replayed_json.as_ref().ok() {
                return Err(Error::internal(format!(
                    "the state after `{key}` is {live_json:?}, but a replay of its events gives \
                     {replayed_json:?}: a transition or the event's serde attributes lose data"
                )));
            }
        }
        let origin = crate::outbox::MessageOrigin {
            command: Some(key.to_owned()),
            command_id: context.command_id,
            resource: Some(root.resource.clone()),
            identifier: Some(root.id.clone()),
            ..crate::outbox::MessageOrigin::default()
        };
        let messages = outbox
            .take(key, &origin, "", "test", chrono::Utc::now())?
            .into_iter()
            .map(|m| (m.topic, m.key, m.payload))
            .collect();
        Ok(Decision {
            state: live,
            events: outcome.events,
            messages,
        })
    }
}

#[derive(Debug)]
struct Decision {
    events: Vec<RawEvent>,
    state: Box<dyn AnyState>,
    /// The messages sent, as (topic, key, payload).
    messages: Vec<(String, String, Value)>,
}

/// What the command decided; the `then_*` methods assert on it and panic with a clear message.
#[derive(Debug)]
pub struct Then {
    outcome: Result<Decision, Error>,
}

impl Then {
    /// The events as `(evt_key, payload)` pairs, or the error.
    pub fn events(&self) -> Result<Vec<(&'static str, Value)>, &Error> {
        match &self.outcome {
            Ok(d) => Ok(d
                .events
                .iter()
                .map(|e| (e.evt_key, e.payload.clone()))
                .collect()),
            Err(err) => Err(err),
        }
    }

    /// The error, if the command was refused.
    pub fn error(&self) -> Option<&Error> {
        self.outcome.as_ref().err()
    }

    /// The messages the action sent, as `(topic, key, payload)` (the key of a message sent
    /// without one is the root's, `resource/test-root`), or the error.
    pub fn messages(&self) -> Result<Vec<(&str, &str, &Value)>, &Error> {
        match &self.outcome {
            Ok(d) => Ok(d
                .messages
                .iter()
                .map(|(topic, key, payload)| (topic.as_str(), key.as_str(), payload))
                .collect()),
            Err(err) => Err(err),
        }
    }

    /// Asserts the command emitted exactly these events (event data serialised to JSON). On a
    /// mismatch the panic shows the expected and the actual events, one per line.
    #[track_caller]
    pub fn then_expect_events<E: Serialize>(&self, expected: &[(&str, E)]) -> &Self {
        let expected: Vec<(String, Value)> = expected
            .iter()
            .map(|(k, e)| {
                let json = serde_json::to_value(e)
                    .unwrap_or_else(|err| panic!("expected event `{k}` does not serialise: {err}"));
                ((*k).to_owned(), json)
            })
            .collect();
        match self.events() {
            Ok(actual) => {
                let actual: Vec<(String, Value)> =
                    actual.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                if actual != expected {
                    panic!(
                        "the command emitted other events\n  expected: {}\n    actual: {}",
                        show_events(&expected),
                        show_events(&actual)
                    );
                }
            }
            Err(err) => panic!(
                "the command failed instead of emitting events\n  expected: {}\n    actual: \
                 error: {err}",
                show_events(&expected)
            ),
        }
        self
    }

    /// Asserts the command emitted no event (and did not fail).
    #[track_caller]
    pub fn then_expect_no_events(&self) -> &Self {
        self.then_expect_events::<Value>(&[])
    }

    /// Asserts the command failed with an error for which `check` is true. The panic shows the
    /// error, or the events and state of a command that succeeded.
    #[track_caller]
    pub fn then_expect_error(&self, check: impl FnOnce(&Error) -> bool) -> &Self {
        match &self.outcome {
            Ok(d) => panic!(
                "expected an error, the command succeeded\n  expected: an error\n    actual: {}",
                show_decision(d)
            ),
            Err(err) => {
                if !check(err) {
                    panic!(
                        "the command failed with another error\n  expected: an error the check \
                         accepts\n    actual: {err} ({err:?})"
                    );
                }
            }
        }
        self
    }

    /// Asserts the command failed and its message contains `text`. The panic shows the expected
    /// text and the actual message (or the events and state of a command that succeeded).
    #[track_caller]
    pub fn then_expect_error_message(&self, text: &str) -> &Self {
        match &self.outcome {
            Ok(d) => panic!(
                "expected an error, the command succeeded\n  expected: an error containing \
                 {text:?}\n    actual: {}",
                show_decision(d)
            ),
            Err(err) => {
                let message = err.to_string();
                if !message.contains(text) {
                    panic!(
                        "the command failed with another message\n  expected: a message \
                         containing {text:?}\n    actual: {message:?}"
                    );
                }
            }
        }
        self
    }

    /// Asserts the state after the command equals `expected`. On a mismatch the panic shows both
    /// states, as `Debug` and as JSON.
    #[track_caller]
    pub fn then_expect_state<T: State + PartialEq>(&self, expected: &T) -> &Self {
        match &self.outcome {
            Ok(d) => match d.state.as_any().downcast_ref::<T>() {
                Some(state) if state == expected => {}
                Some(state) => panic!(
                    "the state after the command differs\n  expected: {expected:?}\n    \
                     actual: {state:?}\n  expected JSON: {}\n    actual JSON: {}",
                    show_json(serde_json::to_value(expected)),
                    show_json(d.state.to_json())
                ),
                None => panic!(
                    "the state is `{}`, not `{}`",
                    d.state.type_name(),
                    std::any::type_name::<T>()
                ),
            },
            Err(err) => panic!(
                "the command failed instead of leaving a state\n  expected: {expected:?}\n    \
                 actual: error: {err}"
            ),
        }
        self
    }
}

/// Events as `[evt_key {payload}, ..]`, for failure messages.
fn show_events(events: &[(String, Value)]) -> String {
    let shown: Vec<String> = events.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("[{}]", shown.join(", "))
}

/// What a successful command decided, for failure messages.
fn show_decision(decision: &Decision) -> String {
    let events: Vec<(String, Value)> = decision
        .events
        .iter()
        .map(|e| (e.evt_key.to_owned(), e.payload.clone()))
        .collect();
    format!(
        "events {}, state {}",
        show_events(&events),
        show_json(decision.state.to_json())
    )
}

fn show_json<E: std::fmt::Display>(json: Result<Value, E>) -> String {
    match json {
        Ok(json) => json.to_string(),
        Err(err) => format!("(not serialisable: {err})"),
    }
}
