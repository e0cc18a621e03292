//! `POST /<namespace>:unit`: a JSON list of commands run as one unit
//! ([`Domain::process_unit`]): all of them commit, or none does.
//!
//! Each item names its command, resource and identifier (`:new` for a generated one) as the
//! command route's path does, with its payload and, instead of `If-Match`, an optional
//! `expected_version`. `Idempotency-Key` makes the whole unit idempotent: the commands take ids
//! derived from it and their place in the list.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluvius_core::{AggRoot, Command, Domain, Error, LogCursor, NewRoot};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::HttpApi;
use crate::caller::Caller;
use crate::commands::{NEW, REPLAYED, Running, idempotency_key, payload, unknown_namespace};
use crate::problem::{Problem, from_error};
use crate::rejection;

/// The command name of the unit route: `POST /<namespace>:unit`.
pub const UNIT: &str = "unit";

/// One command of a unit's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    command: String,
    resource: String,
    identifier: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    expected_version: Option<u64>,
}

pub(crate) async fn run(
    State(api): State<HttpApi>,
    caller: Result<Caller, Problem>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match unit(&api, caller, path, &headers, body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn unit(
    api: &HttpApi,
    caller: Result<Caller, Problem>,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Response> {
    let Path(first) = path.map_err(rejection::path)?;
    let Some((namespace, UNIT)) = first.split_once(':') else {
        return Err(Problem::no_route(&format!("/{first}")).into_response());
    };
    let served = api
        .served(namespace)
        .ok_or_else(|| unknown_namespace(namespace))?;
    let caller = caller.map_err(IntoResponse::into_response)?;
    let domain = &served.domain;
    let body = payload(headers, body)?;
    let Value::Array(items) = body else {
        return Err(malformed("", "the body must be a JSON list of commands"));
    };
    let idempotency = idempotency_key(headers, &caller)?;
    let context = caller.context(domain);
    let mut commands = Vec::with_capacity(items.len());
    let mut expected = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Item {
            command: key,
            resource,
            identifier,
            payload,
            expected_version,
        } = serde_json::from_value(item)
            .map_err(|err| malformed(&format!("/{index}"), &format!("command {index}: {err}")))?;
        let attempt = (key.clone(), resource.clone(), identifier.clone());
        let mut command = match build(domain, index, (key, resource, identifier), payload) {
            Ok(command) => command.with_context(context.clone()),
            Err((response, err)) => {
                // The unit never reached the domain: its failing item is the attempt recorded.
                let (key, resource, identifier) = &attempt;
                let id = if identifier == NEW {
                    ""
                } else {
                    identifier.as_str()
                };
                domain
                    .record_rejected(&context, key, (resource, id), None, &err)
                    .await;
                return Err(response);
            }
        };
        if let Some(version) = expected_version {
            if version == 0 || version > fluvius_core::limits::MAX_VERSION {
                return Err(malformed(
                    &format!("/{index}/expected_version"),
                    &format!(
                        "command {index}: `expected_version` must be a version from 1 to {}",
                        fluvius_core::limits::MAX_VERSION
                    ),
                ));
            }
            command = command.expect_version(version);
        }
        if let Some(base) = idempotency {
            command = command.with_id(Uuid::new_v5(&base, index.to_string().as_bytes()));
        }
        expected.push(expected_version.is_some());
        commands.push(command);
    }
    let running = match idempotency {
        Some(id) => Some(
            Running::start(api.shared.clone(), namespace, &context.tenant, id)
                .ok_or_else(crate::commands::key_in_use)?,
        ),
        None => None,
    };
    // The unit runs in its own task: a caller that goes away does not cut it short.
    let task_domain: Domain = domain.clone();
    let outcome = tokio::spawn(async move {
        let outcome = task_domain.process_unit(commands).await;
        drop(running);
        outcome
    })
    .await
    .unwrap_or_else(|err| Err(Error::internal(format!("the unit's task failed: {err}"))));
    match outcome {
        Ok(responses) => answer(&responses),
        Err(err) => Err(unit_problem(&err, &expected).into_response()),
    }
}

/// The command of one item, or the unit's answer naming it and the error to audit.
fn build(
    domain: &Domain,
    index: usize,
    (key, resource, identifier): (String, String, String),
    payload: Value,
) -> Result<Command, (Response, Error)> {
    let creates = domain.action(&key).map(|a| a.creates);
    if identifier == NEW && creates == Some(false) {
        let message = format!(
            "command {index}: `{key}` acts on an existing {resource}: name its identifier \
             instead of `:new`"
        );
        let response = Problem::new(StatusCode::BAD_REQUEST, "invalid-target", message.clone())
            .with_pointer(format!("/{index}/identifier"))
            .into_response();
        let err = Error::Validation {
            command: key,
            field: Some("identifier".into()),
            message,
        };
        return Err((response, err));
    }
    let built = if identifier == NEW {
        domain.create_command(&key, payload, NewRoot(resource.clone()))
    } else {
        domain.create_command(&key, payload, AggRoot::new(&resource, &identifier))
    };
    built.map_err(|error| {
        let err = Error::UnitCommand {
            index,
            command: key.clone(),
            root: AggRoot::new(&resource, &identifier),
            error: Box::new(error),
        };
        (from_error(&err).into_response(), err)
    })
}

fn answer(responses: &[fluvius_core::Response]) -> Result<Response, Response> {
    let mut items = Vec::with_capacity(responses.len());
    let mut cursor = LogCursor::START;
    for response in responses {
        let state = response
            .state_json()
            .map_err(|err| from_error(&err).into_response())?;
        cursor = cursor.max(response.cursor());
        items.push(json!({
            "command_id": response.command_id,
            "root": response.root,
            "events": response.events,
            "version": response.version,
            "cursor": response.cursor(),
            "state": state,
        }));
    }
    let body = json!({"responses": items, "cursor": cursor});
    let mut answer = (StatusCode::OK, axum::Json(body)).into_response();
    if !responses.is_empty() && responses.iter().all(|r| r.replayed) {
        answer
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(answer)
}

/// A unit's error: a failing command's expected version that did not match is 412, as
/// `If-Match` is on the command route; everything else as [`from_error`] maps it.
fn unit_problem(err: &Error, expected: &[bool]) -> Problem {
    if let Error::UnitCommand { index, error, .. } = err
        && let Error::VersionConflict { actual, .. } = error.as_ref()
        && expected.get(*index) == Some(&true)
    {
        return Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            err.to_string(),
        )
        .with_pointer(format!("/{index}/expected_version"))
        .with_header(header::ETAG, crate::commands::etag(*actual));
    }
    from_error(err)
}

fn malformed(pointer: &str, detail: &str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "malformed-unit", detail)
        .with_pointer(pointer)
        .into_response()
}
