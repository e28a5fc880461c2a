//! The counters (CloudWatch embedded metric format): each is written when its
//! event happens, once, by the function it happened in, as a valid EMF line.
//! Real flows against dynoxide; the lines are read from `metrics::tap`.
//!
//! The tap is the process's, so the tests of this binary take turns.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sspr_core::limits::{Limit, RouteKey};
use sspr_core::metrics::{self, Tap};
use sspr_core::ports::{MailError, Mailer, OutgoingMail};
use sspr_tests::{TestApp, NEW_PASSWORD, PASSWORD};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The EMF lines since `tap` began, each checked for the shape CloudWatch
/// requires: `_aws.Timestamp` in milliseconds, one directive of namespace
/// `sspr`, dimension sets of top-level strings (`function` in each), and
/// metrics that are top-level numbers.
fn emf(tap: &Tap) -> Vec<Value> {
    tap.lines()
        .iter()
        .map(|line| {
            assert!(!line.contains('\n'), "one line: {line}");
            let v: Value = serde_json::from_str(line).expect("an EMF line is JSON");
            let aws = &v["_aws"];
            assert!(aws["Timestamp"].as_u64().is_some(), "{line}");
            let d = &aws["CloudWatchMetrics"][0];
            assert_eq!(d["Namespace"], "sspr", "{line}");
            let sets = d["Dimensions"].as_array().expect("dimension sets");
            assert!(!sets.is_empty(), "{line}");
            for set in sets {
                let set = set.as_array().expect("a dimension set");
                assert!(set.contains(&Value::from("function")), "{line}");
                for k in set {
                    assert!(v[k.as_str().unwrap_or("")].is_string(), "{k}: {line}");
                }
            }
            for m in d["Metrics"].as_array().expect("metrics") {
                assert!(v[m["Name"].as_str().unwrap_or("")].is_number(), "{line}");
            }
            v
        })
        .collect()
}

/// How many times `name` was counted for `function` since `tap` began.
fn counted(tap: &Tap, name: &str, function: &str) -> usize {
    emf(tap)
        .iter()
        .filter(|v| v[name] == 1 && v["function"] == function)
        .count()
}

/// A wrong code of the same length as `code`.
fn wrong(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_reset_counts_reset_completed_and_the_codes_that_went_out() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let tap = metrics::tap();
    let email = app.confirmed_user("alice").await;
    let token = app.reset_token("alice", &email).await;
    assert_eq!(counted(&tap, metrics::RESET_COMPLETED, "password"), 0);
    assert_eq!(app.reset(&token, "password1").await.status, 400);
    assert_eq!(
        counted(&tap, metrics::RESET_COMPLETED, "password"),
        0,
        "a refused password is no reset"
    );
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    assert_eq!(counted(&tap, metrics::RESET_COMPLETED, "password"), 1);
    app.running.settle_mail().await;
    // The confirmation code and the reset code; the notice carries none.
    assert_eq!(counted(&tap, metrics::CODE_SENT, "mailer"), 2);
    assert_eq!(counted(&tap, metrics::PROOF_FAILED, "password"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wrong_code_counts_proof_failed_and_the_fifth_counts_a_block() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("bob").await;
    let code = app.reset_code("bob", &email).await;
    let tap = metrics::tap();
    for n in 1..=5 {
        let r = app.verify("bob", &wrong(&code)).await;
        assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
        assert_eq!(counted(&tap, metrics::PROOF_FAILED, "password"), n);
        let blocks = counted(&tap, metrics::RESETS_BLOCKED, "password");
        assert_eq!(blocks, usize::from(n == 5), "after {n} wrong codes");
    }
    // Blocked, dispatch answers as ever and sends nothing; no second block.
    assert_eq!(app.ask_code("bob", "reset_password").await.status, 202);
    assert_eq!(counted(&tap, metrics::RESETS_BLOCKED, "password"), 1);
    assert_eq!(counted(&tap, metrics::RESETS_BLOCKED, "dispatch"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_passwords_count_one_lockout() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    app.confirmed_user("carol").await;
    let tap = metrics::tap();
    for i in 0..9 {
        let r = app.sign_in("carol", &format!("wrong password {i}")).await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(counted(&tap, metrics::SIGNIN_LOCKED, "signin"), 0);
    assert_eq!(app.sign_in("carol", "wrong password 9").await.status, 401);
    assert_eq!(counted(&tap, metrics::SIGNIN_LOCKED, "signin"), 1);
    assert_eq!(app.sign_in("carol", PASSWORD).await.status, 401, "locked");
    assert_eq!(counted(&tap, metrics::SIGNIN_LOCKED, "signin"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_counts_throttled_for_the_function_that_answered_it() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn_with(|c| {
        c.client_limits.0.insert(
            RouteKey::Codes,
            Limit {
                max: 1,
                window_secs: 600,
            },
        );
    })
    .await;
    let tap = metrics::tap();
    assert_eq!(app.ask_code("dave", "reset_password").await.status, 202);
    assert_eq!(counted(&tap, metrics::THROTTLED, "dispatch"), 0);
    let r = app.ask_code("dave", "reset_password").await;
    assert_eq!((r.status, r.code()), (429, "too_many_requests".into()));
    assert_eq!(counted(&tap, metrics::THROTTLED, "dispatch"), 1);
}

/// A mailer that refuses every mail.
struct Refusing;

#[async_trait]
impl Mailer for Refusing {
    async fn send(&self, _: &OutgoingMail) -> Result<(), MailError> {
        Err(MailError {
            what: "refused",
            source: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_the_mailer_cannot_deliver_counts_code_undelivered() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn_mailing(|_| {}, Arc::new(Refusing)).await;
    let tap = metrics::tap();
    let r = app.register("erin", "erin@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.running.settle_mail().await;
    assert_eq!(counted(&tap, metrics::CODE_UNDELIVERED, "mailer"), 1);
    assert_eq!(counted(&tap, metrics::CODE_SENT, "mailer"), 0);
}

#[test]
fn the_dashboard_shows_every_counter_by_the_function_that_counts_it() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../infra/template.yaml")).expect("template parses");
    let dash = &doc["Resources"]["Dashboard"];
    assert_eq!(dash["Type"], "AWS::CloudWatch::Dashboard");
    let serde_yaml::Value::Tagged(body) = &dash["Properties"]["DashboardBody"] else {
        panic!("a !Sub body");
    };
    let text = body.value.as_str().expect("the body's text");
    // Valid JSON once CloudFormation has substituted the names.
    let json: Value = serde_json::from_str(
        &text
            .replace("${AWS::StackName}", "stack")
            .replace("${AWS::Region}", "eu-west-1")
            .replace("${MailDeadLetters.QueueName}", "dlq")
            .replace("${EventDeadLetters.QueueName}", "events-dlq"),
    )
    .expect("the body is JSON");
    let shown: Vec<(String, String)> = json["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .flat_map(|w| {
            w["properties"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| m[0] == "sspr")
        .map(|m| {
            assert_eq!(m[2], "function", "by function: {m}");
            let f = m[3].as_str().unwrap_or("");
            let f = f.strip_prefix("stack-").unwrap_or_else(|| panic!("{f}"));
            (m[1].as_str().unwrap_or("").to_owned(), f.to_owned())
        })
        .collect();
    for (metric, function) in [
        (metrics::RESET_COMPLETED, "password"),
        (metrics::PROOF_FAILED, "password"),
        (metrics::RESETS_BLOCKED, "password"),
        (metrics::SIGNIN_LOCKED, "signin"),
        (metrics::CODE_SENT, "mailer"),
        (metrics::CODE_UNDELIVERED, "mailer"),
        (metrics::THROTTLED, "dispatch"),
        ("EventsDeadLettered", "events"),
        ("BreachLookupFailures", "register"),
        ("BreachLookupFailures", "password"),
    ] {
        assert!(
            shown.contains(&(metric.to_owned(), function.to_owned())),
            "{metric} of {function} in {shown:?}"
        );
    }
    for name in ["Errors", "Throttles", "ApproximateNumberOfMessagesVisible"] {
        assert!(text.contains(&format!("\"{name}\"")), "{name}");
    }
}
