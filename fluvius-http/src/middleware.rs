//! What wraps every request: its request and correlation ids, its `tracing` span, its time limit,
//! and problem details for the error answers axum itself gives (no route, wrong method, body
//! too large), so that no error leaves the server in another shape.

use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::api::HttpApi;
use crate::problem::{PROBLEM_JSON, Problem};

/// The request id header, echoed on every answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The correlation id header: ties the commands of one business operation together.
pub const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
/// The causation id header: the event or command that caused this request.
pub const CAUSATION_ID: HeaderName = HeaderName::from_static("x-causation-id");

/// The ids of one request, put in its extensions for the handlers.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    pub(crate) correlation_id: Result<Uuid, Problem>,
    pub(crate) causation_id: Result<Option<Uuid>, Problem>,
}

/// The longest request id taken from a caller; longer ones are replaced.
const MAX_REQUEST_ID: usize = 200;

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}

fn uuid_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<Uuid>, Problem> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| Problem::bad_parameter(name.as_str(), format!("`{name}` must be a UUID")))
}

pub(crate) async fn around(
    State(api): State<HttpApi>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let request_id = request_id(headers);
    let correlation_id =
        uuid_header(headers, &CORRELATION_ID).map(|id| id.unwrap_or_else(Uuid::now_v7));
    let causation_id = uuid_header(headers, &CAUSATION_ID);
    let correlation_text = correlation_id
        .as_ref()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "http.request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        correlation_id = %correlation_text,
        status = tracing::field::Empty,
    );
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(RequestIds {
        request_id: request_id.clone(),
        correlation_id,
        causation_id,
    });
    let timeout = api.shared.timeout;
    let answer = async move {
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => as_problem(response, &path).await,
            Err(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request was not answered within {} ms; a command already received runs to \
                     its end: repeat it with the same Idempotency-Key to learn its outcome",
                    timeout.as_millis()
                ),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response(),
        }
    };
    let mut response = answer.instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    span.in_scope(|| tracing::info!(status, "request answered"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Error answers not already problem details (axum's own) are turned into them.
async fn as_problem(response: Response, path: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::no_route(path),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method-not-allowed",
            "this route does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(status, "body-too-large", text),
        _ if status.is_server_error() => {
            tracing::error!(status = status.as_u16(), body = %text, "unhandled server error");
            Problem::new(status, "internal", "an internal error occurred")
        }
        _ => Problem::new(status, "bad-request", text),
    };
    let mut answer = problem.into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
}

pub(crate) async fn no_route(OriginalUri(uri): OriginalUri) -> Response {
    Problem::no_route(uri.path()).into_response()
}

pub(crate) async fn method_not_allowed() -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not take that method",
    )
    .into_response()
}
