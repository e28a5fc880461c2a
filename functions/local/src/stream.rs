//! The table's stream, read from dynoxide as Lambda's event source mapping
//! reads DynamoDB's, and handed in Lambda's event shape to the `mailer`
//! function: its handler in process (the local host), or a Lambda runtime's
//! invoke API (`cargo lambda watch`, in the end-to-end test). So the mail path
//! is the deployed one: a write commits, its stream record names the queued
//! mail, and the courier sends it. In process, the same batch also goes to
//! the `events` function's handler (deployed, it has a mapping of its own;
//! here a record either of them failed is read again by both, which sends no
//! mail twice and publishes only the same event ids again).
//!
//! Like the event source mapping, a batch whose handler reports a failed record
//! is read again from that record, a few times, and then the record is given
//! up (logged; deployed, it would go to the dead-letter queue).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sspr_core::events::Publish;
use sspr_core::mail::courier::Courier;
use sspr_core::stream::{self, BatchResponse, StreamEvent};
use tokio::sync::{Mutex, Notify};

/// Where a batch of stream records goes.
pub enum Sink {
    /// The `mailer` function's handler, in this process.
    InProcess(Courier),
    /// A Lambda runtime's invoke API for the `mailer` function
    /// (`http://HOST:PORT/2015-03-31/functions/sspr-mailer/invocations`).
    Invoke(String),
}

/// Times a failed record is read again before it is given up.
const RETRIES: u32 = 3;
/// Records read at once (Lambda's default batch for DynamoDB streams is 100).
const BATCH: u32 = 100;
/// How often the stream is read when nobody says there is something new.
const IDLE_POLL: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Position {
    /// The last record handed over for good.
    after: Option<String>,
    retries: HashMap<String, u32>,
}

pub struct StreamPump {
    http: reqwest::Client,
    endpoint: String,
    stream_arn: String,
    shard_id: String,
    sink: Sink,
    /// Where the in-process sink's audit events go.
    events: Option<Arc<dyn Publish>>,
    position: Mutex<Position>,
    nudge: Notify,
    paused: std::sync::atomic::AtomicBool,
    /// A pausable drain is reading the stream right now.
    draining: std::sync::atomic::AtomicBool,
}

impl StreamPump {
    /// A pump on the stream `stream_arn` of the dynoxide at `endpoint`, from
    /// the stream's oldest record on (a queued mail already sent is not sent
    /// again: the courier reads each back first).
    pub async fn new(endpoint: &str, stream_arn: &str, sink: Sink) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("stream client: {e}"))?;
        let mut pump = Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            stream_arn: stream_arn.to_owned(),
            shard_id: String::new(),
            sink,
            events: None,
            position: Mutex::new(Position::default()),
            nudge: Notify::new(),
            paused: std::sync::atomic::AtomicBool::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
        };
        let d = pump
            .call("DescribeStream", json!({"StreamArn": stream_arn}))
            .await?;
        pump.shard_id = d["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .ok_or("the stream has no shard")?
            .to_owned();
        Ok(pump)
    }

    /// Hand each batch to the `events` handler too, publishing through
    /// `events` (the in-process sink only).
    pub fn with_events(mut self, events: Arc<dyn Publish>) -> Self {
        self.events = Some(events);
        self
    }

    /// Every record the stream holds now, in Lambda's event shape (what the
    /// event source mapping would hand over, `eventSourceARN` included); the
    /// pump's position does not move.
    pub async fn records(&self) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        let mut req = json!({
            "StreamArn": self.stream_arn,
            "ShardId": self.shard_id,
            "ShardIteratorType": "TRIM_HORIZON",
        });
        loop {
            let it = self.call("GetShardIterator", req.clone()).await?;
            let Some(iterator) = it["ShardIterator"].as_str() else {
                return Ok(all);
            };
            let out = self
                .call(
                    "GetRecords",
                    json!({"ShardIterator": iterator, "Limit": BATCH}),
                )
                .await?;
            let records = out["Records"].as_array().cloned().unwrap_or_default();
            let Some(last) = records
                .last()
                .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
            else {
                return Ok(all);
            };
            req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
            req["SequenceNumber"] = json!(last);
            all.extend(records.into_iter().map(|mut r| {
                r["eventSourceARN"] = json!(self.stream_arn);
                r
            }));
        }
    }

    /// One DynamoDB Streams call. dynoxide wants the look of a signed request,
    /// not a valid signature.
    async fn call(&self, op: &str, body: Value) -> Result<Value, String> {
        let date = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            date.year(),
            u8::from(date.month()),
            date.day(),
            date.hour(),
            date.minute(),
            date.second()
        );
        let resp = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDBStreams_20120810.{op}"))
            .header("x-amz-date", &stamp)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=local",
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{op}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{op}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{op}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{op}: {e}"))
    }

    /// Hand a batch to the sink; the sequence numbers it reports failed.
    async fn deliver(&self, event: Value) -> Result<Vec<String>, String> {
        let answer: BatchResponse = match &self.sink {
            Sink::InProcess(courier) => {
                // The same typed event Lambda's runtime would decode.
                let event: StreamEvent = serde_json::from_value(event)
                    .map_err(|e| format!("a stream batch that is not Lambda's event: {e}"))?;
                let mut answer = sspr_mailer::handle(courier, event.clone()).await;
                if let Some(events) = &self.events {
                    let published = sspr_events::handle(events.as_ref(), event).await;
                    answer
                        .batch_item_failures
                        .extend(published.batch_item_failures);
                }
                answer
            }
            Sink::Invoke(url) => {
                let resp = self
                    .http
                    .post(url)
                    .json(&event)
                    .send()
                    .await
                    .map_err(|e| format!("invoke: {e}"))?;
                if !resp.status().is_success() {
                    return Err(format!("invoke: {}", resp.status()));
                }
                resp.json::<BatchResponse>()
                    .await
                    .map_err(|e| format!("invoke: {e}"))?
            }
        };
        Ok(stream::failed(&answer))
    }

    /// Read what the stream holds past the last record handed over, and hand it
    /// over; how many records were read.
    pub async fn pump_once(&self) -> Result<usize, String> {
        let mut pos = self.position.lock().await;
        let mut req = json!({
            "StreamArn": self.stream_arn,
            "ShardId": self.shard_id,
            "ShardIteratorType": "TRIM_HORIZON",
        });
        if let Some(after) = &pos.after {
            req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
            req["SequenceNumber"] = json!(after);
        }
        let it = self.call("GetShardIterator", req).await?;
        let Some(iterator) = it["ShardIterator"].as_str() else {
            return Ok(0);
        };
        let out = self
            .call(
                "GetRecords",
                json!({"ShardIterator": iterator, "Limit": BATCH}),
            )
            .await?;
        let mut records: Vec<Value> = out["Records"].as_array().cloned().unwrap_or_default();
        if records.is_empty() {
            return Ok(0);
        }
        for r in &mut records {
            r["eventSourceARN"] = json!(self.stream_arn);
        }
        let seqs: Vec<String> = records
            .iter()
            .map(|r| {
                r["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        let read = records.len();
        let failed = self.deliver(json!({ "Records": records })).await?;
        // Like the event source mapping: go on from the first failed record.
        let first_failed = seqs.iter().position(|s| failed.contains(s));
        match first_failed {
            None => pos.after = seqs.last().cloned(),
            Some(i) => {
                let seq = seqs[i].clone();
                let tries = pos.retries.entry(seq.clone()).or_insert(0);
                *tries += 1;
                if *tries > RETRIES {
                    tracing::error!(sequence = %seq, "stream record given up after retries (deployed: the dead-letter queue)");
                    pos.retries.remove(&seq);
                    pos.after = Some(seq);
                } else if i > 0 {
                    pos.after = Some(seqs[i - 1].clone());
                }
            }
        }
        Ok(read)
    }

    /// Say there may be something new on the stream.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Hand over everything the stream holds now, until a read finds nothing
    /// new (or fails).
    pub async fn settle(&self) {
        self.drain(false).await
    }

    /// Pump until the stream is read to its end; with `pausable`, stop as
    /// soon as the pump is paused (a pause lands between two batches, not
    /// after a drain that was under way when it came).
    async fn drain(&self, pausable: bool) {
        use std::sync::atomic::Ordering::SeqCst;
        for _ in 0..1000 {
            if pausable {
                self.draining.store(true, SeqCst);
                if self.paused.load(SeqCst) {
                    self.draining.store(false, SeqCst);
                    return;
                }
            }
            let read = self.pump_once().await;
            if pausable {
                self.draining.store(false, SeqCst);
            }
            match read {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "stream not read");
                    return;
                }
            }
        }
    }

    /// Stop reading the stream by itself (only [`settle`](Self::settle) reads
    /// it then): for tests that look at what a write queued before it is sent.
    /// Once it returns, no read of the pump's own is under way (one that was
    /// in flight is waited for, a few seconds at most), so a write made after
    /// it stays queued until `settle`.
    pub fn pause(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.paused.store(true, SeqCst);
        for _ in 0..5000 {
            if !self.draining.load(SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Read the stream whenever nudged, and every so often anyway, until dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.nudge.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            self.drain(true).await;
        }
    }
}
