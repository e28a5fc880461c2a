//! The table's stream as Lambda hands it to the `mailer` and `events`
//! functions: `aws_lambda_events`'s typed DynamoDB event ([`StreamEvent`],
//! each record an [`EventRecord`]) and its partial batch response
//! ([`BatchResponse`]), with the few reads both handlers make of a record.
//! Only built with the `stream` feature (the two stream functions and the
//! local host, which reads dynoxide's stream into the same event).

pub use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
pub use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse as BatchResponse,
};
use serde_dynamo::{AttributeValue, Item};

/// The string attribute `name` of an item (a record's keys or image).
pub fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(v) => Some(v),
        _ => None,
    }
}

/// The number attribute `name` of an item, as DynamoDB writes it.
pub fn n<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::N(v) => Some(v),
        _ => None,
    }
}

/// The table key (`pk`, `sk`) of the item an `INSERT` record adds; `None`
/// for every other record (a change, a removal, a key of another shape).
pub fn inserted(record: &EventRecord) -> Option<(&str, &str)> {
    if record.event_name != "INSERT" {
        return None;
    }
    let keys = &record.change.keys;
    Some((
        s(keys, crate::store::schema::PK)?,
        s(keys, crate::store::schema::SK)?,
    ))
}

/// The record's sequence number: what a batch response names it by.
pub fn sequence(record: &EventRecord) -> &str {
    record.change.sequence_number.as_deref().unwrap_or("")
}

/// The partial batch response that hands the records of `failed` (sequence
/// numbers) back to Lambda, to be delivered again.
pub fn failures<I, S>(failed: I) -> BatchResponse
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut answer = BatchResponse::default();
    answer.batch_item_failures = failed
        .into_iter()
        .map(|seq| {
            let mut f = DynamoDbBatchItemFailure::default();
            f.item_identifier = Some(seq.into());
            f
        })
        .collect();
    answer
}

/// The sequence numbers a batch response names.
pub fn failed(answer: &BatchResponse) -> Vec<String> {
    answer
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_response_is_lambda_s_batch_item_failures() {
        let answer = failures(["101", "103"]);
        assert_eq!(
            serde_json::to_value(&answer).expect("serializes"),
            json!({"batchItemFailures": [{"itemIdentifier": "101"}, {"itemIdentifier": "103"}]})
        );
        assert_eq!(failed(&answer), ["101", "103"]);
        assert_eq!(
            serde_json::to_value(failures(Vec::<String>::new())).expect("serializes"),
            json!({"batchItemFailures": []})
        );
    }

    #[test]
    fn only_an_insert_names_the_key_of_the_item_it_adds() {
        let record = |name: &str| -> EventRecord {
            serde_json::from_value(json!({
                "eventID": "1", "eventName": name, "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": "USER#alice"}, "sk": {"S": "MAIL#1"}},
                    "SequenceNumber": "100", "SizeBytes": 40
                }
            }))
            .expect("a record")
        };
        let insert = record("INSERT");
        assert_eq!(inserted(&insert), Some(("USER#alice", "MAIL#1")));
        assert_eq!(sequence(&insert), "100");
        assert_eq!(inserted(&record("MODIFY")), None);
        assert_eq!(inserted(&record("REMOVE")), None);
    }
}
