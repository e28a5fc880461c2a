//! A fault-injecting proxy on loopback, in front of dynoxide or moto. The SDK
//! talks to it through the standard endpoint setting, so faults arrive exactly as
//! AWS would send them: throttling and 5xx answers (which the SDK retries), calls
//! that hang past the timeouts, and calls that reach the server but whose answer
//! is lost. A fault hits one SDK invocation (told apart by its
//! `amz-sdk-invocation-id` header) with every retry of it.
//!
//! Transactions have faults of their own ([`TxFault`], armed with
//! [`FaultProxy::arm_transactions`]): `TransactWriteItems` calls alone (told
//! apart by their `X-Amz-Target` header), counted by HTTP attempt, so a fault
//! can hit the first attempt of a transaction and let the store's retry through,
//! or every attempt. dynoxide never reports a conflict itself; this is how the
//! store's conflict retry is made to run.
//!
//! [`FaultProxy::delay_all`] adds a fixed latency to every forwarded call, as a
//! region's network would (a few milliseconds for DynamoDB, tens for SES).
//!
//! What the proxy did is counted, so a test can tell that its fault was met
//! ([`FaultProxy::faults`], [`FaultProxy::tx_faults`]), how long the latency
//! mode held calls ([`FaultProxy::held`]), and, once asked to record, what
//! each call it forwarded untouched asked and was answered
//! ([`FaultProxy::exchanges`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `400 ThrottlingException` (DynamoDB) / `400 Throttling` (SES).
    Throttle,
    /// `500 InternalServerError` / `500 InternalFailure`.
    ServerError,
    /// No answer until the client gives up.
    Timeout,
    /// The first attempt reaches the server and is applied; its answer is lost.
    LostResponse,
}

pub const ALL: [Fault; 4] = [
    Fault::Throttle,
    Fault::ServerError,
    Fault::Timeout,
    Fault::LostResponse,
];

/// A fault of one `TransactWriteItems` attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxFault {
    /// `400 TransactionCanceledException`, as DynamoDB sends it when another
    /// transaction holds the item: one cancellation reason per item of the
    /// request, `TransactionConflict` for the profile (the first item if there
    /// is none) and `None` for the others. Nothing is applied.
    Conflict,
    /// `400 TransactionCanceledException` with `ThrottlingError` for the
    /// profile, as DynamoDB cancels a transaction while an on-demand table
    /// scales up (the SDK does not retry it). Nothing is applied.
    CapacityCancelled,
    /// `400 ThrottlingException` (the SDK retries it). Nothing is applied.
    Throttle,
    /// The attempt reaches the server and is applied, but the answer is
    /// `400 TransactionInProgressException`, as when an earlier attempt with the
    /// same `ClientRequestToken` is still running.
    InProgress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    DynamoDb,
    Ses,
}

#[derive(Default)]
struct State {
    seen: Vec<String>,
    plan: Option<(usize, Fault)>,
    forwarded: Vec<String>,
    /// `TransactWriteItems` attempts seen so far.
    transactions: usize,
    /// Attempts `from..from + count` (counted in `transactions`) get the fault.
    tx_plan: Option<(usize, usize, TxFault)>,
    /// Transaction faults answered so far.
    tx_injected: usize,
    /// Added before every forwarded call.
    delay: Duration,
    /// Attempts answered with the armed [`Fault`] so far (a lost answer's
    /// forwarded first attempt among them).
    injected: usize,
    /// The latency forwarded calls were held for so far, added up.
    held: Duration,
    /// Whether calls forwarded untouched are recorded (from [`FaultProxy::record`] on).
    recording: bool,
    /// Every call forwarded untouched while recording, in the order they were answered.
    exchanges: Vec<Exchange>,
}

/// A call the proxy forwarded untouched, and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The `X-Amz-Target` operation (`DynamoDB_20120810.Query`), if any.
    pub target: String,
    pub request: String,
    pub status: u16,
    pub answer: String,
}

pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// How long a hanging answer hangs: longer than any client timeout in the tests.
const HANG: Duration = Duration::from_secs(4);

const TRANSACT_WRITE: &str = "DynamoDB_20120810.TransactWriteItems";

fn dynamo_error(body: String) -> axum::response::Response {
    axum::response::Response::builder()
        .status(400)
        .header("content-type", "application/x-amz-json-1.0")
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

/// Whether a `TransactItems` entry writes or checks a user's profile item.
fn targets_profile(item: &serde_json::Value) -> bool {
    ["Put", "Update", "Delete", "ConditionCheck"]
        .iter()
        .any(|op| {
            let action = &item[*op];
            let sk = if action["Item"].is_object() {
                &action["Item"]["sk"]["S"]
            } else {
                &action["Key"]["sk"]["S"]
            };
            sk.as_str() == Some("PROFILE")
        })
}

/// The answer DynamoDB gives a transaction it cancelled for the profile's sake
/// (`code`, `message`): one reason per item of the request, in order.
fn cancelled(request: &[u8], code: &str, message: &str) -> axum::response::Response {
    let body: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    let items = body["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let at = items.iter().position(targets_profile).unwrap_or(0);
    let reasons: Vec<serde_json::Value> = (0..items.len().max(1))
        .map(|i| {
            if i == at {
                serde_json::json!({"Code": code, "Message": message})
            } else {
                serde_json::json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    dynamo_error(
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            "CancellationReasons": reasons,
        })
        .to_string(),
    )
}

fn in_progress() -> axum::response::Response {
    dynamo_error(
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionInProgressException",
            "Message": "The transaction with the given request token is already in progress.",
        })
        .to_string(),
    )
}

fn error(proto: Protocol, fault: Fault) -> axum::response::Response {
    let (status, body, ct) = match (proto, fault) {
        (Protocol::DynamoDb, Fault::Throttle) => (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
            "application/x-amz-json-1.0",
        ),
        (Protocol::DynamoDb, _) => (
            500,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
            "application/x-amz-json-1.0",
        ),
        (Protocol::Ses, Fault::Throttle) => (
            400,
            r#"<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error><RequestId>fault</RequestId></ErrorResponse>"#,
            "text/xml",
        ),
        (Protocol::Ses, _) => (
            500,
            r#"<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>Internal failure</Message></Error><RequestId>fault</RequestId></ErrorResponse>"#,
            "text/xml",
        ),
    };
    axum::response::Response::builder()
        .status(status)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

impl FaultProxy {
    pub async fn start(upstream: &str, proto: Protocol) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let http = reqwest::Client::new();
        let st = state.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let st = st.clone();
            let upstream = upstream.clone();
            let http = http.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes: Bytes = axum::body::to_bytes(body, 32 * 1024 * 1024)
                    .await
                    .unwrap_or_default();
                let id = parts
                    .headers
                    .get("amz-sdk-invocation-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let transaction = proto == Protocol::DynamoDb
                    && parts
                        .headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        == Some(TRANSACT_WRITE);
                let (fault, first_attempt, tx_fault, delay) = {
                    let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
                    let mut tx_fault = None;
                    if transaction {
                        let i = s.transactions;
                        s.transactions += 1;
                        tx_fault = s.tx_plan.and_then(|(from, count, f)| {
                            (i >= from && i < from + count).then_some(f)
                        });
                        if tx_fault.is_some() {
                            s.tx_injected += 1;
                        }
                    }
                    let idx = match s.seen.iter().position(|x| *x == id) {
                        Some(i) => i,
                        None => {
                            s.seen.push(id.clone());
                            s.seen.len() - 1
                        }
                    };
                    let fault = s.plan.and_then(|(t, f)| (t == idx).then_some(f));
                    if fault.is_some() && tx_fault.is_none() {
                        s.injected += 1;
                    }
                    let first = !s.forwarded.contains(&id);
                    if fault == Some(Fault::LostResponse) && first {
                        s.forwarded.push(id.clone());
                    }
                    (fault, first, tx_fault, s.delay)
                };
                let forward = || async {
                    if !delay.is_zero() {
                        st.lock().unwrap_or_else(|e| e.into_inner()).held += delay;
                        tokio::time::sleep(delay).await;
                    }
                    let url = format!(
                        "{upstream}{}",
                        parts
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("/")
                    );
                    let mut req = http.request(parts.method.clone(), url).body(bytes.clone());
                    for (k, v) in &parts.headers {
                        if k != "host" && k != "content-length" {
                            req = req.header(k, v);
                        }
                    }
                    req.send().await
                };
                match tx_fault {
                    Some(TxFault::Conflict) => {
                        return cancelled(
                            &bytes,
                            "TransactionConflict",
                            "Transaction is ongoing for the item",
                        )
                    }
                    Some(TxFault::CapacityCancelled) => {
                        return cancelled(
                            &bytes,
                            "ThrottlingError",
                            "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly.",
                        )
                    }
                    Some(TxFault::Throttle) => return error(proto, Fault::Throttle),
                    Some(TxFault::InProgress) => {
                        let _ = forward().await;
                        return in_progress();
                    }
                    None => {}
                }
                match fault {
                    None => match forward().await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let mut b = axum::response::Response::builder().status(status);
                            for (k, v) in resp.headers() {
                                if k != "content-length"
                                    && k != "transfer-encoding"
                                    && k != "connection"
                                {
                                    b = b.header(k, v);
                                }
                            }
                            let body = resp.bytes().await.unwrap_or_default();
                            let target = parts
                                .headers
                                .get("x-amz-target")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
                            if s.recording {
                                s.exchanges.push(Exchange {
                                    target,
                                    request: String::from_utf8_lossy(&bytes).into_owned(),
                                    status,
                                    answer: String::from_utf8_lossy(&body).into_owned(),
                                });
                            }
                            drop(s);
                            b.body(axum::body::Body::from(body)).unwrap_or_default()
                        }
                        Err(_) => error(proto, Fault::ServerError),
                    },
                    Some(Fault::Throttle) => error(proto, Fault::Throttle),
                    Some(Fault::ServerError) => error(proto, Fault::ServerError),
                    Some(Fault::Timeout) => {
                        tokio::time::sleep(HANG).await;
                        error(proto, Fault::ServerError)
                    }
                    Some(Fault::LostResponse) => {
                        if first_attempt {
                            let _ = forward().await;
                        }
                        tokio::time::sleep(HANG).await;
                        error(proto, Fault::ServerError)
                    }
                }
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            state,
            stop: Some(stop),
        }
    }

    /// Fail the `n`-th SDK call from now (0 = the next one), with all its retries.
    pub fn arm(&self, n: usize, fault: Fault) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let at = s.seen.len() + n;
        s.plan = Some((at, fault));
    }

    /// Answer `count` `TransactWriteItems` attempts with `fault`, starting with
    /// the `from`-th from now (0 = the next one). Other calls pass untouched.
    pub fn arm_transactions(&self, from: usize, count: usize, fault: TxFault) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let at = s.transactions + from;
        s.tx_plan = Some((at, count, fault));
    }

    pub fn disarm(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.plan = None;
        s.tx_plan = None;
    }

    /// Delay every forwarded call by `delay` (zero: none), from now on.
    pub fn delay_all(&self, delay: Duration) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).delay = delay;
    }

    /// `TransactWriteItems` attempts seen so far.
    pub fn transactions(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .transactions
    }

    /// Transaction faults answered so far.
    pub fn tx_faults(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tx_injected
    }

    /// Attempts answered with the armed [`Fault`] so far: a cell whose count
    /// did not move never met its fault.
    pub fn faults(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .injected
    }

    /// The [`delay_all`](Self::delay_all) latency forwarded calls were held
    /// for so far, added up: what the mode added, counted rather than timed.
    pub fn held(&self) -> Duration {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).held
    }

    /// Record every call forwarded untouched from now on (see [`exchanges`](Self::exchanges)).
    pub fn record(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recording = true;
    }

    /// The calls forwarded untouched while recording, with their answers, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .exchanges
            .clone()
    }

    /// SDK calls seen so far.
    pub fn calls(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }
}
