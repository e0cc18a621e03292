//! The baseline: the bank workload hand-written against the backend, one commit per command
//! (read state, build the event, write event and state with the expected version, retry on conflict).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use fluvius::backend::{
    CommitBatch, ExpectedVersion, StateDoc, StateWrite, StoreError, StreamKey, StreamWrite,
};
use fluvius::{Backend, EventEnvelope, EventMetadata};
use serde_json::{Value, json};

pub struct PlainBank {
    backend: Arc<dyn Backend>,
    retries: AtomicU64,
}

impl PlainBank {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        PlainBank {
            backend,
            retries: AtomicU64::new(0),
        }
    }

    pub fn conflict_retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn key(id: &str) -> StreamKey {
        StreamKey {
            tenant: String::new(),
            namespace: "banking".into(),
            resource: "account".into(),
            id: id.to_owned(),
        }
    }

    pub async fn open(&self, id: &str, initial: i64) -> Result<(), String> {
        let state =
            json!({"customer_id": "bench", "balance": initial, "open": true, "corrections": 0});
        self.write(
            id,
            0,
            "account-opened",
            json!({"customer_id": "bench", "initial_balance": initial}),
            state,
        )
        .await
        .map_err(|e| e.to_string())
    }

    pub async fn deposit(&self, id: &str, amount: i64) -> Result<(), String> {
        loop {
            let key = Self::key(id);
            let stored = self
                .backend
                .load_state(&key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("account {id} not found"))?;
            let mut state = stored.state.to_json().map_err(|e| e.to_string())?;
            let balance = state["balance"].as_i64().unwrap_or(0) + amount;
            state["balance"] = Value::from(balance);
            match self
                .write(
                    id,
                    stored.version,
                    "deposit-made",
                    json!({"amount": amount}),
                    state,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict { .. }) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => return Err(err.to_string()),
            }
        }
    }

    pub async fn balance(&self, id: &str) -> Result<i64, String> {
        let stored = self
            .backend
            .load_state(&Self::key(id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("account {id} not found"))?;
        let state = stored.state.to_json().map_err(|e| e.to_string())?;
        state["balance"]
            .as_i64()
            .ok_or_else(|| "no balance".to_owned())
    }

    async fn write(
        &self,
        id: &str,
        version: u64,
        evt_key: &str,
        payload: Value,
        state: Value,
    ) -> Result<(), StoreError> {
        let key = Self::key(id);
        let now = Utc::now();
        let mut metadata = EventMetadata::default();
        metadata.command = evt_key.to_owned();
        metadata.time = now;
        let event = EventEnvelope::new(&key, version + 1, evt_key, 1, payload, metadata, now);
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        let state = StateWrite::new(version + 1, StateDoc::Json(state), false, now, now, None);
        let write = StreamWrite::new(key, expected, vec![event], state, Vec::new());
        self.backend
            .commit(CommitBatch::single(write))
            .await
            .map(drop)
    }
}
