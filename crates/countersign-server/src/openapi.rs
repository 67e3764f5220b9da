//! The OpenAPI 3.1 document: the paths are written by hand in `openapi.json` (what each route
//! does, its status codes and errors); the schemas are generated from the contract's types, so
//! a field cannot change without the document.

use std::sync::LazyLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::contract;

static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

pub async fn serve() -> Response {
    Json(&*DOCUMENT).into_response()
}

/// The whole document: the hand-written paths with the generated schemas.
pub fn document() -> Value {
    let mut document: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap_or_else(|error| {
        serde_json::json!({"openapi": "3.1.0", "info": {"title": "countersign", "version": "0", "description": error.to_string()}, "paths": {}})
    });
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    macro_rules! roots {
        ($($root:ty),+ $(,)?) => { $( generator.subschema_for::<$root>(); )+ };
    }
    roots!(
        contract::RegisterBody,
        contract::ReviewBody,
        contract::OverrideBody,
        contract::CompleteReviewBody,
        contract::AwayBody,
        contract::ErrorBody,
        contract::Health,
        contract::ServerKey,
        contract::Me,
        contract::ChangeList,
        contract::ChangeView,
        contract::ReviewResult,
        contract::OverrideResult,
        contract::OverrideReviewResult,
        contract::PendingReviews,
        contract::AttestationList,
        contract::LastDeployment,
        contract::Queue,
        contract::PickResult,
        contract::AwayState,
    );
    let schemas: serde_json::Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    document["components"]["schemas"] = Value::Object(schemas);
    document
}
