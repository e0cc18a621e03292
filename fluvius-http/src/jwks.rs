//! A JWKS document fetched from its URL and cached: refetched when its time to live runs out, and
//! once more (no more often than a floor) when a token names a key it does not hold, so a key
//! rotation is picked up without letting forged `kid`s hammer the identity provider.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

/// A cached JWKS. Made by [`KeySource::jwks`](crate::KeySource::jwks).
#[derive(Debug)]
pub struct Jwks {
    url: String,
    ttl: Duration,
    min_refresh: Duration,
    client: reqwest::Client,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<Option<String>, DecodingKey>,
    first: Option<DecodingKey>,
    fetched_at: Option<Instant>,
    fetches: u64,
}

pub(crate) enum KeyLookup {
    Found(DecodingKey),
    Unknown,
    Unavailable,
}

impl Jwks {
    pub(crate) fn new(url: String, ttl: Duration, min_refresh: Duration) -> Self {
        Jwks {
            url,
            ttl,
            min_refresh,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// How many times the document was fetched (successfully or not).
    pub async fn fetches(&self) -> u64 {
        self.cache.lock().await.fetches
    }

    pub(crate) async fn key(&self, kid: Option<&str>) -> KeyLookup {
        let mut cache = self.cache.lock().await;
        let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < self.ttl);
        if !fresh && !self.refresh(&mut cache).await && cache.fetched_at.is_none() {
            return KeyLookup::Unavailable;
        }
        if let Some(key) = cache.lookup(kid) {
            return KeyLookup::Found(key);
        }
        let may_refetch = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh);
        if may_refetch && fresh {
            self.refresh(&mut cache).await;
            if let Some(key) = cache.lookup(kid) {
                return KeyLookup::Found(key);
            }
        }
        KeyLookup::Unknown
    }

    /// Fetches the document; on failure keeps the keys it had. Returns whether it succeeded.
    async fn refresh(&self, cache: &mut Cache) -> bool {
        cache.fetches += 1;
        let set = match self.fetch().await {
            Ok(set) => set,
            Err(err) => {
                tracing::warn!(url = %self.url, error = %err, "cannot fetch the JWKS");
                return false;
            }
        };
        let mut keys = HashMap::new();
        let mut first = None;
        for jwk in &set.keys {
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    first.get_or_insert_with(|| key.clone());
                    keys.insert(jwk.common.key_id.clone(), key);
                }
                Err(err) => tracing::warn!(url = %self.url, error = %err, "skipping a JWKS key"),
            }
        }
        cache.keys = keys;
        cache.first = first;
        cache.fetched_at = Some(Instant::now());
        true
    }

    async fn fetch(&self) -> Result<JwkSet, reqwest::Error> {
        self.client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json::<JwkSet>()
            .await
    }
}

impl Cache {
    fn lookup(&self, kid: Option<&str>) -> Option<DecodingKey> {
        match kid {
            Some(kid) => self.keys.get(&Some(kid.to_owned())).cloned(),
            None if self.keys.len() == 1 => self.first.clone(),
            None => None,
        }
    }
}
