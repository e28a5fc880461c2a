//! The EventBridge publisher: events go to the bus in `PutEvents` calls of at
//! most 10 entries (the API's limit); the entries the bus refused (or all of
//! a call that failed) are tried again a few times; what the bus still
//! refuses goes to the dead-letter queue, one SQS message per event with the
//! event itself as the body, and is counted (`EventsDeadLettered`). Only an
//! event that reached neither is handed back, for the stream to deliver its
//! record again. Each call gives up after 5 s, so a batch of ten takes at most
//! about 20 s (three tries of one `PutEvents`, one failed dead letter) within
//! the function's 30. Built once per cold start from the shared `SdkConfig`.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::{Event, Publish, SOURCE};
use crate::config::ConfigError;
use crate::metrics;

/// `PutEvents` takes at most this many entries a call.
pub const MAX_ENTRIES: usize = 10;

/// How long one call may take, the SDK's own retries included.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How often refused entries are sent again, and the first wait (doubled
/// after each try).
#[derive(Debug, Clone, Copy)]
pub struct PublishRetry {
    /// Calls in all for an entry, the first included.
    pub tries: u32,
    pub first_delay: Duration,
}

impl Default for PublishRetry {
    fn default() -> Self {
        Self {
            tries: 3,
            first_delay: Duration::from_millis(100),
        }
    }
}

#[derive(Debug)]
pub struct EventBridgePublisher {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    bus: String,
    dead_letters: String,
    retry: PublishRetry,
    /// The IAM actions called so far (the IAM test holds the template to them).
    actions: Mutex<BTreeSet<&'static str>>,
}

impl EventBridgePublisher {
    /// Publish to `bus` (a name or an ARN), dead letters to the queue at the
    /// URL `dead_letters`.
    pub fn new(
        sdk: &aws_types::SdkConfig,
        bus: &str,
        dead_letters: &str,
        retry: PublishRetry,
    ) -> Self {
        let events = aws_sdk_eventbridge::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_eventbridge::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            events: aws_sdk_eventbridge::Client::from_conf(events),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            bus: bus.to_owned(),
            dead_letters: dead_letters.to_owned(),
            retry,
            actions: Mutex::new(BTreeSet::new()),
        }
    }

    /// The deployed function's publisher: the bus `SSPR_EVENT_BUS` and the
    /// queue `SSPR_EVENT_DLQ_URL`, through the standard AWS environment
    /// (`AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL_SQS`, ...).
    pub fn from_env() -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let (bus, dlq) = (get("SSPR_EVENT_BUS")?, get("SSPR_EVENT_DLQ_URL")?);
        let sdk = crate::aws::from_env()?;
        Ok(Self::new(&sdk, &bus, &dlq, PublishRetry::default()))
    }

    /// The IAM actions the calls so far needed (`events:PutEvents`, `sqs:SendMessage`).
    pub fn actions(&self) -> Vec<&'static str> {
        self.actions
            .lock()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }

    fn note(&self, action: &'static str) {
        if let Ok(mut a) = self.actions.lock() {
            a.insert(action);
        }
    }

    fn entry(&self, e: &Event) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(e.detail_type)
            .detail(e.detail.to_string())
            .time(DateTime::from_secs(e.at))
            .build()
    }

    /// One `PutEvents` of `chunk` (indices into `events`); the indices the
    /// bus refused, with the reason.
    async fn put(&self, events: &[Event], chunk: &[usize]) -> Vec<(usize, String)> {
        self.note("events:PutEvents");
        let entries = chunk
            .iter()
            .filter_map(|&i| events.get(i).map(|e| self.entry(e)))
            .collect();
        match self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) if out.failed_entry_count() == 0 && out.entries().len() == chunk.len() => {
                Vec::new()
            }
            // The answer's entries are in the order of the request's; one
            // without an event id, or missing, was not taken.
            Ok(out) => chunk
                .iter()
                .enumerate()
                .filter_map(|(k, &i)| match out.entries().get(k) {
                    Some(r) if r.error_code().is_none() && r.event_id().is_some() => None,
                    Some(r) => Some((i, r.error_code().unwrap_or("NoEventId").to_owned())),
                    None => Some((i, "NoAnswer".to_owned())),
                })
                .collect(),
            Err(e) => {
                let reason = aws_sdk_eventbridge::error::ProvideErrorMetadata::code(&e)
                    .unwrap_or("CallFailed")
                    .to_owned();
                tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), reason = %reason, "PutEvents failed");
                chunk.iter().map(|&i| (i, reason.clone())).collect()
            }
        }
    }

    /// Send one event to the dead-letter queue; whether the queue took it.
    async fn dead_letter(&self, e: &Event, reason: &str) -> bool {
        self.note("sqs:SendMessage");
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build();
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.dead_letters)
            .message_body(e.to_json().to_string());
        if let Ok(a) = attr {
            send = send.message_attributes("ErrorCode", a);
        }
        match send.send().await {
            Ok(_) => {
                tracing::warn!(id = %e.id, detail_type = e.detail_type, reason, "event refused by the bus; sent to the dead-letter queue");
                metrics::count("EventsDeadLettered", &[("DetailType", e.detail_type)]);
                true
            }
            Err(err) => {
                tracing::error!(id = %e.id, error = %err, cause = ?std::error::Error::source(&err), "event reached neither the bus nor the dead-letter queue; its record is retried");
                false
            }
        }
    }
}

#[async_trait]
impl Publish for EventBridgePublisher {
    async fn publish(&self, events: &[Event]) -> Vec<usize> {
        let mut pending: Vec<usize> = (0..events.len()).collect();
        let mut refused: Vec<(usize, String)> = Vec::new();
        let mut delay = self.retry.first_delay;
        for attempt in 0..self.retry.tries.max(1) {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            refused.clear();
            for chunk in pending.chunks(MAX_ENTRIES) {
                refused.extend(self.put(events, chunk).await);
            }
            if refused.is_empty() {
                break;
            }
            pending = refused.iter().map(|(i, _)| *i).collect();
        }
        // Once the queue fails one, the rest go back to Lambda untried: a
        // queue that is down would otherwise cost a timeout per event.
        let mut lost = Vec::new();
        for (i, reason) in &refused {
            let queue_failed = !lost.is_empty();
            match events.get(*i) {
                Some(e) if !queue_failed && self.dead_letter(e, reason).await => {}
                Some(_) => lost.push(*i),
                None => {}
            }
        }
        lost
    }
}
