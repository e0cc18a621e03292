//! The bank example served over HTTP: every command of the bank domain is a generated route,
//! `GET /openapi.json` describes them, and errors are RFC 9457 problem details.
//!
//! Run it with `cargo run -p example-bank-server`: in memory by default, on PostgreSQL when
//! `DATABASE_URL` is set (it writes to that database, so use a scratch one). It listens on
//! `127.0.0.1:8080`, or on the address in `BIND`. Identity comes from the `X-User`, `X-Tenant`
//! and `X-Roles` headers, as set by a gateway in front of it.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (api, backend) = match example_bank_server::api().await {
        Ok(api) => api,
        Err(err) => {
            eprintln!("example-bank-server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("example-bank-server: cannot listen on {bind}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("serving the bank domain ({backend} backend) on http://{bind}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, api.router())
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("example-bank-server: {err}");
            ExitCode::FAILURE
        }
    }
}
