//! Defences against hostile clients, each with a test that fails without it.

use serde_json::{json, Value};
use sspr_core::limits::{Limit, RouteKey};
use sspr_core::store::schema;
use sspr_tests::events::Event;
use sspr_tests::{TestApp, PASSWORD};

/// An API Gateway event from `ip`, with a forged `X-Forwarded-For`.
fn from_ip(path: &str, body: Value, ip: &str, forwarded: &str) -> lambda_http::Request {
    Event::post(path, body)
        .from_ip(ip)
        .header("x-forwarded-for", forwarded)
        .request()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_address_is_limited_per_route_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.client_limits.0.insert(
            RouteKey::Codes,
            Limit {
                max: 3,
                window_secs: 600,
            },
        );
    })
    .await;
    let ask = json!({"username": "alice", "purpose": "reset_password"});
    for i in 0..3 {
        let r = sspr_dispatch::handle(
            &app.running.app,
            from_ip(
                "/v1/codes",
                ask.clone(),
                "198.51.100.7",
                &format!("10.0.0.{i}"),
            ),
        )
        .await;
        assert_eq!(r.status(), 202);
    }
    // A forged X-Forwarded-For changes nothing: the address is API Gateway's.
    let r = sspr_dispatch::handle(
        &app.running.app,
        from_ip("/v1/codes", ask.clone(), "198.51.100.7", "203.0.113.99"),
    )
    .await;
    assert_eq!(r.status(), 429);
    let body: Value = serde_json::from_slice(r.body().as_ref()).unwrap_or(Value::Null);
    assert_eq!(body["code"], "too_many_requests");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=600).contains(&retry), "Retry-After {retry}");
    // Another address is not affected, nor is another route of the same address.
    let r = sspr_dispatch::handle(
        &app.running.app,
        from_ip("/v1/codes", ask.clone(), "198.51.100.8", ""),
    )
    .await;
    assert_eq!(r.status(), 202);
    let r = sspr_signin::handle(
        &app.running.app,
        from_ip(
            "/v1/token",
            json!({"username": "alice", "password": "x"}),
            "198.51.100.7",
            "",
        ),
    )
    .await;
    assert_eq!(r.status(), 401);
    // The window passes; the address may ask again.
    app.clock.advance(retry as i64);
    let r = sspr_dispatch::handle(
        &app.running.app,
        from_ip("/v1/codes", ask, "198.51.100.7", ""),
    )
    .await;
    assert_eq!(r.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_request_changes_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.client_limits.0.insert(
            RouteKey::Verify,
            Limit {
                max: 2,
                window_secs: 300,
            },
        );
        c.client_limits.0.insert(
            RouteKey::Codes,
            Limit {
                max: 100,
                window_secs: 600,
            },
        );
    })
    .await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    assert_eq!(app.verify("alice", "000001").await.status, 400);
    assert_eq!(app.verify("alice", "000002").await.status, 400);
    // Over the limit, even the right code does nothing: no token, no spend, no count.
    let r = app.verify("alice", &code).await;
    assert_eq!((r.status, r.code()), (429, "too_many_requests".into()));
    let events = app.audit_types("alice").await;
    assert_eq!(events.iter().filter(|e| *e == "proof_failed").count(), 2);
    assert!(!events.iter().any(|e| e == "code_verified"));
    app.clock.advance(300);
    assert_eq!(
        app.verify("alice", &code).await.status,
        200,
        "the code survived the limited request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_counters_expire_by_ttl() {
    let app = TestApp::spawn_with(|c| {
        c.client_limits.0.insert(
            RouteKey::Token,
            Limit {
                max: 5,
                window_secs: 60,
            },
        );
    })
    .await;
    app.sign_in("alice", PASSWORD).await;
    let counters: Vec<_> = sspr_tests::consistency::scan(&app.running.store)
        .await
        .into_iter()
        .filter(|i| matches!(i.get(schema::PK), Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) if pk.starts_with("CLIENT#")))
        .collect();
    assert_eq!(counters.len(), 1);
    let exp: i64 = match counters[0].get(schema::EXPIRES_AT) {
        Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    };
    let now = app.clock_now();
    assert!(
        exp > now && exp <= now + 60 + 60,
        "expires with its window: {exp} vs {now}"
    );
}

async fn lock(app: &TestApp, user: &str) {
    for i in 0..10 {
        let r = app
            .sign_in(user, &format!("wrong password number {i}"))
            .await;
        assert_eq!(r.status, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_passwords_lock_sign_in_without_telling_a_stranger() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let wrong = app.sign_in("alice", "wrong password number 0").await;
    lock(&app, "alice").await;
    // Locked: even the right password gets the wrong-password answer, byte for byte,
    // after the same single Argon2 run.
    let log = app.running.app.hasher.verifications();
    let before = log.count();
    let locked = app.sign_in("alice", PASSWORD).await;
    assert_eq!(log.count() - before, 1);
    assert_eq!((locked.status, &locked.text), (wrong.status, &wrong.text));
    // An unknown user's tenth failure looks the same.
    lock(&app, "mallory").await;
    assert_eq!(app.sign_in("mallory", PASSWORD).await.text, wrong.text);
    // The owner is told, and the lock is audited.
    let notice = app
        .mails_to(&email, "signin_locked")
        .await
        .pop()
        .expect("a lock notice");
    assert_eq!(notice.subject, "Sign-in to your account is locked");
    assert!(notice.code().is_none(), "the notice carries no code");
    assert!(app
        .audit_types("alice")
        .await
        .iter()
        .any(|e| e == "signin_locked"));
    // It lifts by itself after 15 minutes.
    app.clock.advance(15 * 60);
    assert_eq!(app.sign_in("alice", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emailed_code_unlocks_sign_in_and_keeps_the_password() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    // Not locked: no unlock code goes out, and the answer is the usual one.
    let usual = app.ask_code("alice", "unlock_account").await;
    assert_eq!(usual.status, 202);
    assert!(app.mails_to(&email, "unlock_code").await.is_empty());
    lock(&app, "alice").await;
    app.clock.advance(60);
    let r = app.ask_code("alice", "unlock_account").await;
    assert_eq!((r.status, &r.text), (usual.status, &usual.text));
    let stranger = app.ask_code("mallory", "unlock_account").await;
    assert_eq!(
        (stranger.status, &stranger.text),
        (usual.status, &usual.text)
    );
    let code = app
        .last_code(&email, "unlock_code")
        .await
        .expect("an unlock code");
    let r = app
        .post("/v1/unlock", json!({"username": "alice", "code": "000000"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    let r = app
        .post("/v1/unlock", json!({"username": "mallory", "code": code}))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    let r = app
        .post("/v1/unlock", json!({"username": "alice", "code": code}))
        .await;
    assert_eq!((r.status, r.json()), (200, json!({"unlocked": true})));
    assert_eq!(
        app.sign_in("alice", PASSWORD).await.status,
        200,
        "same password, unlocked"
    );
    assert!(app
        .audit_types("alice")
        .await
        .iter()
        .any(|e| e == "signin_unlocked"));
    let r = app
        .post("/v1/unlock", json!({"username": "alice", "code": code}))
        .await;
    assert_eq!(r.status, 400, "the unlock code works once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlock_code_mailed_before_a_reset_no_longer_unlocks() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    lock(&app, "alice").await;
    app.clock.advance(60);
    assert_eq!(app.ask_code("alice", "unlock_account").await.status, 202);
    let old = app
        .last_code(&email, "unlock_code")
        .await
        .expect("an unlock code");
    let token = app.reset_token("alice", &email).await;
    assert_eq!(
        app.reset(&token, sspr_tests::NEW_PASSWORD).await.status,
        204
    );
    // Someone who read that mail guesses the new password until sign-in locks
    // again, then tries to lift the lock with the code from before the reset.
    lock(&app, "alice").await;
    let r = app
        .post("/v1/unlock", json!({"username": "alice", "code": old}))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    assert_eq!(
        app.sign_in("alice", sspr_tests::NEW_PASSWORD).await.status,
        401,
        "still locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_password_or_a_reset_forgets_earlier_failures() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    for i in 0..9 {
        app.sign_in("alice", &format!("wrong {i} wrong {i}")).await;
    }
    assert_eq!(app.sign_in("alice", PASSWORD).await.status, 200);
    for i in 0..9 {
        app.sign_in("alice", &format!("wrong {i} wrong {i}")).await;
    }
    assert_eq!(
        app.sign_in("alice", PASSWORD).await.status,
        200,
        "nine and nine are not ten"
    );
    lock(&app, "alice").await;
    let token = app.reset_token("alice", &email).await;
    assert_eq!(
        app.reset(&token, sspr_tests::NEW_PASSWORD).await.status,
        204
    );
    assert_eq!(
        app.sign_in("alice", sspr_tests::NEW_PASSWORD).await.status,
        200,
        "a reset lifts the lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_is_cached_or_tells_of_the_inside() {
    let app = TestApp::spawn().await;
    // Each case is the answer it is meant to be (its status pinned), and
    // every value a later case is built from is read or the test stops: a
    // step that broke would otherwise turn into a 401 that passes anyway.
    let mut answers = Vec::new();
    let mut push = |what: &str, a: sspr_tests::Answer, status: u16| {
        assert_eq!(a.status, status, "{what}: {}", a.text);
        answers.push(a);
    };
    push(
        "sign-up",
        app.register("alice", "alice@example.com", PASSWORD).await,
        201,
    );
    push(
        "sign-up again",
        app.register("alice", "alice@example.com", PASSWORD).await,
        409,
    );
    let code = app
        .last_code("alice@example.com", "confirm_email")
        .await
        .expect("a confirmation code was mailed");
    push(
        "confirmation",
        app.post(
            "/v1/register/confirm",
            json!({"username": "alice", "code": code}),
        )
        .await,
        200,
    );
    let signed_in = app.sign_in("alice", PASSWORD).await;
    let token = signed_in.json()["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("a sign-in without an access token: {}", signed_in.text))
        .to_owned();
    push("sign-in", signed_in, 200);
    push(
        "me",
        app.send(reqwest::Method::GET, "/v1/me", Some(&token), None)
            .await,
        200,
    );
    push(
        "me with a broken token",
        app.send(reqwest::Method::GET, "/v1/me", Some("x.y.z"), None)
            .await,
        401,
    );
    push(
        "a reset code",
        app.ask_code("alice", "reset_password").await,
        202,
    );
    let code = app
        .last_code("alice@example.com", "reset_code")
        .await
        .expect("a reset code was mailed");
    let wrong = if code.starts_with('0') {
        "111111"
    } else {
        "000000"
    };
    push("a wrong proof", app.verify("alice", wrong).await, 400);
    let proved = app.verify("alice", &code).await;
    let reset = proved.json()["reset_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("a proof without a reset token: {}", proved.text))
        .to_owned();
    push("the proof", proved, 200);
    push("a weak password", app.reset(&reset, "short").await, 400);
    push(
        "the reset",
        app.reset(&reset, sspr_tests::NEW_PASSWORD).await,
        204,
    );
    push(
        "the reset again",
        app.reset(&reset, sspr_tests::NEW_PASSWORD).await,
        401,
    );
    // Not the JWKS: public and the same for everyone, it may be kept
    // (lambda_events::the_jwks_may_be_kept_five_minutes_and_is_asked_again_with_its_etag).
    push(
        "not JSON",
        app.raw(
            reqwest::Method::POST,
            "/v1/token",
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        415,
    );
    push(
        "no such route",
        app.raw(reqwest::Method::GET, "/nowhere", None, Vec::new())
            .await,
        404,
    );
    for a in &answers {
        assert_eq!(
            a.header("cache-control"),
            "no-store",
            "{} {}",
            a.status,
            a.text
        );
        assert_eq!(a.header("x-content-type-options"), "nosniff");
        for inside in [
            "USER#",
            "AUDIT#",
            "CLIENT#",
            "PROFILE",
            "amazonaws",
            "dynoxide",
            "panicked",
            ".rs:",
            "argon2id$",
            "rp_code",
            "pw_hash",
        ] {
            assert!(
                !a.text.contains(inside),
                "{inside} in {} {}",
                a.status,
                a.text
            );
        }
    }
    assert!(answers.iter().any(|a| a.status == 200) && answers.iter().any(|a| a.status >= 400));
}

/// Six wrong proofs of `method` (`None`: a code that was sent) for `user`, each
/// answered as every failed proof is; the answers' bodies.
async fn six_wrong_proofs(app: &TestApp, user: &str, method: Option<&str>) -> Vec<String> {
    let mut bodies = Vec::new();
    for i in 0..6 {
        let mut body = json!({"username": user});
        match method {
            None => body["code"] = json!(format!("{:06}", 100_000 + i)),
            Some("totp") => body["code"] = json!(format!("{:06}", 200_000 + i)),
            Some(_) => body["code"] = json!(format!("ABCD-EFGH-JKMN-PQR{i}")),
        }
        if let Some(m) = method {
            body["method"] = json!(m);
        }
        let r = app.post("/v1/password/verify", body).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_code".into()),
            "{}",
            r.text
        );
        bodies.push(r.text);
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_proofs_against_nothing_the_user_holds_do_not_block_their_reset() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("vera").await;
    // A stranger's guesses at a user with no code outstanding, no
    // authenticator and no recovery codes: six of each kind, past the five
    // that block.
    let mut bodies = Vec::new();
    for method in [None, Some("totp"), Some("recovery_code")] {
        bodies.extend(six_wrong_proofs(&app, "vera", method).await);
    }
    // Answered exactly as the same guesses at nobody.
    let stranger = six_wrong_proofs(&app, "nobody-at-all", None).await;
    assert!(
        bodies.iter().chain(&stranger).all(|b| *b == stranger[0]),
        "one body for all: {bodies:?} {stranger:?}"
    );
    // Past the minute's spacing after the sign-up's code, the owner asks for a
    // code, gets it, and resets.
    app.clock.advance(60);
    let token = app.reset_token("vera", &email).await;
    assert_eq!(
        app.reset(&token, sspr_tests::NEW_PASSWORD).await.status,
        204
    );
    let events = app.audit_types("vera").await;
    assert_eq!(
        events.iter().filter(|e| *e == "proof_failed").count(),
        18,
        "each guess is audited, none counted: {events:?}"
    );
    assert!(!events.iter().any(|e| e == "resets_blocked"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_who_asks_a_code_and_guesses_it_still_blocks_resets() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("wilma").await;
    app.clock.advance(60);
    // The stranger asks a code for the user (it goes to the user's mailbox)
    // and guesses at it: those guesses could have found it, so they count.
    assert_eq!(app.ask_code("wilma", "reset_password").await.status, 202);
    let code = app
        .last_code(&email, "reset_code")
        .await
        .expect("the code went to the owner");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        let r = app.verify("wilma", wrong).await;
        assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    }
    let events = app.audit_types("wilma").await;
    assert_eq!(
        events.iter().filter(|e| *e == "resets_blocked").count(),
        1,
        "{events:?}"
    );
    // Blocked: the owner's next code request sends nothing.
    app.clock.advance(60);
    let before = app.mails_to(&email, "reset_code").await.len();
    assert_eq!(app.ask_code("wilma", "reset_password").await.status, 202);
    assert_eq!(
        app.mails_to(&email, "reset_code").await.len(),
        before,
        "no code while blocked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guess_at_nothing_the_user_holds_waits_for_the_floor_and_writes_as_a_counted_one() {
    let floor = std::time::Duration::from_millis(150);
    let app = TestApp::spawn_with(|c| c.answer_floor = floor).await;
    app.confirmed_user("xena").await;
    for (method, code) in [
        (None, "123456"),
        (Some("totp"), "123456"),
        (Some("recovery_code"), "ABCD-EFGH-JKMN-PQRS"),
    ] {
        let mut body = json!({"username": "xena", "code": code});
        if let Some(m) = method {
            body["method"] = json!(m);
        }
        let trips = app.round_trips();
        let started = std::time::Instant::now();
        let r = app.post("/v1/password/verify", body).await;
        let took = started.elapsed();
        assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
        assert!(took >= floor, "{method:?}: {took:?} is under the floor");
        // The read and the write of its audit, as a counted failure's read and
        // write: no fewer round trips to time.
        assert_eq!(app.round_trips() - trips, 2, "{method:?}");
    }
}
