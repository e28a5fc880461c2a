//! Fault injection on the real SDK path: at every DynamoDB call of every flow,
//! a throttle, a 5xx, a timeout, and a call applied whose answer is lost. For
//! each: the proxy counts that the fault was met (a cell whose call never came
//! would pass on the normal answer), the client gets the documented answer
//! (its normal one, or `503 unavailable` with nothing inside), the stored
//! items are consistent, and retrying the flow afterwards works.

use sspr_core::store::schema;
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
    AskVerify,
    AskReset,
    AskUnlock,
    Unlock,
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
            Flow::AskVerify => {
                assert_eq!(a.register(USER, EMAIL, PASSWORD).await.status, 201);
                a.clock.advance(60);
            }
            Flow::AskUnlock | Flow::Unlock => {
                a.confirmed_user(USER).await;
                lock(a).await;
                if matches!(self, Flow::Unlock) {
                    assert_eq!(a.ask_code(USER, "unlock_account").await.status, 202);
                    ctx.code = a.last_code(EMAIL, "unlock_code").await.expect("code");
                }
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
            Flow::AskVerify => a.ask_code(USER, "verify_email").await,
            Flow::AskReset => a.ask_code(USER, "reset_password").await,
            Flow::AskUnlock => a.ask_code(USER, "unlock_account").await,
            Flow::Unlock => {
                a.post("/v1/unlock", json!({"username": USER, "code": ctx.code}))
                    .await
            }
            Flow::VerifyRight => a.verify(USER, &ctx.code).await,
            Flow::VerifyWrong => a.verify(USER, &wrong(&ctx.code)).await,
            Flow::Reset => a.reset(&ctx.token, NEW_PASSWORD).await,
            Flow::Change => a.change_password(&ctx.token, PASSWORD, NEW_PASSWORD).await,
            Flow::SignIn => a.sign_in(USER, PASSWORD).await,
            Flow::SignInWrong => a.sign_in(USER, "not the password at all").await,
            Flow::EmailChange => a.change_email(&ctx.token, "fay@new.example.org").await,
        }
    }

    /// The flow's normal answer.
    fn normal(self, ans: &Answer) -> bool {
        match self {
            Flow::Register => ans.status == 201,
            Flow::Confirm | Flow::VerifyRight | Flow::SignIn | Flow::Unlock => ans.status == 200,
            Flow::AskVerify | Flow::AskReset | Flow::AskUnlock | Flow::EmailChange => {
                ans.status == 202
            }
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
                // The code is single-use: spent by a first try that applied
                // (its answer lost or not), it proves nothing again; unspent,
                // it confirms now.
                let applied = profile(a)
                    .await
                    .is_some_and(|p| p.get(schema::EMAIL_VERIFIED) == Some(&Av::Bool(true)));
                let again = a.confirm_registration(USER, &ctx.code).await;
                if applied {
                    assert_eq!(
                        (again.status, again.code().as_str()),
                        (400, "invalid_code"),
                        "a spent code again: {}",
                        again.text
                    );
                } else {
                    assert_eq!(again.status, 200, "the unspent code: {}", again.text);
                }
                let token = a.access_token(USER, PASSWORD).await;
                let me = a
                    .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
                    .await
                    .json();
                assert_eq!(me["email_verified"], true);
            }
            Flow::AskVerify => {
                assert_eq!(a.ask_code(USER, "verify_email").await.status, 202);
                let code = a.last_code(EMAIL, "confirm_email").await.expect("code");
                let again = a.confirm_registration(USER, &code).await;
                assert_eq!(again.status, 200, "{}", again.text);
            }
            Flow::AskReset | Flow::VerifyRight => {
                let code = a.reset_code(USER, EMAIL).await;
                assert_eq!(a.verify(USER, &code).await.status, 200);
            }
            Flow::AskUnlock => {
                assert_eq!(a.ask_code(USER, "unlock_account").await.status, 202);
                let code = a.last_code(EMAIL, "unlock_code").await.expect("code");
                let again = a
                    .post("/v1/unlock", json!({"username": USER, "code": code}))
                    .await;
                assert_eq!(again.status, 200, "{}", again.text);
                assert_eq!(a.sign_in(USER, PASSWORD).await.status, 200);
            }
            Flow::Unlock => {
                let again = a
                    .post("/v1/unlock", json!({"username": USER, "code": ctx.code}))
                    .await;
                assert!(again.status == 200 || again.status == 400, "{}", again.text);
                assert_eq!(a.sign_in(USER, PASSWORD).await.status, 200);
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
                    let r2 = a.change_password(&token, PASSWORD, NEW_PASSWORD).await;
                    assert_eq!(r2.status, 204, "{}", r2.text);
                }
                assert_eq!(a.sign_in(USER, NEW_PASSWORD).await.status, 200);
            }
            Flow::SignIn | Flow::SignInWrong => {
                assert_eq!(a.sign_in(USER, PASSWORD).await.status, 200)
            }
            Flow::EmailChange => {
                let token = a.access_token(USER, PASSWORD).await;
                let r2 = a.change_email(&token, "fay@new.example.org").await;
                assert_eq!(r2.status, 202, "{}", r2.text);
                let code = a
                    .last_code("fay@new.example.org", "confirm_email")
                    .await
                    .expect("code");
                let r3 = a.confirm_registration(USER, &code).await;
                assert_eq!(r3.status, 200, "{}", r3.text);
            }
        }
    }
}

/// Lock sign-in with the configured number of wrong passwords.
async fn lock(a: &TestApp) {
    for i in 0..a.running.app.config.signin.max_failures {
        let r = a.sign_in(USER, &format!("wrong password {i}")).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    assert_eq!(a.sign_in(USER, PASSWORD).await.status, 401, "locked");
    a.clock.advance(60);
}

/// The user's stored profile, if there is one.
async fn profile(a: &TestApp) -> Option<HashMap<String, Av>> {
    let user = Username::parse(USER).expect("valid");
    a.running.store.raw_profile(&user).await.expect("read")
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
        panic!("{what}: the user's profile is gone");
    };
    let events = store.audit_events(&user).await.expect("events");
    let count = |kind: &str, outcome: Option<&str>| {
        events
            .iter()
            .filter(|e| e.get(schema::TYPE).map(String::as_str) == Some(kind))
            .filter(|e| {
                outcome.is_none_or(|o| e.get(schema::OUTCOME).map(String::as_str) == Some(o))
            })
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
    if count("password_reset", None) > 0 && item.contains_key(schema::RESET_JTI) {
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
        .rposition(|e| e.get(schema::TYPE).map(String::as_str) == Some("password_reset"))
        .map(|i| i + 1)
        .unwrap_or(0);
    let failed_since = events[last_reset..]
        .iter()
        .filter(|e| e.get(schema::TYPE).map(String::as_str) == Some("proof_failed"))
        .filter(|e| e.get(schema::OUTCOME).map(String::as_str) == Some("reset_password"))
        .count() as i64;
    assert_eq!(
        num(&item, "pf_cnt"),
        failed_since,
        "{what}: failed proofs counted with their events"
    );
    if item.get(schema::EMAIL_VERIFIED) == Some(&Av::Bool(true)) {
        assert!(
            count("email_confirmed", None) >= 1,
            "{what}: confirmed without its event"
        );
    }
}

/// [`assert_consistent`] after `flow`. A registration the fault stopped left
/// no profile, and then nothing else of the user either (no event, no queued
/// mail, no method); every other flow starts from a stored user, who must
/// still be there.
async fn assert_consistent_after(flow: Flow, app: &TestApp, what: &str) {
    if matches!(flow, Flow::Register) && profile(app).await.is_none() {
        let pk = schema::user_pk(&Username::parse(USER).expect("valid"));
        let left: Vec<_> = sspr_tests::consistency::scan(&app.running.store)
            .await
            .into_iter()
            .filter(|i| i.get(schema::PK) == Some(&Av::S(pk.clone())))
            .collect();
        assert!(
            left.is_empty(),
            "{what}: no profile, yet the user's items: {left:#?}"
        );
        return;
    }
    assert_consistent(app, what).await;
}

/// The flow once on a rig of its own, without faults: the rig, the answer
/// (the flow's normal one, or the test fails) and how far the proxy's
/// `count` moved during the act.
async fn unfaulted(flow: Flow, count: fn(&FaultProxy) -> usize) -> (Rig, Answer, usize) {
    let r = rig().await;
    let ctx = flow.setup(&r).await;
    let before = count(&r.proxy);
    let ans = flow.act(&r, &ctx).await;
    assert!(
        flow.normal(&ans),
        "{flow:?} without faults: {} {}",
        ans.status,
        ans.text
    );
    let moved = count(&r.proxy) - before;
    (r, ans, moved)
}

/// An answer that gave up on the store: `503 unavailable`, as a problem.
fn assert_unavailable(ans: &Answer, what: &str) {
    assert_eq!(
        (ans.status, ans.code().as_str()),
        (503, "unavailable"),
        "{what}: {}",
        ans.text
    );
    assert_eq!(ans.header("content-type"), "application/problem+json");
}

async fn matrix(flow: Flow) {
    // How many SDK calls the flow makes when nothing fails.
    let (_, _, steps) = unfaulted(flow, FaultProxy::calls).await;
    assert!(steps >= 1, "{flow:?} makes DynamoDB calls");
    for step in 0..steps {
        for fault in ALL {
            let what = format!("{flow:?}, call {} of {steps}, {fault:?}", step + 1);
            let r = rig().await;
            let ctx = flow.setup(&r).await;
            let met = r.proxy.faults();
            r.proxy.arm(step, fault);
            let ans = flow.act(&r, &ctx).await;
            r.proxy.disarm();
            // A cell whose call was never made (the calls shifted) would pass
            // on the normal answer: each meets its fault.
            assert!(r.proxy.faults() > met, "{what}: the fault was met");
            if !flow.normal(&ans) {
                assert_unavailable(&ans, &what);
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
            assert_consistent_after(flow, &r.app, &what).await;
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
async fn faults_during_a_confirmation_code_dispatch() {
    matrix(Flow::AskVerify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_an_unlock_code_dispatch() {
    matrix(Flow::AskUnlock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_an_unlock() {
    matrix(Flow::Unlock).await;
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
    assert!(
        r.proxy.faults() > 1,
        "every retry of the call met the fault"
    );
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

    /// The latency mode holds SES calls as it holds DynamoDB's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_latency_mode_delays_ses_calls_too() {
        let moto = Moto::start().await;
        let proxy = FaultProxy::start(&moto.url, Protocol::Ses).await;
        let delay = Duration::from_millis(100);
        proxy.delay_all(delay);
        let ses = aws_sdk_ses::Client::new(&sspr_core::aws::local(&proxy.url, "us-east-1").build());
        let started = std::time::Instant::now();
        let quota = ses
            .get_send_quota()
            .send()
            .await
            .expect("moto answers through the proxy");
        let took = started.elapsed();
        assert!(quota.max24_hour_send() > 0.0);
        assert!(took >= delay, "took {took:?}");
        assert_eq!(proxy.calls(), 1);
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
                item.get(&schema::attr(schema::VERIFY, schema::SPENT)),
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
            r.proxy.arm(0, fault);
            let ans = r
                .app
                .change_password(&access, NEW_PASSWORD, "brisk pelican umbrella tundra")
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
            r.proxy.arm(0, fault);
            let ans = r.app.change_email(&access, "fay@new.example.org").await;
            r.app.running.settle_mail().await;
            r.proxy.disarm();
            assert_eq!(ans.status, 202, "{fault:?}: {}", ans.text);
            assert_consistent(&r.app, &format!("email change code, SES {fault:?}")).await;
            r.app.clock.advance(60);
            let ans = r.app.change_email(&access, "fay@new.example.org").await;
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

mod conflicts {
    //! Transaction conflicts, throttling and a transaction still in progress, at
    //! every transaction of every flow. dynoxide never reports a conflict, so
    //! the proxy answers as DynamoDB does when another transaction holds the
    //! item. A retried transaction gives the answer and the state of a run
    //! without the fault: no count lost, nothing written or sent twice; past
    //! the retries the answer is `503` and nothing is half-written.

    use std::collections::BTreeMap;

    use super::*;
    use sspr_tests::consistency::check_table;
    use sspr_tests::faults::TxFault;

    /// Faults the store gets past: a conflict on the first attempt and on the
    /// first three, a cancellation for capacity, throttling the SDK retries,
    /// and an attempt that applied
    /// while its answer, and those of the SDK's retries, said it was still in
    /// progress (three: past the SDK's retries, into the store's).
    const RETRIED: [(TxFault, usize); 7] = [
        (TxFault::Conflict, 1),
        (TxFault::Conflict, 3),
        (TxFault::CapacityCancelled, 1),
        (TxFault::Throttle, 1),
        (TxFault::Throttle, 2),
        (TxFault::InProgress, 1),
        (TxFault::InProgress, 3),
    ];

    /// What a flow left in the table and the outbox, without what differs from
    /// run to run (hashes, digests, ids; times other than zero).
    #[derive(Debug, PartialEq)]
    struct Stored {
        profile: BTreeMap<String, String>,
        audit: Vec<(String, String)>,
        mails: Vec<(String, String)>,
    }

    fn shape(k: &str, v: &Av) -> String {
        const KEPT: [&str; 5] = ["email", "pending_email", "username", "locale", "role"];
        match v {
            Av::N(x) if k.ends_with("_cnt") || k.ends_with("_tries") || k == "token_version" => {
                x.clone()
            }
            Av::N(x) if x == "0" => "0".into(),
            Av::N(_) => "a time".into(),
            Av::Bool(b) => b.to_string(),
            Av::S(x) if KEPT.contains(&k) => x.clone(),
            Av::S(_) => "a string".into(),
            Av::L(l) => format!("a list of {}", l.len()),
            other => format!("{other:?}"),
        }
    }

    /// A per-recipient spacing attribute (`ve_to_<key>`), named without its
    /// key: the key is a MAC under each rig's own throwaway secret.
    fn recipient_blind(k: &str) -> String {
        match k.split_once("_to_") {
            Some((group, _)) => format!("{group}_to_<recipient>"),
            None => k.to_owned(),
        }
    }

    async fn stored(a: &TestApp) -> Stored {
        let user = Username::parse(USER).expect("valid");
        let profile = a
            .running
            .store
            .raw_profile(&user)
            .await
            .expect("read")
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| (recipient_blind(k), shape(k, v)))
            .collect();
        let mut audit: Vec<(String, String)> = a
            .running
            .store
            .audit_events(&user)
            .await
            .expect("events")
            .into_iter()
            .map(|e| {
                let get = |k: &str| e.get(k).cloned().unwrap_or_default();
                (get("type"), get("outcome"))
            })
            .collect();
        audit.sort();
        let mut mails: Vec<(String, String)> = a
            .mails()
            .await
            .into_iter()
            .map(|m| (m.to, m.subject))
            .collect();
        mails.sort();
        Stored {
            profile,
            audit,
            mails,
        }
    }

    /// An answer without what differs from run to run (tokens).
    fn answer_shape(ans: &Answer) -> (u16, String, Vec<String>) {
        let fields = match ans.json() {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        (ans.status, ans.code(), fields)
    }

    async fn table_is_consistent(a: &TestApp, what: &str) {
        if let Err(problems) = check_table(&a.running.store).await {
            panic!("{what}: {problems:#?}");
        }
    }

    /// The flow without faults: its answer, what it stored, and how many
    /// transactions it ran.
    async fn baseline(flow: Flow) -> ((u16, String, Vec<String>), Stored, usize) {
        let (r, ans, txs) = unfaulted(flow, FaultProxy::transactions).await;
        assert!(txs >= 1, "{flow:?} writes in a transaction");
        (answer_shape(&ans), stored(&r.app).await, txs)
    }

    async fn retried(flow: Flow) {
        let (answer, state, txs) = baseline(flow).await;
        for t in 0..txs {
            for (fault, times) in RETRIED {
                let what = format!(
                    "{flow:?}, transaction {} of {txs}, {fault:?} x{times}",
                    t + 1
                );
                let r = rig().await;
                let ctx = flow.setup(&r).await;
                let before = r.proxy.transactions();
                r.proxy.arm_transactions(t, times, fault);
                let ans = flow.act(&r, &ctx).await;
                r.proxy.disarm();
                assert_eq!(r.proxy.tx_faults(), times, "{what}: the faults were met");
                assert_eq!(answer_shape(&ans), answer, "{what}: {}", ans.text);
                assert_eq!(
                    stored(&r.app).await,
                    state,
                    "{what}: what was stored and sent"
                );
                assert_eq!(
                    r.proxy.transactions() - before,
                    txs + times,
                    "{what}: one more attempt per fault"
                );
                assert_consistent(&r.app, &what).await;
                table_is_consistent(&r.app, &what).await;
            }
        }
    }

    async fn persistent(flow: Flow) {
        let (_, _, txs) = baseline(flow).await;
        for t in 0..txs {
            for fault in [
                TxFault::Conflict,
                TxFault::CapacityCancelled,
                TxFault::Throttle,
            ] {
                let what = format!("{flow:?}, transaction {} of {txs}, {fault:?} always", t + 1);
                let r = rig().await;
                let ctx = flow.setup(&r).await;
                let untouched = stored(&r.app).await;
                let before = r.proxy.transactions();
                r.proxy.arm_transactions(t, usize::MAX / 2, fault);
                let ans = flow.act(&r, &ctx).await;
                r.proxy.disarm();
                assert_unavailable(&ans, &what);
                let attempts = r.proxy.transactions() - before - t;
                assert!(
                    (2..=10).contains(&attempts),
                    "{what}: retried, then gave up ({attempts} attempts)"
                );
                if t == 0 {
                    assert_eq!(stored(&r.app).await, untouched, "{what}: nothing written");
                }
                assert_consistent_after(flow, &r.app, &what).await;
                table_is_consistent(&r.app, &what).await;
                flow.retry(&r, &ctx).await;
                assert_consistent(&r.app, &format!("{what}, after the retry")).await;
                table_is_consistent(&r.app, &format!("{what}, after the retry")).await;
            }
        }
    }

    macro_rules! each_flow {
        ($($flow:ident: $retried:ident, $persistent:ident;)*) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $retried() {
                retried(Flow::$flow).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $persistent() {
                persistent(Flow::$flow).await;
            }
        )*};
    }

    each_flow! {
        Register:
            a_transaction_conflict_in_registration_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_registration_answer_503_and_leave_nothing_half_written;
        Confirm:
            a_transaction_conflict_in_a_confirmation_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_a_confirmation_answer_503_and_leave_nothing_half_written;
        AskVerify:
            a_transaction_conflict_issuing_a_confirmation_code_is_retried_and_no_count_is_lost,
            persistent_conflicts_issuing_a_confirmation_code_answer_503_and_leave_nothing_half_written;
        AskReset:
            a_transaction_conflict_issuing_a_reset_code_is_retried_and_no_count_is_lost,
            persistent_conflicts_issuing_a_reset_code_answer_503_and_leave_nothing_half_written;
        AskUnlock:
            a_transaction_conflict_issuing_an_unlock_code_is_retried_and_no_count_is_lost,
            persistent_conflicts_issuing_an_unlock_code_answer_503_and_leave_nothing_half_written;
        VerifyRight:
            a_transaction_conflict_in_a_right_proof_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_a_right_proof_answer_503_and_leave_nothing_half_written;
        VerifyWrong:
            a_transaction_conflict_in_a_wrong_proof_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_a_wrong_proof_answer_503_and_leave_nothing_half_written;
        Reset:
            a_transaction_conflict_in_a_reset_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_a_reset_answer_503_and_leave_nothing_half_written;
        Change:
            a_transaction_conflict_in_a_change_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_a_change_answer_503_and_leave_nothing_half_written;
        EmailChange:
            a_transaction_conflict_in_an_email_change_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_an_email_change_answer_503_and_leave_nothing_half_written;
        Unlock:
            a_transaction_conflict_in_an_unlock_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_an_unlock_answer_503_and_leave_nothing_half_written;
        SignIn:
            a_transaction_conflict_in_a_right_sign_in_is_retried_and_its_audit_lands_once,
            persistent_conflicts_in_a_right_sign_in_answer_503_and_leave_nothing_half_written;
        SignInWrong:
            a_transaction_conflict_in_a_failed_sign_in_is_retried_and_no_count_is_lost,
            persistent_conflicts_in_a_failed_sign_in_answer_503_and_leave_nothing_half_written;
    }

    /// A right sign-in runs exactly one transaction, the one that commits its
    /// `signed_in` audit event before the token goes out (ASVS 16.3.1); the
    /// matrix above holds it under conflicts (`SignIn`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_right_sign_in_runs_one_transaction_that_holds_its_audit() {
        let r = rig().await;
        r.app.confirmed_user(USER).await;
        let before = r.proxy.transactions();
        let events = r.app.audit_types(USER).await;
        assert_eq!(r.app.sign_in(USER, PASSWORD).await.status, 200);
        assert_eq!(r.proxy.transactions() - before, 1);
        let after = r.app.audit_types(USER).await;
        assert_eq!(
            after.iter().filter(|e| *e == "signed_in").count(),
            events.iter().filter(|e| *e == "signed_in").count() + 1,
            "{after:?}"
        );
    }

    /// `n` attempts, the `i`th made by `attempt(i)` with the `RETRIED` fault
    /// of its turn armed on its first transaction: each meets its fault and
    /// is refused with `code` (`what` names the attempts in a failure).
    async fn refused_under_faults<F, Fut>(r: &Rig, n: usize, what: &str, code: &str, attempt: F)
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Answer>,
    {
        for i in 0..n {
            let (fault, times) = RETRIED[i % RETRIED.len()];
            let met = r.proxy.tx_faults();
            r.proxy.arm_transactions(0, times, fault);
            let ans = attempt(i).await;
            r.proxy.disarm();
            assert_eq!(
                r.proxy.tx_faults() - met,
                times,
                "{what} {i}: {fault:?} met"
            );
            assert_eq!(ans.code(), code, "{what} {i}: {}", ans.text);
        }
    }

    /// Every failure counts under conflicts: five wrong proofs block resets and
    /// ten wrong passwords lock sign-in, each with a fault on its write, with
    /// the counters, the events and the notices of a run without faults.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_under_conflicts_still_block_resets_and_lock_sign_in() {
        let r = rig().await;
        let a = &r.app;
        a.confirmed_user(USER).await;
        let code = a.reset_code(USER, EMAIL).await;
        let max_proofs = a.running.app.config.codes.max_failed_proofs as usize;
        refused_under_faults(&r, max_proofs, "proof", "invalid_code", |_| {
            let guess = wrong(&code);
            async move { a.verify(USER, &guess).await }
        })
        .await;
        assert_eq!(
            num(&a.stored_profile(USER).await, "pf_cnt"),
            max_proofs as i64,
            "every failed proof counted"
        );
        let audit = a.audit_types(USER).await;
        let count = |kind: &str| audit.iter().filter(|t| *t == kind).count();
        assert_eq!(count("proof_failed"), max_proofs, "{audit:?}");
        assert_eq!(count("resets_blocked"), 1, "{audit:?}");
        a.clock.advance(60);
        let mailed = a.mails_to(EMAIL, "reset_code").await.len();
        assert_eq!(a.ask_code(USER, "reset_password").await.status, 202);
        assert_eq!(
            a.mails_to(EMAIL, "reset_code").await.len(),
            mailed,
            "resets are blocked"
        );

        let max_failures = a.running.app.config.signin.max_failures as usize;
        refused_under_faults(
            &r,
            max_failures,
            "sign-in",
            "invalid_credentials",
            |i| async move { a.sign_in(USER, &format!("wrong password {i}")).await },
        )
        .await;
        assert_eq!(
            num(&a.stored_profile(USER).await, "si_cnt"),
            max_failures as i64,
            "every wrong password counted"
        );
        let audit = a.audit_types(USER).await;
        assert_eq!(
            audit.iter().filter(|t| *t == "signin_locked").count(),
            1,
            "{audit:?}"
        );
        assert_eq!(
            a.mails_to(EMAIL, "signin_locked").await.len(),
            1,
            "one lock notice"
        );
        assert_eq!(a.sign_in(USER, PASSWORD).await.status, 401, "locked");
        assert_consistent(a, "after the failures").await;
        table_is_consistent(a, "after the failures").await;
    }

    /// The proxy answers a conflict exactly as DynamoDB does: the SDK reads it
    /// as `TransactionCanceledException` with one reason per item, the
    /// profile's `TransactionConflict` and `None` for the rest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_injected_conflict_is_dynamodbs_own() {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let r = rig().await;
        let put = |pk: &str, sk: &str| {
            let item = HashMap::from([
                ("pk".to_owned(), Av::S(pk.into())),
                ("sk".to_owned(), Av::S(sk.into())),
            ]);
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(r.app.running.store.table())
                        .set_item(Some(item))
                        .build()
                        .expect("put"),
                )
                .build()
        };
        let send = || {
            r.app
                .running
                .store
                .client()
                .transact_write_items()
                .transact_items(put("USER#x", "AUDIT#1"))
                .transact_items(put("USER#x", "PROFILE"))
                .transact_items(put("USER#x", "AUDIT#2"))
                .send()
        };
        r.proxy.arm_transactions(0, 1, TxFault::Conflict);
        let err = send().await.expect_err("cancelled").into_service_error();
        let TransactWriteItemsError::TransactionCanceledException(tc) = err else {
            panic!("{err:?}");
        };
        let reasons: Vec<(Option<&str>, Option<&str>)> = tc
            .cancellation_reasons()
            .iter()
            .map(|c| (c.code(), c.message()))
            .collect();
        assert_eq!(
            reasons,
            [
                (Some("None"), None),
                (
                    Some("TransactionConflict"),
                    Some("Transaction is ongoing for the item")
                ),
                (Some("None"), None),
            ]
        );
        assert!(tc
            .message()
            .is_some_and(|m| m.contains("[None, TransactionConflict, None]")));
        // Nothing was applied, and the next attempt goes through.
        let written = || async {
            sspr_tests::consistency::scan(&r.app.running.store)
                .await
                .iter()
                .filter(|i| i.get(schema::PK) == Some(&Av::S("USER#x".into())))
                .count()
        };
        assert_eq!(written().await, 0);
        send().await.expect("applied");
        assert_eq!(written().await, 3);
    }
}

/// The latency mode: every forwarded call waits the set time, as in a region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latency_mode_delays_every_forwarded_call() {
    let r = rig().await;
    r.app.confirmed_user(USER).await;
    let user = Username::parse(USER).expect("valid");
    let delay = Duration::from_millis(100);
    r.proxy.delay_all(delay);
    let (calls, held) = (r.proxy.calls(), r.proxy.held());
    let started = std::time::Instant::now();
    for _ in 0..3 {
        r.app.running.store.raw_profile(&user).await.expect("read");
    }
    let took = started.elapsed();
    assert_eq!(r.proxy.calls() - calls, 3);
    assert_eq!(r.proxy.held() - held, delay * 3, "each call held");
    // A lower bound only: a busy machine makes it longer, never shorter.
    assert!(took >= delay * 3, "3 reads took {took:?}");
    // And the flows work through it unchanged.
    assert_eq!(r.app.sign_in(USER, PASSWORD).await.status, 200);
    r.proxy.delay_all(Duration::ZERO);
    // Set back to zero, no call is held (counted, not timed).
    let (calls, held) = (r.proxy.calls(), r.proxy.held());
    r.app.running.store.raw_profile(&user).await.expect("read");
    assert_eq!(r.proxy.calls() - calls, 1);
    assert_eq!(r.proxy.held(), held, "no delay once it is set back to zero");
}
