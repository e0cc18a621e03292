//! Assembling a domain: aggregates, backend, clock, tenancy and retry policy.

use std::collections::HashMap;
use std::sync::Arc;

use crate::aggregate::Aggregate;
use crate::backend::Backend;
use crate::context::{Clock, SystemClock};
use crate::error::Error;
use crate::filter::FieldIndex;
use crate::policy::{PolicyEngine, PolicyModel};

use super::cache::StreamCache;
use super::digest::state_digest;
use super::{ActionEntry, AggregateEntry, Domain, DomainInner, ResourceEntry};

/// Configures a [`Domain`]. Made by [`Domain::builder`].
#[derive(Debug)]
#[must_use]
pub struct DomainBuilder {
    namespace: String,
    aggregates: Vec<(AggregateEntry, crate::aggregate::AggregateDescriptor)>,
    backend: Option<Arc<dyn Backend>>,
    clock: Arc<dyn Clock>,
    multi_tenant: bool,
    max_retries: u32,
    cache_capacity: usize,
    policy: Option<Arc<dyn PolicyEngine>>,
    audit: bool,
    inline: Vec<Arc<dyn crate::inline::InlineProjection>>,
}

impl DomainBuilder {
    pub(crate) fn new(namespace: String) -> Self {
        DomainBuilder {
            namespace,
            aggregates: Vec::new(),
            backend: None,
            clock: Arc::new(SystemClock),
            multi_tenant: false,
            max_retries: 100,
            cache_capacity: 100_000,
            policy: None,
            audit: false,
            inline: Vec::new(),
        }
    }

    /// Adds an inline projection (see [`crate::inline`]): one row per stream of its resource,
    /// written in each command's own commit. Building fails when its resource is not one of the
    /// domain's, its name is empty, taken, or too long, or the backend keeps no inline rows.
    pub fn inline_projection<P: crate::inline::InlineProjection>(mut self, projection: P) -> Self {
        self.inline.push(Arc::new(projection));
        self
    }

    /// Records every command attempt in the backend's audit log (off by default): accepted
    /// commands in their own commit, every other outcome in a write of its own before the
    /// caller is answered (see [`crate::audit`]). Building fails on a backend that keeps no
    /// audit log.
    pub fn audit(mut self, on: bool) -> Self {
        self.audit = on;
        self
    }

    /// Adds an aggregate (a type with an `#[aggregate]` impl).
    pub fn aggregate<A: Aggregate>(mut self, aggregate: A) -> Self {
        let descriptor = A::descriptor();
        let entry = AggregateEntry {
            name: descriptor.name,
            handler: Box::new(aggregate),
        };
        self.aggregates.push((entry, descriptor));
        self
    }

    /// Stores events and state in this backend.
    pub fn backend<B: Backend>(self, backend: B) -> Self {
        self.shared_backend(Arc::new(backend))
    }

    /// Stores events and state in a backend shared with other domains or processes.
    pub fn shared_backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Takes `recorded_at` timestamps from this clock (default: the system clock).
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Requires every command and read to name a tenant.
    pub fn multi_tenant(mut self, multi_tenant: bool) -> Self {
        self.multi_tenant = multi_tenant;
        self
    }

    /// How many times a command is re-run against fresh state after a version conflict with
    /// another process (default 100). Each retry first waits a random time, growing with the
    /// attempt from up to 250 µs to up to 8 ms, so competing writers spread out.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// How many streams' current state the domain keeps in memory (default 100,000).
    pub fn cache_capacity(mut self, streams: usize) -> Self {
        self.cache_capacity = streams;
        self
    }

    /// Consults this policy engine before every command and read (default: none, everything
    /// is allowed). The engine's [`bind`](PolicyEngine::bind) runs when the domain is built, and
    /// its error fails the build.
    pub fn policy<P: PolicyEngine>(self, engine: P) -> Self {
        self.shared_policy(Arc::new(engine))
    }

    /// Consults a policy engine shared with other domains (one engine may serve several).
    pub fn shared_policy(mut self, engine: Arc<dyn PolicyEngine>) -> Self {
        self.policy = Some(engine);
        self
    }

    /// What a policy engine needs to know about the domain configured so far: its namespace,
    /// resource kinds with their state schemas, and commands. Engines that generate a schema
    /// (the Cedar engine of `fluvius-policy`) are built from it.
    pub fn policy_model(&self) -> PolicyModel {
        let mut model = PolicyModel::new(self.namespace.clone());
        for (_, descriptor) in &self.aggregates {
            for resource in &descriptor.resources {
                model = model.resource(resource.name, (resource.schema)());
            }
            for action in &descriptor.actions {
                model = model.command(action.key, action.resources.iter().copied(), action.creates);
            }
        }
        model.resources.sort_by(|a, b| a.name.cmp(&b.name));
        model.commands.sort_by(|a, b| a.key.cmp(&b.key));
        model
    }

    /// Builds the domain on the configured backend, or on `default` when none was configured.
    pub fn build_or_else(
        mut self,
        default: impl FnOnce() -> Arc<dyn Backend>,
    ) -> Result<Domain, Error> {
        let backend = self.backend.take().unwrap_or_else(default);
        self.assemble(backend)
    }

    /// Builds the domain on the configured backend; an error if none was configured.
    pub fn finish(mut self) -> Result<Domain, Error> {
        let backend = self.backend.take().ok_or_else(|| {
            Error::Config(
                "no backend configured: call `.backend(..)` or enable the `memory` feature of `fluvius`"
                    .into(),
            )
        })?;
        self.assemble(backend)
    }

    fn assemble(self, backend: Arc<dyn Backend>) -> Result<Domain, Error> {
        if let Some(engine) = &self.policy {
            let model = self.policy_model();
            engine.bind(&model).map_err(|err| {
                Error::Config(format!(
                    "the policy engine does not fit domain `{}`: {err}",
                    self.namespace
                ))
            })?;
        }
        if self.namespace.is_empty() {
            return Err(Error::Config("the namespace is empty".into()));
        }
        if self.audit && backend.audit().is_none() {
            return Err(Error::Config(format!(
                "domain `{}` records an audit log, but backend `{}` keeps none",
                self.namespace,
                backend.name()
            )));
        }
        if self.aggregates.is_empty() {
            return Err(Error::Config(format!(
                "domain `{}` has no aggregate: add one with `.aggregate(..)`",
                self.namespace
            )));
        }
        if !self.inline.is_empty() && !backend.keeps_inline_rows() {
            return Err(Error::Config(format!(
                "domain `{}` has inline projections, but backend `{}` keeps no inline rows",
                self.namespace,
                backend.name()
            )));
        }
        let mut resources = HashMap::default();
        let mut actions = HashMap::default();
        let mut aggregates = Vec::new();
        for (index, (entry, descriptor)) in self.aggregates.into_iter().enumerate() {
            for resource in descriptor.resources {
                let schema = (resource.schema)();
                let fields = FieldIndex::from_schema(&schema);
                let digest = state_digest(&schema, descriptor.state_version);
                let name = resource.name;
                let previous = resources.insert(
                    name,
                    ResourceEntry {
                        descriptor: resource,
                        fields,
                        schema,
                        digest,
                        inline: Vec::new(),
                    },
                );
                if previous.is_some() {
                    return Err(Error::Config(format!(
                        "resource `{name}` is declared by two aggregates"
                    )));
                }
            }
            for (action_index, action) in descriptor.actions.into_iter().enumerate() {
                let key = action.key;
                let previous = actions.insert(
                    key,
                    ActionEntry {
                        aggregate: index,
                        index: action_index,
                        descriptor: action,
                    },
                );
                if previous.is_some() {
                    return Err(Error::Config(format!(
                        "command key `{key}` is declared by two aggregates"
                    )));
                }
            }
            aggregates.push(entry);
        }
        let mut names = std::collections::HashSet::new();
        for projection in self.inline {
            let name = projection.name().to_owned();
            crate::limits::check_identifier("an inline projection's name", &name)
                .map_err(|limit| Error::Config(format!("inline projection `{name}`: {limit}")))?;
            if !names.insert(name.clone()) {
                return Err(Error::Config(format!(
                    "two inline projections are named `{name}`"
                )));
            }
            let resource = projection.resource().to_owned();
            let entry: &mut ResourceEntry = resources.get_mut(resource.as_str()).ok_or_else(|| {
                Error::Config(format!(
                    "inline projection `{name}` folds streams of `{resource}`, which domain `{}` \
                     does not have",
                    self.namespace
                ))
            })?;
            entry.inline.push(projection);
        }
        Ok(Domain {
            inner: Arc::new(DomainInner {
                namespace: self.namespace,
                multi_tenant: self.multi_tenant,
                backend,
                clock: self.clock,
                aggregates,
                resources,
                actions,
                cache: StreamCache::new(self.cache_capacity),
                max_retries: self.max_retries,
                stats: Default::default(),
                policy: self.policy,
                audit: self.audit,
            }),
        })
    }
}
