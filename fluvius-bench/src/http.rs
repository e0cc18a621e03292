//! The workloads over HTTP: the bank domain served by `fluvius-http` on 127.0.0.1 in the same
//! process, driven by a lean HTTP/1.1 client (hyper's connection API, one kept-alive connection
//! per task, reused), so the figures show what the HTTP layer costs next to the in-process run
//! and as little as possible of a client's own work, which shares the machine's cores.

use std::net::SocketAddr;

use fluvius::Domain;
use fluvius::http::HttpApi;
use fluvius::http::axum::serve::ListenerExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

/// One open connection to the server.
type Connection = SendRequest<Full<Bytes>>;

/// A client of the bank domain's HTTP API.
#[derive(Debug)]
pub struct HttpBank {
    addr: SocketAddr,
    host: String,
    /// Connections not in use; a request takes one (or opens one) and puts it back.
    idle: Mutex<Vec<Connection>>,
    domain: Domain,
}

impl HttpBank {
    /// Serves `domain` on a free port of 127.0.0.1 for a client of `connections` connections.
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
        // As a production server would: answers leave without waiting for Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            if let Err(err) = fluvius::http::axum::serve(listener, router).await {
                eprintln!("fluvius-bench: the HTTP server stopped: {err}");
            }
        });
        Ok(HttpBank {
            addr,
            host: addr.to_string(),
            idle: Mutex::new(Vec::with_capacity(connections)),
            domain,
        })
    }

    async fn connect(&self) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn post(&self, path: String, body: &'static str) -> Result<(), String> {
        let idle = self.idle.lock().pop();
        let mut sender = match idle {
            Some(sender) => sender,
            None => self.connect().await?,
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let request = hyper::Request::post(&path)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        // Read the whole answer, as a client would.
        let text = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: {e}"))?
            .to_bytes();
        // Only a connection that completed its exchange is reused.
        self.idle.lock().push(sender);
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "{path}: {status} {}",
                String::from_utf8_lossy(&text)
            ))
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
