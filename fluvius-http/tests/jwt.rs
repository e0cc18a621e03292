//! JWT over real HTTP: valid, expired, wrong key, `alg: none`, wrong issuer, leeway, keys from a
//! JWKS URL with rotation and a rate-limited refetch, and the Keycloak preset mapping the realm
//! to the tenant of every event.

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fluvius::prelude::*;
use fluvius_http::{Auth, ClaimsMapping, HttpApi, JwtAuth, KeySource};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Value, json};
use support::{problem, serve};

const ISSUER: &str = "https://sso.example.test/realms/acme";
const OTHER_ISSUER: &str = "https://sso.example.test/realms/globex";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn token(secret: &[u8], kid: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn claims(exp: u64) -> Value {
    json!({"sub": "u-1", "preferred_username": "ada", "iss": ISSUER, "exp": exp,
           "realm_access": {"roles": ["teller"]}})
}

fn multi_tenant_bank() -> Domain {
    Domain::builder("banking")
        .multi_tenant(true)
        .aggregate(example_bank::Banking)
        .build()
        .unwrap()
}

async fn jwt_server(keys: KeySource) -> support::Server {
    let domain = multi_tenant_bank();
    let auth = JwtAuth::new(keys, [Algorithm::HS256])
        .issuer(ISSUER)
        .issuer(OTHER_ISSUER)
        .leeway_secs(30)
        .mapping(ClaimsMapping::keycloak());
    let api = HttpApi::builder()
        .domain(domain.clone())
        .auth(Auth::jwt(auth))
        .build()
        .unwrap();
    serve(api, domain).await
}

async fn open_with(server: &support::Server, bearer: &str) -> reqwest::Response {
    server
        .client
        .post(server.url("/banking:open-account/account/:new"))
        .bearer_auth(bearer)
        .json(&json!({"customer_id": "c-1", "initial_balance": 100}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn static_keys_verify_and_map_the_keycloak_realm() {
    let server = jwt_server(KeySource::static_key(
        None,
        DecodingKey::from_secret(b"secret-1"),
    ))
    .await;
    let valid = open_with(&server, &token(b"secret-1", None, claims(now() + 60))).await;
    assert_eq!(valid.status(), 201);
    let body: Value = valid.json().await.unwrap();
    let event = &body["events"][0];
    assert_eq!(event["tenant"], "acme");
    assert_eq!(event["metadata"]["user"], "ada");
    assert_eq!(event["metadata"]["headers"]["roles"], "teller");
    // Reads are scoped by the same tenant.
    let id = body["root"]["id"].as_str().unwrap();
    let read = server
        .client
        .get(server.url(&format!("/banking.account/{id}")))
        .bearer_auth(token(b"secret-1", None, claims(now() + 60)))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let other_realm = json!({"sub": "u-2", "iss": OTHER_ISSUER, "exp": now() + 60});
    let server_globex = server
        .client
        .get(server.url(&format!("/banking.account/{id}")))
        .bearer_auth(token(b"secret-1", None, other_realm))
        .send()
        .await
        .unwrap();
    // Another realm is another tenant: acme's account does not exist there.
    problem(server_globex, 404, "not-found").await;

    let before = server.log_len().await;
    let leeway = open_with(&server, &token(b"secret-1", None, claims(now() - 10))).await;
    assert_eq!(
        leeway.status(),
        201,
        "10 s past expiry is within the 30 s leeway"
    );
    let expired = open_with(&server, &token(b"secret-1", None, claims(now() - 3600))).await;
    assert_eq!(expired.headers()["www-authenticate"], "Bearer");
    problem(expired, 401, "unauthorized").await;
    let wrong_key = open_with(&server, &token(b"secret-2", None, claims(now() + 60))).await;
    problem(wrong_key, 401, "unauthorized").await;
    let mut foreign = claims(now() + 60);
    foreign["iss"] = json!("https://evil.example.test/realms/acme");
    problem(
        open_with(&server, &token(b"secret-1", None, foreign)).await,
        401,
        "unauthorized",
    )
    .await;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(now() + 60).to_string())
    );
    problem(open_with(&server, &none).await, 401, "unauthorized").await;
    problem(open_with(&server, "not.a.token").await, 401, "unauthorized").await;
    let mut forever = claims(0);
    forever.as_object_mut().unwrap().remove("exp");
    problem(
        open_with(&server, &token(b"secret-1", None, forever)).await,
        401,
        "unauthorized",
    )
    .await;
    let missing = server
        .client
        .post(server.url("/banking:open-account/account/:new"))
        .json(&json!({"customer_id": "c-1", "initial_balance": 100}))
        .send()
        .await
        .unwrap();
    problem(missing, 401, "unauthorized").await;
    assert_eq!(
        server.log_len().await,
        before + 1,
        "only the token within leeway wrote"
    );
    // The documents stay public.
    assert_eq!(server.get("/openapi.json").await.status(), 200);
}

#[tokio::test]
async fn an_algorithm_outside_the_allow_list_is_refused() {
    let server = jwt_server(KeySource::static_key(None, DecodingKey::from_secret(b"s"))).await;
    let header = Header::new(Algorithm::HS512);
    let token = jsonwebtoken::encode(
        &header,
        &claims(now() + 60),
        &EncodingKey::from_secret(b"s"),
    )
    .unwrap();
    problem(open_with(&server, &token).await, 401, "unauthorized").await;
}

/// The (kid, secret) pairs a JWKS endpoint serves.
type SharedKeys = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A JWKS endpoint on 127.0.0.1 whose keys a test can rotate, counting its requests.
struct Jwks {
    url: String,
    keys: SharedKeys,
    hits: Arc<Mutex<u32>>,
}

async fn jwks_endpoint(keys: Vec<(String, Vec<u8>)>) -> Jwks {
    let keys: SharedKeys = Arc::new(Mutex::new(keys));
    let hits = Arc::new(Mutex::new(0));
    let (k, h) = (keys.clone(), hits.clone());
    let router = axum::Router::new().route(
        "/certs",
        axum::routing::get(move || {
            let (k, h) = (k.clone(), h.clone());
            async move {
                *h.lock() += 1;
                let keys: Vec<Value> = k
                    .lock()
                    .iter()
                    .map(|(kid, secret)| {
                        json!({"kty": "oct", "kid": kid, "alg": "HS256",
                               "k": URL_SAFE_NO_PAD.encode(secret)})
                    })
                    .collect();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Jwks {
        url: format!("http://{addr}/certs"),
        keys,
        hits,
    }
}

#[tokio::test]
async fn jwks_keys_rotate_and_unknown_kids_refetch_at_most_once_per_floor() {
    let jwks = jwks_endpoint(vec![("k1".into(), b"first-secret".to_vec())]).await;
    let source = KeySource::jwks(
        &jwks.url,
        Duration::from_secs(3600),
        Duration::from_millis(300),
    );
    let server = jwt_server(source).await;
    let first = open_with(
        &server,
        &token(b"first-secret", Some("k1"), claims(now() + 60)),
    )
    .await;
    assert_eq!(first.status(), 201);
    assert_eq!(*jwks.hits.lock(), 1);

    // Forged kids: refused, and they cost at most one refetch per floor.
    for n in 0..20 {
        let forged = token(
            b"whatever",
            Some(&format!("forged-{n}")),
            claims(now() + 60),
        );
        problem(open_with(&server, &forged).await, 401, "unauthorized").await;
    }
    assert!(
        *jwks.hits.lock() <= 2,
        "forged kids refetched {} times",
        jwks.hits.lock()
    );

    // The provider rotates to k2; once the floor has passed, the first k2 token refetches.
    jwks.keys
        .lock()
        .push(("k2".into(), b"second-secret".to_vec()));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let rotated = open_with(
        &server,
        &token(b"second-secret", Some("k2"), claims(now() + 60)),
    )
    .await;
    assert_eq!(rotated.status(), 201);
    let hits = *jwks.hits.lock();
    let again = open_with(
        &server,
        &token(b"second-secret", Some("k2"), claims(now() + 60)),
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(*jwks.hits.lock(), hits, "a known kid fetched again");
    // A token signed with the wrong secret under a known kid is refused.
    let wrong = open_with(
        &server,
        &token(b"first-secret", Some("k2"), claims(now() + 60)),
    )
    .await;
    problem(wrong, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_unreachable_jwks_is_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/certs", listener.local_addr().unwrap());
    drop(listener);
    let source = KeySource::jwks(url, Duration::from_secs(60), Duration::from_secs(1));
    let server = jwt_server(source).await;
    let response = open_with(&server, &token(b"s", Some("k1"), claims(now() + 60))).await;
    problem(response, 503, "keys-unavailable").await;
}
