//! A backend wrapper that counts the state-row reads, stream reads and state-row rewrites the
//! domain asks for, so a case can tell a read served by the stored state from one that refolded
//! the stream, see which commands read before they commit, and run a writer at the moment a
//! refolded state is about to be written back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fluvius_core::{
    Backend, BoxFuture, EventEnvelope, StateWrite, StoreError, StoredState, StreamKey, StreamRange,
};

use crate::wrap::{Hooks, Wrapped};

/// A backend that counts what passes through.
pub type ProbedBackend = Wrapped<Probe>;

/// The counters and the hook run before the next rewrite.
pub struct Probe {
    state_reads: AtomicUsize,
    stream_reads: AtomicUsize,
    rewrites: AtomicUsize,
    before_rewrite: Mutex<Option<BoxFuture<'static, ()>>>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("state_reads", &self.state_reads.load(Ordering::SeqCst))
            .field("stream_reads", &self.stream_reads.load(Ordering::SeqCst))
            .field("rewrites", &self.rewrites.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Wrapped<Probe> {
    /// A probe in front of `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Self> {
        Wrapped::around(
            inner,
            Probe {
                state_reads: AtomicUsize::new(0),
                stream_reads: AtomicUsize::new(0),
                rewrites: AtomicUsize::new(0),
                before_rewrite: Mutex::new(None),
            },
        )
    }
}

impl Probe {
    /// How many times a stream's state row was read (a command's first look at a stream).
    pub fn state_reads(&self) -> usize {
        self.state_reads.load(Ordering::SeqCst)
    }

    /// How many times a stream's events were read (each fold reads them once).
    pub fn stream_reads(&self) -> usize {
        self.stream_reads.load(Ordering::SeqCst)
    }

    /// How many state-row rewrites were asked for.
    pub fn rewrites(&self) -> usize {
        self.rewrites.load(Ordering::SeqCst)
    }

    /// Runs `writer` to its end just before the next state-row rewrite reaches the backend.
    pub fn before_next_rewrite(&self, writer: BoxFuture<'static, ()>) {
        *self.before_rewrite.lock().expect("the hook lock") = Some(writer);
    }
}

impl Hooks for Probe {
    fn load_state<'a>(
        &'a self,
        inner: &'a dyn Backend,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        self.state_reads.fetch_add(1, Ordering::SeqCst);
        inner.load_state(key)
    }

    fn read_stream<'a>(
        &'a self,
        inner: &'a dyn Backend,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        self.stream_reads.fetch_add(1, Ordering::SeqCst);
        inner.read_stream(key, range)
    }

    fn refresh_state<'a>(
        &'a self,
        inner: &'a dyn Backend,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.rewrites.fetch_add(1, Ordering::SeqCst);
        let writer = self.before_rewrite.lock().expect("the hook lock").take();
        Box::pin(async move {
            if let Some(writer) = writer {
                writer.await;
            }
            inner.refresh_state(key, state).await
        })
    }
}
