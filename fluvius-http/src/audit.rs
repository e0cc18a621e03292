//! `GET /_audit/<namespace>`: audit reports over HTTP. The same query parameters as a list
//! route (`query` in the filter DSL over the audit record's fields, `sort`, `limit`, `offset`,
//! `page`), and `format`: `json` (a page, as list routes answer), `jsonl` or `csv` (every
//! matching record, streamed). Only callers holding one of the domain's audit reader roles
//! ([`DomainOptions::audit_readers`](crate::DomainOptions::audit_readers)) may read it, and
//! only their own tenant's records.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluvius_core::{AuditExport, Error, ExportFormat};
use serde_json::json;

use crate::api::HttpApi;
use crate::caller::Caller;
use crate::commands::unknown_namespace;
use crate::problem::{Problem, from_error};
use crate::queries::list_request;
use crate::rejection;

pub(crate) async fn report(
    State(api): State<HttpApi>,
    caller: Result<Caller, Problem>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome = async {
        let Path(namespace) = path.map_err(rejection::path)?;
        let served = api
            .served(&namespace)
            .ok_or_else(|| unknown_namespace(&namespace))?;
        let caller = caller.map_err(IntoResponse::into_response)?;
        let readers = &served.options.audit_readers;
        if !caller
            .principal
            .roles
            .iter()
            .any(|role| readers.contains(role))
        {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the audit log of `{namespace}` is read by callers with the role {}",
                    readers
                        .iter()
                        .map(|r| format!("`{r}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            )
            .into_response());
        }
        let domain = &served.domain;
        if domain.backend().audit().is_none() {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no-audit-log",
                format!("the backend of `{namespace}` keeps no audit log"),
            )
            .into_response());
        }
        let (request, extra) = list_request(query.as_deref(), &["format"])?;
        let format = match extra.last().map(|(_, v)| v.as_str()) {
            None | Some("json") => None,
            Some("jsonl") => Some(ExportFormat::JsonLines),
            Some("csv") => Some(ExportFormat::Csv),
            Some(other) => {
                return Err(Problem::bad_parameter(
                    "format",
                    format!("`format` is `json`, `jsonl` or `csv`, not `{other}`"),
                )
                .into_response());
            }
        };
        let log = domain.audit_log(&caller.context(domain));
        let failed = |err: Error| from_error(&err).into_response();
        let Some(format) = format else {
            let report = log.query(&request).await.map_err(failed)?;
            return Ok(axum::Json(json!({
                "data": report.items,
                "pagination": report.page,
            }))
            .into_response());
        };
        let export = log.export(&request, format).map_err(failed)?;
        let kind = match format {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            _ => "application/x-ndjson",
        };
        let mut response = Body::from_stream(chunks(export)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        Ok(response)
    };
    match outcome.await {
        Ok(response) | Err(response) => response,
    }
}

/// The export's chunks as a body stream; an error after the first chunk ends the body early
/// (the status is sent by then), and is logged.
fn chunks(
    export: AuditExport,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(export))),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = %err, "an audit export failed part way");
                Some((Err(std::io::Error::other(err.to_string())), None))
            }
        }
    })
}
