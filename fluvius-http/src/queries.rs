//! The read routes: `GET /<namespace>.<resource>/` (a page of a query in the filter DSL),
//! `GET /<namespace>.<resource>/<identifier>` (current state, or `?at=` a version or an
//! instant) and `.../<identifier>/history` (the events).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use fluvius_core::filter::FilterError;
use fluvius_core::{At, Error, Query, Record};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use crate::api::{HttpApi, Served};
use crate::caller::Caller;
use crate::commands::{etag, unknown_namespace};
use crate::problem::{Problem, from_error};
use crate::rejection;

/// Characters escaped in a path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// An identifier written as a path segment.
pub(crate) fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The decoded pairs of a query string.
pub(crate) fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, Problem> {
    let Some(query) = query else {
        return Ok(Vec::new());
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some((key, _)) = pairs
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(Problem::bad_parameter(
            key,
            "query parameters may not contain NUL",
        ));
    }
    Ok(pairs)
}

/// `<namespace>.<resource>` → the served domain and the resource, checked.
fn target<'a>(api: &'a HttpApi, first: &'a str) -> Result<(&'a Served, &'a str), Response> {
    let Some((namespace, resource)) = first.split_once('.') else {
        return Err(Problem::no_route(&format!("/{first}")).into_response());
    };
    let served = api
        .served(namespace)
        .ok_or_else(|| unknown_namespace(namespace))?;
    served
        .domain
        .resource_schema(resource)
        .map_err(|err| from_error(&err).into_response())?;
    Ok((served, resource))
}

fn param_error(key: &str) -> Response {
    Problem::bad_parameter(key, format!("unknown query parameter `{key}`")).into_response()
}

fn integer(key: &str, value: &str) -> Result<i64, Response> {
    value.trim().parse().map_err(|_| {
        Problem::bad_parameter(key, format!("`{key}` must be an integer, got `{value}`"))
            .into_response()
    })
}

pub(crate) async fn list(
    State(api): State<HttpApi>,
    caller: Result<Caller, Problem>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome = async {
        let Path(first) = path.map_err(rejection::path)?;
        let (served, resource) = target(&api, &first)?;
        let caller = caller.map_err(IntoResponse::into_response)?;
        let (request, _) = list_request(query.as_deref(), &[])?;
        let found = served
            .domain
            .statemgr_for(&caller.context(&served.domain))
            .find::<Value>(resource, &request)
            .await
            .map_err(|err| from_error(&err).into_response())?;
        Ok(axum::Json(json!({
            "data": found.items.iter().map(record_json).collect::<Vec<_>>(),
            "pagination": found.page,
        }))
        .into_response())
    };
    match outcome.await {
        Ok(response) | Err(response) => response,
    }
}

/// The filter DSL, sort keys and page of a list route's query string (`query`, `sort`,
/// `limit`, `offset`, `page`), and the values of the `extra` parameters the route also takes;
/// any other parameter is refused.
pub(crate) fn list_request(
    query: Option<&str>,
    extra: &[&str],
) -> Result<(Query, Vec<(String, String)>), Response> {
    let mut others = Vec::new();
    let mut request = Query::new();
    let (mut limit, mut offset, mut page) = (None, None, None);
    let mut sort = Vec::new();
    for (key, value) in parse_query(query).map_err(IntoResponse::into_response)? {
        match key.as_str() {
            "query" => {
                let filter: Value = serde_json::from_str(&value).map_err(|err| {
                    Problem::bad_parameter("query", format!("`query` is not JSON: {err}"))
                        .into_response()
                })?;
                request = request.filter(filter);
            }
            "sort" => sort.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "limit" => limit = Some(integer("limit", &value)?),
            "offset" => offset = Some(integer("offset", &value)?),
            "page" => page = Some(integer("page", &value)?),
            other if extra.contains(&other) => others.push((key.clone(), value)),
            other => return Err(param_error(other)),
        }
    }
    if page.is_some() && offset.is_some() {
        return Err(
            Problem::bad_parameter("page", "give `page` or `offset`, not both").into_response(),
        );
    }
    let limit_value = limit.unwrap_or(fluvius_core::filter::DEFAULT_LIMIT);
    if let Some(page) = page {
        if page < 1 {
            return Err(from_error(&Error::InvalidQuery(FilterError::InvalidOffset {
                offset: page,
            }))
            .with_parameter("page")
            .into_response());
        }
        let clamped = limit_value.clamp(1, fluvius_core::filter::MAX_LIMIT);
        offset = Some((page - 1).saturating_mul(clamped));
    }
    if let Some(limit) = limit {
        request = request.limit(limit);
    }
    if let Some(offset) = offset {
        request = request.offset(offset);
    }
    request = request.sort(sort);
    Ok((request, others))
}

fn record_json(record: &Record<Value>) -> Value {
    json!({
        "id": record.id,
        "version": record.version,
        "deleted": record.deleted,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
        "state": record.state,
    })
}

/// `?at=` as a version (`3`) or an RFC 3339 instant.
fn parse_at(value: &str) -> Result<At, Response> {
    if let Ok(version) = value.trim().parse::<u64>() {
        return Ok(At::Version(version));
    }
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| At::Time(t.with_timezone(&Utc)))
        .map_err(|_| {
            Problem::bad_parameter(
                "at",
                format!("`at` must be a version number or an RFC 3339 instant, got `{value}`"),
            )
            .into_response()
        })
}

pub(crate) async fn fetch(
    State(api): State<HttpApi>,
    caller: Result<Caller, Problem>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let Path((first, id)) = path.map_err(rejection::path)?;
        let (served, resource) = target(&api, &first)?;
        let caller = caller.map_err(IntoResponse::into_response)?;
        let mut at = None;
        for (key, value) in parse_query(query.as_deref()).map_err(IntoResponse::into_response)? {
            match key.as_str() {
                "at" if at.is_none() => at = Some(parse_at(&value)?),
                "at" => {
                    return Err(Problem::bad_parameter("at", "`at` is given twice").into_response());
                }
                other => return Err(param_error(other)),
            }
        }
        let states = served.domain.statemgr_for(&caller.context(&served.domain));
        let fault = |err: Error| from_error(&err).into_response();
        if let Some(at) = at {
            let record = states
                .fetch_at_json(resource, &id, at)
                .await
                .map_err(fault)?;
            // The record as it was: its version, whether it was deleted then, its state.
            let mut body = record_json(&record);
            body["at"] = match at {
                At::Version(v) => json!(v),
                At::Time(t) => json!(t),
                _ => Value::Null,
            };
            return Ok(axum::Json(body).into_response());
        }
        let record = states
            .fetch_record::<Value>(resource, &id)
            .await
            .map_err(fault)?;
        let tag = etag(record.version);
        if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == tag.as_bytes())
        {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
        }
        Ok(([(header::ETAG, tag)], axum::Json(record_json(&record))).into_response())
    };
    match outcome.await {
        Ok(response) | Err(response) => response,
    }
}

pub(crate) async fn history(
    State(api): State<HttpApi>,
    caller: Result<Caller, Problem>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome = async {
        let Path((first, id, tail)) = path.map_err(rejection::path)?;
        if tail != "history" || first.contains(':') {
            if first.contains(':') {
                return Err(Problem::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    "commands take POST",
                )
                .with_header(header::ALLOW, axum::http::HeaderValue::from_static("POST"))
                .into_response());
            }
            return Err(Problem::no_route(&format!("/{first}/{id}/{tail}")).into_response());
        }
        let (served, resource) = target(&api, &first)?;
        let caller = caller.map_err(IntoResponse::into_response)?;
        if let Some((key, _)) = parse_query(query.as_deref())
            .map_err(IntoResponse::into_response)?
            .first()
        {
            return Err(param_error(key));
        }
        let events = served
            .domain
            .statemgr_for(&caller.context(&served.domain))
            .history(resource, &id)
            .await
            .map_err(|err| from_error(&err).into_response())?;
        let head = events.last().map_or(0, |e| e.version);
        Ok((
            [(header::ETAG, etag(head))],
            axum::Json(json!({"data": events})),
        )
            .into_response())
    };
    match outcome.await {
        Ok(response) | Err(response) => response,
    }
}
