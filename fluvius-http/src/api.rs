//! The served API: which domains, how callers are identified, the limits, and the axum router
//! assembled from all of it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use fluvius_core::{Domain, Error};
use parking_lot::Mutex;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Auth;
use crate::middleware;
use crate::{audit, commands, meta, openapi, queries, units};

/// The default request body limit, 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// The default request time limit, 30 seconds.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How one domain is served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainOptions {
    /// Commands on existing roots must carry `If-Match` (428 without it).
    pub require_if_match: bool,
    /// The roles that may read `GET /_audit/<namespace>` (default: `auditor`).
    pub audit_readers: Vec<String>,
}

impl Default for DomainOptions {
    fn default() -> Self {
        DomainOptions {
            require_if_match: false,
            audit_readers: vec!["auditor".to_owned()],
        }
    }
}

impl DomainOptions {
    /// The defaults: `If-Match` optional, the audit log read by `auditor`s.
    pub fn new() -> Self {
        DomainOptions::default()
    }

    /// The roles whose holders may read the domain's audit log over HTTP (their tenant's).
    pub fn audit_readers<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audit_readers = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Requires `If-Match` on every command that acts on an existing root.
    pub fn require_if_match(mut self, required: bool) -> Self {
        self.require_if_match = required;
        self
    }
}

/// The HTTP API of a set of domains. Cheap to clone; [`HttpApi::router`] gives the axum router.
///
/// ```
/// use fluvius_http::HttpApi;
/// # fn demo(domain: fluvius_core::Domain) -> Result<(), fluvius_core::Error> {
/// let app: axum::Router = HttpApi::builder().domain(domain).build()?.router();
/// # let _ = app; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpApi {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) domains: BTreeMap<String, Served>,
    pub(crate) auth: Auth,
    pub(crate) body_limit: usize,
    pub(crate) timeout: Duration,
    pub(crate) title: String,
    pub(crate) openapi: Value,
    /// Commands with an `Idempotency-Key` now running: (namespace, tenant, command id).
    pub(crate) running: Mutex<HashSet<(String, String, Uuid)>>,
}

#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) domain: Domain,
    pub(crate) options: DomainOptions,
}

/// Configures an [`HttpApi`]. Made by [`HttpApi::builder`].
#[derive(Debug, Default)]
#[must_use]
pub struct HttpApiBuilder {
    domains: Vec<(Domain, DomainOptions)>,
    auth: Auth,
    body_limit: Option<usize>,
    timeout: Option<Duration>,
    title: Option<String>,
}

impl HttpApi {
    /// Starts configuring an API.
    pub fn builder() -> HttpApiBuilder {
        HttpApiBuilder::default()
    }

    /// The axum router serving every route of the API. It is a tower `Service`; merge it into
    /// an app, nest it under a prefix, or serve it as it is.
    pub fn router(&self) -> Router {
        let commands_and_history = post(commands::run).get(queries::history);
        Router::new()
            .route("/openapi.json", get(openapi::serve))
            .route("/_meta", get(meta::index))
            .route("/_meta/{item}", get(meta::item))
            .route("/_audit/{namespace}", get(audit::report))
            .route("/{first}", post(units::run).get(middleware::no_route))
            .route(
                "/{first}/",
                get(queries::list).post(commands::not_a_command),
            )
            .route(
                "/{first}/{second}",
                get(queries::fetch).post(commands::not_a_command),
            )
            .route("/{first}/{second}/{third}", commands_and_history)
            .fallback(middleware::no_route)
            .method_not_allowed_fallback(middleware::method_not_allowed)
            .layer(DefaultBodyLimit::max(self.shared.body_limit))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                middleware::around,
            ))
            .with_state(self.clone())
    }

    /// The OpenAPI 3.1 document of the API, as `GET /openapi.json` serves it.
    pub fn openapi(&self) -> &Value {
        &self.shared.openapi
    }

    /// The operations of the API as (method, OpenAPI path template), sorted: the same list the
    /// OpenAPI document is made of.
    pub fn operations(&self) -> Vec<(&'static str, String)> {
        openapi::operations(&self.shared)
    }

    pub(crate) fn served(&self, namespace: &str) -> Option<&Served> {
        self.shared.domains.get(namespace)
    }
}

impl HttpApiBuilder {
    /// Serves a domain with the default options.
    pub fn domain(self, domain: Domain) -> Self {
        self.domain_with(domain, DomainOptions::default())
    }

    /// Serves a domain with these options.
    pub fn domain_with(mut self, domain: Domain, options: DomainOptions) -> Self {
        self.domains.push((domain, options));
        self
    }

    /// Identifies callers this way (default: [`Auth::Anonymous`]).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Refuses request bodies larger than this with 413 (default [`DEFAULT_BODY_LIMIT`]).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Answers 503 to a request not answered within this time (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]). A command already received runs to its end all the same.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The title of the OpenAPI document (default: `Fluvius API`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Builds the API; an error if no domain is served, two share a namespace, or a namespace
    /// cannot appear in a route.
    pub fn build(self) -> Result<HttpApi, Error> {
        if self.domains.is_empty() {
            return Err(Error::Config(
                "the HTTP API serves no domain: add one with `.domain(..)`".into(),
            ));
        }
        let mut domains = BTreeMap::new();
        for (domain, options) in self.domains {
            let namespace = domain.namespace().to_owned();
            if let Some(bad) = namespace
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(Error::Config(format!(
                    "namespace `{namespace}` cannot be served over HTTP: `{bad}` is not allowed \
                     (letters, digits, `-` and `_` only)"
                )));
            }
            if namespace == "_meta" || namespace == "_audit" {
                return Err(Error::Config(format!(
                    "namespace `{namespace}` is reserved"
                )));
            }
            if domains
                .insert(namespace.clone(), Served { domain, options })
                .is_some()
            {
                return Err(Error::Config(format!(
                    "two domains are served with namespace `{namespace}`"
                )));
            }
        }
        let mut shared = Shared {
            domains,
            auth: self.auth,
            body_limit: self.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
            timeout: self.timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            title: self.title.unwrap_or_else(|| "Fluvius API".to_owned()),
            openapi: Value::Null,
            running: Mutex::new(HashSet::new()),
        };
        shared.openapi = openapi::document(&shared);
        Ok(HttpApi {
            shared: Arc::new(shared),
        })
    }
}
