//! `POST /<namespace>:<command>/<resource>/<identifier|:new>`: a JSON body becomes a command,
//! with `If-Match` as its expected version and `Idempotency-Key` as its command id.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluvius_core::{AggRoot, Domain, Error, EventEnvelope, LogCursor, NewRoot};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::{HttpApi, Shared};
use crate::caller::Caller;
use crate::problem::{Problem, from_error};
use crate::rejection;

/// The path segment of a creation command whose identifier the server generates.
pub const NEW: &str = ":new";
/// The header naming a command's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header telling that an answer is the recorded answer to an earlier request.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The namespace of the name-based ids made from idempotency keys.
const KEY_SCOPE: Uuid = Uuid::from_u128(0x6c0f_0d1e_9b7a_4c55_a1f3_2d8e_4b6a_9e01);

/// A POST to a query route.
pub(crate) async fn not_a_command() -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "queries take GET; commands are posted to /<namespace>:<command>/<resource>/<identifier>",
    )
    .with_header(header::ALLOW, HeaderValue::from_static("GET"))
    .into_response()
}

pub(crate) async fn run(
    State(api): State<HttpApi>,
    caller: Result<Caller, Problem>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match command(&api, caller, path, query, &headers, body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn command(
    api: &HttpApi,
    caller: Result<Caller, Problem>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Response> {
    let Path((first, resource, identifier)) = path.map_err(rejection::path)?;
    let Some((namespace, key)) = first.split_once(':') else {
        return Err(not_a_command().await);
    };
    let served = api
        .served(namespace)
        .ok_or_else(|| unknown_namespace(namespace))?;
    let caller = caller.map_err(IntoResponse::into_response)?;
    let domain = &served.domain;
    let context = caller.context(domain);
    // Every attempt from here on is in the domain's audit log, those refused before they became
    // a command included.
    let target = if identifier == NEW {
        (resource.as_str(), "")
    } else {
        (resource.as_str(), identifier.as_str())
    };
    let refuse = |err: Error, response: Option<Response>| {
        let context = &context;
        async move {
            domain
                .record_rejected(context, key, target, None, &err)
                .await;
            response.unwrap_or_else(|| problem(&err))
        }
    };
    let invalid = |field: &str, message: String| Error::Validation {
        command: key.to_owned(),
        field: Some(field.to_owned()),
        message,
    };
    let Some(action) = domain.action(key) else {
        return Err(refuse(Error::UnknownCommand(key.to_owned()), None).await);
    };
    let creates = action.creates;
    let explicit_id = match single_param(query.as_deref(), "identifier") {
        Ok(id) => id,
        Err(response) => {
            let err = invalid(
                "identifier",
                "the query string is not `?identifier=..`".into(),
            );
            return Err(refuse(err, Some(response)).await);
        }
    };
    if identifier != NEW && explicit_id.is_some() {
        let message = "`?identifier=` goes with `:new` only; the path already names the identifier";
        let response = Problem::bad_parameter("identifier", message).into_response();
        return Err(refuse(invalid("identifier", message.into()), Some(response)).await);
    }
    if identifier == NEW && !creates {
        let message = format!(
            "`{key}` acts on an existing {resource}: name its identifier instead of `:new`"
        );
        let response = Problem::new(StatusCode::BAD_REQUEST, "invalid-target", message.clone())
            .into_response();
        return Err(refuse(invalid("identifier", message), Some(response)).await);
    }
    let payload = match payload(headers, body) {
        Ok(payload) => payload,
        Err(response) => {
            let message = format!(
                "the request body could not be read as JSON (HTTP {})",
                response.status().as_u16()
            );
            return Err(refuse(invalid("body", message), Some(response)).await);
        }
    };
    let expected = match if_match(headers) {
        Ok(expected) => expected,
        Err(response) => {
            let err = invalid("If-Match", "`If-Match` is not one strong entity tag".into());
            return Err(refuse(err, Some(response)).await);
        }
    };
    if expected.is_none() && served.options.require_if_match && !creates {
        let message =
            format!("commands of `{namespace}` must carry `If-Match` with the version they act on");
        let response = Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            message.clone(),
        )
        .with_parameter("If-Match")
        .into_response();
        return Err(refuse(invalid("If-Match", message), Some(response)).await);
    }
    let idempotency = match idempotency_key(headers, &caller) {
        Ok(id) => id,
        Err(response) => {
            let err = invalid("Idempotency-Key", "`Idempotency-Key` is malformed".into());
            return Err(refuse(err, Some(response)).await);
        }
    };
    let built = match (identifier == NEW, explicit_id) {
        (true, None) => domain.create_command(key, payload, NewRoot(resource.clone())),
        (true, Some(id)) => domain.create_command(key, payload, AggRoot::new(&resource, id)),
        (false, _) => domain.create_command(key, payload, AggRoot::new(&resource, &identifier)),
    };
    let mut command = match built {
        Ok(command) => command.with_context(context.clone()),
        Err(err) => return Err(refuse(err, None).await),
    };
    if let Some(version) = expected {
        command = command.expect_version(version);
    }
    let running = match idempotency {
        Some(id) => {
            command = command.with_id(id);
            Some(
                Running::start(api.shared.clone(), namespace, &context.tenant, id)
                    .ok_or_else(key_in_use)?,
            )
        }
        None => None,
    };
    // A caller that goes away never cuts a command short: once queued, the domain finishes it
    // in a task of its own. A command with an idempotency key also keeps its key marked as
    // running until its outcome is known, so it runs in its own task from the start.
    let outcome = match running {
        None => domain.process_command(command).await,
        Some(running) => {
            let task_domain: Domain = domain.clone();
            tokio::spawn(async move {
                let outcome = task_domain.process_command(command).await;
                drop(running);
                outcome
            })
            .await
            .unwrap_or_else(|err| Err(Error::internal(format!("the command task failed: {err}"))))
        }
    };
    match outcome {
        Ok(response) => answer(namespace, creates, &response),
        Err(err @ Error::VersionConflict { actual, .. }) if expected.is_some() => {
            Err(Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                err.to_string(),
            )
            .with_parameter("If-Match")
            .with_header(header::ETAG, etag(actual))
            .into_response())
        }
        Err(err) => Err(problem(&err)),
    }
}

/// The answer to a command, serialized straight from the response (no intermediate JSON tree).
#[derive(Serialize)]
struct Answer<'a> {
    command_id: Uuid,
    root: &'a AggRoot,
    events: &'a [EventEnvelope],
    version: u64,
    cursor: LogCursor,
    state: Value,
}

fn answer(
    namespace: &str,
    creates: bool,
    response: &fluvius_core::Response,
) -> Result<Response, Response> {
    let body = Answer {
        command_id: response.command_id,
        root: &response.root,
        events: &response.events,
        version: response.version,
        cursor: response.cursor(),
        state: response.state_json().map_err(|err| problem(&err))?,
    };
    let mut bytes = Vec::with_capacity(512 + 512 * response.events.len());
    serde_json::to_writer(&mut bytes, &body).map_err(|err| {
        problem(&Error::internal(format!(
            "the answer to a command could not be written as JSON: {err}"
        )))
    })?;
    let status = if creates {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut answer = (status, bytes).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ETAG, etag(response.version));
    if creates {
        let location = format!(
            "/{namespace}.{}/{}",
            response.root.resource,
            crate::queries::encode_segment(&response.root.id)
        );
        if let Ok(value) = HeaderValue::from_str(&location) {
            headers.insert(header::LOCATION, value);
        }
    }
    if response.replayed {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(answer)
}

/// 409 for a request whose `Idempotency-Key` is still running.
pub(crate) fn key_in_use() -> Response {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-in-use",
        "a request with this Idempotency-Key is still running; retry later",
    )
    .with_parameter("Idempotency-Key")
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    .into_response()
}

/// The strong entity tag of a version: `"<version>"`.
pub(crate) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-Match: "<version>"`: the version the command expects. Weak tags and `*` are refused, as
/// a version is compared strongly.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Response> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        Problem::bad_parameter(
            "If-Match",
            "`If-Match` must be one strong entity tag of a version, like `\"3\"`",
        )
        .into_response()
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(bad)?;
    let version: u64 = inner.parse().map_err(|_| bad())?;
    if version == 0 || version > fluvius_core::limits::MAX_VERSION {
        return Err(bad());
    }
    Ok(Some(version))
}

/// The command id an `Idempotency-Key` stands for: a name-based id of the caller and the key,
/// so two callers' keys never meet (the backends scope command ids by tenant as well).
pub(crate) fn idempotency_key(
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<Option<Uuid>, Response> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            Problem::bad_parameter(
                "Idempotency-Key",
                format!(
                    "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                ),
            )
            .into_response()
        })?;
    let name = format!("{}\n{key}", caller.principal_scope());
    Ok(Some(Uuid::new_v5(&KEY_SCOPE, name.as_bytes())))
}

/// The JSON body; empty means `{}`. A body that is not JSON is refused with 400, a declared
/// content type other than JSON with 415.
pub(crate) fn payload(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, Response> {
    let body = body.map_err(rejection::bytes)?;
    if let Some(kind) = headers.get(header::CONTENT_TYPE) {
        let kind = kind.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = kind.split(';').next().unwrap_or("").trim();
        if !body.is_empty() && essence != "application/json" && !essence.ends_with("+json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                format!("the body must be `application/json`, not `{essence}`"),
            )
            .with_parameter("Content-Type")
            .into_response());
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&body).map_err(|err| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            format!("the body is not valid JSON: {err}"),
        )
        .with_pointer("")
        .into_response()
    })
}

/// The one value of a query parameter; any other parameter is refused.
fn single_param(query: Option<&str>, name: &str) -> Result<Option<String>, Response> {
    let mut found = None;
    for (key, value) in crate::queries::parse_query(query).map_err(IntoResponse::into_response)? {
        if key != name {
            return Err(
                Problem::bad_parameter(&key, format!("unknown query parameter `{key}`"))
                    .into_response(),
            );
        }
        if found.replace(value).is_some() {
            return Err(
                Problem::bad_parameter(name, format!("`{name}` is given twice")).into_response(),
            );
        }
    }
    Ok(found)
}

pub(crate) fn unknown_namespace(namespace: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown-namespace",
        format!("no domain is served with namespace `{namespace}`"),
    )
    .into_response()
}

fn problem(err: &Error) -> Response {
    from_error(err).into_response()
}

/// The mark of a command with an idempotency key while it runs; dropped when it has answered.
pub(crate) struct Running {
    shared: Arc<Shared>,
    key: (String, String, Uuid),
}

impl Running {
    pub(crate) fn start(
        shared: Arc<Shared>,
        namespace: &str,
        tenant: &str,
        id: Uuid,
    ) -> Option<Self> {
        let key = (namespace.to_owned(), tenant.to_owned(), id);
        let inserted = shared.running.lock().insert(key.clone());
        inserted.then_some(Running { shared, key })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.running.lock().remove(&self.key);
    }
}
