//! Least privilege, checked: each function's policy in infra/template.yaml
//! grants exactly the DynamoDB, SES, SNS and Secrets Manager actions its code
//! calls.
//!
//! Each function runs as its own app (its own store recorder) through its
//! handler with real API Gateway v2 events, over every route and the failure
//! paths that write (wrong codes, undelivered mail, a rehash); the mailer
//! function's courier, with its own recorder and mailer, sends what they queue,
//! from the table's stream. The store records the IAM action behind every call,
//! transactions item by item; any mail is a `ses:SendRawEmail` (the one SES
//! call the SES mailer makes), any text message an `sns:Publish` (granted to
//! the mailer alone, to phone numbers only, and only with `Sms=sns`); every
//! cold start reads the secret
//! (`secretsmanager:GetSecretValue`). The stream read itself is granted by the
//! template's event source (SAM's stream policy), not by a statement, but for
//! the events function: its role is its own (`EventsRole`), and grants the
//! stream read on the table's streams only, `events:PutEvents` on the one bus
//! and `sqs:SendMessage` on its dead-letter queue only, which its publisher
//! records as it calls them. The rotate function runs Secrets Manager's four
//! steps of two rotations of the master secret against moto (the second
//! refused by the census, a Scan of the table the others wrote); its Secrets
//! Manager client notes the operation of every request it sends.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use sspr_core::config::{Config, HashParams, Secrets};
use sspr_core::ports::{MailError, Mailer, OutgoingMail, OutgoingSms, SmsSender};
use sspr_core::store::DynamoStore;
use sspr_core::App;
use sspr_tests::{otp, TestApp, NEW_PASSWORD, PASSWORD};

const TEMPLATE: &str = include_str!("../../infra/template.yaml");

const MASTER: &str = "an-iam-test-master-secret-of-more-than-32-characters";

/// Mail that lands in an outbox, noting that SES would have been called; it can
/// be told to fail, to walk the revoke path.
struct Recording {
    inner: Arc<dyn Mailer>,
    used: AtomicBool,
    fail: AtomicBool,
}

#[async_trait]
impl Mailer for Recording {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.used.store(true, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(MailError {
                what: "refused",
                source: None,
            });
        }
        self.inner.send(mail).await
    }
}

struct Function {
    app: App,
    store: DynamoStore,
}

fn function_app(t: &TestApp, hash: HashParams) -> (App, DynamoStore) {
    let store = t.running.store.with_own_recorder();
    let config = Config {
        hash,
        outbox_dir: t.outbox.to_string_lossy().into_owned(),
        mail_retry: sspr_core::mail::courier::MailRetry {
            tries: 2,
            first_delay: std::time::Duration::from_millis(1),
        },
        ..Config::default()
    };
    let secrets = Secrets::derive(&MASTER.to_string().into()).expect("derives");
    let app = App::new(
        config,
        secrets,
        Arc::new(store.clone()),
        t.running.app.clock.clone(),
        sspr_core::app::Parts::ALL,
    );
    (app, store)
}

fn recorded(store: &DynamoStore) -> BTreeSet<String> {
    let mut a: BTreeSet<String> = store
        .round_trips()
        .actions()
        .into_iter()
        .map(str::to_owned)
        .collect();
    a.insert("secretsmanager:GetSecretValue".into());
    a
}

impl Function {
    fn new(t: &TestApp, hash: HashParams) -> Self {
        let (app, store) = function_app(t, hash);
        Self { app, store }
    }

    fn actions(&self) -> BTreeSet<String> {
        recorded(&self.store)
    }
}

/// Text messages that land in the outbox, noting that SNS would have been called.
struct RecordingSms {
    inner: sspr_core::sms::OutboxSmsSender,
    used: AtomicBool,
}

#[async_trait]
impl SmsSender for RecordingSms {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), MailError> {
        self.used.store(true, Ordering::SeqCst);
        self.inner.send(sms).await
    }
}

/// The mailer function: a courier of its own on the stream.
struct MailerFn {
    store: DynamoStore,
    mail: Arc<Recording>,
    sms: Arc<RecordingSms>,
    pump: sspr_local::stream::StreamPump,
}

impl MailerFn {
    async fn new(t: &TestApp) -> Self {
        let (app, _) = function_app(t, HashParams::default());
        let store = t.running.courier_store.with_own_recorder();
        let outbox: Arc<dyn Mailer> = Arc::new(sspr_core::mail::OutboxMailer::new(
            &t.outbox,
            "sspr <no-reply@example.com>",
            false,
        ));
        let mail = Arc::new(Recording {
            inner: outbox,
            used: AtomicBool::new(false),
            fail: AtomicBool::new(false),
        });
        let sms = Arc::new(RecordingSms {
            inner: sspr_core::sms::OutboxSmsSender::new(&t.outbox, false),
            used: AtomicBool::new(false),
        });
        let courier = app.courier(Arc::new(store.clone()), mail.clone(), Some(sms.clone()));
        let pump = sspr_local::stream::StreamPump::new(
            &t.running.courier_endpoint,
            &t.running.stream_arn,
            sspr_local::stream::Sink::InProcess(courier),
        )
        .await
        .expect("the stream");
        Self {
            store,
            mail,
            sms,
            pump,
        }
    }

    /// Send what the functions queued.
    async fn send(&self) {
        self.pump.settle().await;
    }

    fn actions(&self) -> BTreeSet<String> {
        let mut a = recorded(&self.store);
        if self.mail.used.load(Ordering::SeqCst) {
            a.insert("ses:SendRawEmail".into());
        }
        if self.sms.used.load(Ordering::SeqCst) {
            a.insert("sns:Publish".into());
        }
        a
    }
}

fn event(
    method: &str,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> lambda_http::Request {
    let mut e = sspr_tests::events::Event::new(method, path);
    if let Some(b) = body {
        e = e.json(b);
    }
    if let Some(t) = bearer {
        e = e.bearer(t);
    }
    e.request()
}

/// An unauthenticated `POST path` with a JSON body.
fn post(path: &str, body: Value) -> lambda_http::Request {
    event("POST", path, Some(body), None)
}

fn json_of(r: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(r.body().as_ref()).unwrap_or(Value::Null)
}

/// The string field `name` of a JSON answer (empty when there is none).
fn text_of(r: &lambda_http::Response<lambda_http::Body>, name: &str) -> String {
    json_of(r)[name].as_str().unwrap_or("").to_owned()
}

/// A policy statement as granted: itself, or the statement an `!If` grants
/// when its condition holds.
fn when_granted(st: &serde_yaml::Value) -> &serde_yaml::Value {
    match st {
        serde_yaml::Value::Tagged(t) if t.tag == "If" => &t.value[1],
        _ => st,
    }
}

/// The condition an `!If` statement is granted under, if it is one.
fn granted_under(st: &serde_yaml::Value) -> Option<&str> {
    match st {
        serde_yaml::Value::Tagged(t) if t.tag == "If" => {
            assert!(
                matches!(&t.value[2], serde_yaml::Value::Tagged(n) if n.tag == "Ref" && n.value.as_str() == Some("AWS::NoValue")),
                "an !If statement grants nothing otherwise: {st:?}"
            );
            t.value[0].as_str()
        }
        _ => None,
    }
}

/// The role a function names (`Role: !GetAtt X.Arn`) instead of SAM's.
fn own_role<'a>(
    doc: &'a serde_yaml::Value,
    function: &serde_yaml::Value,
) -> Option<&'a serde_yaml::Value> {
    match &function["Properties"]["Role"] {
        serde_yaml::Value::Tagged(t) if t.tag == "GetAtt" => {
            let name = t.value.as_str()?.strip_suffix(".Arn")?;
            let role = &doc["Resources"][name];
            (role["Type"].as_str() == Some("AWS::IAM::Role")).then_some(role)
        }
        _ => None,
    }
}

/// Every policy statement a function is granted: its `Policies` (SAM's
/// role), or its own role's.
fn statements<'a>(
    doc: &'a serde_yaml::Value,
    function: &'a serde_yaml::Value,
) -> Vec<&'a serde_yaml::Value> {
    let sam = function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten());
    let own = own_role(doc, function)
        .and_then(|r| r["Properties"]["Policies"].as_sequence())
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
        });
    sam.chain(own).collect()
}

/// What Lambda itself does with the events function's own role: poll the
/// table's stream and write the function's logs (SAM's policies grant these
/// to the other functions).
const PLATFORM: [&str; 6] = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
];

/// Each function's granted actions in the template (its `Policies`, or its own role's).
fn template_actions() -> BTreeMap<String, BTreeSet<String>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    let mut out = BTreeMap::new();
    let Some(resources) = doc["Resources"].as_mapping() else {
        return out;
    };
    for (name, res) in resources {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let mut set = BTreeSet::new();
        for st in statements(&doc, res) {
            // A statement under `!If [Condition, statement, NoValue]` is
            // granted when its condition holds: counted as granted.
            let st = when_granted(st);
            assert_eq!(st["Effect"].as_str(), Some("Allow"));
            match &st["Action"] {
                serde_yaml::Value::String(a) => {
                    set.insert(a.clone());
                }
                serde_yaml::Value::Sequence(list) => {
                    set.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)));
                }
                other => panic!("unexpected Action {other:?}"),
            }
        }
        out.insert(name.as_str().unwrap_or("").to_owned(), set);
    }
    out
}

/// Each function's HTTP routes in the template, as `METHOD path`.
fn template_routes(function: &str) -> BTreeSet<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    doc["Resources"][function]["Properties"]["Events"]
        .as_mapping()
        .map(|events| {
            events
                .values()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["Properties"]["Method"].as_str().unwrap_or(""),
                        e["Properties"]["Path"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_policy_grants_exactly_what_its_function_calls() {
    let t = TestApp::spawn_without_courier(|_| {}).await;
    let mailer = MailerFn::new(&t).await;
    let cheap = sspr_tests::CHEAP_HASH;
    let register = Function::new(&t, cheap);
    let dispatch = Function::new(&t, HashParams::default());
    let password = Function::new(&t, HashParams::default());
    let signin = Function::new(&t, HashParams::default());
    let (r, d, p, s) = (&register.app, &dispatch.app, &password.app, &signin.app);

    // Each function's routes, unauthenticated, with a JSON body.
    let to_register = |path: &str, body: Value| sspr_register::handle(r, post(path, body));
    let to_signin = |body: Value| sspr_signin::handle(s, post("/v1/token", body));
    let to_dispatch = |body: Value| sspr_dispatch::handle(d, post("/v1/codes", body));
    let to_password = |path: &str, body: Value| sspr_password::handle(p, post(path, body));

    // register: sign-up (also taken and weak), confirm (wrong, right), profile, email change.
    let reg =
        |u: &str| json!({"username": u, "email": format!("{u}@example.com"), "password": PASSWORD});
    assert_eq!(to_register("/v1/register", reg("iam")).await.status(), 201);
    assert_eq!(to_register("/v1/register", reg("iam")).await.status(), 409);
    mailer.send().await;
    mailer.mail.fail.store(true, Ordering::SeqCst);
    assert_eq!(to_register("/v1/register", reg("iam2")).await.status(), 201);
    mailer.send().await;
    mailer.mail.fail.store(false, Ordering::SeqCst);
    mailer.send().await;
    let code = t
        .last_code("iam@example.com", "confirm_email")
        .await
        .expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let with_code = |code: &str| json!({"username": "iam", "code": code});
    to_register("/v1/register/confirm", with_code(wrong)).await;
    let resp = to_register("/v1/register/confirm", with_code(&code)).await;
    assert_eq!(resp.status(), 200);

    // signin: wrong, unknown, right (the cheap hash from sign-up is rehashed), JWKS.
    to_signin(json!({"username": "iam", "password": "nope nope nope"})).await;
    to_signin(json!({"username": "ghost", "password": "nope nope nope"})).await;
    let resp = to_signin(json!({"username": "iam", "password": PASSWORD})).await;
    let access = text_of(&resp, "access_token");
    sspr_signin::handle(s, event("GET", "/.well-known/jwks.json", None, None)).await;

    let resp = sspr_register::handle(r, event("GET", "/v1/me", None, Some(&access))).await;
    assert_eq!(resp.status(), 200);
    t.clock.advance(60);
    let body = json!({"email": "iam@new.example.org"});
    let req = event("PUT", "/v1/me/email", Some(body), Some(&access));
    assert_eq!(sspr_register::handle(r, req).await.status(), 202);
    mailer.send().await;
    let code = t
        .last_code("iam@new.example.org", "confirm_email")
        .await
        .expect("code");
    let resp = to_register("/v1/register/confirm", with_code(&code)).await;
    assert_eq!(resp.status(), 200);

    // dispatch: a reset code, an unknown user, and an undelivered code.
    let reset_code_for = |user: &str| json!({"username": user, "purpose": "reset_password"});
    assert_eq!(to_dispatch(reset_code_for("ghost")).await.status(), 202);
    mailer.mail.fail.store(true, Ordering::SeqCst);
    to_dispatch(reset_code_for("iam")).await;
    mailer.send().await;
    mailer.mail.fail.store(false, Ordering::SeqCst);
    t.clock.advance(60);
    to_dispatch(reset_code_for("iam")).await;
    mailer.send().await;
    let code = t
        .last_code("iam@new.example.org", "reset_code")
        .await
        .expect("code");

    // password: a wrong proof, a right one, a weak and a good reset, a change.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    to_password("/v1/password/verify", with_code(wrong)).await;
    let resp = to_password("/v1/password/verify", with_code(&code)).await;
    let token = text_of(&resp, "reset_token");
    let reset_to = |new: &str| json!({"reset_token": token, "new_password": new});
    to_password("/v1/password/reset", reset_to("weak")).await;
    let resp = to_password("/v1/password/reset", reset_to(NEW_PASSWORD)).await;
    assert_eq!(resp.status(), 204);
    let resp = to_signin(json!({"username": "iam", "password": NEW_PASSWORD})).await;
    let access = text_of(&resp, "access_token");
    let change =
        json!({"current_password": NEW_PASSWORD, "new_password": "brisk pelican umbrella tundra"});
    let req = event("POST", "/v1/password/change", Some(change), Some(&access));
    assert_eq!(sspr_password::handle(p, req).await.status(), 204);

    // signin: ten wrong passwords lock sign-in (audited, mailed); unlock by
    // code. Twice over: the second lock comes after the first unlock.
    for _ in 0..2 {
        for _ in 0..10 {
            to_signin(json!({"username": "iam", "password": "still not it"})).await;
        }
        t.clock.advance(60);
        to_dispatch(json!({"username": "iam", "purpose": "unlock_account"})).await;
        mailer.send().await;
        let code = t
            .last_code("iam@new.example.org", "unlock_code")
            .await
            .expect("an unlock code");
        let resp = to_password("/v1/unlock", with_code(&code)).await;
        assert_eq!(resp.status(), 200);
    }

    // methods: list, add an authenticator (a wrong code, then the right
    // one), recovery codes, a second factor at sign-in, reconfirm, remove.
    let methods = Function::new(&t, HashParams::default());
    let m = &methods.app;
    let body = json!({"username": "iam", "password": "brisk pelican umbrella tundra"});
    let resp = sspr_signin::handle(s, event("POST", "/v1/token", Some(body), None)).await;
    let access = text_of(&resp, "access_token");
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        sspr_methods::handle(m, event(method, path, body, Some(&access)))
    };
    assert_eq!(call("GET", "/v1/me/methods", None).await.status(), 200);
    let resp = call("POST", "/v1/me/methods", Some(json!({"type": "totp"}))).await;
    assert_eq!(resp.status(), 201);
    let secret = json_of(&resp)["secret"].as_str().unwrap_or("").to_owned();
    let right = otp(&secret, t.clock_now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let confirm = "/v1/me/methods/totp/confirm";
    call("POST", confirm, Some(json!({"code": wrong}))).await;
    assert_eq!(
        call("POST", confirm, Some(json!({"code": right})))
            .await
            .status(),
        200
    );
    let resp = call("POST", "/v1/me/recovery-codes", None).await;
    assert_eq!(resp.status(), 201);
    let rc = json_of(&resp)["codes"][0].as_str().unwrap_or("").to_owned();
    let body = json!({"username": "iam", "password": "brisk pelican umbrella tundra", "recovery_code": rc});
    let resp = sspr_signin::handle(s, event("POST", "/v1/token", Some(body), None)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        call("POST", "/v1/me/methods/reconfirm", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        call("DELETE", "/v1/me/methods/totp", None).await.status(),
        204
    );

    // An SMS code (the flows that send one are the methods'; its write is
    // not any request function's here): the mailer publishes it.
    let sms_app = Function::new(&t, cheap);
    // A day on: no hourly limit or reset block of the steps above is in the way.
    t.clock.advance(86_400);
    sspr_tests::queue_sms_code(&sms_app.app, t.clock_now(), "iam", "+4915112345678").await;
    mailer.send().await;
    assert!(mailer.sms.used.load(Ordering::SeqCst), "the SMS went out");
    // events: the stream's records of all of the above, published by the
    // events function's handler to an endpoint that answers nothing, so it
    // tries the bus and then the dead-letter queue (both calls it can make).
    let records = mailer.pump.records().await.expect("the stream");
    let nowhere = sspr_core::aws::local("http://127.0.0.1:9", "us-east-1")
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let publisher = sspr_core::events::EventBridgePublisher::new(
        &nowhere,
        "sspr-events",
        "http://127.0.0.1:9/123456789012/sspr-event-dead-letters",
        sspr_core::events::PublishRetry {
            tries: 1,
            first_delay: std::time::Duration::ZERO,
        },
    );
    let batch = serde_json::from_value(json!({ "Records": records })).expect("Lambda's event");
    let answer = sspr_events::handle(&publisher, batch).await;
    assert!(
        !answer.batch_item_failures.is_empty(),
        "events were found, and reached neither the bus nor the queue"
    );
    let mut events: BTreeSet<String> = publisher.actions().into_iter().map(str::to_owned).collect();
    events.extend(PLATFORM.map(str::to_owned));

    // rotate: two rotations of the master secret, as Secrets Manager calls
    // the function. The first makes version 2; the second, past every token
    // version 1 signed, counts what version 1 still holds (a Scan), finds the
    // recovery codes made above, and is refused.
    let moto = sspr_tests::moto::Moto::start().await;
    let arn = moto.create_secret("sspr-iam", MASTER).await;
    let rotate =
        sspr_tests::rotate::RotateFn::new(&t.running.store, &moto, &arn, t.clock.clone()).await;
    rotate
        .rotate(&uuid::Uuid::new_v4().to_string())
        .await
        .expect("rotated to version 2");
    t.clock.advance(rotate.rotator.token_life + 1);
    let refused = rotate.rotate(&uuid::Uuid::new_v4().to_string()).await;
    assert!(
        matches!(&refused, Err(e) if e.outcome() == "refused"),
        "{refused:?}"
    );

    let granted = template_actions();
    let observed = [
        ("RegisterFunction", register.actions()),
        ("DispatchFunction", dispatch.actions()),
        ("PasswordFunction", password.actions()),
        ("SigninFunction", signin.actions()),
        ("MethodsFunction", methods.actions()),
        ("MailerFunction", mailer.actions()),
        ("EventsFunction", events),
        ("RotateFunction", rotate.actions()),
        // The pages' state (`sspr_web::Pages`) holds no AWS client at all.
        ("WebFunction", BTreeSet::new()),
    ];
    assert_eq!(
        granted.len(),
        observed.len(),
        "one policy per function: {granted:?}"
    );
    for (name, used) in &observed {
        assert_eq!(
            granted.get(*name),
            Some(used),
            "{name}: template grants {:?}, code calls {used:?}",
            granted.get(*name)
        );
    }
}

/// Whether an IAM resource pattern (`*` and `?` wildcards) matches `arn`.
fn iam_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x == y => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

#[test]
fn only_the_mailer_may_publish_sms_only_to_phone_numbers_and_only_with_sms_on() {
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    // The switch: off by default, passed to every function.
    let sms = &doc["Parameters"]["Sms"];
    assert_eq!(sms["Default"].as_str(), Some("off"));
    assert_eq!(
        sms["AllowedValues"],
        serde_yaml::from_str::<serde_yaml::Value>("[\"off\", sns]").expect("yaml")
    );
    assert!(
        matches!(&doc["Globals"]["Function"]["Environment"]["Variables"]["SSPR_SMS"],
            serde_yaml::Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("Sms")),
        "every function is told whether SMS is on"
    );
    let cond = &doc["Conditions"]["SmsOn"];
    assert!(
        matches!(cond, serde_yaml::Value::Tagged(t) if t.tag == "Equals"
            && t.value[1].as_str() == Some("sns")
            && matches!(&t.value[0], serde_yaml::Value::Tagged(r) if r.tag == "Ref" && r.value.as_str() == Some("Sms"))),
        "SmsOn is Sms = sns: {cond:?}"
    );

    let mut publishers = Vec::new();
    for (name, res) in doc["Resources"].as_mapping().expect("resources") {
        for policy in res["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for raw in policy["Statement"].as_sequence().into_iter().flatten() {
                let st = when_granted(raw);
                let actions: Vec<&str> = match &st["Action"] {
                    serde_yaml::Value::Sequence(l) => l.iter().filter_map(|a| a.as_str()).collect(),
                    a => a.as_str().into_iter().collect(),
                };
                if !actions.iter().any(|a| a.starts_with("sns:")) {
                    continue;
                }
                let name = name.as_str().unwrap_or("");
                publishers.push(name.to_owned());
                assert_eq!(actions, ["sns:Publish"], "{name}: Publish and nothing else");
                assert_eq!(
                    granted_under(raw),
                    Some("SmsOn"),
                    "{name}: only with Sms=sns"
                );
                assert!(
                    st["Resource"].is_null(),
                    "{name}: no Resource, only NotResource"
                );
                assert!(st["Condition"].is_null(), "{name}");
                // `!Sub arn:${AWS::Partition}:sns:*:*:*`, in the standard partition.
                let not = match &st["NotResource"] {
                    serde_yaml::Value::Tagged(t) if t.tag == "Sub" => {
                        t.value.as_str().unwrap_or("")
                    }
                    other => other.as_str().unwrap_or(""),
                }
                .replace("${AWS::Partition}", "aws");
                assert_eq!(not, "arn:aws:sns:*:*:*", "{name}");
                // Every SNS ARN is outside the grant: topics (FIFO too),
                // platform applications and endpoints, in any region or account.
                for arn in [
                    "arn:aws:sns:us-east-1:123456789012:alerts",
                    "arn:aws:sns:eu-central-1:210987654321:orders.fifo",
                    "arn:aws:sns:us-east-1:123456789012:app/GCM/push",
                    "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/push/5e3e9847",
                ] {
                    assert!(iam_matches(&not, arn), "{name} may not publish to {arn}");
                }
                // A phone number has no ARN: the request's resource is `*`.
                assert!(!iam_matches(&not, "*"), "{name}: phone numbers stay in");
            }
        }
    }
    assert_eq!(
        publishers,
        ["MailerFunction"],
        "the mailer alone holds sns:Publish"
    );
    let granted = template_actions();
    for f in [
        "RegisterFunction",
        "DispatchFunction",
        "PasswordFunction",
        "SigninFunction",
        "WebFunction",
    ] {
        let actions = granted.get(f).expect("a function");
        assert!(
            actions.iter().all(|a| !a.starts_with("sns:")),
            "{f} holds no SNS action: {actions:?}"
        );
    }
}

#[test]
fn the_template_routes_each_path_to_the_function_that_serves_it() {
    // A GET route takes HEAD too (sspr_core::http::serve), so API Gateway
    // must route both to it.
    fn routes<S>(table: &[sspr_core::http::Route<S>]) -> BTreeSet<String> {
        table
            .iter()
            .flat_map(|r| {
                let head = (r.method == "GET").then(|| format!("HEAD {}", r.path));
                std::iter::once(format!("{} {}", r.method, r.path)).chain(head)
            })
            .collect()
    }
    assert_eq!(
        template_routes("RegisterFunction"),
        routes(sspr_register::ROUTES)
    );
    assert_eq!(
        template_routes("DispatchFunction"),
        routes(sspr_dispatch::ROUTES)
    );
    assert_eq!(
        template_routes("PasswordFunction"),
        routes(sspr_password::ROUTES)
    );
    assert_eq!(
        template_routes("SigninFunction"),
        routes(sspr_signin::ROUTES)
    );
    assert_eq!(
        template_routes("MethodsFunction"),
        routes(sspr_methods::ROUTES)
    );
    assert_eq!(template_routes("WebFunction"), routes(sspr_web::ROUTES));
    // A browser on another allowed origin may call every method the API
    // serves (CORS), and no other.
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    let allowed: BTreeSet<String> = doc["Resources"]["Api"]["Properties"]["CorsConfiguration"]
        ["AllowMethods"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    let served: BTreeSet<String> = sspr_local::FUNCTIONS
        .iter()
        .flat_map(|t| t.iter().map(|r| r.method.to_string()))
        .collect();
    assert_eq!(
        allowed, served,
        "the API's CORS methods are the ones its routes take"
    );
    // Every route key names exactly one route, in one function's table (so a
    // limit on a key limits that route and nothing else).
    let keys: Vec<sspr_core::limits::RouteKey> = sspr_local::FUNCTIONS
        .iter()
        .flat_map(|t| t.iter().map(|r| r.key))
        .chain(sspr_web::ROUTES.iter().map(|r| r.key))
        .collect();
    let mut all = sspr_core::limits::RouteKey::ALL.to_vec();
    let mut seen = keys.clone();
    seen.sort();
    all.sort();
    assert_eq!(seen, all, "each RouteKey once across the tables");
}

/// A CloudFormation intrinsic (`!GetAtt X.Arn`, `!Ref X`, `!Sub ...`) as a
/// tag and its value, for comparing what a statement names.
fn intrinsic(v: &serde_yaml::Value) -> (String, serde_yaml::Value) {
    match v {
        serde_yaml::Value::Tagged(t) => (t.tag.to_string(), t.value.clone()),
        other => (String::new(), other.clone()),
    }
}

fn yaml(s: &str) -> serde_yaml::Value {
    serde_yaml::from_str(s).expect("yaml")
}

#[test]
fn the_events_function_publishes_to_its_bus_dead_letters_to_its_queue_and_reads_the_table_s_streams_only(
) {
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    let f = &doc["Resources"]["EventsFunction"];
    assert!(
        f["Properties"]["Policies"].is_null(),
        "no SAM role: its own"
    );
    let mut resources = BTreeMap::new();
    for st in statements(&doc, f) {
        assert!(
            st["Condition"].is_null() && st["NotResource"].is_null(),
            "{st:?}"
        );
        for a in st["Action"].as_sequence().expect("a list of actions") {
            let a = a.as_str().expect("an action").to_owned();
            assert!(resources.insert(a, intrinsic(&st["Resource"])).is_none());
        }
    }
    let stream = ("!Sub".to_owned(), yaml("${Table.Arn}/stream/*"));
    let queue = ("!GetAtt".to_owned(), yaml("EventDeadLetters.Arn"));
    let logs = ("!GetAtt".to_owned(), yaml("EventsLogs.Arn"));
    // The bus: the stack's own, or the one `EventBusName` names.
    let bus = (
        "!If".to_owned(),
        yaml("[CreateEventBus, !GetAtt EventBus.Arn, !Sub 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}']"),
    );
    let want = BTreeMap::from([
        ("dynamodb:DescribeStream".to_owned(), stream.clone()),
        ("dynamodb:GetRecords".to_owned(), stream.clone()),
        ("dynamodb:GetShardIterator".to_owned(), stream.clone()),
        ("dynamodb:ListStreams".to_owned(), stream),
        ("events:PutEvents".to_owned(), bus),
        ("sqs:SendMessage".to_owned(), queue.clone()),
        ("logs:CreateLogStream".to_owned(), logs.clone()),
        ("logs:PutLogEvents".to_owned(), logs),
    ]);
    assert_eq!(resources, want);
    let trust =
        &doc["Resources"]["EventsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Service"].as_str(),
        Some("lambda.amazonaws.com")
    );
    assert_eq!(
        doc["Conditions"]["CreateEventBus"],
        yaml("!Equals [!Ref EventBusName, '']")
    );
    assert_eq!(
        doc["Resources"]["EventBus"]["Condition"].as_str(),
        Some("CreateEventBus")
    );

    // No other function may publish events or send to a queue.
    for (name, actions) in template_actions() {
        if name != "EventsFunction" {
            assert!(
                actions
                    .iter()
                    .all(|a| !a.starts_with("events:") && !a.starts_with("sqs:")),
                "{name}: {actions:?}"
            );
        }
    }

    // The mapping: partial batch responses, retries with bisection, the same
    // queue for what it gives up on, and only the audit items of the
    // published types let through.
    let env = &f["Properties"]["Environment"]["Variables"];
    assert_eq!(
        intrinsic(&env["SSPR_EVENT_DLQ_URL"]),
        ("!Ref".to_owned(), yaml("EventDeadLetters"))
    );
    let m = &f["Properties"]["Events"]["AuditStream"]["Properties"];
    assert_eq!(
        intrinsic(&m["Stream"]),
        ("!GetAtt".to_owned(), yaml("Table.StreamArn"))
    );
    assert_eq!(
        m["FunctionResponseTypes"],
        yaml("[ReportBatchItemFailures]")
    );
    assert_eq!(m["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert!(m["MaximumRetryAttempts"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(
        m["DestinationConfig"]["OnFailure"]["Type"].as_str(),
        Some("SQS")
    );
    assert_eq!(
        intrinsic(&m["DestinationConfig"]["OnFailure"]["Destination"]),
        queue
    );
    let pattern: Value = serde_json::from_str(
        m["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .expect("a pattern"),
    )
    .expect("the pattern is JSON");
    assert_eq!(pattern["eventName"], json!(["INSERT"]));
    assert_eq!(
        pattern["dynamodb"]["Keys"]["sk"]["S"],
        json!([{"prefix": "AUDIT#"}])
    );
    let mut filtered: Vec<&str> = pattern["dynamodb"]["NewImage"]["type"]["S"]
        .as_array()
        .expect("the types")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut published: Vec<&str> = sspr_core::events::published().map(|k| k.as_str()).collect();
    filtered.sort();
    published.sort();
    assert_eq!(
        filtered, published,
        "the filter lets through what the code publishes"
    );

    // The dead-letter queue: encrypted, two weeks, and an alarm on anything in it.
    let q = &doc["Resources"]["EventDeadLetters"]["Properties"];
    assert_eq!(q["SqsManagedSseEnabled"].as_bool(), Some(true));
    assert_eq!(q["MessageRetentionPeriod"].as_u64(), Some(1_209_600));
    let alarm = &doc["Resources"]["EventDeadLettersAlarm"]["Properties"];
    assert_eq!(
        alarm["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(
        intrinsic(&alarm["Dimensions"][0]["Value"]),
        ("!GetAtt".to_owned(), yaml("EventDeadLetters.QueueName"))
    );
    assert_eq!(alarm["Threshold"].as_u64(), Some(0));
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
}

/// Whether `v` is `!Ref name`.
fn is_ref(v: &serde_yaml::Value, name: &str) -> bool {
    matches!(v, serde_yaml::Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some(name))
}

/// How often `!Ref name` occurs anywhere in `v`.
fn refs_to(v: &serde_yaml::Value, name: &str) -> usize {
    match v {
        serde_yaml::Value::Tagged(t) => usize::from(is_ref(v, name)) + refs_to(&t.value, name),
        serde_yaml::Value::Sequence(s) => s.iter().map(|x| refs_to(x, name)).sum(),
        serde_yaml::Value::Mapping(m) => m.values().map(|x| refs_to(x, name)).sum(),
        _ => 0,
    }
}

#[test]
fn only_register_and_dispatch_may_read_the_captcha_secret_and_no_environment_holds_it() {
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    assert_eq!(
        doc["Parameters"]["CaptchaSecret"]["NoEcho"].as_bool(),
        Some(true)
    );
    let cond = &doc["Conditions"]["CaptchaOn"];
    assert!(
        matches!(cond, serde_yaml::Value::Tagged(n) if n.tag == "Not"
            && matches!(&n.value[0], serde_yaml::Value::Tagged(e) if e.tag == "Equals"
                && is_ref(&e.value[0], "Captcha") && e.value[1].as_str() == Some("off"))),
        "CaptchaOn is Captcha != off: {cond:?}"
    );
    // The parameter goes into its own secret, and nowhere else (no
    // environment variable of any function holds it: checkov CKV_AWS_173).
    let store = &doc["Resources"]["CaptchaProviderSecret"];
    assert_eq!(store["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
    assert_eq!(store["Condition"].as_str(), Some("CaptchaOn"));
    assert!(is_ref(
        &store["Properties"]["SecretString"],
        "CaptchaSecret"
    ));
    assert_eq!(
        refs_to(&doc, "CaptchaSecret"),
        1,
        "CaptchaSecret is read by its secret alone"
    );
    let globals = &doc["Globals"]["Function"]["Environment"]["Variables"];
    assert!(globals["SSPR_CAPTCHA_SECRET"].is_null());
    assert!(globals["SSPR_CAPTCHA_SECRET_ARN"].is_null());

    let mut readers = Vec::new();
    for (name, res) in doc["Resources"].as_mapping().expect("resources") {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap_or("").to_owned();
        let env = &res["Properties"]["Environment"]["Variables"];
        assert!(env["SSPR_CAPTCHA_SECRET"].is_null(), "{name}");
        let mut master = 0;
        let mut captcha = 0;
        for raw in statements(&doc, res) {
            let st = when_granted(raw);
            let actions: Vec<&str> = match &st["Action"] {
                serde_yaml::Value::Sequence(l) => l.iter().filter_map(|a| a.as_str()).collect(),
                a => a.as_str().into_iter().collect(),
            };
            if !actions.iter().any(|a| a.starts_with("secretsmanager:")) {
                continue;
            }
            let calls: &[&str] = if name == "RotateFunction" {
                &ROTATION_CALLS
            } else {
                &["secretsmanager:GetSecretValue"]
            };
            assert_eq!(actions, calls, "{name}");
            assert!(st["Condition"].is_null(), "{name}");
            if is_ref(&st["Resource"], "Secret") {
                assert_eq!(granted_under(raw), None, "{name}: the master secret always");
                master += 1;
            } else if is_ref(&st["Resource"], "CaptchaProviderSecret") {
                assert_eq!(
                    granted_under(raw),
                    Some("CaptchaOn"),
                    "{name}: only with the check on"
                );
                captcha += 1;
            } else {
                panic!("{name}: GetSecretValue on {:?}", st["Resource"]);
            }
        }
        // The events function reads no secret; every other function with a
        // SAM role reads the master secret once (the rotate function with
        // the rotation's other calls in the same statement).
        if name != "EventsFunction" && name != "WebFunction" {
            assert_eq!(master, 1, "{name}: the master secret, once");
        }
        let arn = &env["SSPR_CAPTCHA_SECRET_ARN"];
        if captcha > 0 {
            assert_eq!(captcha, 1, "{name}");
            readers.push(name.clone());
            assert!(
                matches!(arn, serde_yaml::Value::Tagged(t) if t.tag == "If"
                    && t.value[0].as_str() == Some("CaptchaOn")
                    && is_ref(&t.value[1], "CaptchaProviderSecret")
                    && t.value[2].as_str() == Some("")),
                "{name}: the secret's ARN with the check on, else none: {arn:?}"
            );
        } else {
            assert!(arn.is_null(), "{name} is not told where the secret is");
        }
    }
    assert_eq!(
        readers,
        ["RegisterFunction", "DispatchFunction"],
        "the two functions that verify the check"
    );
}

/// The calls of Secrets Manager's rotation steps, as the template grants them.
const ROTATION_CALLS: [&str; 4] = [
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
];

#[test]
fn the_rotate_function_alone_writes_the_master_secret_on_its_schedule_and_only_secrets_manager_invokes_it(
) {
    let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).expect("template parses");
    let r = &doc["Resources"];
    // The schedule: every KeyRotationDays (90 by default), none at 0, and
    // no rotation at the deploy itself.
    let days = &doc["Parameters"]["KeyRotationDays"];
    assert_eq!(days["Type"].as_str(), Some("Number"));
    assert_eq!(days["Default"].as_u64(), Some(90));
    assert_eq!(days["MinValue"].as_u64(), Some(0));
    assert_eq!(
        doc["Conditions"]["KeyRotationOn"],
        yaml("!Not [!Equals [!Ref KeyRotationDays, '0']]")
    );
    for name in [
        "RotateFunction",
        "RotatePermission",
        "SecretRotation",
        "RotateLogs",
        "RotateErrorsAlarm",
    ] {
        assert_eq!(
            r[name]["Condition"].as_str(),
            Some("KeyRotationOn"),
            "{name}: only with rotation on"
        );
    }
    let schedule = &r["SecretRotation"];
    assert_eq!(
        schedule["Type"].as_str(),
        Some("AWS::SecretsManager::RotationSchedule")
    );
    assert_eq!(schedule["DependsOn"].as_str(), Some("RotatePermission"));
    let p = &schedule["Properties"];
    assert!(is_ref(&p["SecretId"], "Secret"));
    assert_eq!(
        intrinsic(&p["RotationLambdaARN"]),
        ("!GetAtt".to_owned(), yaml("RotateFunction.Arn"))
    );
    assert!(is_ref(
        &p["RotationRules"]["AutomaticallyAfterDays"],
        "KeyRotationDays"
    ));
    assert_eq!(p["RotateImmediatelyOnUpdate"].as_bool(), Some(false));

    // Secrets Manager may invoke it, for this account's master secret only.
    let perm = &r["RotatePermission"];
    assert_eq!(perm["Type"].as_str(), Some("AWS::Lambda::Permission"));
    let p = &perm["Properties"];
    assert_eq!(
        intrinsic(&p["FunctionName"]),
        ("!GetAtt".to_owned(), yaml("RotateFunction.Arn"))
    );
    assert_eq!(p["Action"].as_str(), Some("lambda:InvokeFunction"));
    assert_eq!(
        p["Principal"].as_str(),
        Some("secretsmanager.amazonaws.com")
    );
    assert!(is_ref(&p["SourceAccount"], "AWS::AccountId"));
    assert!(is_ref(&p["SourceArn"], "Secret"));
    let invokers: Vec<&str> = r
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, v)| v["Type"].as_str() == Some("AWS::Lambda::Permission"))
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(invokers, ["RotatePermission"], "no other invoke permission");

    // Its grants: the rotation's calls on the master secret, a Scan of the
    // table; the secret is read with the global SSPR_SECRET_ARN.
    let f = &r["RotateFunction"];
    let mut grants = BTreeMap::new();
    for st in statements(&doc, f) {
        assert!(
            st["Condition"].is_null() && st["NotResource"].is_null() && granted_under(st).is_none(),
            "{st:?}"
        );
        for a in st["Action"].as_sequence().expect("a list of actions") {
            let a = a.as_str().expect("an action").to_owned();
            assert!(grants.insert(a, intrinsic(&st["Resource"])).is_none());
        }
    }
    let secret = ("!Ref".to_owned(), yaml("Secret"));
    let mut want: BTreeMap<String, (String, serde_yaml::Value)> = ROTATION_CALLS
        .iter()
        .map(|a| ((*a).to_owned(), secret.clone()))
        .collect();
    want.insert(
        "dynamodb:Scan".to_owned(),
        ("!GetAtt".to_owned(), yaml("Table.Arn")),
    );
    assert_eq!(grants, want);
    assert!(f["Properties"]["Environment"]["Variables"]["SSPR_SECRET_ARN"].is_null());
    assert!(is_ref(
        &doc["Globals"]["Function"]["Environment"]["Variables"]["SSPR_SECRET_ARN"],
        "Secret"
    ));

    // No other function may write or describe a secret, or scan the table;
    // none needs KMS, since the secret is under Secrets Manager's own key.
    for (name, actions) in template_actions() {
        assert!(
            actions.iter().all(|a| !a.starts_with("kms:")),
            "{name}: {actions:?}"
        );
        if name != "RotateFunction" {
            assert!(
                actions
                    .iter()
                    .all(|a| a == "secretsmanager:GetSecretValue"
                        || !a.starts_with("secretsmanager:")),
                "{name}: {actions:?}"
            );
            assert!(!actions.contains("dynamodb:Scan"), "{name}: {actions:?}");
        }
    }
    assert!(r["Secret"]["Properties"]["KmsKeyId"].is_null());
}
