//! A second test domain whose actions send outbox messages: orders that mail their customer
//! and feed a per-customer topic. The outbox cases and the relay's tests drive it.

use std::sync::Arc;

use fluvius_core::{Apply, Backend, Domain, DomainBuilder, DomainError, Outbox};
use fluvius_macros::aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The namespace of the shop domain.
pub const SHOP: &str = "shop";

/// Topic of the customer mails.
pub const EMAIL: &str = "email";

/// Topic of the per-customer feed, keyed by customer.
pub const FEED: &str = "customer-feed";

/// An order's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// Who ordered.
    pub customer: String,
    /// How many items it holds.
    pub items: u32,
}

/// An order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    /// Who ordered.
    pub customer: String,
    /// How many items.
    pub items: u32,
}

/// Items were added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemsAdded {
    /// How many.
    pub n: u32,
}

impl Apply<OrderPlaced> for Order {
    fn apply(&mut self, event: &OrderPlaced) {
        self.customer = event.customer.clone();
        self.items = event.items;
    }
}

impl Apply<ItemsAdded> for Order {
    fn apply(&mut self, event: &ItemsAdded) {
        self.items += event.n;
    }
}

/// The shop's aggregate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shop;

#[aggregate(crate = ::fluvius_core, resources(order = Order))]
impl Shop {
    /// Places an order: mails the customer (keyed by the order) and feeds the customer's topic
    /// (keyed by the customer). Rule: an order holds items.
    #[action(evt_key = "order-placed", resources = ["order"], new)]
    async fn place_order(
        &self,
        outbox: &Outbox,
        customer: String,
        items: u32,
    ) -> Result<OrderPlaced, DomainError> {
        outbox.send(EMAIL, &json!({"to": customer, "items": items}));
        if items == 0 {
            return Err(DomainError::new("an order holds items").with_code("no-items"));
        }
        outbox.send_keyed(FEED, customer.clone(), &json!({"placed": items}));
        Ok(OrderPlaced { customer, items })
    }

    /// Adds items and sends one message to `topic` (any text, so cases can send bad ones).
    /// Rule: at least one item.
    #[action(evt_key = "items-added", resources = ["order"])]
    async fn add_items(
        &self,
        order: &Order,
        outbox: &Outbox,
        n: u32,
        topic: String,
    ) -> Result<ItemsAdded, DomainError> {
        if n == 0 {
            return Err(DomainError::new("add at least one item").with_code("no-items"));
        }
        outbox.send_keyed(
            topic,
            order.customer.clone(),
            &json!({"added": n, "items": order.items + n}),
        );
        Ok(ItemsAdded { n })
    }
}

/// The builder of the shop domain on `backend`.
pub fn builder(backend: Arc<dyn Backend>) -> DomainBuilder {
    Domain::builder(SHOP)
        .aggregate(Shop)
        .shared_backend(backend)
}

/// The single-tenant shop domain on `backend`.
pub fn shop(backend: Arc<dyn Backend>) -> Domain {
    builder(backend)
        .finish()
        .expect("the shop domain is well formed")
}
