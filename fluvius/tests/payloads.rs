//! What a JSON payload may be: an action without payload fields takes `null` or `{}`, and every
//! refused payload's message names the field at fault, wrong types included.

use fluvius::Error;
use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lamp {
    pub on: bool,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Installed {
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Toggled {}

impl Apply<Installed> for Lamp {
    fn apply(&mut self, event: &Installed) {
        self.label = event.label.clone();
    }
}

impl Apply<Toggled> for Lamp {
    fn apply(&mut self, _: &Toggled) {
        self.on = !self.on;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Place {
    pub room: String,
    pub floor: i64,
}

#[derive(Debug)]
pub struct House;

#[aggregate(resources(lamp = Lamp))]
impl House {
    #[action(evt_key = "lamp-installed", resources = ["lamp"], new)]
    async fn install(&self, label: String, place: Place) -> Result<Installed, DomainError> {
        let _ = place;
        Ok(Installed { label })
    }

    #[action(evt_key = "lamp-toggled", resources = ["lamp"])]
    async fn toggle(&self, _lamp: &Lamp) -> Result<Toggled, DomainError> {
        Ok(Toggled {})
    }
}

async fn house() -> Domain {
    let domain = Domain::builder("home")
        .aggregate(House)
        .build()
        .expect("domain");
    let install = domain
        .create_command(
            "install",
            json!({"label": "desk", "place": {"room": "study", "floor": 1}}),
            ("lamp", "l-1"),
        )
        .expect("install");
    domain.process_command(install).await.expect("installed");
    domain
}

/// The validation error of a payload: (field, message).
async fn refused(domain: &Domain, key: &str, payload: Value) -> (Option<String>, String) {
    let command = domain
        .create_command(key, payload.clone(), ("lamp", "l-2"))
        .expect("a command");
    match domain.process_command(command).await {
        Err(Error::Validation { field, message, .. }) => (field, message),
        other => panic!("{payload}: expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_action_without_payload_fields_takes_null_or_an_empty_object() {
    let domain = house().await;
    for payload in [Value::Null, json!({})] {
        let toggle = domain
            .create_command("toggle", payload.clone(), ("lamp", "l-1"))
            .expect("toggle");
        domain.process_command(toggle).await.expect("toggled");
    }
    let lamp: Lamp = domain.statemgr().fetch("lamp", "l-1").await.expect("lamp");
    assert!(!lamp.on, "toggled twice");
    assert_eq!(
        domain
            .statemgr()
            .history("lamp", "l-1")
            .await
            .expect("history")
            .len(),
        3
    );

    for payload in [json!({"on": true}), json!([]), json!(false)] {
        let toggle = domain
            .create_command("toggle", payload.clone(), ("lamp", "l-1"))
            .expect("toggle");
        let err = domain.process_command(toggle).await.expect_err("refused");
        assert!(
            matches!(err, Error::Validation { .. }),
            "{payload}: {err:?}"
        );
    }
}

#[tokio::test]
async fn null_is_no_payload_so_required_fields_are_missing() {
    let domain = house().await;
    let (field, message) = refused(&domain, "install", Value::Null).await;
    assert_eq!(field.as_deref(), Some("label"));
    assert!(message.contains("`label`"), "{message}");
}

#[tokio::test]
async fn every_validation_message_names_its_field() {
    let domain = house().await;
    let cases = [
        (
            json!({"label": 5, "place": {"room": "r", "floor": 1}}),
            "label",
        ),
        (
            json!({"label": "x", "place": {"room": "r", "floor": "one"}}),
            "place.floor",
        ),
        (
            json!({"label": "x", "place": {"room": "r", "floor": 1.5}}),
            "place.floor",
        ),
        (json!({"label": "x", "place": {"room": "r"}}), "place"),
        (json!({"label": "x", "place": 3}), "place"),
        (
            json!({"label": "x", "place": {"room": "r", "floor": 1}, "colour": "red"}),
            "colour",
        ),
        (json!({"place": {"room": "r", "floor": 1}}), "label"),
    ];
    for (payload, want) in cases {
        let (field, message) = refused(&domain, "install", payload.clone()).await;
        assert_eq!(field.as_deref(), Some(want), "{payload}: {message}");
        assert!(
            message.contains(&format!("`{want}`")),
            "{payload}: the message names `{want}`: {message}"
        );
    }
    // The whole message, for a wrong type.
    let (_, message) = refused(&domain, "install", json!({"label": 5, "place": 1})).await;
    assert_eq!(
        message,
        "field `label`: invalid type: integer `5`, expected a string"
    );
}
