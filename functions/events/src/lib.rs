//! Function `events`: the audit events other systems care about, from the
//! table's stream to an EventBridge bus. Each batch of stream records
//! (Lambda's DynamoDB event, typed by `aws_lambda_events`, or the same records
//! read from dynoxide's stream by the local host) is turned into events ([`sspr_core::events::Event`]:
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

use sspr_core::events::{Event, EventBridgePublisher, Publish};
use sspr_core::stream::{self, BatchResponse, StreamEvent};

/// Publish the events a batch of stream records holds; the answer is
/// Lambda's partial batch response.
pub async fn handle(publisher: &dyn Publish, event: StreamEvent) -> BatchResponse {
    let mut events = Vec::new();
    let mut sequences = Vec::new();
    for rec in &event.records {
        let Some(e) = Event::from_record(rec) else {
            continue;
        };
        events.push(e);
        sequences.push(stream::sequence(rec));
    }
    let failed = publisher.publish(&events).await;
    stream::failures(failed.into_iter().filter_map(|i| sequences.get(i).copied()))
}

/// The function's `main`: the publisher built once per cold start, then the
/// table's stream, batch by batch, on sspr's one runtime start.
pub fn start() -> Result<(), lambda_runtime::Error> {
    sspr_core::runtime::start_handler(
        || async { Ok(EventBridgePublisher::from_env()?) },
        |publisher, event| async move { Ok(handle(&*publisher, event).await) },
    )
}
