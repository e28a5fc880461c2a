//! Function `mailer`: the courier on the table's stream. Each batch of stream
//! records (Lambda's DynamoDB event, typed by `aws_lambda_events`, or the same
//! records read from dynoxide's stream by the local host) is searched for queued mail (`INSERT`s of
//! `MAIL#` items), and each is delivered by the courier. A record whose
//! delivery failed on the store is reported in `batchItemFailures`, so Lambda
//! retries it (and, at last, sends it to the dead-letter queue); a record seen
//! twice sends nothing twice, since delivery deletes the queued item.

use sspr_core::mail::courier::{Courier, Delivery};
use sspr_core::store::DynamoStore;
use sspr_core::stream::{self, BatchResponse, StreamEvent};

/// Deliver the queued mail a batch of stream records names; the answer is
/// Lambda's partial batch response. What it counts is the mailer's
/// (`sspr_core::metrics`), in the local host too.
pub async fn handle(courier: &Courier, event: StreamEvent) -> BatchResponse {
    sspr_core::metrics::within("mailer", deliver_batch(courier, event)).await
}

async fn deliver_batch(courier: &Courier, event: StreamEvent) -> BatchResponse {
    let mut failures = Vec::new();
    for rec in &event.records {
        let Some((user, id)) =
            stream::inserted(rec).and_then(|(pk, sk)| DynamoStore::mail_key_of(pk, sk))
        else {
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
                failures.push(stream::sequence(rec).to_owned());
            }
        }
    }
    stream::failures(failures)
}

/// The function's `main`: the courier built once per cold start, then the
/// table's stream, batch by batch, on sspr's one runtime start.
pub fn start() -> Result<(), lambda_runtime::Error> {
    sspr_core::runtime::start_handler(
        || async { Ok(sspr_core::app::courier_from_env().await?) },
        |courier, event| async move { Ok(handle(&courier, event).await) },
    )
}
