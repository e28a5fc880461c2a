//! The audit events other systems care about, published as EventBridge
//! events: which audit kinds are published (those [`AuditKind`] gives a
//! `detail-type`: [`published`]), how a stream record of an audit item becomes an
//! [`Event`] ([`Event::from_record`], pure), and the publishers behind
//! [`Publish`]: EventBridge with an SQS dead-letter queue
//! ([`EventBridgePublisher`]) and, for local runs, the outbox folder's
//! `events` file ([`OutboxEvents`]). Only built with the `events` feature
//! (the events function and the local host): no other function links the
//! EventBridge or SQS client.
//!
//! An event exists only for a committed change: the audit item is written in
//! the change's own transaction (`store/dynamo/tx.rs`), the table's stream
//! carries only committed items, and only the `INSERT` of an audit item makes
//! an event. Its `id` is derived from the audit item's key, so a retried batch
//! or a redelivered record publishes the same id again (at least once, never
//! a new id): consumers deduplicate on it. The fields are in docs/events.md.

mod bridge;
mod outbox;

pub use bridge::{EventBridgePublisher, PublishRetry};
pub use outbox::OutboxEvents;

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::audit::{AuditKind, EventMethod};
use crate::store::schema::USER_PREFIX;
use crate::store::schema::{AT, AUDIT_PREFIX, OUTCOME, PK, REQUEST_ID, SK, TYPE, USER_AGENT};
use crate::store::OPERATOR_AGENT_PREFIX;

/// Every event's `source`.
pub const SOURCE: &str = "sspr";

/// The audit kinds other systems hear of: those with a `detail-type`
/// ([`AuditKind::detail_type`]). Every other kind (codes sent, proofs
/// failed, sign-ins, ...) stays in the audit trail only. The template's
/// event source mapping filters on these same types (held by
/// `tests/tests/iam.rs`), so no other record invokes the function.
pub fn published() -> impl Iterator<Item = AuditKind> {
    AuditKind::ALL.into_iter().filter(|k| k.published())
}

/// One event, as it goes to the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Stable: the same for every delivery of the same audit item.
    pub id: String,
    pub detail_type: &'static str,
    /// When the change was made (seconds since the epoch).
    pub at: i64,
    /// The `detail` object (docs/events.md).
    pub detail: Value,
}

/// The stable id of the audit item `pk`, `sk`: the first 128 bits of the
/// SHA-256 of its key, in hex (the key itself names the user).
pub fn event_id(pk: &str, sk: &str) -> String {
    let mut h = Sha256::new();
    h.update(pk.as_bytes());
    h.update([0]);
    h.update(sk.as_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn image_s<'a>(image: &'a Value, name: &str) -> Option<&'a str> {
    image.get(name)?.get("S")?.as_str()
}

fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Event {
    /// The event a DynamoDB stream record (Lambda's shape, or dynoxide's)
    /// makes: only the `INSERT` of an audit item of a published type, with
    /// its new image; `None` for every other record.
    pub fn from_record(record: &Value) -> Option<Self> {
        if record.get("eventName")?.as_str()? != "INSERT" {
            return None;
        }
        let change = record.get("dynamodb")?;
        let keys = change.get("Keys")?;
        let (pk, sk) = (image_s(keys, PK)?, image_s(keys, SK)?);
        let user = pk.strip_prefix(USER_PREFIX)?;
        if !sk.starts_with(AUDIT_PREFIX) || user.is_empty() {
            return None;
        }
        let image = change.get("NewImage")?;
        let kind = AuditKind::parse(image_s(image, TYPE)?)?;
        let detail_type = kind.detail_type()?;
        let at: i64 = image.get(AT)?.get("N")?.as_str()?.parse().ok()?;
        let outcome = image_s(image, OUTCOME).unwrap_or("");
        let mut detail = Map::new();
        let id = event_id(pk, sk);
        detail.insert("id".into(), json!(id));
        detail.insert("type".into(), json!(kind.as_str()));
        detail.insert("user".into(), json!(user));
        detail.insert("at".into(), json!(rfc3339(at)));
        // A method's audit items carry the method's kind as their outcome.
        let (outcome, method) = match kind.event_method() {
            EventMethod::None => (outcome, None),
            EventMethod::Outcome => ("success", Some(outcome)),
            EventMethod::Fixed(method) => (outcome, Some(method.as_str())),
        };
        detail.insert("outcome".into(), json!(outcome));
        if let Some(m) = method {
            detail.insert("method".into(), json!(m));
        }
        let operator =
            image_s(image, USER_AGENT).and_then(|a| a.strip_prefix(OPERATOR_AGENT_PREFIX));
        detail.insert(
            "by".into(),
            json!(if operator.is_some() {
                "operator"
            } else {
                "api"
            }),
        );
        if let Some(op) = operator {
            detail.insert("operator".into(), json!(op));
        }
        if let Some(r) = image_s(image, REQUEST_ID).filter(|r| !r.is_empty()) {
            detail.insert("requestId".into(), json!(r));
        }
        Some(Self {
            id,
            detail_type,
            at,
            detail: Value::Object(detail),
        })
    }

    /// The event as one JSON object: what a dead letter's body and a line of
    /// the local `events` file hold.
    pub fn to_json(&self) -> Value {
        json!({
            "source": SOURCE,
            "detail-type": self.detail_type,
            "time": rfc3339(self.at),
            "detail": self.detail,
        })
    }
}

/// Where events go.
#[async_trait]
pub trait Publish: Send + Sync {
    /// Publish `events` (each to the bus, or, refused there, to the
    /// dead-letter queue); the indices of the events that went nowhere, to be
    /// tried again.
    async fn publish(&self, events: &[Event]) -> Vec<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, sk: &str, ty: &str, outcome: &str, agent: &str) -> Value {
        json!({
            "eventName": name,
            "dynamodb": {
                "Keys": {"pk": {"S": "USER#alice"}, "sk": {"S": sk}},
                "NewImage": {
                    "pk": {"S": "USER#alice"}, "sk": {"S": sk},
                    "type": {"S": ty}, "outcome": {"S": outcome}, "at": {"N": "1767225600"},
                    "client_ip": {"S": "203.0.113.9"}, "user_agent": {"S": agent},
                    "request_id": {"S": "req-1"}
                },
                "SequenceNumber": "100"
            }
        })
    }

    #[test]
    fn an_inserted_audit_item_of_a_published_type_is_an_event_with_its_key_s_id() {
        let sk = "AUDIT#001767225600#00000000000000000001#abc";
        let e = Event::from_record(&record("INSERT", sk, "method_added", "totp", "curl"))
            .expect("an event");
        assert_eq!(e.detail_type, "MethodAdded");
        assert_eq!(e.id, event_id("USER#alice", sk));
        assert_eq!(e.id.len(), 32);
        assert_eq!(
            e.detail,
            json!({"id": e.id, "type": "method_added", "user": "alice", "at": "2026-01-01T00:00:00Z",
                   "outcome": "success", "method": "totp", "by": "api", "requestId": "req-1"})
        );
        // Neither the client's address nor its user agent leaves the audit trail.
        assert!(!e.to_json().to_string().contains("203.0.113.9"));
        let again = Event::from_record(&record("INSERT", sk, "method_added", "totp", "curl"));
        assert_eq!(again.map(|a| a.id), Some(e.id));
    }

    #[test]
    fn an_operator_s_change_names_the_operator() {
        let sk = "AUDIT#001767225600#00000000000000000002#def";
        let agent = format!("{OPERATOR_AGENT_PREFIX}arn:aws:iam::123456789012:user/ops");
        let e = Event::from_record(&record("INSERT", sk, "signin_unlocked", "operator", &agent))
            .expect("an event");
        assert_eq!(e.detail_type, "SignInUnlocked");
        assert_eq!(e.detail["by"], "operator");
        assert_eq!(e.detail["operator"], "arn:aws:iam::123456789012:user/ops");
        assert_eq!(e.detail["outcome"], "operator");
    }

    #[test]
    fn no_other_record_is_an_event() {
        let sk = "AUDIT#001767225600#00000000000000000003#ghi";
        // Not published, not an insert, not an audit item.
        assert!(
            Event::from_record(&record("INSERT", sk, "code_sent", "reset_password", "")).is_none()
        );
        assert!(
            Event::from_record(&record("REMOVE", sk, "password_reset", "success", "")).is_none()
        );
        assert!(
            Event::from_record(&record("MODIFY", sk, "password_reset", "success", "")).is_none()
        );
        assert!(
            Event::from_record(&record("INSERT", "MAIL#x", "password_reset", "success", ""))
                .is_none()
        );
        assert!(Event::from_record(&json!({})).is_none());
        assert!(Event::from_record(&json!({"eventName": "INSERT", "dynamodb": 3})).is_none());
    }

    #[test]
    fn every_published_kind_is_an_event_of_its_detail_type_and_no_other_kind_is() {
        let sk = "AUDIT#001767225600#00000000000000000004#jkl";
        for kind in AuditKind::ALL {
            let e = Event::from_record(&record("INSERT", sk, kind.as_str(), "success", ""));
            assert_eq!(e.map(|e| e.detail_type), kind.detail_type(), "{kind:?}");
        }
        assert!(published().all(|k| k
            .detail_type()
            .is_some_and(|d| d.chars().all(|c| c.is_ascii_alphanumeric()))));
        assert!(Event::from_record(&record("INSERT", sk, "no_such_type", "success", "")).is_none());
    }
}
