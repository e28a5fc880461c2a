//! Nothing tells a stranger whether a user exists: not the answer to a code
//! request, not the sign-in failure, not the time it takes.

use serde_json::json;
use sspr_tests::{TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_requests_answer_byte_identically_for_everyone() {
    let app = TestApp::spawn().await;
    app.confirmed_user("alice").await; // confirmed: gets a code
    app.register("bob", "bob@example.com", PASSWORD).await; // unconfirmed: gets none
    let mut answers = Vec::new();
    for (user, purpose) in [
        ("alice", "reset_password"),
        ("alice", "reset_password"), // limited now
        ("bob", "reset_password"),
        ("nobody", "reset_password"),
        ("alice", "verify_email"), // nothing to confirm
        ("nobody", "verify_email"),
    ] {
        let r = app.ask_code(user, purpose).await;
        answers.push((
            r.status,
            r.text.clone(),
            r.header("content-type"),
            r.header("cache-control"),
        ));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    assert_eq!(answers[0].0, 202);
    assert_eq!(
        app.mails_to("alice@example.com", "reset_code").await.len(),
        1,
        "only the eligible user got mail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_look_the_same_for_unknown_users_and_wrong_passwords() {
    let app = TestApp::spawn().await;
    app.confirmed_user("alice").await;
    let wrong = app.sign_in("alice", "not her password at all 42").await;
    let unknown = app.sign_in("mallory", "not her password at all 42").await;
    let invalid = app.sign_in("x", "not her password at all 42").await;
    assert_eq!(wrong.status, 401);
    assert_eq!((wrong.status, &wrong.text), (unknown.status, &unknown.text));
    assert_eq!((wrong.status, &wrong.text), (invalid.status, &invalid.text));
    // Proofs too: an unknown user's answer is a wrong code's answer.
    let a = app
        .post(
            "/v1/password/verify",
            json!({"username": "alice", "code": "000000"}),
        )
        .await;
    let b = app
        .post(
            "/v1/password/verify",
            json!({"username": "nobody", "code": "000000"}),
        )
        .await;
    assert_eq!((a.status, a.text), (b.status, b.text));
}

/// An unknown user costs one full Argon2 verification at today's parameters,
/// exactly as a wrong password does: counted, not timed (the timing figures
/// come from the enumeration benchmark, which prints its method and medians).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_for_an_unknown_user_runs_the_same_argon2_as_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.confirmed_user("alice").await;
    let log = app.running.app.hasher.verifications();
    let today = (19_456, 2, 1);
    for (user, what) in [
        ("alice", "wrong password"),
        ("nobody", "unknown user"),
        ("x", "impossible username"),
    ] {
        let before = log.count();
        let r = app.sign_in(user, "not the password 42").await;
        assert_eq!(r.status, 401);
        assert_eq!(
            log.count() - before,
            1,
            "{what}: exactly one Argon2 verification"
        );
        assert_eq!(
            log.last_params(),
            Some(today),
            "{what}: at today's parameters"
        );
    }
    // Even a password too long to be anyone's costs the same.
    let before = log.count();
    app.sign_in("nobody", &"p".repeat(5000)).await;
    assert_eq!(log.count() - before, 1);
}

/// The items stored under `USER#<user>`.
async fn items_of(app: &TestApp, user: &str) -> usize {
    let pk = format!("{}{user}", sspr_core::store::schema::USER_PREFIX);
    sspr_tests::consistency::scan(&app.running.store)
        .await
        .iter()
        .filter(|i| {
            matches!(i.get(sspr_core::store::schema::PK),
                Some(aws_sdk_dynamodb::types::AttributeValue::S(p)) if *p == pk)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_failed_sign_in_costs_a_known_users_round_trips_and_stores_nothing() {
    let app = TestApp::spawn().await;
    app.confirmed_user("alice").await;
    app.confirmed_user("carl").await;
    let limit = sspr_core::domain::SignInPolicy::default().max_failures;
    for i in 0..limit {
        app.sign_in("carl", &format!("wrong password number {i}"))
            .await;
    }
    let mut trips = Vec::new();
    for (user, password) in [
        ("alice", "wrong password"),  // counted
        ("nobody", "wrong password"), // no such user
        ("carl", PASSWORD),           // locked: audited, not counted
        ("nobody", PASSWORD),
    ] {
        let before = app.round_trips();
        let r = app.sign_in(user, password).await;
        assert_eq!(r.code(), "invalid_credentials", "{user}: {}", r.text);
        trips.push((user, app.round_trips() - before));
    }
    assert!(
        trips.windows(2).all(|w| w[0].1 == w[1].1),
        "DynamoDB round trips differ: {trips:?}"
    );
    assert_eq!(trips[0].1, 2, "{trips:?}");
    // The stranger's write found no profile: nothing is stored for the name.
    assert_eq!(items_of(&app, "nobody").await, 0);
    assert!(items_of(&app, "alice").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sign_ins_answer_no_earlier_than_the_floor_whoever_asks() {
    let floor = std::time::Duration::from_millis(400);
    let app = TestApp::spawn_with(|c| {
        c.answer_floor = floor;
        c.signin.max_failures = 2;
    })
    .await;
    app.confirmed_user("alice").await;
    app.confirmed_user("carl").await;
    for i in 0..2 {
        app.sign_in("carl", &format!("wrong password number {i}"))
            .await;
    }
    for (user, password, what) in [
        ("alice", "wrong password", "a wrong password"),
        ("nobody", "wrong password", "an unknown user"),
        ("carl", PASSWORD, "a locked user"),
        ("x", "wrong password", "an impossible username"),
    ] {
        let t = std::time::Instant::now();
        let r = app.sign_in(user, password).await;
        let took = t.elapsed();
        assert_eq!(r.code(), "invalid_credentials", "{what}: {}", r.text);
        assert!(
            took >= floor,
            "{what}: answered after {took:?}, under the floor"
        );
    }
}
