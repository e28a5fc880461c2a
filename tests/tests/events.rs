//! The audit events other systems hear of (DESIGN.md "Version 1.1", Events;
//! docs/events.md), published by the `events` function's handler from the
//! table's stream to moto's EventBridge: a journey against the local host on
//! dynoxide, its stream read back as Lambda's event source mapping would
//! hand it over, and those very records given to the handler. A rule on the
//! bus routes every `sspr` event to an SQS queue, where the test reads what
//! the bus received.
//!
//! What it shows: each committed change is one event of its kind, and a
//! write that failed (a spent reset token, a wrong code, an operator's
//! change to nobody) none; the same records handed over twice publish the
//! same ids (no id twice within one batch); an entry the bus refused is
//! sent again alone (against a stand-in for `PutEvents` that refuses one
//! once: moto refuses only malformed entries); a bus that refuses sends each
//! event to the dead-letter queue, and an event that reaches neither is
//! reported for Lambda to retry; no event holds a password, code, token or
//! secret of the journey.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sspr_core::domain::Username;
use sspr_core::events::{Event, EventBridgePublisher, PublishRetry};
use sspr_core::ports::Write;
use sspr_core::store::OperatorChange;
use sspr_core::stream::{BatchResponse, EventRecord, StreamEvent};
use sspr_tests::moto::Moto;
use sspr_tests::{otp, Answer, TestApp, NEW_PASSWORD, PASSWORD};

const BUS: &str = "sspr-test-events";
const THIRD_PASSWORD: &str = "amber lantern frosty meadow glide";
const OPERATOR: &str = "arn:aws:iam::123456789012:user/ops";

/// moto's EventBridge with the bus, a rule sending every `sspr` event to a
/// queue, and the dead-letter queue.
struct Bus {
    moto: Moto,
    sqs: aws_sdk_sqs::Client,
    seen: String,
    dead_letters: String,
}

impl Bus {
    async fn start() -> Self {
        let moto = Moto::start().await;
        let sdk = moto.sdk().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = |name: &'static str| {
            let sqs = sqs.clone();
            async move {
                sqs.create_queue()
                    .queue_name(name)
                    .send()
                    .await
                    .expect("a queue")
                    .queue_url()
                    .expect("its URL")
                    .to_owned()
            }
        };
        let seen = queue("sspr-events-seen").await;
        let dead_letters = queue("sspr-events-dead-letters").await;
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        events
            .create_event_bus()
            .name(BUS)
            .send()
            .await
            .expect("the bus");
        events
            .put_rule()
            .event_bus_name(BUS)
            .name("everything-of-sspr")
            .event_pattern(json!({"source": ["sspr"]}).to_string())
            .send()
            .await
            .expect("the rule");
        events
            .put_targets()
            .event_bus_name(BUS)
            .rule("everything-of-sspr")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("seen")
                    .arn("arn:aws:sqs:us-east-1:123456789012:sspr-events-seen")
                    .build()
                    .expect("a target"),
            )
            .send()
            .await
            .expect("the target");
        Self {
            moto,
            sqs,
            seen,
            dead_letters,
        }
    }

    /// A publisher to `bus`, dead letters to `dead_letters`, retrying quickly.
    async fn publisher(&self, bus: &str, dead_letters: &str) -> EventBridgePublisher {
        let retry = PublishRetry {
            tries: 2,
            first_delay: Duration::from_millis(1),
        };
        EventBridgePublisher::new(&self.moto.sdk().await, bus, dead_letters, retry)
    }

    /// Every message on `queue` not read before, with its attributes.
    async fn drain(&self, queue: &str) -> Vec<(Value, BTreeMap<String, String>)> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .expect("received");
            let messages = got.messages();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                let body = serde_json::from_str(m.body().unwrap_or("")).expect("a JSON body");
                let attrs = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.clone(), v.string_value().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((body, attrs));
            }
        }
    }

    /// The events the bus received since the last look.
    async fn received(&self) -> Vec<Value> {
        self.drain(&self.seen)
            .await
            .into_iter()
            .map(|(b, _)| b)
            .collect()
    }
}

/// Every record the table's stream holds, as the event source mapping hands
/// them over.
async fn stream_records(app: &TestApp) -> Vec<Value> {
    app.running.settle_mail().await;
    let pump = sspr_local::stream::StreamPump::new(
        &app.running.courier_endpoint,
        &app.running.stream_arn,
        sspr_local::stream::Sink::InProcess(app.running.courier()),
    )
    .await
    .expect("the stream");
    pump.records().await.expect("the records")
}

/// A confirmed `user` resets the password (to `NEW_PASSWORD`), then changes
/// it (to `THIRD_PASSWORD`): the stream records that leaves.
async fn reset_then_changed(app: &TestApp, user: &str) -> Vec<Value> {
    let email = app.confirmed_user(user).await;
    let token = app.reset_token(user, &email).await;
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    let access = app.access_token(user, NEW_PASSWORD).await;
    let body = json!({"current_password": NEW_PASSWORD, "new_password": THIRD_PASSWORD});
    let r = send(
        app,
        Method::POST,
        "/v1/password/change",
        &access,
        Some(body),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    stream_records(app).await
}

/// A batch of records as Lambda's runtime hands it to the handler: the typed
/// DynamoDB event.
fn batch(records: &[Value]) -> StreamEvent {
    serde_json::from_value(json!({ "Records": records })).expect("Lambda's DynamoDB event")
}

/// The event one record (Lambda's shape, or dynoxide's) makes.
fn event_of(record: &Value) -> Option<Event> {
    let record: EventRecord =
        serde_json::from_value(record.clone()).expect("a DynamoDB stream record");
    Event::from_record(&record)
}

/// The sequence numbers the answer hands back, read from its JSON (what
/// Lambda reads).
fn failures(answer: &BatchResponse) -> Vec<String> {
    let answer = serde_json::to_value(answer).expect("the answer serializes");
    answer["batchItemFailures"]
        .as_array()
        .expect("a partial batch response")
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    ids
}

fn kinds(events: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = events
        .iter()
        .map(|e| {
            let method = e["detail"]["method"].as_str().unwrap_or("");
            format!("{} {method}", e["detail-type"].as_str().unwrap_or(""))
                .trim()
                .to_owned()
        })
        .collect();
    k.sort();
    k
}

async fn send(app: &TestApp, m: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
    app.send(m, path, Some(token), body).await
}

/// One journey of committed changes and failed attempts; the stream's
/// records and every secret the journey saw.
async fn journey(app: &TestApp) -> (Vec<Value>, Vec<String>) {
    let mut secrets: Vec<String> = [PASSWORD, NEW_PASSWORD, THIRD_PASSWORD]
        .map(str::to_owned)
        .to_vec();
    let email = app.confirmed_user("alice").await;

    // A reset: a wrong code, the right one, the reset; the spent token again.
    let code = app.reset_code("alice", &email).await;
    let wrong = if code.starts_with('0') { "1" } else { "0" }.repeat(code.len());
    assert_ne!(app.verify("alice", &wrong).await.status, 200);
    let r = app.verify("alice", &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json()["reset_token"].as_str().unwrap_or("").to_owned();
    secrets.extend([code, token.clone()]);
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    let again = app.reset(&token, "a wholly other quiet harbour").await;
    assert_ne!(again.status, 204, "a spent token resets nothing");

    // A change: a wrong current password, then the right one.
    let access = app.access_token("alice", NEW_PASSWORD).await;
    secrets.push(access.clone());
    let change =
        |current: &str| json!({"current_password": current, "new_password": THIRD_PASSWORD});
    let r = send(
        app,
        Method::POST,
        "/v1/password/change",
        &access,
        Some(change(PASSWORD)),
    )
    .await;
    assert_ne!(r.status, 204);
    let r = send(
        app,
        Method::POST,
        "/v1/password/change",
        &access,
        Some(change(NEW_PASSWORD)),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The recovery email moves to a new address.
    let access = app.access_token("alice", THIRD_PASSWORD).await;
    secrets.push(access.clone());
    let body = json!({"email": "alice@new.example.org"});
    let r = send(app, Method::PUT, "/v1/me/email", &access, Some(body)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let code = app
        .last_code("alice@new.example.org", "confirm_email")
        .await
        .expect("a code to the new address");
    let body = json!({"username": "alice", "code": code});
    assert_eq!(app.post("/v1/register/confirm", body).await.status, 200);
    secrets.push(code);

    // An authenticator (a wrong code first), recovery codes, the authenticator removed.
    let r = send(
        app,
        Method::POST,
        "/v1/me/methods",
        &access,
        Some(json!({"type": "totp"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json()["secret"].as_str().unwrap_or("").to_owned();
    let right = otp(&secret, app.clock_now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let confirm = "/v1/me/methods/totp/confirm";
    let r = send(
        app,
        Method::POST,
        confirm,
        &access,
        Some(json!({"code": wrong})),
    )
    .await;
    assert_ne!(r.status, 200);
    let r = send(
        app,
        Method::POST,
        confirm,
        &access,
        Some(json!({"code": right})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    secrets.extend([secret, right]);
    app.clock.advance(30);
    let r = send(
        app,
        Method::POST,
        "/v1/me/recovery-codes",
        &access,
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    secrets.extend(
        r.json()["codes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned)),
    );
    let r = send(app, Method::DELETE, "/v1/me/methods/totp", &access, None).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Ten wrong passwords lock sign-in, once.
    for _ in 0..11 {
        app.sign_in("alice", "not the password at all").await;
    }

    // An operator unlocks, grants the admin role, ends the sessions; a change
    // to a user that does not exist is made (and audited) nowhere.
    let store = &app.running.store;
    let alice = Username::parse("alice").expect("valid");
    let now = app.clock_now();
    for change in [
        OperatorChange::ClearSignInLock,
        OperatorChange::GrantAdmin,
        OperatorChange::RevokeSessions,
    ] {
        let w = store.operator_write(&alice, change, OPERATOR, now).await;
        assert_eq!(w.ok(), Some(Write::Applied));
    }
    let ghost = Username::parse("ghost").expect("valid");
    let w = store
        .operator_write(&ghost, OperatorChange::GrantAdmin, OPERATOR, now)
        .await;
    assert_eq!(w.ok(), Some(Write::ConditionFailed));

    (stream_records(app).await, secrets)
}

/// The events of the journey, by detail-type (and method).
const EXPECTED: [&str; 11] = [
    "AdminRoleGranted",
    "EmailChanged",
    "MethodAdded recovery_codes",
    "MethodAdded totp",
    "MethodConfirmed totp",
    "MethodRemoved totp",
    "PasswordChanged",
    "PasswordReset",
    "SessionsRevoked",
    "SignInLocked",
    "SignInUnlocked",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_committed_change_reaches_the_bus_once_and_a_retried_batch_repeats_only_its_ids() {
    let bus = Bus::start().await;
    let app = TestApp::spawn().await;
    let (records, secrets) = journey(&app).await;
    let publisher = bus.publisher(BUS, &bus.dead_letters).await;

    let batch = batch(&records);
    let answer = sspr_events::handle(&publisher, batch.clone()).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let first = bus.received().await;
    // Each committed change once (eleven events: two PutEvents calls of at
    // most ten); the failed reset, change, confirmation and operator write
    // none.
    assert_eq!(kinds(&first), EXPECTED);
    let audit_inserts = |ty: &str| {
        records
            .iter()
            .filter(|r| r["eventName"] == "INSERT" && r["dynamodb"]["NewImage"]["type"]["S"] == ty)
            .count()
    };
    assert_eq!(
        audit_inserts("password_reset"),
        1,
        "the spent token wrote no audit item"
    );
    assert_eq!(audit_inserts("password_changed"), 1);
    assert_eq!(
        audit_inserts("admin_role_granted"),
        1,
        "nor the change to nobody"
    );
    for e in &first {
        assert_eq!(e["source"], "sspr");
        let d = &e["detail"];
        assert_eq!(d["user"], "alice", "{e}");
        assert_eq!(d["id"].as_str().map(str::len), Some(32), "{e}");
        assert!(d["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        assert!(
            d["requestId"].as_str().is_some_and(|r| !r.is_empty()),
            "{e}"
        );
        let by_operator = matches!(
            e["detail-type"].as_str(),
            Some("SignInUnlocked" | "AdminRoleGranted" | "SessionsRevoked")
        );
        if by_operator {
            assert_eq!(
                (&d["by"], &d["operator"], &d["outcome"]),
                (&json!("operator"), &json!(OPERATOR), &json!("operator"))
            );
        } else {
            assert_eq!(d["by"], "api", "{e}");
            assert!(d.get("operator").is_none(), "{e}");
        }
    }
    let first_ids = ids(&first);
    let mut unique = first_ids.clone();
    unique.dedup();
    assert_eq!(unique, first_ids, "no id twice in one batch");

    // The same batch again (Lambda retrying it, or redelivering a record):
    // the same events under the same ids, for consumers to drop.
    let answer = sspr_events::handle(&publisher, batch).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let second = bus.received().await;
    assert_eq!(ids(&second), first_ids);
    assert_eq!(kinds(&second), EXPECTED);
    assert!(bus.drain(&bus.dead_letters).await.is_empty());

    // No password, code, token or secret of the journey in any event.
    for e in first.iter().chain(&second) {
        let text = e.to_string();
        for s in &secrets {
            assert!(
                !s.is_empty() && !text.contains(s.as_str()),
                "a secret in {text}"
            );
        }
        assert!(!text.contains("alice@"), "no address: {text}");
    }
    assert_eq!(
        publisher.actions(),
        ["events:PutEvents"],
        "the bus took every event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_bus_refuses_go_to_the_dead_letter_queue_and_else_back_to_lambda() {
    let bus = Bus::start().await;
    let app = TestApp::spawn().await;
    let records = reset_then_changed(&app, "bob").await;
    let expected: Vec<Event> = records.iter().filter_map(event_of).collect();
    assert_eq!(expected.len(), 2, "the reset and the change");

    // A bus that does not exist refuses every call: after its tries, each
    // event is a dead letter, the event itself as the body.
    let publisher = bus.publisher("no-such-bus", &bus.dead_letters).await;
    let answer = sspr_events::handle(&publisher, batch(&records)).await;
    assert_eq!(
        failures(&answer),
        Vec::<String>::new(),
        "the queue holds them"
    );
    assert!(bus.received().await.is_empty());
    let dead = bus.drain(&bus.dead_letters).await;
    let bodies: Vec<Value> = dead.iter().map(|(b, _)| b.clone()).collect();
    let want: Vec<Value> = expected.iter().map(Event::to_json).collect();
    assert_eq!(bodies, want);
    assert!(dead
        .iter()
        .all(|(_, a)| a.get("ErrorCode").is_some_and(|c| !c.is_empty())));
    assert_eq!(publisher.actions(), ["events:PutEvents", "sqs:SendMessage"]);

    // And when the queue is gone too, the records of those events (and only
    // those) go back to Lambda, to be delivered again.
    let gone = format!("{}/123456789012/no-such-queue", bus.moto.url);
    let publisher = bus.publisher("no-such-bus", &gone).await;
    let answer = sspr_events::handle(&publisher, batch(&records)).await;
    let mut want: Vec<String> = records
        .iter()
        .filter(|r| event_of(r).is_some())
        .filter_map(|r| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_owned))
        .collect();
    let mut got = failures(&answer);
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn a_record_in_lambda_s_own_shape_makes_the_event_dynoxide_s_does() {
    // The fixture AWS captured (shipped by `aws_lambda_events`): its records
    // are of another table, so none is an event; with an audit item's key
    // and image in it, it is the event that item makes.
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/example-dynamodb-event.json"))
            .expect("the fixture is JSON");
    let records = fixture["Records"].as_array().expect("records");
    assert!(records.iter().all(|r| event_of(r).is_none()));
    let sk = "AUDIT#001767225600#00000000000000000007#5b7e";
    let image = json!({
        "pk": {"S": "USER#carol"}, "sk": {"S": sk}, "type": {"S": "password_reset"},
        "outcome": {"S": "success"}, "at": {"N": "1767225600"}, "client_ip": {"S": "198.51.100.7"},
        "user_agent": {"S": "Mozilla/5.0"}, "request_id": {"S": "c0ffee"}, "expires_at": {"N": "1774999600"}
    });
    let mut lambda = records[0].clone();
    lambda["dynamodb"]["Keys"] = json!({"pk": image["pk"], "sk": image["sk"]});
    lambda["dynamodb"]["NewImage"] = image.clone();
    // dynoxide's record: the fields its GetRecords writes, and no more.
    let ours = json!({
        "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
            "SequenceNumber": "1", "SizeBytes": 300, "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1767225600.0
        }
    });
    let e = event_of(&lambda).expect("an event");
    assert_eq!(Some(&e), event_of(&ours).as_ref());
    assert_eq!(e.detail_type, "PasswordReset");
    assert_eq!(e.detail["user"], "carol");
    assert_eq!(e.detail["requestId"], "c0ffee");
    assert!(
        !e.to_json().to_string().contains("198.51.100.7"),
        "no client address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_host_appends_each_event_to_the_outbox_s_events_file() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("dora").await;
    let token = app.reset_token("dora", &email).await;
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    app.running.settle_mail().await;
    let text = std::fs::read_to_string(app.outbox.join("events")).expect("the events file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["source"], "sspr");
    assert_eq!(lines[0]["detail-type"], "PasswordReset");
    assert_eq!(lines[0]["detail"]["user"], "dora");
    assert!(!text.contains(&token) && !text.contains(NEW_PASSWORD));
}

/// A stand-in for EventBridge's `PutEvents` that refuses the first entry of
/// its first call (as the bus does when it throttles one entry), takes every
/// other, and keeps each call's entries.
async fn refusing_once() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<Value>>>>) {
    use std::sync::{Arc, Mutex};
    let calls: Arc<Mutex<Vec<Vec<Value>>>> = Arc::new(Mutex::new(Vec::new()));
    let log = calls.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let log = log.clone();
        async move {
            let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let entries = req["Entries"].as_array().cloned().unwrap_or_default();
            let first_call = log
                .lock()
                .map(|mut l| {
                    l.push(entries.clone());
                    l.len() == 1
                })
                .unwrap_or(false);
            let answers: Vec<Value> = (0..entries.len())
                .map(|k| match (first_call, k) {
                    (true, 0) => {
                        json!({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
                    }
                    _ => json!({"EventId": format!("ev-{k}")}),
                })
                .collect();
            let failed = answers
                .iter()
                .filter(|a| a.get("ErrorCode").is_some())
                .count();
            axum::response::Response::builder()
                .header("content-type", "application/x-amz-json-1.1")
                .body(axum::body::Body::from(
                    json!({"FailedEntryCount": failed, "Entries": answers}).to_string(),
                ))
                .unwrap_or_default()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_bus_refused_is_sent_again_alone_and_then_taken() {
    let app = TestApp::spawn().await;
    let records = reset_then_changed(&app, "erin").await;

    let (url, calls) = refusing_once().await;
    let sdk = sspr_core::aws::local(&url, "us-east-1").build();
    let retry = PublishRetry {
        tries: 3,
        first_delay: Duration::from_millis(1),
    };
    // No queue behind it: a dead letter would fail and come back as a failure.
    let publisher =
        EventBridgePublisher::new(&sdk, BUS, "http://127.0.0.1:9/000000000000/none", retry);
    let answer = sspr_events::handle(&publisher, batch(&records)).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    assert_eq!(publisher.actions(), ["events:PutEvents"], "no dead letter");
    let calls = calls.lock().expect("the calls").clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].len(), 2, "the reset and the change in one call");
    assert_eq!(calls[1], calls[0][..1], "the refused entry again, alone");
    for e in &calls[0] {
        assert_eq!(e["Source"], "sspr");
        assert_eq!(e["EventBusName"], BUS);
    }
    assert_eq!(calls[0][0]["DetailType"], "PasswordReset");
    assert_eq!(calls[0][1]["DetailType"], "PasswordChanged");
}
