//! The logs of a whole journey in Lambda's JSON format: every line one JSON
//! object, one access line per request with its request id and its route's
//! template, the request id on the lines logged inside a request, and none
//! of the journey's secrets anywhere, in the log lines or the metrics'.
//!
//! Its own test binary: the logger it installs is the process's.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};
use sspr_tests::walk::{Mailbox, Routing, Walk};
use sspr_tests::{TestApp, PASSWORD};
use tracing_subscriber::fmt::MakeWriter;

/// Every byte the logger wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// How many bytes were written so far.
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The lines written since `from` (a [`len`](Self::len) taken before).
    fn since(&self, from: usize) -> String {
        let all = self.0.lock().unwrap();
        String::from_utf8(all.get(from..).unwrap_or_default().to_vec()).expect("UTF-8 lines")
    }
}

/// The process's one logger, at debug as `tests/run` runs the local host (the
/// most a deployment logs), installed by the first test that asks for it.
fn logger() -> &'static Captured {
    static LOGGER: OnceLock<Captured> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let captured = Captured::default();
        tracing::subscriber::set_global_default(sspr_core::logs::json_subscriber(
            captured.clone(),
            tracing::Level::DEBUG,
        ))
        .expect("the only logger of this binary");
        captured
    })
}

/// The tests of this binary take turns, so each reads only its own app's lines.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_journey_is_json_with_its_request_id_and_route_and_no_secret() {
    let _turn = TURN.lock().await;
    let captured = logger();
    let from = captured.len();
    let metrics = sspr_core::metrics::tap();

    // Two gates: the mailed code and an SMS code (the outbox's), with an
    // authenticator and recovery codes on the way, and sign-in by recovery code.
    // Ten-digit codes, so that no mailed or texted code meets a number of
    // the log by chance (the authenticator's stay six digits).
    let app = TestApp::spawn_with(|c| {
        c.reset_gates = 2;
        c.codes.length = 10;
    })
    .await;
    let mut walk = Walk::new(&app.url, Mailbox::Outbox(app.outbox.clone()), Routing::Api);
    walk.run().await.expect("the journey");
    app.running.settle_mail().await;
    drop(app);

    let text = captured.since(from);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        assert!(l.is_object(), "{l}");
        for key in ["timestamp", "level"] {
            assert!(l[key].is_string(), "{key} in {l}");
        }
        let level = l["level"].as_str().unwrap_or("");
        assert!(["ERROR", "WARN", "INFO", "DEBUG"].contains(&level), "{l}");
    }

    // One access line per request the walk made, each with the request id
    // and the route's template.
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l.get("route").is_some())
        .collect();
    assert_eq!(
        access.len(),
        walk.steps().len(),
        "one access line per request: {access:#?}"
    );
    let mut ids = HashSet::new();
    for l in &access {
        let id = l["requestId"].as_str().unwrap_or("");
        assert!(!id.is_empty(), "a request id: {l}");
        assert!(ids.insert(id.to_owned()), "each request its own id: {l}");
        assert_eq!(l["level"], "INFO");
        assert!(l["status"].is_u64() && l["latency_ms"].is_number(), "{l}");
        assert!(l["outcome"].is_string() && l["function"].is_string(), "{l}");
    }
    let routes: HashSet<&str> = access.iter().filter_map(|l| l["route"].as_str()).collect();
    for route in [
        "POST /v1/register",
        "POST /v1/register/confirm",
        "POST /v1/token",
        "GET /v1/me",
        "POST /v1/me/methods",
        "POST /v1/me/methods/{id}/confirm",
        "POST /v1/me/recovery-codes",
        "POST /v1/codes",
        "POST /v1/password/verify",
        "POST /v1/password/reset",
        "GET /.well-known/jwks.json",
    ] {
        assert!(routes.contains(route), "{route} in {routes:?}");
    }
    assert!(
        !routes
            .iter()
            .any(|r| r.contains("totp") || r.contains("phone")),
        "the template, never the path: {routes:?}"
    );
    let outcomes: HashSet<(&str, &str)> = access
        .iter()
        .filter_map(|l| Some((l["route"].as_str()?, l["outcome"].as_str()?)))
        .collect();
    for seen in [
        ("POST /v1/password/reset", "ok"),
        ("POST /v1/password/reset", "weak_password"),
        ("POST /v1/password/reset", "invalid_token"),
        ("POST /v1/token", "second_factor_required"),
    ] {
        assert!(outcomes.contains(&seen), "{seen:?} in {outcomes:?}");
    }
    let functions: HashSet<&str> = access
        .iter()
        .filter_map(|l| l["function"].as_str())
        .collect();
    assert_eq!(
        functions,
        HashSet::from(["register", "signin", "methods", "dispatch", "password"])
    );

    // A line logged inside a request (dispatch's, at debug) carries the id
    // of that request's access line.
    let dispatched: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "code dispatch")
        .collect();
    assert!(
        !dispatched.is_empty(),
        "dispatch logged inside its requests"
    );
    let codes_ids: HashSet<&str> = access
        .iter()
        .filter(|l| l["route"] == "POST /v1/codes")
        .filter_map(|l| l["requestId"].as_str())
        .collect();
    for l in dispatched {
        let id = l["requestId"].as_str().unwrap_or("");
        assert!(codes_ids.contains(id), "inside a /v1/codes request: {l}");
    }
    // And every line that carries a request id belongs to one of the requests.
    for l in &lines {
        if let Some(id) = l.get("requestId").and_then(Value::as_str) {
            assert!(ids.contains(id), "a request's id: {l}");
        }
    }

    // None of the journey's secrets, in any line, logged or counted.
    let secrets = walk.secrets();
    assert!(
        secrets.len() >= 15,
        "the walk saw its secrets: {}",
        secrets.len()
    );
    let emf = metrics.lines();
    assert!(!emf.is_empty(), "the journey was counted");
    for line in text.lines().chain(emf.iter().map(String::as_str)) {
        for s in &secrets {
            assert!(!holds(line, s), "a secret reached a line: {line}");
        }
    }
    for line in &emf {
        let v: Value = serde_json::from_str(line).expect("an EMF line is JSON");
        assert!(v["_aws"]["CloudWatchMetrics"].is_array(), "{line}");
    }
}

/// The lines `path` logged inside its request for `body` (those that carry a
/// request id: every line of an invocation on Lambda), each without what
/// differs between any two requests: the request id, the time, the latency.
async fn logged(app: &TestApp, path: &str, body: Value) -> Vec<String> {
    // The mail of earlier requests goes out before, not amid, this one.
    app.running.settle_mail().await;
    let captured = logger();
    let from = captured.len();
    let r = app.post(path, body).await;
    assert!(r.status < 500, "{path}: {}", r.text);
    captured
        .since(from)
        .lines()
        .filter_map(|l| {
            let mut v: Value = serde_json::from_str(l).ok()?;
            let o = v.as_object_mut()?;
            o.remove("requestId")?;
            o.remove("timestamp");
            o.remove("latency_ms");
            Some(v.to_string())
        })
        .collect()
}

/// Ask each kind of code for `user` (`confirm`: the user whose email waits
/// for confirmation) and prove a wrong one, and sign in as `confirm` with a
/// wrong password; every line those requests logged, sorted.
async fn asked_and_proved(app: &TestApp, user: &str, confirm: &str) -> Vec<String> {
    // A wrong code: not the one that went out, when one did.
    let wrong = |code: Option<String>| match code {
        Some(c) if c == "000000" => "111111".to_owned(),
        _ => "000000".to_owned(),
    };
    let mut lines = Vec::new();
    for (purpose, proof, who, kind) in [
        ("reset_password", "/v1/password/verify", user, "reset_code"),
        ("unlock_account", "/v1/unlock", user, "unlock_code"),
        (
            "verify_email",
            "/v1/register/confirm",
            confirm,
            "confirm_email",
        ),
    ] {
        app.clock.advance(60);
        lines.extend(
            logged(
                app,
                "/v1/codes",
                json!({"username": who, "purpose": purpose}),
            )
            .await,
        );
        let code = app.last_code(&format!("{who}@example.com"), kind).await;
        lines.extend(logged(app, proof, json!({"username": who, "code": wrong(code)})).await);
    }
    lines.extend(
        logged(
            app,
            "/v1/token",
            json!({"username": confirm, "password": "not the password at all"}),
        )
        .await,
    );
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_debug_codes_proofs_and_sign_in_log_the_same_lines_for_a_stranger_and_a_user() {
    let _turn = TURN.lock().await;
    logger();
    let app = TestApp::spawn().await;
    // A user every code goes to: a confirmed email, sign-in locked (so an
    // unlock code goes out too); and one whose email waits for its code.
    let email = app.confirmed_user("alma").await;
    for i in 0..app.running.app.config.signin.max_failures {
        app.sign_in("alma", &format!("wrong password number {i}"))
            .await;
    }
    let r = app.register("bruno", "bruno@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let stranger = asked_and_proved(&app, "nobody-here", "nobody-else").await;
    let users = asked_and_proved(&app, "alma", "bruno").await;
    assert!(!stranger.is_empty(), "the requests logged");
    assert_eq!(
        stranger, users,
        "the same lines for a stranger as for a user a code went to"
    );
    // The users' requests did what a stranger's cannot: each code went out,
    // each wrong proof was counted against it, the wrong password too.
    for (to, kind) in [
        (email.as_str(), "reset_code"),
        (email.as_str(), "unlock_code"),
        ("bruno@example.com", "confirm_email"),
    ] {
        assert!(!app.mails_to(to, kind).await.is_empty(), "{kind} to {to}");
    }
    for user in ["alma", "bruno"] {
        let events = app.audit_types(user).await;
        assert!(
            events.iter().any(|e| e == "proof_failed"),
            "{user}: {events:?}"
        );
    }
    use sspr_core::ports::Store as _;
    let bruno = sspr_core::domain::Username::parse("bruno").expect("valid");
    let rec = app
        .running
        .store
        .get_user(&bruno)
        .await
        .expect("read")
        .expect("bruno");
    assert_eq!(rec.signin.count, 1, "the wrong password was counted");
}

/// Whether `secret` is anywhere in `line`: a plain substring search, glued
/// to letters and digits or not, as written and in the forms a JSON writer
/// may give it (escaped, `/` escaped, non-ASCII as `\uXXXX`, escaped twice
/// for a JSON text logged as a string), and in every string of the line with
/// its escapes undone, whatever they were.
///
/// Only the clock and the request id are taken out first, each after
/// checking it is what the host makes there, where a six-digit code could
/// stand by chance (left in, about one journey in two hundred would fail for
/// nothing): the `requestId` when it is a UUID, the EMF `Timestamp` and the
/// SDK's `SystemTime { .. }` when they are a time of this day. With the
/// journey's codes at ten digits, what is left (about 175 six-digit stretches
/// of the log against its one or two authenticator codes) fails for nothing
/// about once in five thousand runs.
fn holds(line: &str, secret: &str) -> bool {
    let forms = written_forms(secret);
    let line = scrub(line);
    if forms.iter().any(|f| line.contains(f.as_str())) {
        return true;
    }
    let mut strings = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(&line) {
        strings_of(&v, &mut strings);
    }
    strings
        .iter()
        .any(|s| forms.iter().any(|f| s.contains(f.as_str())))
}

/// `secret` as written and as JSON writers escape it.
fn written_forms(secret: &str) -> Vec<String> {
    let json = |s: &str| {
        let q = serde_json::to_string(s).unwrap_or_default();
        q[1..q.len() - 1].to_owned()
    };
    let escaped = json(secret);
    let ascii: String = escaped
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => c
                .encode_utf16(&mut [0; 2])
                .iter()
                .map(|u| format!("\\u{u:04x}"))
                .collect(),
        })
        .collect();
    let mut forms = vec![
        secret.to_owned(),
        escaped.clone(),
        escaped.replace('/', "\\/"),
        ascii,
        json(&escaped),
    ];
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

/// `line` with its request id taken out when it is a UUID, and the EMF
/// timestamp when it is within a day of now.
fn scrub(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    let mut out = line.to_owned();
    if let Some(id) = v.get("requestId").and_then(Value::as_str) {
        if uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id) {
            out = out.replace(id, "-");
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if let Some(ms) = v["_aws"]["Timestamp"].as_u64() {
        if ms.abs_diff(now) < 86_400_000 {
            out = out.replace(&format!("\"Timestamp\":{ms}"), "\"Timestamp\":0");
        }
    }
    // The AWS SDK's debug lines print the clock as `SystemTime { tv_sec: S,
    // tv_nsec: N }`: taken out when S is a second of this day.
    while let Some(at) = out.find("SystemTime { tv_sec: ") {
        let rest = &out[at..];
        let Some(len) = rest.find('}').map(|e| e + 1) else {
            break;
        };
        let clock = &rest[..len];
        let secs = clock["SystemTime { tv_sec: ".len()..]
            .split(',')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let nanos_ok = clock
            .split("tv_nsec: ")
            .nth(1)
            .and_then(|n| n.trim_end_matches('}').trim().parse::<u64>().ok())
            .is_some_and(|n| n < 1_000_000_000);
        match secs {
            Some(s) if nanos_ok && (s * 1000).abs_diff(now) < 86_400_000 => {
                out.replace_range(at..at + len, "SystemTime");
            }
            _ => break,
        }
    }
    out
}

/// Every key and string of a JSON value, escapes undone.
fn strings_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings_of(v, out)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings_of(v, out);
        }),
        Value::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

#[test]
fn holds_finds_a_secret_wherever_it_stands() {
    let code = "123456";
    // Glued to letters and digits, in a value and in a key.
    assert!(holds(r#"{"message":"sent x123456y"}"#, code));
    assert!(holds(r#"{"message":"9123456"}"#, code));
    assert!(holds(r#"{"a123456":1}"#, code));
    assert!(holds(r#"{"n":41123456.5}"#, code));
    assert!(holds("plain text abc123456def", code));
    // Escaped as JSON writers do, and escaped twice.
    let pw = r#"Quartz "Fennel"/Drizzle-48 Straße"#;
    assert!(holds(
        r#"{"message":"Quartz \"Fennel\"\/Drizzle-48 Stra\u00dfe"}"#,
        pw
    ));
    assert!(holds(
        r#"{"message":"Quartz \"Fennel\"/Drizzle-48 Stra\u00DFe"}"#,
        pw
    ));
    assert!(holds(
        r#"{"body":"{\"pw\":\"Quartz \\\"Fennel\\\"/Drizzle-48 Straße\"}"}"#,
        pw
    ));
    assert!(holds(
        r#"{"message":"Quartz \u0022Fennel\u0022/Drizzle-48 Stra\u00dfe"}"#,
        pw
    ));
    // Not there, and not taken for there: a UUID request id and the EMF
    // timestamp are the host's, whatever digits they hold by chance.
    assert!(!holds(r#"{"message":"sent 12345 6"}"#, code));
    assert!(!holds(
        r#"{"requestId":"8f5e1234-5678-4abc-9def-123456abcdef","message":"request"}"#,
        code
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let stamp = now - now % 1_000_000 + 123_456;
    assert!(!holds(
        &format!(r#"{{"_aws":{{"Timestamp":{stamp}}},"CodeSent":1}}"#),
        code
    ));
    let secs = now / 1000;
    assert!(!holds(
        &format!(r#"{{"now":"SystemTime {{ tv_sec: {secs}, tv_nsec: 123456789 }}"}}"#),
        code
    ));
    assert!(holds(
        r#"{"now":"SystemTime { tv_sec: 123456, tv_nsec: 1 }"}"#,
        code
    ));
    // A request id that is no UUID is searched like anything else.
    assert!(holds(
        r#"{"requestId":"x123456","message":"request"}"#,
        code
    ));
}

#[test]
fn every_function_is_deployed_with_lambdas_json_log_format() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../infra/template.yaml")).expect("template parses");
    let logging = &doc["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert_eq!(logging["SystemLogLevel"], "WARN");
    // No function sets a format of its own.
    let resources = doc["Resources"].as_mapping().expect("resources");
    for (name, r) in resources {
        if r["Type"] == "AWS::Serverless::Function" {
            let own = &r["Properties"]["LoggingConfig"];
            assert!(own["LogFormat"].is_null(), "{name:?}: {own:?}");
        }
    }
}
