//! `sspr-admin` against dynoxide: every command through the tool's library
//! (`sspr_admin::run`, as the binary calls it) on a local host's store, each
//! checked by its effect through the API, and no output carrying a secret.

use serde_json::Value;
use sspr_admin::{parse, run, Admin};
use sspr_core::store::schema;
use sspr_tests::{TestApp, NEW_PASSWORD, PASSWORD};

const OPERATOR: &str = "arn:aws:iam::123456789012:user/oper";

fn admin(app: &TestApp) -> Admin {
    Admin {
        store: app.running.store.clone(),
        config: app.running.app.config.as_ref().clone(),
        ctx: Some(app.running.app.ctx.clone()),
        keys: None,
    }
}

/// Run `sspr-admin ARGS` as the operator; its output or its error.
async fn cli(app: &TestApp, args: &[&str]) -> Result<String, String> {
    let argv = ["sspr-admin", "--operator", OPERATOR]
        .into_iter()
        .chain(args.iter().copied());
    let cli = parse(argv)?;
    run(&admin(app), &cli, app.clock_now()).await
}

async fn json(app: &TestApp, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = cli(app, &args).await.expect("the command runs");
    serde_json::from_str(&out).expect("--json prints JSON")
}

async fn password_hash(app: &TestApp, user: &str) -> String {
    app.password_hash(user).await.expect("a password hash")
}

fn no_secret(out: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !s.is_empty() && !out.contains(s),
            "a secret in the output:\n{out}"
        );
    }
    assert!(
        !out.contains("$argon2"),
        "a password hash in the output:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_the_profile_methods_and_locks_without_secrets() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("amy").await;
    let v = json(&app, &["user", "show", "amy"]).await;
    assert_eq!(v["user"], "amy");
    assert_eq!(v["email"], email.as_str());
    assert_eq!(v["email_verified"], true);
    assert_eq!(v["role"], "none");
    assert_eq!(v["token_version"], 0);
    assert_eq!(v["signin_lock"]["held"], false);
    assert_eq!(v["reset_block"]["held"], false);
    assert_eq!(v["gates"], 1);
    assert_eq!(v["methods_needed"], 0);
    assert!(v["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let table = cli(&app, &["user", "show", "amy"]).await.expect("show");
    assert!(
        table.contains("email_verified") && table.contains(&email),
        "{table}"
    );
    let hash = password_hash(&app, "amy").await;
    no_secret(&table, &[&hash]);
    no_secret(&v.to_string(), &[&hash]);
    let e = cli(&app, &["user", "show", "nobody-here"])
        .await
        .unwrap_err();
    assert!(e.contains("no user"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_admin_makes_the_reset_need_two_gates_and_none_takes_it_back() {
    let app = TestApp::spawn().await;
    app.confirmed_user("quinn").await;
    assert_eq!(
        app.sign_in("quinn", PASSWORD).await.json()["methods_needed"],
        0
    );
    let v = json(&app, &["user", "role", "quinn", "admin"]).await;
    assert_eq!(v["operator"], OPERATOR);
    assert_eq!(
        app.sign_in("quinn", PASSWORD).await.json()["methods_needed"],
        1
    );
    let v = json(&app, &["user", "show", "quinn"]).await;
    assert_eq!(
        (v["role"].clone(), v["gates"].clone()),
        ("admin".into(), 2.into())
    );
    json(&app, &["user", "role", "quinn", "none"]).await;
    assert_eq!(
        app.sign_in("quinn", PASSWORD).await.json()["methods_needed"],
        0
    );
    // Audited, naming the operator.
    let audit = json(&app, &["user", "audit", "quinn"]).await;
    let ops: Vec<&Value> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["outcome"] == "operator")
        .collect();
    assert_eq!(ops.len(), 2, "{audit:#}");
    assert_eq!(ops[0]["type"], "admin_role_granted");
    assert_eq!(ops[1]["type"], "admin_role_removed");
    assert!(ops[0]["user_agent"]
        .as_str()
        .is_some_and(|a| a.contains(OPERATOR)));
    // No profile, no write, no event.
    let e = cli(&app, &["user", "role", "nobody-here", "admin"])
        .await
        .unwrap_err();
    assert!(e.contains("no user"), "{e}");
    assert!(app.audit_types("nobody-here").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_an_operator_is_refused() {
    let app = TestApp::spawn().await;
    app.confirmed_user("olga").await;
    let cli = parse(["sspr-admin", "user", "unlock", "olga"]).expect("parses");
    let e = run(&admin(&app), &cli, app.clock_now()).await.unwrap_err();
    assert!(e.contains("operator"), "{e}");
    assert!(!app
        .audit_types("olga")
        .await
        .contains(&"signin_unlocked".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_lets_sign_in_through_again() {
    let app = TestApp::spawn().await;
    app.confirmed_user("ula").await;
    for i in 0..app.running.app.config.signin.max_failures {
        app.sign_in("ula", &format!("wrong password number {i}"))
            .await;
    }
    assert_eq!(app.sign_in("ula", PASSWORD).await.status, 401, "locked");
    let v = json(&app, &["user", "show", "ula"]).await;
    assert_eq!(v["signin_lock"]["held"], true, "{v:#}");
    json(&app, &["user", "unlock", "ula"]).await;
    assert_eq!(app.sign_in("ula", PASSWORD).await.status, 200);
    assert!(app
        .audit_types("ula")
        .await
        .contains(&"signin_unlocked".to_owned()));
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.send(reqwest::Method::GET, "/v1/me", Some(token), None)
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_sessions_kills_every_access_token() {
    let app = TestApp::spawn().await;
    app.confirmed_user("rita").await;
    let token = app.access_token("rita", PASSWORD).await;
    assert_eq!(me(&app, &token).await, 200);
    let out = cli(&app, &["user", "revoke-sessions", "rita"])
        .await
        .expect("revoke");
    no_secret(&out, &[&token]);
    assert_eq!(me(&app, &token).await, 401);
    assert_eq!(
        json(&app, &["user", "show", "rita"]).await["token_version"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_reset_mails_a_code_that_resets_the_password_and_shows_it_to_nobody() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("sam").await;
    let out = cli(&app, &["user", "start-reset", "sam"])
        .await
        .expect("start-reset");
    let code = app
        .last_code(&email, "reset_code")
        .await
        .expect("a reset code mailed");
    let audit = cli(&app, &["user", "audit", "sam"]).await.expect("audit");
    let hash = password_hash(&app, "sam").await;
    no_secret(&out, &[&code, &hash]);
    no_secret(&audit, &[&code, &hash]);
    assert!(
        audit.contains("code_sent") && audit.contains(OPERATOR),
        "{audit}"
    );
    let r = app.verify("sam", &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt = r.json()["reset_token"]
        .as_str()
        .expect("a reset token")
        .to_owned();
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    assert_eq!(app.sign_in("sam", NEW_PASSWORD).await.status, 200);
    // Unknown user: refused, nothing mailed.
    assert!(cli(&app, &["user", "start-reset", "nobody-here"])
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_events_oldest_first_and_since_filters_them() {
    let app = TestApp::spawn().await;
    app.confirmed_user("abe").await;
    let v = json(&app, &["user", "audit", "abe"]).await;
    let events = v["events"].as_array().expect("events");
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, app.audit_types("abe").await, "oldest first");
    assert_eq!(types.first(), Some(&"registered"));
    for key in [
        "at",
        "type",
        "outcome",
        "client_ip",
        "user_agent",
        "request_id",
    ] {
        assert!(events[0].get(key).is_some(), "{key} in {v:#}");
    }
    let table = cli(&app, &["user", "audit", "abe"]).await.expect("audit");
    assert!(
        table.contains("registered") && table.contains("request_id"),
        "{table}"
    );
    let later = json(
        &app,
        &["user", "audit", "abe", "--since", "2999-01-01T00:00:00Z"],
    )
    .await;
    assert_eq!(later["events"], Value::Array(vec![]));
    let recent = json(&app, &["user", "audit", "abe", "--days", "1"]).await;
    assert_eq!(
        recent["events"].as_array().map(Vec::len),
        Some(events.len())
    );
    assert!(cli(&app, &["user", "audit", "abe", "--since", "yesterday"])
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_registrations_methods_resets_and_failures() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("rae").await;
    app.confirmed_user("rob").await;
    let rt = app.reset_token("rae", &email).await;
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    app.ask_code("rob", "reset_password").await;
    app.verify("rob", "000000").await;
    let v = json(&app, &["report", "--days", "7"]).await;
    assert_eq!(v["registrations"], 2, "{v:#}");
    assert_eq!(v["users_by_methods"]["1"], 2, "{v:#}");
    assert_eq!(v["resets_started"], 2, "{v:#}");
    assert_eq!(v["failed_proofs"], 1, "{v:#}");
    assert_eq!(v["resets_completed"], 1, "{v:#}");
    assert_eq!(v["signin_lockouts"], 0, "{v:#}");
    assert_eq!(v["operator_actions"], 0, "{v:#}");
    cli(&app, &["user", "unlock", "rob"]).await.expect("unlock");
    // Past the one-a-minute spacing of rob's codes.
    app.clock.advance(61);
    cli(&app, &["user", "start-reset", "rob"])
        .await
        .expect("start-reset");
    let v = json(&app, &["report"]).await;
    assert_eq!(v["operator_actions"], 2, "{v:#}");
    assert_eq!(v["resets_started"], 3, "{v:#}");
    let table = cli(&app, &["report"]).await.expect("report");
    assert!(table.contains("resets_completed"), "{table}");
    let hash = password_hash(&app, "rae").await;
    no_secret(&table, &[&hash]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_opens_a_stopped_sspr_locals_file() {
    use sspr_core::config::Config;
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("sspr-admin-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sspr.db");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    {
        let mut running = sspr_local::start(sspr_tests::host_on_file(
            &dir,
            &path,
            Arc::new(sspr_core::ports::ManualClock::new(now)),
        ))
        .await
        .unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/v1/register", running.url))
            .json(&serde_json::json!({"username": "dana", "email": "dana@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        running.stop_dynamo();
    }
    let local = sspr_admin::open_data(&path, "sspr", Config::default())
        .await
        .expect("the data file opens");
    let argv = |args: &[&str]| {
        let mut v = vec![
            "sspr-admin",
            "--operator",
            OPERATOR,
            "--data",
            "ignored",
            "--json",
        ];
        v.extend_from_slice(args);
        parse(v).expect("parses")
    };
    run(&local.admin, &argv(&["user", "role", "dana", "admin"]), now)
        .await
        .expect("role");
    let out = run(&local.admin, &argv(&["user", "show", "dana"]), now)
        .await
        .expect("show");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["role"].clone(), v["email_verified"].clone()),
        ("admin".into(), false.into())
    );
    drop(local);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> sspr_tests::Answer {
    app.send(reqwest::Method::POST, path, Some(token), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_lists_a_confirmed_authenticator_without_its_secret() {
    let app = TestApp::spawn().await;
    app.confirmed_user("tia").await;
    let token = app.access_token("tia", PASSWORD).await;
    let r = post(
        &app,
        "/v1/me/methods",
        &token,
        serde_json::json!({"type": "totp"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json()["secret"].as_str().expect("a secret").to_owned();
    let id = r.json()["id"].as_str().expect("an id").to_owned();
    let code = sspr_tests::otp(&secret, app.clock_now());
    let r = post(
        &app,
        &format!("/v1/me/methods/{id}/confirm"),
        &token,
        serde_json::json!({"code": code}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = json(&app, &["user", "show", "tia"]).await;
    let methods = v["methods"].as_array().expect("methods");
    assert_eq!(methods.len(), 1, "{v:#}");
    assert_eq!(methods[0]["kind"], "totp");
    assert_eq!(methods[0]["label"], "authenticator");
    assert_eq!(methods[0]["confirmed"], true);
    assert!(methods[0]["confirmed_at"].is_string(), "{v:#}");
    let report = json(&app, &["report"]).await;
    assert_eq!(report["users_by_methods"]["2"], 1, "{report:#}");
    let table = cli(&app, &["user", "show", "tia"]).await.expect("show");
    assert!(table.contains("authenticator"), "{table}");
    let hash = password_hash(&app, "tia").await;
    for out in [table, v.to_string(), report.to_string()] {
        no_secret(&out, &[&hash, &secret, &token]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unblock_lifts_the_reset_block_and_the_owner_resets() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("ursula").await;
    app.clock.advance(60);
    // Five wrong guesses at an outstanding code block resets.
    let code = app.reset_code("ursula", &email).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(app.verify("ursula", wrong).await.status, 400);
    }
    let v = json(&app, &["user", "show", "ursula"]).await;
    assert_eq!(v["reset_block"]["held"], true, "{v:#}");
    let v = json(&app, &["user", "unblock", "ursula"]).await;
    assert_eq!(v["done"], "resets_unblocked", "{v:#}");
    let v = json(&app, &["user", "show", "ursula"]).await;
    assert_eq!(v["reset_block"]["held"], false, "{v:#}");
    let events = app
        .running
        .store
        .audit_events(&sspr_core::domain::Username::parse("ursula").expect("valid"))
        .await
        .expect("audit");
    let unblocked = events
        .iter()
        .find(|e| e.get(schema::TYPE).map(String::as_str) == Some("resets_unblocked"))
        .expect("the unblock is audited");
    assert!(
        unblocked
            .get(schema::USER_AGENT)
            .is_some_and(|a| a.contains(OPERATOR)),
        "{unblocked:?}"
    );
    app.clock.advance(60);
    let token = app.reset_token("ursula", &email).await;
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    // A user who does not exist: nothing written.
    let e = cli(&app, &["user", "unblock", "nobody-here"])
        .await
        .unwrap_err();
    assert!(e.contains("no user"), "{e}");
}
