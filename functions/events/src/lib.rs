//! Function `events`: the audit events other systems care about, from the
//! table's stream to an EventBridge bus. Each batch of stream records
//! (Lambda's DynamoDB event, or the same records read from dynoxide's stream
//! by the local host) is turned into events ([`sspr_core::events::Event`]:
//! only the `INSERT`s of audit items of a published type; the template's
//! filter criteria let no other record invoke the function) and published.
//!
//! It is its own function on its own event source mapping, beside the
//! mailer's on the same stream, so that a mail retry never publishes an
//! event again and an event that cannot be published never holds up a code's
//! mail: each mapping retries, bisects and gives up on its own records.
//!
//! An event the bus refused goes to the dead-letter queue; a record whose
//! event reached neither is reported in `batchItemFailures`, so Lambda
//! delivers it again (and, at last, its record goes to the same queue). The
//! same record always makes the same event id, so a record seen twice is a
//! duplicate consumers can drop.

use serde_json::{json, Value};
use sspr_core::events::{Event, EventBridgePublisher, Publish};

/// Publish the events a batch of stream records holds; the answer is
/// Lambda's partial batch response.
pub async fn handle(publisher: &dyn Publish, event: Value) -> Value {
    let records = match event.get("Records") {
        Some(Value::Array(r)) => r.as_slice(),
        _ => &[],
    };
    let mut events = Vec::new();
    let mut sequences = Vec::new();
    for rec in records {
        let Some(e) = Event::from_record(rec) else {
            continue;
        };
        let seq = rec
            .get("dynamodb")
            .and_then(|d| d.get("SequenceNumber"))
            .and_then(Value::as_str)
            .unwrap_or("");
        events.push(e);
        sequences.push(seq.to_owned());
    }
    let failures: Vec<Value> = publisher
        .publish(&events)
        .await
        .into_iter()
        .filter_map(|i| sequences.get(i))
        .map(|seq| json!({"itemIdentifier": seq}))
        .collect();
    json!({ "batchItemFailures": failures })
}

/// The function's `main`: the publisher built once per cold start, then the
/// table's stream, batch by batch.
pub fn start() -> Result<(), lambda_runtime::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            sspr_core::app::init_tracing();
            let publisher = std::sync::Arc::new(EventBridgePublisher::from_env()?);
            lambda_runtime::run(lambda_runtime::service_fn(
                move |event: lambda_runtime::LambdaEvent<Value>| {
                    let publisher = publisher.clone();
                    async move {
                        Ok::<_, lambda_runtime::Error>(handle(&*publisher, event.payload).await)
                    }
                },
            ))
            .await
        })
}
