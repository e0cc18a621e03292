//! Who is calling: an identity taken from trusted headers or from a verified JWT, mapped to the
//! user, tenant and roles every command's context carries.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::jwks::{Jwks, KeyLookup};

/// Where the identity of a request comes from.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// Nobody is identified: commands run without a user; `X-Tenant` still names the tenant of
    /// multi-tenant domains. For development and for servers behind nothing.
    #[default]
    Anonymous,
    /// `X-User`, `X-Tenant` and `X-Roles` are taken as they come, for servers behind a gateway
    /// that authenticates callers and sets those headers itself.
    TrustedHeaders,
    /// `Authorization: Bearer <JWT>`, verified; a request without a valid token is refused
    /// with 401.
    Jwt(Arc<JwtAuth>),
}

impl Auth {
    /// JWT authentication with this configuration.
    pub fn jwt(config: JwtAuth) -> Self {
        Auth::Jwt(Arc::new(config))
    }
}

/// The identity a request acts as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The acting user.
    pub user: Option<String>,
    /// The tenant (realm), if the identity names one.
    pub tenant: Option<String>,
    /// The caller's roles.
    pub roles: Vec<String>,
}

/// Why a request's identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("the request has no `Authorization: Bearer` token")]
    MissingToken,
    /// The token could not be verified.
    #[error("the bearer token is not valid: {0}")]
    InvalidToken(String),
    /// The signing keys could not be fetched.
    #[error("the signing keys cannot be fetched right now")]
    KeysUnavailable,
}

/// How JWTs are verified and mapped to a [`Principal`].
///
/// ```
/// use fluvius_http::{ClaimsMapping, JwtAuth, KeySource};
/// use jsonwebtoken::{Algorithm, DecodingKey};
///
/// let auth = JwtAuth::new(
///     KeySource::static_key(None, DecodingKey::from_secret(b"a shared secret")),
///     [Algorithm::HS256],
/// )
/// .issuer("https://sso.example.com/realms/acme")
/// .leeway_secs(30)
/// .mapping(ClaimsMapping::keycloak());
/// # let _ = auth;
/// ```
#[derive(Debug)]
pub struct JwtAuth {
    keys: KeySource,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    issuers: Vec<String>,
    audiences: Vec<String>,
    mapping: ClaimsMapping,
}

/// The most leeway [`JwtAuth::leeway_secs`] accepts, five minutes.
pub const MAX_LEEWAY_SECS: u64 = 300;

impl JwtAuth {
    /// Verifies tokens with these keys and only these algorithms (`none` is never one of them).
    pub fn new(keys: KeySource, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        JwtAuth {
            keys,
            algorithms: algorithms.into_iter().collect(),
            leeway: 0,
            issuers: Vec::new(),
            audiences: Vec::new(),
            mapping: ClaimsMapping::default(),
        }
    }

    /// Accepts `exp` and `nbf` this many seconds off (capped at [`MAX_LEEWAY_SECS`]).
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway = secs.min(MAX_LEEWAY_SECS);
        self
    }

    /// Requires `iss` to be this issuer (call again to accept several).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Requires `aud` to contain this audience (call again to accept several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Maps claims to the principal this way (default: [`ClaimsMapping::default`]).
    pub fn mapping(mut self, mapping: ClaimsMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Verifies a token and maps its claims.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::InvalidToken(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::InvalidToken(format!(
                "the algorithm {:?} is not allowed",
                header.alg
            )));
        }
        let key = self.keys.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = self.algorithms.clone();
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        if self.issuers.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&self.issuers);
        }
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
        }
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(invalid)?;
        Ok(self.mapping.principal(&data.claims))
    }
}

/// The keys tokens are verified with.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Keys configured by the application, each with an optional `kid`. A token with a `kid`
    /// uses the key of that id; a token without one uses the first key.
    Static(Vec<(Option<String>, DecodingKey)>),
    /// A JWKS document fetched from a URL and cached.
    Jwks(Arc<Jwks>),
}

impl KeySource {
    /// One static key.
    pub fn static_key(kid: Option<&str>, key: DecodingKey) -> Self {
        KeySource::Static(vec![(kid.map(str::to_owned), key)])
    }

    /// A JWKS URL, cached for `ttl`, refetched at most once per `min_refresh` when a token
    /// names an unknown `kid`.
    pub fn jwks(url: impl Into<String>, ttl: Duration, min_refresh: Duration) -> Self {
        KeySource::Jwks(Arc::new(Jwks::new(url.into(), ttl, min_refresh)))
    }

    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        match self {
            KeySource::Static(keys) => {
                let found = match kid {
                    Some(kid) => keys.iter().find(|(k, _)| k.as_deref() == Some(kid)),
                    None => keys.first(),
                };
                found
                    .map(|(_, key)| key.clone())
                    .ok_or_else(|| AuthError::InvalidToken("the token's `kid` is unknown".into()))
            }
            KeySource::Jwks(jwks) => match jwks.key(kid).await {
                KeyLookup::Found(key) => Ok(key),
                KeyLookup::Unknown => Err(AuthError::InvalidToken(
                    "no key of the JWKS matches the token's `kid`".into(),
                )),
                KeyLookup::Unavailable => Err(AuthError::KeysUnavailable),
            },
        }
    }
}

/// Where the tenant of a token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantClaim {
    /// Tokens name no tenant.
    None,
    /// A claim (a dotted path into the claims) holds the tenant.
    Claim(String),
    /// The realm of a Keycloak-style issuer, `.../realms/<realm>`.
    IssuerRealm,
}

/// Which claims give the user, the tenant and the roles. Claim names are dotted paths into the
/// claims object (`realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsMapping {
    /// Claims tried in order for the user; the first string found wins.
    pub user: Vec<String>,
    /// Where the tenant comes from.
    pub tenant: TenantClaim,
    /// Claims holding roles (arrays of strings, or one space-separated string); all are joined.
    pub roles: Vec<String>,
}

impl Default for ClaimsMapping {
    /// User from `sub`, no tenant, roles from `roles`.
    fn default() -> Self {
        ClaimsMapping {
            user: vec!["sub".into()],
            tenant: TenantClaim::None,
            roles: vec!["roles".into()],
        }
    }
}

impl ClaimsMapping {
    /// The Keycloak preset: the user from `preferred_username` (else `sub`), the tenant from the
    /// realm of the issuer (`https://sso/realms/<realm>`), the roles from `realm_access.roles`.
    pub fn keycloak() -> Self {
        ClaimsMapping {
            user: vec!["preferred_username".into(), "sub".into()],
            tenant: TenantClaim::IssuerRealm,
            roles: vec!["realm_access.roles".into()],
        }
    }

    /// The principal these claims describe.
    pub fn principal(&self, claims: &Value) -> Principal {
        let user = self
            .user
            .iter()
            .find_map(|path| claim(claims, path).and_then(Value::as_str))
            .map(str::to_owned);
        let tenant = match &self.tenant {
            TenantClaim::None => None,
            TenantClaim::Claim(path) => claim(claims, path)
                .and_then(Value::as_str)
                .map(str::to_owned),
            TenantClaim::IssuerRealm => claims
                .get("iss")
                .and_then(Value::as_str)
                .and_then(issuer_realm)
                .map(str::to_owned),
        };
        let mut roles = Vec::new();
        for path in &self.roles {
            match claim(claims, path) {
                Some(Value::Array(items)) => {
                    roles.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                Some(Value::String(text)) => {
                    roles.extend(text.split_whitespace().map(str::to_owned))
                }
                _ => {}
            }
        }
        Principal {
            user,
            tenant,
            roles,
        }
    }
}

fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(claims, |value, part| value.get(part))
}

/// `https://sso.example.com/realms/acme` → `acme`.
fn issuer_realm(issuer: &str) -> Option<&str> {
    let (_, rest) = issuer.trim_end_matches('/').rsplit_once("/realms/")?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// The principal of a request under `Auth::TrustedHeaders` or `Auth::Anonymous`.
pub(crate) fn header_principal(auth: &Auth, headers: &HeaderMap) -> Principal {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    match auth {
        Auth::TrustedHeaders => Principal {
            user: text("x-user"),
            tenant: text("x-tenant"),
            roles: text("x-roles")
                .map(|r| {
                    r.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => Principal {
            tenant: text("x-tenant"),
            ..Principal::default()
        },
    }
}

/// The bearer token of a request, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keycloak_takes_the_realm_from_the_issuer() {
        let claims = json!({
            "iss": "https://sso.example.com/realms/acme",
            "sub": "f1", "preferred_username": "ada",
            "realm_access": {"roles": ["teller", "auditor"]}
        });
        let principal = ClaimsMapping::keycloak().principal(&claims);
        assert_eq!(principal.user.as_deref(), Some("ada"));
        assert_eq!(principal.tenant.as_deref(), Some("acme"));
        assert_eq!(principal.roles, ["teller", "auditor"]);
    }

    #[test]
    fn an_issuer_without_a_realm_names_no_tenant() {
        assert_eq!(issuer_realm("https://sso.example.com/"), None);
        assert_eq!(issuer_realm("https://sso/realms/"), None);
        assert_eq!(issuer_realm("https://sso/realms/a/b"), None);
        assert_eq!(issuer_realm("https://sso/auth/realms/b/"), Some("b"));
    }
}
