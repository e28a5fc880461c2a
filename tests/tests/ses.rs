//! Mail through SES, against moto's server: every message for the right event,
//! to the right address, in the right language, with the code where the user
//! reads it; and what happens when SES will not take a message.

use sspr_core::store::schema;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use serde_json::json;
use sspr_core::domain::Username;
use sspr_core::mail::SesMailer;
use sspr_tests::moto::Moto;
use sspr_tests::{Mail, TestApp, NEW_PASSWORD, PASSWORD};

const SENDER: &str = "no-reply@sspr.example.com";
const FROM: &str = "Account team <no-reply@sspr.example.com>";
const ADMINS: [&str; 2] = ["ops@example.com", "security@example.com"];

async fn app_on(moto: &Moto) -> (TestApp, Arc<SesMailer>) {
    let mailer = Arc::new(SesMailer::new(&moto.sdk().await, FROM, None));
    let app = TestApp::spawn_mailing(
        |c| {
            c.sender = FROM.into();
            c.admin_emails = ADMINS.iter().map(|a| a.to_string()).collect();
            // One try, so one refusal is an undeliverable mail.
            c.mail_retry.tries = 1;
        },
        mailer.clone(),
    )
    .await;
    (app, mailer)
}

fn only(mut mails: Vec<Mail>, what: &str) -> Mail {
    assert_eq!(mails.len(), 1, "{what}: {mails:#?}");
    mails.remove(0)
}

fn assert_code_mail(m: &Mail, subject: &str) -> String {
    assert_eq!(m.subject, subject);
    assert_eq!(m.from, FROM);
    let code = m.code().expect("the code on a line of its own");
    assert!(
        m.html.as_deref().is_some_and(|h| h.contains(&code)),
        "the HTML part shows the code"
    );
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_goes_out_through_ses_for_its_event_in_the_users_language() {
    let moto = Moto::start().await;
    moto.verify_sender(SENDER).await;
    let (app, mailer) = app_on(&moto).await;

    // Sign-up in German: the confirmation code, in German, to the new address.
    let r = app
        .post("/v1/register", json!({"username": "anna", "email": "anna@example.de", "password": PASSWORD, "locale": "de"}))
        .await;
    assert_eq!(r.status, 201);
    app.running.settle_mail().await;
    let m = only(moto.mails_to("anna@example.de").await, "confirmation");
    let code = assert_code_mail(&m, "Bestätigen Sie Ihre Wiederherstellungs-E-Mail");
    assert!(m.body.starts_with("Guten Tag,"));
    assert_eq!(
        app.post(
            "/v1/register/confirm",
            json!({"username": "anna", "code": code})
        )
        .await
        .status,
        200
    );

    // The reset code, in German.
    assert_eq!(app.ask_code("anna", "reset_password").await.status, 202);
    app.running.settle_mail().await;
    let mails = moto.mails_to("anna@example.de").await;
    let code = assert_code_mail(&mails[1], "Ihr Code zum Zurücksetzen des Passworts");
    let r = app.verify("anna", &code).await;
    assert_eq!(r.status, 200);
    let token = r.json()["reset_token"].as_str().unwrap_or("").to_owned();

    // Anna is an admin: her reset tells her (in German) and the admins.
    let store = &app.running.store;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key(schema::PK, Av::S("USER#anna".into()))
        .key(schema::SK, Av::S("PROFILE".into()))
        .update_expression("SET #r = :a")
        .expression_attribute_names("#r", "role")
        .expression_attribute_values(":a", Av::S("admin".into()))
        .send()
        .await
        .expect("role set");
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    app.running.settle_mail().await;
    let mails = moto.mails_to("anna@example.de").await;
    assert_eq!(mails.len(), 3);
    let notice = &mails[2];
    assert_eq!(notice.subject, "Ihr Passwort wurde geändert");
    assert!(notice.body.contains("zurückgesetzt"));
    assert!(
        notice.body.contains("https://help.example.com/"),
        "the help desk link"
    );
    assert!(notice
        .html
        .as_deref()
        .is_some_and(|h| h.contains("https://help.example.com/")));
    assert!(notice.code().is_none());
    for admin in ADMINS {
        app.running.settle_mail().await;
        let m = only(moto.mails_to(admin).await, admin);
        assert_eq!(m.subject, "Administrator password reset: anna");
    }

    // A plain user's change tells only the user, in English.
    app.register("ben", "ben@example.com", PASSWORD).await;
    app.running.settle_mail().await;
    let code = moto.mails_to("ben@example.com").await[0]
        .code()
        .expect("code");
    app.post(
        "/v1/register/confirm",
        json!({"username": "ben", "code": code}),
    )
    .await;
    let t = app.access_token("ben", PASSWORD).await;
    let r = app
        .send(
            reqwest::Method::POST,
            "/v1/password/change",
            Some(&t),
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    app.running.settle_mail().await;
    let mails = moto.mails_to("ben@example.com").await;
    assert_eq!(
        mails.last().map(|m| m.subject.as_str()),
        Some("Your password was changed")
    );
    assert!(mails.last().is_some_and(|m| m.body.contains("changed on")));
    for admin in ADMINS {
        app.running.settle_mail().await;
        assert_eq!(
            moto.mails_to(admin).await.len(),
            1,
            "no admin notice for a plain user"
        );
    }

    // A recovery email change: a code to the new address, then a notice to the old one.
    app.clock.advance(60);
    let t = app.access_token("ben", NEW_PASSWORD).await;
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v1/me/email",
            Some(&t),
            Some(json!({"email": "ben@new.example.org"})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.running.settle_mail().await;
    let m = only(
        moto.mails_to("ben@new.example.org").await,
        "code to the new address",
    );
    let code = assert_code_mail(&m, "Confirm your recovery email");
    assert_eq!(
        app.post(
            "/v1/register/confirm",
            json!({"username": "ben", "code": code})
        )
        .await
        .status,
        200
    );
    app.running.settle_mail().await;
    let old = moto.mails_to("ben@example.com").await;
    let told = old.last().expect("a notice to the old address");
    assert_eq!(told.subject, "Your recovery email was changed");
    assert!(told.body.contains("b***@new.example.org"));

    // Ten wrong passwords: the lock notice, then the unlock code, both through SES.
    for i in 0..10 {
        app.sign_in("ben", &format!("wrong password {i}")).await;
    }
    app.running.settle_mail().await;
    let notice = moto
        .mails_to("ben@new.example.org")
        .await
        .pop()
        .expect("a lock notice");
    assert_eq!(notice.subject, "Sign-in to your account is locked");
    app.clock.advance(60);
    assert_eq!(app.ask_code("ben", "unlock_account").await.status, 202);
    app.running.settle_mail().await;
    let m = moto
        .mails_to("ben@new.example.org")
        .await
        .pop()
        .expect("an unlock code");
    let code = assert_code_mail(&m, "Your unlock code");
    assert_eq!(
        app.post("/v1/unlock", json!({"username": "ben", "code": code}))
            .await
            .status,
        200
    );
    app.running.settle_mail().await;
    assert_eq!(mailer.failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_sender_loses_no_state_and_the_user_can_retry() {
    let moto = Moto::start().await;
    let (app, mailer) = app_on(&moto).await;
    // Sign-up stands even though its mail was refused.
    let r = app.register("cleo", "cleo@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.running.settle_mail().await;
    assert_eq!(mailer.failures(), 1);
    app.running.settle_mail().await;
    assert!(moto.mails().await.is_empty());
    app.running.settle_mail().await;
    let events = app.audit_types("cleo").await;
    assert!(events.iter().any(|e| e == "code_undelivered"), "{events:?}");
    // The undelivered code was revoked: not even its owner could use it.
    let item = app
        .running
        .store
        .raw_profile(&Username::parse("cleo").expect("valid"))
        .await
        .expect("read")
        .expect("profile");
    assert_eq!(
        item.get(&schema::attr(schema::VERIFY, schema::SPENT)),
        Some(&Av::Bool(true))
    );
    assert_eq!(
        item.get(&schema::attr(schema::VERIFY, schema::CNT)),
        Some(&Av::N("0".into())),
        "its place in the hourly limit is given back"
    );

    // Once the operator verifies the sender, the user asks again (after the minute).
    moto.verify_sender(SENDER).await;
    let r = app.ask_code("cleo", "verify_email").await;
    assert_eq!(r.status, 202);
    app.running.settle_mail().await;
    assert!(
        moto.mails().await.is_empty(),
        "the one-a-minute spacing still holds"
    );
    app.clock.advance(60);
    assert_eq!(app.ask_code("cleo", "verify_email").await.status, 202);
    app.running.settle_mail().await;
    let code = only(moto.mails_to("cleo@example.com").await, "retry")
        .code()
        .expect("code");
    assert_eq!(
        app.post(
            "/v1/register/confirm",
            json!({"username": "cleo", "code": code})
        )
        .await
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_reset_codes_answer_as_always_and_do_not_use_up_the_hour() {
    let moto = Moto::start().await;
    moto.verify_sender(SENDER).await;
    let (app, mailer) = app_on(&moto).await;
    app.register("dina", "dina@example.com", PASSWORD).await;
    app.running.settle_mail().await;
    let code = moto.mails_to("dina@example.com").await[0]
        .code()
        .expect("code");
    app.post(
        "/v1/register/confirm",
        json!({"username": "dina", "code": code}),
    )
    .await;

    // The operator breaks the sender: five attempts, a minute apart, all refused.
    aws_sdk_ses::Client::new(&moto.sdk().await)
        .delete_identity()
        .identity(SENDER)
        .send()
        .await
        .expect("identity removed");
    let known = app.ask_code("dina", "reset_password").await;
    let unknown = app.ask_code("nobody", "reset_password").await;
    assert_eq!(
        (known.status, &known.text),
        (unknown.status, &unknown.text),
        "still byte-identical"
    );
    for _ in 0..5 {
        // A minute apart: time enough for the courier to give each place back.
        app.running.settle_mail().await;
        app.clock.advance(60);
        assert_eq!(app.ask_code("dina", "reset_password").await.status, 202);
    }
    app.running.settle_mail().await;
    assert_eq!(mailer.failures(), 6);
    // Fixed: the user is not locked out for the hour by mail that never came.
    moto.verify_sender(SENDER).await;
    app.clock.advance(60);
    app.ask_code("dina", "reset_password").await;
    app.running.settle_mail().await;
    let mails = moto.mails_to("dina@example.com").await;
    assert_eq!(mails.len(), 2, "the reset code arrives");
    let code = mails[1].code().expect("code");
    assert_eq!(app.verify("dina", &code).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_mail_endpoint_times_out_in_the_courier_and_the_sign_up_stands_with_its_code_revoked(
) {
    // A listener that accepts and never answers: SES hanging.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = accepted.clone();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    let sdk = sspr_core::aws::local(&url, "us-east-1").build();
    let mailer = Arc::new(SesMailer::with_timeout(
        &sdk,
        FROM,
        None,
        Duration::from_millis(500),
    ));
    let app = TestApp::spawn_mailing(|c| c.mail_retry.tries = 1, mailer.clone()).await;
    // The answer never waits on mail: the sign-up is made and answered.
    let r = app.register("eve", "eve@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The courier does wait on it: its send to the silent endpoint must end
    // by the send timeout. Without one it would hang; the deadline (far past
    // the 500 ms timeout, so no measure of speed) turns a hang into a failure.
    tokio::time::timeout(Duration::from_secs(60), app.running.settle_mail())
        .await
        .expect("the courier gave up on the silent endpoint: no send timeout?");
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the mail went to the silent endpoint"
    );
    assert_eq!(mailer.failures(), 1, "one try, timed out");
    assert!(app
        .audit_types("eve")
        .await
        .iter()
        .any(|e| e == "code_undelivered"));
    // The state is kept: the account stands, and the code nobody received
    // is revoked with its place in the hour given back.
    let profile = app
        .running
        .store
        .raw_profile(&Username::parse("eve").expect("valid"))
        .await
        .expect("read")
        .expect("the account stands");
    assert_eq!(
        (
            profile.get(&schema::attr(schema::VERIFY, schema::SPENT)),
            profile.get(&schema::attr(schema::VERIFY, schema::CNT)),
        ),
        (Some(&Av::Bool(true)), Some(&Av::N("0".into()))),
        "the code is revoked and its place given back: {profile:?}"
    );
    let again = app.register("eve", "eve@example.com", PASSWORD).await;
    assert_eq!((again.status, again.code()), (409, "username_taken".into()));
    hold.abort();
}
