//! Fault injection on the real SDK path: at every DynamoDB call of every flow,
//! a throttle, a 5xx, a timeout, and a call applied whose answer is lost. For
//! each: the client gets the documented answer (its normal one, or `503
//! unavailable` with nothing inside), the stored items are consistent, and
//! retrying the flow afterwards works.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use serde_json::json;
use sspr_core::domain::Username;
use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_tests::faults::{Fault, FaultProxy, Protocol, ALL};
use sspr_tests::{Answer, TestApp, NEW_PASSWORD, PASSWORD};

const TIMEOUTS: (Duration, Duration) = (Duration::from_millis(300), Duration::from_millis(900));

struct Rig {
    app: TestApp,
    proxy: FaultProxy,
    _dynamo: EmbeddedDynamo,
}

async fn rig() -> Rig {
    let dynamo = EmbeddedDynamo::start(None).await.expect("dynoxide");
    let proxy = FaultProxy::start(dynamo.endpoint(), Protocol::DynamoDb).await;
    let app = TestApp::spawn_behind_proxy(
        proxy.url.clone(),
        dynamo.endpoint().to_owned(),
        TIMEOUTS,
        |_| {},
        None,
    )
    .await;
    Rig {
        app,
        proxy,
        _dynamo: dynamo,
    }
}

#[derive(Debug, Clone, Copy)]
enum Flow {
    Register,
    Confirm,
    AskReset,
    VerifyRight,
    VerifyWrong,
    Reset,
    Change,
    SignIn,
    SignInWrong,
    EmailChange,
}

#[derive(Default)]
struct Ctx {
    code: String,
    token: String,
}

const USER: &str = "fay";
const EMAIL: &str = "fay@example.com";

fn wrong(code: &str) -> String {
    let n: u64 = code.parse().unwrap_or(0);
    format!("{:06}", (n + 1) % 1_000_000)
}

impl Flow {
    async fn setup(self, r: &Rig) -> Ctx {
        let a = &r.app;
        let mut ctx = Ctx::default();
        match self {
            Flow::Register => {}
            Flow::Confirm => {
                assert_eq!(a.register(USER, EMAIL, PASSWORD).await.status, 201);
                ctx.code = a.last_code(EMAIL, "confirm_email").await.expect("code");
            }
            _ => {
                a.confirmed_user(USER).await;
                match self {
                    Flow::VerifyRight | Flow::VerifyWrong => {
                        ctx.code = a.reset_code(USER, EMAIL).await
                    }
                    Flow::Reset => ctx.token = a.reset_token(USER, EMAIL).await,
                    Flow::Change | Flow::EmailChange => {
                        ctx.token = a.access_token(USER, PASSWORD).await;
                        a.clock.advance(60);
                    }
                    _ => {}
                }
            }
        }
        ctx
    }

    async fn act(self, r: &Rig, ctx: &Ctx) -> Answer {
        let a = &r.app;
        match self {
            Flow::Register => a.register(USER, EMAIL, PASSWORD).await,
            Flow::Confirm => {
                a.post(
                    "/v1/register/confirm",
                    json!({"username": USER, "code": ctx.code}),
                )
                .await
            }
            Flow::AskReset => a.ask_code(USER, "reset_password").await,
            Flow::VerifyRight => a.verify(USER, &ctx.code).await,
            Flow::VerifyWrong => a.verify(USER, &wrong(&ctx.code)).await,
            Flow::Reset => a.reset(&ctx.token, NEW_PASSWORD).await,
            Flow::Change => {
                let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
                a.send(
                    reqwest::Method::POST,
                    "/v1/password/change",
                    Some(&ctx.token),
                    Some(body),
                )
                .await
            }
            Flow::SignIn => a.sign_in(USER, PASSWORD).await,
            Flow::SignInWrong => a.sign_in(USER, "not the password at all").await,
            Flow::EmailChange => {
                let body = json!({"email": "fay@new.example.org"});
                a.send(
                    reqwest::Method::PUT,
                    "/v1/me/email",
                    Some(&ctx.token),
                    Some(body),
                )
                .await
            }
        }
    }

    /// The flow's normal answer.
    fn normal(self, ans: &Answer) -> bool {
        match self {
            Flow::Register => ans.status == 201,
            Flow::Confirm | Flow::VerifyRight | Flow::SignIn => ans.status == 200,
            Flow::AskReset | Flow::EmailChange => ans.status == 202,
            Flow::VerifyWrong => ans.status == 400 && ans.code() == "invalid_code",
            Flow::Reset | Flow::Change => ans.status == 204,
            Flow::SignInWrong => ans.status == 401 && ans.code() == "invalid_credentials",
        }
    }

    /// After the fault, the user gets where the flow leads.
    async fn retry(self, r: &Rig, ctx: &Ctx) {
        let a = &r.app;
        a.clock.advance(60);
        match self {
            Flow::Register => {
                let again = a.register(USER, EMAIL, PASSWORD).await;
                assert!(again.status == 201 || again.status == 409, "{}", again.text);
                assert_eq!(a.sign_in(USER, PASSWORD).await.status, 200);
            }
            Flow::Confirm => {
                let again = a
                    .post(
                        "/v1/register/confirm",
                        json!({"username": USER, "code": ctx.code}),
                    )
                    .await;
                let token = a.access_token(USER, PASSWORD).await;
                let me = a
                    .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
                    .await
                    .json();
                assert!(
                    again.status == 200 || me["email_verified"] == true,
                    "{}",
                    again.text
                );
                assert_eq!(me["email_verified"], true);
            }
            Flow::AskReset | Flow::VerifyRight => {
                let code = a.reset_code(USER, EMAIL).await;
                assert_eq!(a.verify(USER, &code).await.status, 200);
            }
            Flow::VerifyWrong => {
                assert_eq!(
                    a.verify(USER, &ctx.code).await.status,
                    200,
                    "one wrong guess, counted once at most"
                );
            }
            Flow::Reset => {
                let again = a.reset(&ctx.token, NEW_PASSWORD).await;
                assert!(again.status == 204 || again.status == 401, "{}", again.text);
                assert_eq!(a.sign_in(USER, NEW_PASSWORD).await.status, 200);
                assert_eq!(a.sign_in(USER, PASSWORD).await.status, 401);
            }
            Flow::Change => {
                if a.sign_in(USER, NEW_PASSWORD).await.status != 200 {
                    let token = a.access_token(USER, PASSWORD).await;
                    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
                    let r2 = a
                        .send(
                            reqwest::Method::POST,
                            "/v1/password/change",
                            Some(&token),
                            Some(body),
                        )
                        .await;
                    assert_eq!(r2.status, 204, "{}", r2.text);
                }
                assert_eq!(a.sign_in(USER, NEW_PASSWORD).await.status, 200);
            }
            Flow::SignIn | Flow::SignInWrong => {
                assert_eq!(a.sign_in(USER, PASSWORD).await.status, 200)
            }
            Flow::EmailChange => {
                let token = a.access_token(USER, PASSWORD).await;
                let body = json!({"email": "fay@new.example.org"});
                let r2 = a
                    .send(
                        reqwest::Method::PUT,
                        "/v1/me/email",
                        Some(&token),
                        Some(body),
                    )
                    .await;
                assert_eq!(r2.status, 202, "{}", r2.text);
                let code = a
                    .last_code("fay@new.example.org", "confirm_email")
                    .await
                    .expect("code");
                let r3 = a
                    .post(
                        "/v1/register/confirm",
                        json!({"username": USER, "code": code}),
                    )
                    .await;
                assert_eq!(r3.status, 200, "{}", r3.text);
            }
        }
    }
}

fn num(item: &HashMap<String, Av>, k: &str) -> i64 {
    match item.get(k) {
        Some(Av::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The stored items tell one story: every change has its audit event, no
/// password changed with its token unspent, no live code that was not recorded
/// as sent, no counter lost.
async fn assert_consistent(app: &TestApp, what: &str) {
    let store = &app.running.store;
    let user = Username::parse(USER).expect("valid");
    let Some(item) = store.raw_profile(&user).await.expect("read") else {
        return; // the fault stopped the sign-up: nothing stored, nothing to check
    };
    let events = store.audit_events(&user).await.expect("events");
    let count = |kind: &str, outcome: Option<&str>| {
        events
            .iter()
            .filter(|e| e.get("type").map(String::as_str) == Some(kind))
            .filter(|e| outcome.is_none_or(|o| e.get("outcome").map(String::as_str) == Some(o)))
            .count() as i64
    };
    assert_eq!(
        count("registered", None),
        1,
        "{what}: one registration event"
    );
    let changes = count("password_reset", None) + count("password_changed", None);
    assert_eq!(
        num(&item, "token_version"),
        changes,
        "{what}: every password change bumped the version once, with its event"
    );
    if count("password_reset", None) > 0 && item.contains_key("reset_jti") {
        assert!(
            count("code_verified", None) > count("password_reset", None),
            "{what}: a password changed with its token unspent"
        );
    }
    let now = app.clock_now();
    for (p, purpose) in [
        ("ve", "verify_email"),
        ("rp", "reset_password"),
        ("ul", "unlock_account"),
    ] {
        let live = item.contains_key(&format!("{p}_code"))
            && item.get(&format!("{p}_spent")) == Some(&Av::Bool(false))
            && num(&item, &format!("{p}_exp")) > now;
        if live {
            assert!(
                count("code_sent", Some(purpose)) >= 1,
                "{what}: a live {purpose} code never recorded as sent"
            );
        }
        let sent = count("code_sent", Some(purpose)) - count("code_undelivered", Some(purpose));
        assert!(
            num(&item, &format!("{p}_cnt")) <= sent.max(0),
            "{what}: {purpose} send count ahead of its events"
        );
    }
    // Failed reset proofs since the last reset (which clears the counter) are all counted.
    let last_reset = events
        .iter()
        .rposition(|e| e.get("type").map(String::as_str) == Some("password_reset"))
        .map(|i| i + 1)
        .unwrap_or(0);
    let failed_since = events[last_reset..]
        .iter()
        .filter(|e| e.get("type").map(String::as_str) == Some("proof_failed"))
        .filter(|e| e.get("outcome").map(String::as_str) == Some("reset_password"))
        .count() as i64;
    assert_eq!(
        num(&item, "pf_cnt"),
        failed_since,
        "{what}: failed proofs counted with their events"
    );
    if item.get("email_verified") == Some(&Av::Bool(true)) {
        assert!(
            count("email_confirmed", None) >= 1,
            "{what}: confirmed without its event"
        );
    }
}

async fn matrix(flow: Flow) {
    // How many SDK calls the flow makes when nothing fails.
    let steps = {
        let r = rig().await;
        let ctx = flow.setup(&r).await;
        let before = r.proxy.calls();
        let ans = flow.act(&r, &ctx).await;
        assert!(
            flow.normal(&ans),
            "{flow:?} without faults: {} {}",
            ans.status,
            ans.text
        );
        r.proxy.calls() - before
    };
    assert!(steps >= 1, "{flow:?} makes DynamoDB calls");
    for step in 0..steps {
        for fault in ALL {
            let what = format!("{flow:?}, call {} of {steps}, {fault:?}", step + 1);
            let r = rig().await;
            let ctx = flow.setup(&r).await;
            r.proxy.arm(step, fault);
            let ans = flow.act(&r, &ctx).await;
            r.proxy.disarm();
            if !flow.normal(&ans) {
                assert_eq!(
                    (ans.status, ans.code().as_str()),
                    (503, "unavailable"),
                    "{what}: {}",
                    ans.text
                );
                assert_eq!(ans.header("content-type"), "application/problem+json");
            }
            for leak in [
                "Throttl",
                "InternalServerError",
                "dynamo",
                "Dynamo",
                "timeout",
                "127.0.0.1",
                "dispatch",
            ] {
                assert!(!ans.text.contains(leak), "{what}: {leak} in {}", ans.text);
            }
            assert_consistent(&r.app, &what).await;
            flow.retry(&r, &ctx).await;
            assert_consistent(&r.app, &format!("{what}, after the retry")).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_registration() {
    matrix(Flow::Register).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_email_confirmation() {
    matrix(Flow::Confirm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_code_dispatch() {
    matrix(Flow::AskReset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_right_proof() {
    matrix(Flow::VerifyRight).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_wrong_proof() {
    matrix(Flow::VerifyWrong).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_reset() {
    matrix(Flow::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_change() {
    matrix(Flow::Change).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_sign_in() {
    matrix(Flow::SignIn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_a_wrong_sign_in() {
    matrix(Flow::SignInWrong).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_an_email_change() {
    matrix(Flow::EmailChange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_is_what_it_says() {
    // The proxy really fails the call it is armed for, with every retry.
    let r = rig().await;
    r.app.confirmed_user(USER).await;
    r.proxy.arm(0, Fault::Throttle);
    let ans = r.app.sign_in(USER, PASSWORD).await;
    assert_eq!(ans.status, 503);
    r.proxy.disarm();
    assert_eq!(r.app.sign_in(USER, PASSWORD).await.status, 200);
}

mod ses {
    //! The same for SES: throttled, failing, hanging, or sent with the answer
    //! lost. The client's answer never changes; a code whose mail failed is
    //! revoked; the user gets a working code on the next try.

    use std::sync::Arc;

    use super::*;
    use sspr_core::mail::SesMailer;
    use sspr_tests::moto::Moto;

    const SENDER: &str = "no-reply@sspr.example.com";

    struct SesRig {
        app: TestApp,
        proxy: FaultProxy,
        moto: Moto,
    }

    async fn ses_rig() -> SesRig {
        let moto = Moto::start().await;
        moto.verify_sender(SENDER).await;
        let proxy = FaultProxy::start(&moto.url, Protocol::Ses).await;
        let sdk = sspr_core::aws::local(&proxy.url, "us-east-1")
            .retry_config(
                aws_sdk_ses::config::retry::RetryConfig::standard()
                    .with_initial_backoff(Duration::from_millis(20)),
            )
            .build();
        let mailer = Arc::new(SesMailer::with_timeout(
            &sdk,
            SENDER,
            None,
            Duration::from_millis(900),
        ));
        // One try: a fault on it makes the mail undeliverable, the path under test.
        let app = TestApp::spawn_mailing(
            |c| {
                c.sender = SENDER.into();
                c.mail_retry.tries = 1;
            },
            mailer,
        )
        .await;
        SesRig { app, proxy, moto }
    }

    async fn newest_code(r: &SesRig, to: &str) -> Option<String> {
        r.app.running.settle_mail().await;
        r.moto.mails_to(to).await.last().and_then(|m| m.code())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ses_faults_never_change_the_answer_and_lose_no_state() {
        for fault in ALL {
            // Sign-up: the confirmation mail fails; the account stands, the code is revoked.
            let r = ses_rig().await;
            r.proxy.arm(0, fault);
            let ans = r.app.register(USER, EMAIL, PASSWORD).await;
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(ans.status, 201, "{fault:?}: {}", ans.text);
            assert_consistent(&r.app, &format!("sign-up, SES {fault:?}")).await;
            let item = r
                .app
                .running
                .store
                .raw_profile(&Username::parse(USER).expect("valid"))
                .await
                .expect("read")
                .expect("profile");
            assert_eq!(
                item.get("ve_spent"),
                Some(&Av::Bool(true)),
                "{fault:?}: the undelivered code is revoked"
            );
            r.app.clock.advance(60);
            assert_eq!(r.app.ask_code(USER, "verify_email").await.status, 202);
            let code = newest_code(&r, EMAIL).await.expect("a new code arrives");
            assert_eq!(
                r.app
                    .post(
                        "/v1/register/confirm",
                        json!({"username": USER, "code": code})
                    )
                    .await
                    .status,
                200,
                "{fault:?}"
            );

            // A reset code: the answer is the usual 202, the code revoked, the next one works.
            r.app.clock.advance(60);
            r.proxy.arm(0, fault);
            let ans = r.app.ask_code(USER, "reset_password").await;
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(ans.status, 202, "{fault:?}");
            assert_consistent(&r.app, &format!("reset code, SES {fault:?}")).await;
            let audit = r.app.audit_types(USER).await;
            assert!(
                audit.iter().any(|e| e == "code_undelivered"),
                "{fault:?}: {audit:?}"
            );
            if let Some(lost) = newest_code(&r, EMAIL).await.filter(|c| *c != code) {
                // Sent, but its answer lost: the code was revoked all the same.
                assert_eq!(
                    r.app.verify(USER, &lost).await.status,
                    400,
                    "{fault:?}: a revoked code proves nothing"
                );
            }
            r.app.clock.advance(60);
            assert_eq!(r.app.ask_code(USER, "reset_password").await.status, 202);
            let reset_code = newest_code(&r, EMAIL).await.expect("code");
            let v = r.app.verify(USER, &reset_code).await;
            assert_eq!(v.status, 200, "{fault:?}: {}", v.text);
            let token = v.json()["reset_token"].as_str().unwrap_or("").to_owned();

            // The change notice fails: the reset stands.
            r.proxy.arm(0, fault);
            let ans = r.app.reset(&token, NEW_PASSWORD).await;
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(ans.status, 204, "{fault:?}: {}", ans.text);
            assert_consistent(&r.app, &format!("reset notice, SES {fault:?}")).await;
            assert_eq!(
                r.app.sign_in(USER, NEW_PASSWORD).await.status,
                200,
                "{fault:?}"
            );

            // The change notice fails: the change stands.
            let access = r.app.access_token(USER, NEW_PASSWORD).await;
            let body = json!({"current_password": NEW_PASSWORD, "new_password": "brisk pelican umbrella tundra"});
            r.proxy.arm(0, fault);
            let ans = r
                .app
                .send(
                    reqwest::Method::POST,
                    "/v1/password/change",
                    Some(&access),
                    Some(body),
                )
                .await;
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(ans.status, 204, "{fault:?}: {}", ans.text);
            assert_consistent(&r.app, &format!("change notice, SES {fault:?}")).await;

            // The code to a new recovery address fails: 202 as always, code revoked, retry works.
            r.app.clock.advance(60);
            let access = r
                .app
                .access_token(USER, "brisk pelican umbrella tundra")
                .await;
            let body = json!({"email": "fay@new.example.org"});
            r.proxy.arm(0, fault);
            let ans = r
                .app
                .send(
                    reqwest::Method::PUT,
                    "/v1/me/email",
                    Some(&access),
                    Some(body.clone()),
                )
                .await;
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(ans.status, 202, "{fault:?}: {}", ans.text);
            assert_consistent(&r.app, &format!("email change code, SES {fault:?}")).await;
            r.app.clock.advance(60);
            let ans = r
                .app
                .send(
                    reqwest::Method::PUT,
                    "/v1/me/email",
                    Some(&access),
                    Some(body),
                )
                .await;
            assert_eq!(ans.status, 202, "{fault:?}: {}", ans.text);
            let code = newest_code(&r, "fay@new.example.org")
                .await
                .expect("a code to the new address");
            let ans = r
                .app
                .post(
                    "/v1/register/confirm",
                    json!({"username": USER, "code": code}),
                )
                .await;
            assert_eq!(ans.status, 200, "{fault:?}: {}", ans.text);

            // The lock notice fails: the lock holds; the unlock code fails, then works.
            r.proxy.arm(0, fault);
            for i in 0..10 {
                r.app.sign_in(USER, &format!("wrong password {i}")).await;
            }
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(
                r.app
                    .sign_in(USER, "brisk pelican umbrella tundra")
                    .await
                    .status,
                401,
                "{fault:?}: locked"
            );
            assert_consistent(&r.app, &format!("lock notice, SES {fault:?}")).await;
            r.app.clock.advance(60);
            r.proxy.arm(0, fault);
            assert_eq!(r.app.ask_code(USER, "unlock_account").await.status, 202);
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_consistent(&r.app, &format!("unlock code, SES {fault:?}")).await;
            r.app.clock.advance(60);
            assert_eq!(r.app.ask_code(USER, "unlock_account").await.status, 202);
            let code = newest_code(&r, "fay@new.example.org")
                .await
                .expect("an unlock code");
            let ans = r
                .app
                .post("/v1/unlock", json!({"username": USER, "code": code}))
                .await;
            assert_eq!(ans.status, 200, "{fault:?}: {}", ans.text);
            assert_eq!(
                r.app
                    .sign_in(USER, "brisk pelican umbrella tundra")
                    .await
                    .status,
                200,
                "{fault:?}"
            );
        }
    }
}
