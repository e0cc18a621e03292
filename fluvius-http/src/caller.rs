//! The caller of a request and the command context made from it: user, tenant, roles,
//! correlation, causation and request ids, all of which land in every event's metadata.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use fluvius_core::{Context, Domain, Transport};

use crate::api::HttpApi;
use crate::auth::{self, Auth, AuthError, Principal};
use crate::middleware::RequestIds;
use crate::problem::Problem;

/// The context header that holds the caller's roles (comma separated).
pub const ROLES_HEADER: &str = "roles";
/// The context header that holds the request id.
pub const REQUEST_ID_HEADER: &str = "request-id";

/// Who calls, as verified for this request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) ids: RequestIds,
}

impl FromRequestParts<HttpApi> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &HttpApi) -> Result<Self, Problem> {
        let ids = parts
            .extensions
            .get::<RequestIds>()
            .cloned()
            .ok_or_else(|| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no ids"))?;
        ids.correlation_id.clone()?;
        ids.causation_id.clone()?;
        let principal = match &api.shared.auth {
            Auth::Jwt(jwt) => {
                let token = auth::bearer(&parts.headers)
                    .ok_or_else(|| unauthorized(&AuthError::MissingToken))?;
                jwt.verify(token).await.map_err(|err| match err {
                    AuthError::KeysUnavailable => Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "keys-unavailable",
                        err.to_string(),
                    )
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
                    other => unauthorized(&other),
                })?
            }
            other => auth::header_principal(other, &parts.headers),
        };
        Ok(Caller { principal, ids })
    }
}

fn unauthorized(err: &AuthError) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", err.to_string())
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
}

impl Caller {
    /// The context of a command or read on `domain`. The tenant is taken only for multi-tenant
    /// domains; single-tenant ones ignore it.
    pub(crate) fn context(&self, domain: &Domain) -> Context {
        let mut context = Context::new().transport(Transport::Http);
        if let Some(user) = &self.principal.user {
            context = context.user(user.clone());
        }
        if domain.is_multi_tenant()
            && let Some(tenant) = &self.principal.tenant
        {
            context = context.tenant(tenant.clone());
        }
        if let Ok(correlation) = &self.ids.correlation_id {
            context = context.correlation_id(*correlation);
        }
        if let Ok(Some(causation)) = &self.ids.causation_id {
            context = context.causation_id(*causation);
        }
        context = context.header(REQUEST_ID_HEADER, self.ids.request_id.clone());
        if !self.principal.roles.is_empty() {
            context = context.header(ROLES_HEADER, self.principal.roles.join(","));
            context = context.roles(self.principal.roles.iter().cloned());
        }
        context
    }

    /// Who the idempotency keys of this caller belong to.
    pub(crate) fn principal_scope(&self) -> &str {
        self.principal.user.as_deref().unwrap_or("")
    }
}
