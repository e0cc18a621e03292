//! RFC 9457 problem details: the one shape every error answer of the API takes, with a stable
//! `code` clients can match on and, where one field is to blame, a JSON pointer to it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluvius_core::Error;
use serde::Serialize;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, stable code, a sentence for people and the field to blame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:fluvius:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem (the same for every occurrence of a code).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// The stable machine-readable code, e.g. `validation` or `precondition-failed`.
    pub code: String,
    /// A JSON pointer (RFC 6901) to the offending member of the request body, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The code an action gave the broken business rule, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The name of the offending query parameter or header, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    #[serde(skip)]
    pub(crate) headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with this status, code and detail.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:fluvius:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            pointer: None,
            rule: None,
            parameter: None,
            headers: Vec::new(),
        }
    }

    /// Names the offending body member as a JSON pointer.
    pub fn with_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// Names the offending query parameter or header.
    pub fn with_parameter(mut self, parameter: impl Into<String>) -> Self {
        self.parameter = Some(parameter.into());
        self
    }

    /// Adds a response header (`Retry-After`, `ETag`, `Allow`).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 400 with code `bad-request` and the offending parameter named.
    pub(crate) fn bad_parameter(parameter: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-parameter", detail).with_parameter(parameter)
    }

    /// 404 for a path no route serves.
    pub(crate) fn no_route(path: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-route",
            format!("no route serves `{path}`: see /openapi.json for the routes"),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// A serde path (`items[0].amount`, `amount`) as a JSON pointer (`/items/0/amount`).
pub(crate) fn pointer_from_path(path: &str) -> String {
    let mut pointer = String::new();
    for part in path.split(['.', '[']) {
        let part = part.trim_end_matches(']');
        if part.is_empty() {
            continue;
        }
        pointer.push('/');
        pointer.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    pointer
}

/// The answer to an error of the core, by the status map of the HTTP guide. Faults keep their
/// internals out of the body; they go to `tracing`.
pub fn from_error(err: &Error) -> Problem {
    let code = err.code();
    match err {
        Error::UnitCommand { index, error, .. } => {
            // The command's own answer, pointed at its place in the unit's list.
            let mut problem = from_error(error);
            let inner = match problem.pointer.take() {
                Some(pointer) if matches!(error.as_ref(), Error::Validation { .. }) => {
                    format!("/payload{pointer}")
                }
                Some(pointer) => pointer,
                None => String::new(),
            };
            if problem.status < 500 && problem.code != "idempotency-key-reused" {
                problem.detail = err.to_string();
            }
            problem.with_pointer(format!("/{index}{inner}"))
        }
        Error::InvalidUnit { index, .. } => {
            let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string());
            match index {
                Some(index) => problem.with_pointer(format!("/{index}")),
                None => problem,
            }
        }
        Error::Validation { field, .. } => {
            let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string());
            match field {
                Some(field) => problem.with_pointer(pointer_from_path(field)),
                None => problem,
            }
        }
        Error::Rule(rule) => {
            let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, &rule.message);
            problem.rule = rule.code.clone();
            problem
        }
        Error::Unstorable { .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string())
        }
        Error::UnknownCommand(_) | Error::UnknownResource(_) | Error::NotFound { .. } => {
            Problem::new(StatusCode::NOT_FOUND, code, err.to_string())
        }
        Error::Forbidden(denial) => {
            // The deciding policies' ids stay out of the answer (their names may say more than
            // the caller should learn); they go to `tracing`, and the error keeps them.
            tracing::info!(
                action = %denial.action,
                resource = %denial.resource,
                id = %denial.id,
                policies = ?denial.policies,
                "denied by policy"
            );
            Problem::new(
                StatusCode::FORBIDDEN,
                code,
                format!(
                    "`{}` on {} `{}` is not allowed for this caller",
                    denial.action, denial.resource, denial.id
                ),
            )
        }
        Error::ForbiddenResource { .. } => {
            Problem::new(StatusCode::FORBIDDEN, code, err.to_string())
        }
        Error::AlreadyExists { .. } | Error::VersionConflict { .. } => {
            Problem::new(StatusCode::CONFLICT, code, err.to_string())
        }
        Error::DuplicateCommand { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different request",
        )
        .with_parameter("Idempotency-Key"),
        Error::InvalidQuery(_) | Error::InvalidVersion { .. } => {
            Problem::new(StatusCode::BAD_REQUEST, code, err.to_string())
        }
        Error::MissingTenant(_) | Error::UnexpectedTenant { .. } => {
            Problem::new(StatusCode::BAD_REQUEST, code, err.to_string())
        }
        Error::Unavailable { message, .. } => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            format!("the store is unavailable, nothing was written; retry later: {message}"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
        Error::OutcomeUnknown { .. } => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "the outcome of the command is unknown: read the resource, or repeat the request with \
             the same Idempotency-Key",
        ),
        _ => {
            tracing::error!(error = %err, code, "internal fault");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; nothing was written",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_json_pointers() {
        assert_eq!(pointer_from_path("amount"), "/amount");
        assert_eq!(pointer_from_path("items[0].amount"), "/items/0/amount");
        assert_eq!(pointer_from_path("a/b"), "/a~1b");
        assert_eq!(pointer_from_path("."), "");
    }

    #[test]
    fn faults_keep_internals_out_of_the_body() {
        let err = Error::Internal {
            message: "relation fluvius.events does not exist".into(),
            detail: None,
        };
        let problem = from_error(&err);
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("relation"));
    }
}
