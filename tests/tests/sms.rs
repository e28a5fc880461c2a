//! Text messages through SNS, against moto's server: the SNS sender publishes
//! one transactional SMS to the phone number; a code queued with the write
//! that issues it reaches moto through the mailer function's handler; with SMS
//! off, or SNS refusing it every time, it is undeliverable like a mail (its
//! code revoked, its place in the hour given back); and locally it lands in
//! the outbox folder beside the mail, where the journey walkers read it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue as Av;
use serde_json::json;
use sspr_core::domain::Username;
use sspr_core::mail::courier::Courier;
use sspr_core::ports::{OutgoingSms, SmsSender};
use sspr_core::sms::{OutboxSmsSender, SnsSender};
use sspr_core::store::schema;
use sspr_tests::moto::Moto;
use sspr_tests::{latest_sms_code, queue_sms_code, TestApp};

const PHONE: &str = "+4915112345678";

fn sms(text: &str) -> OutgoingSms {
    OutgoingSms {
        to: PHONE.into(),
        text: text.into(),
        kind: "sms_code",
    }
}

/// The stream record of a queued message, as Lambda hands it to the mailer.
fn inserted(user: &str, id: &str) -> sspr_core::stream::StreamEvent {
    let event = json!({"Records": [{
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": format!("USER#{user}")}, "sk": {"S": format!("MAIL#{id}")}},
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 60,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/sspr/stream/x",
    }]});
    serde_json::from_value(event).expect("Lambda's DynamoDB event")
}

/// A confirmed user on a host whose own courier no longer sends (the test's
/// mailer function does).
async fn host_with(user: &str, tweak: impl FnOnce(&mut sspr_core::config::Config)) -> TestApp {
    let app = TestApp::spawn_with(tweak).await;
    app.confirmed_user(user).await;
    app.running.settle_mail().await;
    app.running.pump_pause();
    app
}

/// The mailer function's courier over `app`'s table, with `sms` as its SMS sender.
fn mailer_courier(app: &TestApp, sms: Option<Arc<dyn SmsSender>>) -> Courier {
    let mailer = Arc::new(sspr_core::mail::OutboxMailer::new(
        &app.outbox,
        "sspr <no-reply@example.com>",
        false,
    ));
    app.running
        .app
        .courier(Arc::new(app.running.courier_store.clone()), mailer, sms)
}

async fn reset_slot(app: &TestApp, user: &str) -> (Option<Av>, Option<Av>) {
    let item = app
        .running
        .store
        .raw_profile(&Username::parse(user).expect("valid"))
        .await
        .expect("read")
        .expect("profile");
    (
        item.get(&schema::attr(schema::RESET, schema::SPENT))
            .cloned(),
        item.get(&schema::attr(schema::RESET, schema::CNT)).cloned(),
    )
}

async fn assert_revoked(app: &TestApp, user: &str, code: &str) {
    assert_eq!(
        reset_slot(app, user).await,
        (Some(Av::Bool(true)), Some(Av::N("0".into()))),
        "the code is revoked and its place in the hourly limit given back"
    );
    assert!(app
        .audit_types(user)
        .await
        .iter()
        .any(|t| t == "code_undelivered"));
    assert_ne!(
        app.verify(user, code).await.status,
        200,
        "not even its owner can use it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sns_sender_publishes_the_text_to_the_phone_number_and_moto_records_it() {
    let moto = Moto::start().await;
    let sender = SnsSender::new(&moto.sdk().await);
    sender
        .send(&sms(
            "Your account code is 123456. It is valid for 10 minutes.",
        ))
        .await
        .expect("published");
    assert_eq!(
        moto.sms().await,
        [(
            PHONE.to_owned(),
            "Your account code is 123456. It is valid for 10 minutes.".to_owned()
        )]
    );
    assert_eq!(sender.failures(), 0);
}

/// An SNS endpoint that records each request's form and answers as SNS does:
/// a message id, or (`refuse`) an `InvalidParameter` that quotes the number.
#[derive(Default)]
struct FakeSns {
    forms: Mutex<Vec<Vec<(String, String)>>>,
    refuse: std::sync::atomic::AtomicBool,
    calls: AtomicUsize,
}

async fn fake_sns() -> (Arc<FakeSns>, String, tokio::task::JoinHandle<()>) {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    async fn publish(State(sns): State<Arc<FakeSns>>, body: String) -> axum::response::Response {
        sns.calls.fetch_add(1, Ordering::SeqCst);
        let url = reqwest::Url::parse(&format!("http://sns.invalid/?{body}")).expect("a form");
        let form = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()));
        sns.forms.lock().expect("lock").push(form.collect());
        let xml = [(axum::http::header::CONTENT_TYPE, "text/xml")];
        if sns.refuse.load(Ordering::SeqCst) {
            let refusal = format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: PhoneNumber Reason: {PHONE} is not valid to publish to</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
            );
            return (StatusCode::BAD_REQUEST, xml, refusal).into_response();
        }
        let ok = "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>";
        (StatusCode::OK, xml, ok).into_response()
    }
    let sns = Arc::new(FakeSns::default());
    let app = axum::Router::new()
        .route("/", axum::routing::post(publish))
        .with_state(sns.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (sns, url, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sms_is_one_transactional_publish_to_a_phone_number_never_a_topic() {
    let (sns, url, serving) = fake_sns().await;
    let sender = SnsSender::new(&sspr_core::aws::local(&url, "us-east-1").build());
    sender
        .send(&sms("Your account code is 123456."))
        .await
        .expect("published");
    let forms = sns.forms.lock().expect("lock").clone();
    assert_eq!(forms.len(), 1);
    let get = |k: &str| {
        forms[0]
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("Action"), Some("Publish"));
    assert_eq!(get("PhoneNumber"), Some(PHONE));
    assert_eq!(get("Message"), Some("Your account code is 123456."));
    assert_eq!(get("TopicArn"), None);
    assert_eq!(get("TargetArn"), None);
    assert_eq!(
        get("MessageAttributes.entry.1.Name"),
        Some("AWS.SNS.SMS.SMSType")
    );
    assert_eq!(
        get("MessageAttributes.entry.1.Value.DataType"),
        Some("String")
    );
    assert_eq!(
        get("MessageAttributes.entry.1.Value.StringValue"),
        Some("Transactional")
    );

    // A refusal names its reason and SNS's error code, never the number or
    // the text (SNS's own message may quote the number).
    sns.refuse.store(true, Ordering::SeqCst);
    let err = sender
        .send(&sms("Your account code is 654321."))
        .await
        .expect_err("refused");
    assert_eq!(err.what, "rejected");
    let mut chain = format!("{err} {err:?}");
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain.push_str(&format!(" {c} {c:?}"));
        cause = c.source();
    }
    assert!(chain.contains("InvalidParameter"), "{chain}");
    assert!(!chain.contains("15112345678"), "{chain}");
    assert!(!chain.contains("654321"), "{chain}");
    assert_eq!(sender.failures(), 1);
    serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_code_queued_with_its_write_reaches_moto_through_the_mailer_handler() {
    let moto = Moto::start().await;
    // The host's own courier is paused; the mailer function here sends by SNS.
    let app = host_with("sam", |_| {}).await;
    let (code, id) = queue_sms_code(&app.running.app, app.clock_now(), "sam", PHONE).await;
    let sender = Arc::new(SnsSender::new(&moto.sdk().await));
    let courier = mailer_courier(&app, Some(sender.clone()));
    let answer = sspr_mailer::handle(&courier, inserted("sam", &id)).await;
    assert_eq!(
        serde_json::to_value(answer).expect("serializes"),
        json!({"batchItemFailures": []})
    );

    let sent = moto.sms().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (to, text) = &sent[0];
    assert_eq!(to, PHONE);
    assert!(text.starts_with("Your account code is "), "{text}");
    assert_eq!(text.matches(code.as_str()).count(), 1, "the code, once");
    assert!(text.chars().count() <= 160);
    // No mail went out for it, and a record seen twice sends nothing twice.
    assert!(app.mails().await.iter().all(|m| !m.body.contains(&code)));
    sspr_mailer::handle(&courier, inserted("sam", &id)).await;
    assert_eq!(moto.sms().await.len(), 1);
    // The walkers read it there; the code it carried is the live one.
    let walkers = sspr_tests::walk::Mailbox::Moto(moto.url.clone());
    assert_eq!(
        walkers.sms_code(PHONE).await.as_deref(),
        Some(code.as_str())
    );
    assert_eq!(walkers.sms_code("+14155550123").await, None);
    assert_eq!(app.verify("sam", &code).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sms_off_a_queued_sms_code_is_undeliverable_and_its_code_revoked() {
    let moto = Moto::start().await;
    let app = host_with("olga", |c| c.sms = sspr_core::config::SmsMode::Off).await;
    let (code, id) = queue_sms_code(&app.running.app, app.clock_now(), "olga", PHONE).await;
    // The mailer's SMS sender as its start makes it, with moto as its AWS:
    // with SMS off, a message that went out anyway would be at moto.
    let sms = sspr_core::app::sms_for(&app.running.app.config, Some(&moto.sdk().await), false)
        .expect("config");
    let courier = mailer_courier(&app, sms.clone());
    let answer = sspr_mailer::handle(&courier, inserted("olga", &id)).await;
    assert_eq!(
        serde_json::to_value(answer).expect("serializes"),
        json!({"batchItemFailures": []})
    );
    let sent = moto.sms().await;
    assert!(sent.is_empty(), "with SMS off, moto got {sent:?}");
    assert!(
        sms.is_none(),
        "the mailer with SMS off has no sender at all"
    );
    assert!(
        app.mails().await.iter().all(|m| !m.body.contains(&code)),
        "nor is it mailed instead"
    );
    assert_revoked(&app, "olga", &code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_that_sns_refuses_every_try_is_undeliverable_and_its_code_revoked() {
    let (sns, url, serving) = fake_sns().await;
    sns.refuse.store(true, Ordering::SeqCst);
    let app = host_with("pia", |c| c.mail_retry.tries = 3).await;
    let (code, id) = queue_sms_code(&app.running.app, app.clock_now(), "pia", PHONE).await;
    let sender = Arc::new(SnsSender::new(
        &sspr_core::aws::local(&url, "us-east-1").build(),
    ));
    let courier = mailer_courier(&app, Some(sender.clone()));
    let answer = sspr_mailer::handle(&courier, inserted("pia", &id)).await;
    assert_eq!(
        serde_json::to_value(answer).expect("serializes"),
        json!({"batchItemFailures": []})
    );
    assert_eq!(sns.calls.load(Ordering::SeqCst), 3, "the configured tries");
    assert_eq!(sender.failures(), 3);
    assert_revoked(&app, "pia", &code).await;
    serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locally_an_sms_code_lands_in_the_outbox_beside_the_mail_where_the_walkers_read_it() {
    // The test host runs as sspr-local does: SMS to the outbox folder.
    let app = TestApp::spawn().await;
    assert_eq!(
        app.running.app.config.sms,
        sspr_core::config::SmsMode::Outbox
    );
    app.confirmed_user("lena").await;
    let mails = app.mails().await.len();
    let (code, _) = queue_sms_code(&app.running.app, app.clock_now(), "lena", PHONE).await;
    app.running.settle_mail().await;
    assert_eq!(
        latest_sms_code(&app.outbox, PHONE).as_deref(),
        Some(code.as_str())
    );
    assert_eq!(
        latest_sms_code(&app.outbox, "+14155550123"),
        None,
        "another phone"
    );
    let walkers = sspr_tests::walk::Mailbox::Outbox(app.outbox.clone());
    assert_eq!(
        walkers.sms_code(PHONE).await.as_deref(),
        Some(code.as_str())
    );
    assert_eq!(app.mails().await.len(), mails, "the mail readers skip it");
    let files: Vec<String> = std::fs::read_dir(&app.outbox)
        .expect("outbox")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sms.txt"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("-sms_code.sms.txt"), "{files:?}");
    assert!(
        !files[0].contains("15112345678"),
        "no number in a file name"
    );
    assert_eq!(app.verify("lena", &code).await.status, 200);

    // The newest message to a phone is the one read.
    let outbox = OutboxSmsSender::new(&app.outbox, false);
    outbox
        .send(&sms(
            "Your account code is 97531864. It is valid for 10 minutes.",
        ))
        .await
        .expect("written");
    assert_eq!(
        latest_sms_code(&app.outbox, PHONE).as_deref(),
        Some("97531864")
    );
}
