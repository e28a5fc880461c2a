//! The mail path: every mail is queued in the write that it tells of (the
//! transactional outbox), sealed, and sent by the courier from the table's
//! stream after the answer; the answers of the routes that must not tell who
//! has an account keep to the answer floor; and a burst of failures locks or
//! blocks exactly once, with its audit event and notice.

use sspr_core::store::schema;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use serde_json::json;
use sspr_core::ports::{MailError, Mailer, OutgoingMail};
use sspr_tests::{in_parallel, TestApp, PASSWORD};

/// The queued mail items of a user, as stored.
async fn queued(app: &TestApp, user: &str) -> Vec<std::collections::HashMap<String, Av>> {
    app.running
        .store
        .client()
        .query()
        .table_name(app.running.store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
        .expression_attribute_values(":pk", Av::S(format!("USER#{user}")))
        .expression_attribute_values(":m", Av::S("MAIL#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("query")
        .items
        .unwrap_or_default()
}

/// A host whose courier sends only when told, and alice signed up on it (her
/// confirmation mail queued, not sent).
async fn paused_with_alice() -> TestApp {
    let app = TestApp::spawn().await;
    app.running.pump_pause();
    let r = app.register("alice", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app
}

/// A mailer that refuses every mail, counting the tries.
struct Refusing(AtomicUsize);

#[async_trait]
impl Mailer for Refusing {
    async fn send(&self, _: &OutgoingMail) -> Result<(), MailError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(MailError {
            what: "refused",
            source: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_queued_sealed_in_the_write_that_issues_it_and_sent_after_the_answer() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    app.running.settle_mail().await;
    // Stop the courier from looking by itself: what the answer left behind is
    // then in the table, not yet sent.
    app.running.pump_pause();
    assert_eq!(app.ask_code("alice", "reset_password").await.status, 202);
    let items = queued(&app, "alice").await;
    assert_eq!(items.len(), 1, "the code's mail is queued with the code");
    let item = &items[0];
    assert_eq!(item.get(schema::KIND), Some(&Av::S("reset_code".into())));
    let Some(Av::B(sealed)) = item.get(schema::SEALED) else {
        panic!("a sealed payload: {item:?}");
    };
    let raw = format!("{item:?}");
    assert!(!raw.contains(&email), "the address is sealed too");
    assert!(sealed.as_ref().len() > 28, "nonce, ciphertext and tag");
    assert!(
        app.mails_to(&email, "reset_code").await.len() == 1,
        "the courier sends it"
    );
    assert!(
        queued(&app, "alice").await.is_empty(),
        "and takes it off the queue"
    );
    // The code in the mail is the one the profile holds, and proves once.
    let code = app
        .last_code(&email, "reset_code")
        .await
        .expect("a reset code");
    assert!(!raw.contains(&code), "the code is not in the queued item");
    assert_eq!(app.verify("alice", &code).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_does_not_commit_queues_no_mail() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    app.running.settle_mail().await;
    let before = app.mails().await.len();
    assert_eq!(app.ask_code("alice", "reset_password").await.status, 202);
    // Within the minute: the write's condition refuses it, and no mail goes out.
    assert_eq!(app.ask_code("alice", "reset_password").await.status, 202);
    // A taken username: the sign-up does not commit, nor does its mail.
    assert_eq!(app.register("alice", &email, PASSWORD).await.status, 409);
    assert_eq!(
        app.mails().await.len(),
        before + 1,
        "one code, nothing else"
    );
    assert!(queued(&app, "alice").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_record_seen_twice_sends_its_mail_once() {
    let app = paused_with_alice().await;
    let items = queued(&app, "alice").await;
    let Some(Av::S(sk)) = items.first().and_then(|i| i.get(schema::SK)) else {
        panic!("a queued mail: {items:?}");
    };
    // The record as Lambda delivers it, twice (a retried batch).
    let record = json!({
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": "USER#alice"}, "sk": {"S": sk}},
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 60,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/sspr/stream/x",
    });
    let event: sspr_core::stream::StreamEvent =
        serde_json::from_value(json!({"Records": [record.clone(), record]}))
            .expect("Lambda's DynamoDB event");
    let courier = app.running.courier();
    let answer = sspr_mailer::handle(&courier, event.clone()).await;
    let none = json!({"batchItemFailures": []});
    assert_eq!(serde_json::to_value(answer).expect("serializes"), none);
    let again = sspr_mailer::handle(&courier, event).await;
    assert_eq!(serde_json::to_value(again).expect("serializes"), none);
    assert_eq!(
        app.mails_to("alice@example.com", "confirm_email")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_code_is_retried_then_revoked_and_audited() {
    let refusing = Arc::new(Refusing(AtomicUsize::new(0)));
    let app = TestApp::spawn_mailing(|c| c.mail_retry.tries = 3, refusing.clone()).await;
    assert_eq!(
        app.register("alice", "alice@example.com", PASSWORD)
            .await
            .status,
        201,
        "the answer does not wait on the mail"
    );
    app.running.settle_mail().await;
    assert_eq!(refusing.0.load(Ordering::SeqCst), 3, "three tries");
    let profile = app.stored_profile("alice").await;
    assert_eq!(
        profile.get(&schema::attr(schema::VERIFY, schema::SPENT)),
        Some(&Av::Bool(true)),
        "the undelivered code is revoked"
    );
    assert_eq!(
        profile.get(&schema::attr(schema::VERIFY, schema::CNT)),
        Some(&Av::N("0".into())),
        "its place in the hourly limit is given back"
    );
    assert!(app.audited("alice", "code_undelivered").await);
    assert!(
        queued(&app, "alice").await.is_empty(),
        "nothing stays queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_mail_that_waited_past_its_code_is_dropped_not_sent() {
    let app = paused_with_alice().await;
    app.clock.advance(601);
    assert!(
        app.mails().await.is_empty(),
        "an expired code is not mailed"
    );
    assert!(app.audited("alice", "mail_expired").await);
}

/// The median of `n` timings of `f`.
async fn median_ms<F, Fut>(n: usize, mut f: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let mut v = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(f64::total_cmp);
    v[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_proofs_answer_no_earlier_than_the_floor_whoever_asks() {
    let floor = Duration::from_millis(150);
    let app = TestApp::spawn_with(|c| {
        c.answer_floor = floor;
        c.client_limits = sspr_core::limits::ClientLimits::default()
            .with_overrides("codes=off,verify=off,confirm=off,unlock=off")
            .expect("valid");
        c.codes.min_interval = Duration::ZERO;
        c.codes.max_sends = 50;
        c.codes.max_failed_proofs = 100;
        c.codes.max_attempts = 10;
    })
    .await;
    app.confirmed_user("alice").await;
    let routes = [
        (
            "/v1/codes",
            json!({"username": "alice", "purpose": "reset_password"}),
            json!({"username": "nobody", "purpose": "reset_password"}),
        ),
        (
            "/v1/password/verify",
            json!({"username": "alice", "code": "000000"}),
            json!({"username": "nobody", "code": "000000"}),
        ),
        (
            "/v1/register/confirm",
            json!({"username": "alice", "code": "000000"}),
            json!({"username": "nobody", "code": "000000"}),
        ),
        (
            "/v1/unlock",
            json!({"username": "alice", "code": "000000"}),
            json!({"username": "nobody", "code": "000000"}),
        ),
    ];
    for (path, known, unknown) in routes {
        let k = median_ms(5, |_| {
            let app = &app;
            let b = known.clone();
            async move { app.post(path, b).await.status }
        })
        .await;
        let u = median_ms(5, |_| {
            let app = &app;
            let b = unknown.clone();
            async move { app.post(path, b).await.status }
        })
        .await;
        // No earlier than the floor, the security property; how far past it
        // an answer comes is a figure of bench/run, not a test's.
        for (who, ms) in [("known", k), ("unknown", u)] {
            assert!(
                ms >= floor.as_millis() as f64,
                "{path} {who}: {ms:.1} ms is under the floor"
            );
        }
    }
    // A malformed request owes nothing to the floor: under the longest floor
    // there is (5 s), it answers before the floor would let it, so it was
    // not held (the bound is the floor itself, not a speed).
    let longest = Duration::from_millis(5_000);
    let app = TestApp::spawn_with(|c| c.answer_floor = longest).await;
    let t = Instant::now();
    let r = app
        .raw(
            reqwest::Method::POST,
            "/v1/codes",
            Some("application/json"),
            b"{".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        t.elapsed() < longest,
        "held by the floor: {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_passwords_locks_once_and_says_so_once() {
    let app = Arc::new(TestApp::spawn_with(|c| c.client_limits = Default::default()).await);
    let email = app.confirmed_user("alice").await;
    let statuses = in_parallel(20, |_| {
        let app = app.clone();
        async move { app.sign_in("alice", "not the password at all").await.status }
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let locks = app
        .audit_types("alice")
        .await
        .into_iter()
        .filter(|t| t == "signin_locked")
        .count();
    assert_eq!(locks, 1, "exactly one request is the one that locked");
    assert_eq!(
        app.mails_to(&email, "signin_locked").await.len(),
        1,
        "and exactly one notice tells the user"
    );
    assert_eq!(
        app.sign_in("alice", PASSWORD).await.status,
        401,
        "sign-in is locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_codes_blocks_resets_once_and_audits_it_once() {
    let app = Arc::new(
        TestApp::spawn_with(|c| {
            c.client_limits = Default::default();
            c.codes.max_attempts = 100;
        })
        .await,
    );
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let statuses = in_parallel(16, |_| {
        let app = app.clone();
        async move { app.verify("alice", wrong).await.status }
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 400), "{statuses:?}");
    let audit = app.audit_types("alice").await;
    let blocks = audit.iter().filter(|t| *t == "resets_blocked").count();
    assert_eq!(blocks, 1, "{audit:?}");
    assert_eq!(
        app.verify("alice", &code).await.status,
        400,
        "resets are blocked, even with the right code"
    );
}
