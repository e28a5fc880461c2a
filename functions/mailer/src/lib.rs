//! Function `mailer`: the courier on the table's stream. Each batch of stream
//! records (Lambda's DynamoDB event, or the same records read from dynoxide's
//! stream by the local host) is searched for queued mail (`INSERT`s of
//! `MAIL#` items), and each is delivered by the courier. A record whose
//! delivery failed on the store is reported in `batchItemFailures`, so Lambda
//! retries it (and, at last, sends it to the dead-letter queue); a record seen
//! twice sends nothing twice, since delivery deletes the queued item.

use serde::Deserialize;
use serde_json::{json, Value};
use sspr_core::mail::courier::{Courier, Delivery};
use sspr_core::store::DynamoStore;

/// The parts of a DynamoDB stream record the courier reads.
#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    #[serde(default)]
    dynamodb: Change,
}

#[derive(Debug, Default, Deserialize)]
struct Change {
    #[serde(rename = "Keys", default)]
    keys: Value,
    #[serde(rename = "SequenceNumber", default)]
    sequence_number: String,
}

fn key_s<'a>(keys: &'a Value, name: &str) -> Option<&'a str> {
    keys.get(name)?.get("S")?.as_str()
}

/// Deliver the queued mail a batch of stream records names; the answer is
/// Lambda's partial batch response. What it counts is the mailer's
/// (`sspr_core::metrics`), in the local host too.
pub async fn handle(courier: &Courier, event: Value) -> Value {
    sspr_core::metrics::within("mailer", deliver_batch(courier, event)).await
}

async fn deliver_batch(courier: &Courier, event: Value) -> Value {
    let records: Vec<Value> = match event.get("Records") {
        Some(Value::Array(r)) => r.clone(),
        _ => Vec::new(),
    };
    let mut failures = Vec::new();
    for raw in records {
        let Ok(rec) = serde_json::from_value::<Record>(raw) else {
            tracing::warn!("a stream record that is not one; skipped");
            continue;
        };
        if rec.event_name != "INSERT" {
            continue;
        }
        let (Some(pk), Some(sk)) = (
            key_s(&rec.dynamodb.keys, "pk"),
            key_s(&rec.dynamodb.keys, "sk"),
        ) else {
            continue;
        };
        let Some((user, id)) = DynamoStore::mail_key_of(pk, sk) else {
            continue;
        };
        match courier.deliver(&user, &id).await {
            Ok(d) => {
                if d != Delivery::Sent {
                    tracing::info!(outcome = ?d, "queued mail not sent");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "delivery failed on the store; the record is retried");
                failures.push(json!({"itemIdentifier": rec.dynamodb.sequence_number}));
            }
        }
    }
    json!({ "batchItemFailures": failures })
}

/// The function's `main`: the courier built once per cold start, then the
/// table's stream, batch by batch, on the runtime `#[tokio::main]` would build.
pub fn start() -> Result<(), lambda_runtime::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            sspr_core::app::init_tracing();
            let courier = sspr_core::app::courier_from_env().await?;
            lambda_runtime::run(lambda_runtime::service_fn(
                move |event: lambda_runtime::LambdaEvent<Value>| {
                    let courier = courier.clone();
                    async move { Ok::<_, lambda_runtime::Error>(handle(&courier, event.payload).await) }
                },
            ))
            .await
        })
}
