//! The workloads over HTTP: the bank domain served by `fluvius-http` on 127.0.0.1 in the same
//! process, driven by a pooled HTTP/1.1 client, so the figures show what the HTTP layer costs
//! next to the in-process run.

use fluvius::Domain;
use fluvius::http::HttpApi;

/// A client of the bank domain's HTTP API.
#[derive(Debug, Clone)]
pub struct HttpBank {
    client: reqwest::Client,
    base: String,
    domain: Domain,
}

impl HttpBank {
    /// Serves `domain` on a free port of 127.0.0.1 and connects a client to it.
    pub async fn serve(domain: Domain, connections: usize) -> Result<Self, String> {
        let api = HttpApi::builder()
            .domain(domain.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let router = api.router();
        tokio::spawn(async move {
            if let Err(err) = fluvius::http::axum::serve(listener, router).await {
                eprintln!("fluvius-bench: the HTTP server stopped: {err}");
            }
        });
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpBank {
            client,
            base: format!("http://{addr}"),
            domain,
        })
    }

    async fn post(&self, path: String, body: &'static str) -> Result<(), String> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        // Read the whole answer, as a client would.
        let text = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{path}: {status} {text}"))
        }
    }

    /// Opens an account with a balance of 100.
    pub async fn open(&self, id: &str) -> Result<(), String> {
        self.post(
            format!("/banking:open-account/account/{id}"),
            r#"{"customer_id": "bench", "initial_balance": 100}"#,
        )
        .await
    }

    /// Deposits 1.
    pub async fn deposit(&self, id: &str) -> Result<(), String> {
        self.post(format!("/banking:deposit/account/{id}"), r#"{"amount": 1}"#)
            .await
    }

    /// The domain behind the server, to check balances and read counters.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }
}
