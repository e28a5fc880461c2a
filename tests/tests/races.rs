//! Races, with real concurrency against dynoxide: every single use and every
//! limit holds when many requests arrive at once.

use sspr_core::store::schema;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_tests::faults::{FaultProxy, Protocol};
use sspr_tests::{in_parallel, TestApp, NEW_PASSWORD, PASSWORD};

fn count(statuses: &[u16], s: u16) -> usize {
    statuses.iter().filter(|&&x| x == s).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_proofs_of_one_code_give_exactly_one_token() {
    let app = Arc::new(TestApp::spawn().await);
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    let statuses = in_parallel(16, |_| {
        let app = app.clone();
        let code = code.clone();
        async move { app.verify("alice", &code).await.status }
    })
    .await;
    assert_eq!(count(&statuses, 200), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 400), 15, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_parallel_resets_with_one_token_give_exactly_one_reset() {
    // Up to eleven wrong passwords are tried below to find the winner: no lockout here.
    let app = Arc::new(TestApp::spawn_with(|c| c.signin.max_failures = 100).await);
    let email = app.confirmed_user("alice").await;
    let token = app.reset_token("alice", &email).await;
    let statuses = in_parallel(12, |i| {
        let app = app.clone();
        let token = token.clone();
        // Each racer sets a different password: only one may land.
        async move {
            app.reset(&token, &format!("{NEW_PASSWORD} {i}"))
                .await
                .status
        }
    })
    .await;
    assert_eq!(count(&statuses, 204), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 401), 11, "{statuses:?}");
    // Exactly one notice, one audit event, one version bump.
    assert_eq!(app.mails_to(&email, "password_changed").await.len(), 1);
    let resets = app
        .audit_types("alice")
        .await
        .into_iter()
        .filter(|t| t == "password_reset")
        .count();
    assert_eq!(resets, 1);
    let winners: Vec<usize> = {
        let mut w = Vec::new();
        for i in 0..12 {
            if app
                .sign_in("alice", &format!("{NEW_PASSWORD} {i}"))
                .await
                .status
                == 200
            {
                w.push(i);
            }
        }
        w
    };
    assert_eq!(
        winners.len(),
        1,
        "the stored password is the winner's: {winners:?}"
    );
    assert_eq!(app.sign_in("alice", PASSWORD).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_wrong_guesses_burn_the_code() {
    // Behind a pass-through proxy, which sees what each guess read.
    let dynamo = EmbeddedDynamo::start(None).await.expect("dynoxide");
    let proxy = FaultProxy::start(dynamo.endpoint(), Protocol::DynamoDb).await;
    let app = Arc::new(
        TestApp::spawn_behind_proxy(
            proxy.url.clone(),
            dynamo.endpoint().to_owned(),
            (Duration::from_secs(10), Duration::from_secs(30)),
            |c| {
                c.codes.max_failed_proofs = 1000;
                // One address sends all forty: this test is about the code, not the client limit.
                c.client_limits.0.clear();
            },
            None,
        )
        .await,
    );
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    let wrong: u32 = code
        .parse::<u32>()
        .map(|c| (c + 1) % 1_000_000)
        .unwrap_or(0);
    proxy.record();
    let guesses_from = proxy.exchanges().len();
    let statuses = in_parallel(40, |_| {
        let app = app.clone();
        async move { app.verify("alice", &format!("{wrong:06}")).await.status }
    })
    .await;
    let guesses_to = proxy.exchanges().len();
    assert_eq!(count(&statuses, 400), 40, "{statuses:?}");
    // The right code is burned now.
    let r = app.verify("alice", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    let profile = app.stored_profile("alice").await;
    let stored = |part: &str| match profile.get(part) {
        Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse::<usize>().unwrap_or(0),
        _ => 0,
    };
    // Every failed proof (the forty, and the burned right code) is audited.
    let failed = app
        .audit_types("alice")
        .await
        .into_iter()
        .filter(|t| t == "proof_failed")
        .count();
    assert_eq!(failed, 41, "forty wrong guesses and the burned right code");
    // A guess counts against the code when the profile it read held the code
    // live (fewer than `max_attempts` tries; unspent and unexpired it is, the
    // clock stands still): DESIGN.md's "burned after 5 wrong guesses", and
    // `judge` in the code. How many of the forty read it live is the race's to
    // decide, but the proxy saw each read: the stored tries are exactly the
    // guesses that read it live, none lost to a concurrent write and none
    // counted twice.
    let max_attempts = app.running.app.config.codes.max_attempts as usize;
    let read_tries: Vec<usize> = proxy.exchanges()[guesses_from..guesses_to]
        .iter()
        .filter(|x| x.target.ends_with(".Query") && x.status == 200)
        .filter_map(|x| {
            let answer: serde_json::Value = serde_json::from_str(&x.answer).ok()?;
            let items = answer["Items"].as_array()?;
            let profile = items.iter().find(|i| i["sk"]["S"] == "PROFILE")?;
            profile[schema::attr(schema::RESET, schema::TRIES)]["N"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(read_tries.len(), 40, "one read of the profile per guess");
    let live = read_tries.iter().filter(|&&t| t < max_attempts).count();
    assert!(
        live >= max_attempts,
        "the code was live for its first {max_attempts} guesses at least: {read_tries:?}"
    );
    assert_eq!(
        stored(&schema::attr(schema::RESET, schema::TRIES)),
        live,
        "every guess that read the code live counted once: {read_tries:?}"
    );
    // Toward the block of resets, a failed proof counts when it could have
    // guessed what the user holds (ASVS 6.1.1): exactly the guesses that read
    // the code live; the burned right code, and a guess that read it burned,
    // count nothing.
    assert_eq!(
        stored(&schema::attr(schema::PROOFS, schema::CNT)),
        live,
        "failed proofs counted toward the block: {read_tries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_code_requests_send_one_code_a_minute() {
    let app = Arc::new(TestApp::spawn().await);
    let email = app.confirmed_user("alice").await;
    let statuses = in_parallel(10, |_| {
        let app = app.clone();
        async move { app.ask_code("alice", "reset_password").await.status }
    })
    .await;
    assert_eq!(count(&statuses, 202), 10);
    assert_eq!(
        app.mails_to(&email, "reset_code").await.len(),
        1,
        "one code a minute, even at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_registrations_of_one_name_create_one_user() {
    let app = Arc::new(TestApp::spawn().await);
    let statuses = in_parallel(6, |i| {
        let app = app.clone();
        async move {
            app.post(
                "/v1/register",
                json!({"username": "carol", "email": format!("carol{i}@example.com"), "password": PASSWORD}),
            )
            .await
            .status
        }
    })
    .await;
    assert_eq!(count(&statuses, 201), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 5, "{statuses:?}");
}
