//! The names of the read side's metrics, reported through the [`metrics`] facade to whichever
//! recorder the application installs (a Prometheus exporter, say); without one they cost
//! nothing. Each carries the label [`SUBSCRIPTION`] (or [`WORKER`]), never in the name.
//!
//! | name | kind | label | what |
//! |---|---|---|---|
//! | [`LAG_EVENTS`] | gauge | subscription | events the subscription could read now and has not (counted up to [`LAG_COUNT_LIMIT`](fluvius_core::LAG_COUNT_LIMIT)) |
//! | [`LAG_SECONDS`] | gauge | subscription | how long after it was recorded the last event was handed over; 0 once caught up |
//! | [`HORIZON_AGE_SECONDS`] | gauge | subscription | how long the oldest running transaction of the store has held delivery back (0: none) |
//! | [`EVENTS`] | counter | subscription | events handed to the consumer |
//! | [`FAILURES`] | counter | subscription | failed reads or batches (each retried) |
//! | [`PARKED_KEYS`] | gauge | subscription | stream keys an event handler holds parked |
//! | [`LEASE_CHANGES`] | counter | worker | leases a worker took, lost or gave back |
//! | [`OUTBOX_PENDING`] | gauge | relay | messages of the relay's topics waiting for delivery or a retry |
//! | [`OUTBOX_PARKED`] | gauge | relay | parked messages of the relay's topics |
//! | [`OUTBOX_DELIVERED`] | counter | relay | messages the relay delivered |
//! | [`OUTBOX_FAILURES`] | counter | relay | failed deliveries (each retried or parked) |
//!
//! Lag and horizon age are measured at most every
//! [`Subscription::measure_lag_every`](crate::Subscription::measure_lag_every) (one second by
//! default) and are in [`Progress`](crate::Progress) too; the outbox counts every
//! [`OutboxRelay::measure_every`](crate::OutboxRelay::measure_every).

/// The label naming the subscription.
pub const SUBSCRIPTION: &str = "subscription";
/// The label naming the worker.
pub const WORKER: &str = "worker";
/// The label naming the outbox relay.
pub const RELAY: &str = "relay";

/// Events a subscription could read now and has not.
pub const LAG_EVENTS: &str = "fluvius_subscription_lag_events";
/// Delivery lag of the last event handed over, in seconds.
pub const LAG_SECONDS: &str = "fluvius_subscription_lag_seconds";
/// How long the oldest running transaction has held the log's horizon, in seconds.
pub const HORIZON_AGE_SECONDS: &str = "fluvius_log_horizon_age_seconds";
/// Events handed to a subscription's consumer.
pub const EVENTS: &str = "fluvius_subscription_events_total";
/// Failed reads or batches of a subscription.
pub const FAILURES: &str = "fluvius_subscription_failures_total";
/// Stream keys an event handler holds parked.
pub const PARKED_KEYS: &str = "fluvius_handler_parked_keys";
/// Leases a worker took, lost or gave back.
pub const LEASE_CHANGES: &str = "fluvius_worker_lease_changes_total";
/// Messages of a relay's topics waiting for delivery or a retry.
pub const OUTBOX_PENDING: &str = "fluvius_outbox_pending";
/// Parked messages of a relay's topics.
pub const OUTBOX_PARKED: &str = "fluvius_outbox_parked";
/// Messages a relay delivered.
pub const OUTBOX_DELIVERED: &str = "fluvius_outbox_delivered_total";
/// Failed deliveries of a relay.
pub const OUTBOX_FAILURES: &str = "fluvius_outbox_failures_total";
