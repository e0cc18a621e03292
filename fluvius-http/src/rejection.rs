//! axum's extractor rejections as problem details.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// A path whose segments do not decode (invalid percent-encoding or UTF-8).
pub(crate) fn path(rejection: PathRejection) -> Response {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-path",
        format!("the path cannot be read: {}", rejection.body_text()),
    )
    .into_response()
}

/// A body that could not be read: too large (413) or broken off.
pub(crate) fn bytes(rejection: BytesRejection) -> Response {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "body-too-large"
    } else {
        "unreadable-body"
    };
    Problem::new(status, code, rejection.body_text()).into_response()
}
