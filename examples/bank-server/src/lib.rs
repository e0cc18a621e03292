//! The bank server's API: the bank domain (in memory, or on PostgreSQL when `DATABASE_URL` is
//! set) served with identity from trusted `X-User`/`X-Tenant`/`X-Roles` headers.

use fluvius::Domain;
use fluvius::http::{Auth, HttpApi};

/// The bank domain on the backend `DATABASE_URL` names, in memory when it is unset or empty.
pub async fn domain() -> Result<Domain, String> {
    let builder = Domain::builder("banking");
    let builder = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let backend = fluvius::PgBackend::connect(&url)
                .await
                .map_err(|e| format!("cannot use PostgreSQL at {url}: {e}"))?;
            builder.backend(backend)
        }
        _ => builder,
    };
    example_bank::domain(builder).map_err(|e| e.to_string())
}

/// The HTTP API of a bank domain.
pub fn api_for(domain: Domain) -> Result<HttpApi, String> {
    HttpApi::builder()
        .domain(domain)
        .auth(Auth::TrustedHeaders)
        .title("Fluvius bank")
        .build()
        .map_err(|e| e.to_string())
}

/// The server's API and the name of its backend.
pub async fn api() -> Result<(HttpApi, &'static str), String> {
    let domain = domain().await?;
    let backend = domain.backend().name();
    Ok((api_for(domain)?, backend))
}
