//! Each rule of DESIGN.md, tested through the API so that breaking the rule
//! breaks a test.

use aws_sdk_dynamodb::types::AttributeValue as Av;
use serde_json::{json, Value};
use sspr_core::domain::Username;
use sspr_core::store::schema;
use sspr_tests::{TestApp, NEW_PASSWORD, PASSWORD};

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn wrong(code: &str) -> String {
    let n: u64 = code.parse().unwrap_or(0);
    format!(
        "{:0width$}",
        (n + 1) % 10u64.pow(code.len() as u32),
        width = code.len()
    )
}

/// `times` wrong guesses at `code` for `user`, each refused (`400`).
async fn wrong_guesses(app: &TestApp, user: &str, code: &str, times: usize) {
    for _ in 0..times {
        assert_eq!(app.verify(user, &wrong(code)).await.status, 400);
    }
}

async fn profile(app: &TestApp, user: &str) -> std::collections::HashMap<String, Av> {
    app.stored_profile(user).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_valid_ten_minutes() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    app.clock.advance(10 * MINUTE);
    let r = app.verify("alice", &code).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_code".into()),
        "expired at 10 minutes"
    );

    app.clock.advance(MINUTE);
    let code = app.reset_code("alice", &email).await;
    app.clock.advance(10 * MINUTE - 1);
    assert_eq!(
        app.verify("alice", &code).await.status,
        200,
        "still valid just before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_single_use() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    assert_eq!(app.verify("alice", &code).await.status, 200);
    let r = app.verify("alice", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_length_is_configurable() {
    let app = TestApp::spawn_with(|c| c.codes.length = 8).await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    assert_eq!(code.len(), 8);
    assert_eq!(app.verify("alice", &code[..6]).await.status, 400);
    assert_eq!(app.verify("alice", &code).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_stored_only_as_an_hmac() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    let item = profile(&app, "alice").await;
    let stored = match item.get(&schema::attr(schema::RESET, schema::CODE)) {
        Some(Av::S(s)) => s.clone(),
        other => panic!("no stored digest: {other:?}"),
    };
    // `<key version>:<hex HMAC-SHA256>`: the keyring's version 1 made it.
    let (version, hex) = stored.split_once(':').expect("a version, then the HMAC");
    assert_eq!(version, "1", "made under the keyring's current version");
    assert_eq!(hex.len(), 64, "a hex HMAC-SHA256");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!stored.contains(&code));
    let dump = format!("{item:?}");
    assert!(!dump.contains(&code), "the code is nowhere in the item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_burned_after_five_wrong_guesses() {
    let app = TestApp::spawn_with(|c| c.codes.max_failed_proofs = 100).await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    wrong_guesses(&app, "alice", &code, 4).await;
    // Four wrong guesses leave it usable ...
    let code2 = {
        app.clock.advance(MINUTE);
        app.reset_code("alice", &email).await
    };
    wrong_guesses(&app, "alice", &code2, 5).await;
    // ... five burn it.
    assert_eq!(app.verify("alice", &code2).await.status, 400);
    app.clock.advance(MINUTE);
    let code3 = app.reset_code("alice", &email).await;
    wrong_guesses(&app, "alice", &code3, 4).await;
    assert_eq!(
        app.verify("alice", &code3).await.status,
        200,
        "the fifth try may be right"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_a_minute_and_five_an_hour() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    async fn sent_to(app: &TestApp, email: &str) -> usize {
        app.mails_to(email, "reset_code").await.len()
    }
    app.ask_code("alice", "reset_password").await;
    app.ask_code("alice", "reset_password").await;
    assert_eq!(
        sent_to(&app, &email).await,
        1,
        "a second code within a minute is not sent"
    );
    for _ in 0..6 {
        app.clock.advance(MINUTE);
        let r = app.ask_code("alice", "reset_password").await;
        assert_eq!(r.status, 202, "the answer never changes");
    }
    assert_eq!(sent_to(&app, &email).await, 5, "five an hour");
    app.clock.advance(HOUR);
    app.ask_code("alice", "reset_password").await;
    assert_eq!(
        sent_to(&app, &email).await,
        6,
        "a new hour, a new allowance"
    );
    // The limit counts per purpose: confirming an email is unaffected.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_code_replaces_the_previous_one() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let first = app.reset_code("alice", &email).await;
    app.clock.advance(MINUTE);
    let second = app.reset_code("alice", &email).await;
    if first != second {
        assert_eq!(
            app.verify("alice", &first).await.status,
            400,
            "the old code is dead"
        );
    }
    assert_eq!(app.verify("alice", &second).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_proofs_block_resets_for_a_day_and_a_reset_clears_them() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let code = app.reset_code("alice", &email).await;
    wrong_guesses(&app, "alice", &code, 5).await;
    assert!(app.audited("alice", "resets_blocked").await);
    // Blocked: no codes go out, and even a fresh right code proves nothing.
    app.clock.advance(MINUTE);
    let before = app.mails_to(&email, "reset_code").await.len();
    assert_eq!(app.ask_code("alice", "reset_password").await.status, 202);
    assert_eq!(
        app.mails_to(&email, "reset_code").await.len(),
        before,
        "no code while blocked"
    );
    app.clock.advance(DAY - 2 * MINUTE);
    assert_eq!(app.ask_code("alice", "reset_password").await.status, 202);
    assert_eq!(
        app.mails_to(&email, "reset_code").await.len(),
        before,
        "still blocked just before 24 h"
    );

    // After 24 hours, resets work again; a successful one clears the counters.
    app.clock.advance(2 * MINUTE);
    let code = app.reset_code("alice", &email).await;
    wrong_guesses(&app, "alice", &code, 4).await;
    let token = {
        let r = app.verify("alice", &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["reset_token"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    // Cleared: four more failures do not block.
    app.clock.advance(MINUTE);
    let code = app.reset_code("alice", &email).await;
    wrong_guesses(&app, "alice", &code, 4).await;
    assert_eq!(
        app.verify("alice", &code).await.status,
        200,
        "the counters were cleared by the reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_go_only_to_a_confirmed_email() {
    let app = TestApp::spawn().await;
    let r = app.register("dave", "dave@example.com", PASSWORD).await;
    assert_eq!(r.status, 201);
    let r = app.ask_code("dave", "reset_password").await;
    assert_eq!(r.status, 202);
    assert!(app
        .mails_to("dave@example.com", "reset_code")
        .await
        .is_empty());
    // The confirmation code can be asked for again (after a minute).
    app.clock.advance(MINUTE);
    assert_eq!(app.ask_code("dave", "verify_email").await.status, 202);
    assert_eq!(
        app.mails_to("dave@example.com", "confirm_email")
            .await
            .len(),
        2
    );
    let code = app
        .last_code("dave@example.com", "confirm_email")
        .await
        .expect("code");
    let r = app
        .post(
            "/v1/register/confirm",
            json!({"username": "dave", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200);
    // Confirmed: no more confirmation codes, and resets flow.
    app.clock.advance(MINUTE);
    app.ask_code("dave", "verify_email").await;
    assert_eq!(
        app.mails_to("dave@example.com", "confirm_email")
            .await
            .len(),
        2
    );
    app.reset_code("dave", "dave@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_token_lasts_fifteen_minutes() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let token = app.reset_token("alice", &email).await;
    app.clock.advance(15 * MINUTE);
    let r = app.reset(&token, NEW_PASSWORD).await;
    assert_eq!((r.status, r.code()), (401, "invalid_token".into()));

    let token = app.reset_token("alice", &email).await;
    app.clock.advance(15 * MINUTE - 1);
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_token_from_an_earlier_proof_is_dead_once_a_new_one_is_granted() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let first = app.reset_token("alice", &email).await;
    app.clock.advance(MINUTE);
    let second = app.reset_token("alice", &email).await;
    assert_eq!(app.reset(&first, NEW_PASSWORD).await.status, 401);
    assert_eq!(app.reset(&second, NEW_PASSWORD).await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_five_passwords_may_not_come_back() {
    let app = TestApp::spawn().await;
    app.confirmed_user("alice").await;
    let passwords = [
        PASSWORD,
        "sunlit marmalade quarrel vortex",
        "brisk pelican umbrella tundra",
        "velvet compass harbor mosaic",
        "amber falcon ledger quiver",
    ];
    // Change through all five: each older one is refused as reused.
    for pair in passwords.windows(2) {
        let token = app.access_token("alice", pair[0]).await;
        let r = app
            .send(
                reqwest::Method::POST,
                "/v1/password/change",
                Some(&token),
                Some(json!({"current_password": pair[0], "new_password": pair[1]})),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let current = passwords[4];
    for old in passwords {
        let token = app.access_token("alice", current).await;
        let r = app.change_password(&token, current, old).await;
        assert_eq!(r.status, 400, "{old} came back");
        assert_eq!(r.json()["reasons"], json!(["reused"]));
    }
    // A sixth password pushes the first one out of the history.
    let token = app.access_token("alice", current).await;
    let sixth = "crimson otter lantern basalt";
    let r = app.change_password(&token, current, sixth).await;
    assert_eq!(r.status, 204);
    let token = app.access_token("alice", sixth).await;
    let r = app.change_password(&token, sixth, PASSWORD).await;
    assert_eq!(r.status, 204, "the oldest is six back now: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_checked_against_the_policy_with_reasons() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, &str)] = &[
        ("short1!", "too_short"),
        ("password1234", "common"),
        ("erin-quartz-lantern-77", "contains_username"),
        ("wonderland-quartz-lantern", "contains_email"),
    ];
    for (pw, reason) in cases {
        let r = app.register("erin", "wonderland@example.com", pw).await;
        assert_eq!((r.status, r.code()), (400, "weak_password".into()), "{pw}");
        assert!(
            r.json()["reasons"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(reason))),
            "{pw}: {}",
            r.text
        );
    }
    let r = app
        .register("erin", "wonderland@example.com", &"Zq9!".repeat(65))
        .await;
    assert_eq!(r.json()["reasons"], json!(["too_long"]));
    // The minimum is configurable (never below 8, checked in config).
    let app = TestApp::spawn_with(|c| c.passwords.min_len = 40).await;
    let r = app.register("erin", "erin@example.com", PASSWORD).await;
    assert!(r.json()["reasons"]
        .as_array()
        .is_some_and(|a| a.contains(&json!("too_short"))));
}

/// On the shipped breach list, and strong enough for zxcvbn: only the list
/// refuses it.
const BREACHED_BUT_STRONG: &str = "23WKoa0FP78dk";

fn reasons(r: &sspr_tests::Answer) -> Value {
    assert_eq!(
        (r.status, r.code()),
        (400, "weak_password".into()),
        "{}",
        r.text
    );
    r.json()["reasons"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_terms_and_breached_passwords_are_refused_at_register_reset_and_change() {
    let app = TestApp::spawn_with(|c| {
        c.passwords.banned =
            sspr_core::domain::BannedTerms::new(["contoso"]).expect("a valid term");
    })
    .await;
    // Registration.
    let r = app
        .register("erin", "erin@example.com", "P@ssw0rd-Contoso!")
        .await;
    assert!(
        reasons(&r)
            .as_array()
            .is_some_and(|a| a.contains(&json!("banned"))),
        "{}",
        r.text
    );
    let r = app
        .register("erin", "erin@example.com", "Tr4vel-C0nt0so-Kettle-92!")
        .await;
    assert_eq!(reasons(&r), json!(["banned"]));
    let r = app
        .register("erin", "erin@example.com", BREACHED_BUT_STRONG)
        .await;
    assert_eq!(reasons(&r), json!(["compromised"]));
    // A reset: refused, and the token still good for a password that passes.
    let email = app.confirmed_user("grace").await;
    let token = app.reset_token("grace", &email).await;
    assert_eq!(
        reasons(&app.reset(&token, "quiet-c0nt0s0-harbour-lantern").await),
        json!(["banned"])
    );
    assert_eq!(
        reasons(&app.reset(&token, BREACHED_BUT_STRONG).await),
        json!(["compromised"])
    );
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    // A change.
    let access = app.access_token("grace", NEW_PASSWORD).await;
    let change = |new: &'static str| {
        app.send(
            reqwest::Method::POST,
            "/v1/password/change",
            Some(&access),
            Some(json!({"current_password": NEW_PASSWORD, "new_password": new})),
        )
    };
    assert_eq!(
        reasons(&change("quiet-contaso-harbour-lantern").await),
        json!(["banned"])
    );
    assert_eq!(
        reasons(&change(BREACHED_BUT_STRONG).await),
        json!(["compromised"])
    );
    assert_eq!(change("Tr4vel-Plum-Kettle-92!").await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_nfkc_normalised_before_hashing() {
    let app = TestApp::spawn().await;
    app.confirmed_user("frank").await;
    // "ﬁ" (U+FB01) is "fi" under NFKC: set with the ligature, sign in with plain letters.
    let token = app.access_token("frank", PASSWORD).await;
    let r = app
        .send(reqwest::Method::POST, "/v1/password/change", Some(&token),
            Some(json!({"current_password": PASSWORD, "new_password": "ﬁerce walrus tangerine obelisk"})))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.sign_in("frank", "fierce walrus tangerine obelisk")
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_kills_older_tokens_and_tells_the_user() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("gina").await;
    let old = app.access_token("gina", PASSWORD).await;
    let other = app.access_token("gina", PASSWORD).await;
    let wrong = app
        .send(reqwest::Method::POST, "/v1/password/change", Some(&old),
            Some(json!({"current_password": NEW_PASSWORD, "new_password": "brisk pelican umbrella tundra"})))
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (401, "invalid_credentials".into())
    );
    let r = app.change_password(&old, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    for t in [&old, &other] {
        let r = app
            .send(reqwest::Method::GET, "/v1/me", Some(t), None)
            .await;
        assert_eq!(r.status, 401, "tokens issued before the change are dead");
    }
    let notice = app
        .mails_to(&email, "password_changed")
        .await
        .pop()
        .expect("notice");
    assert_eq!(notice.subject, "Your password was changed");
    assert!(app.audited("gina", "password_changed").await);
    let me = app.access_token("gina", NEW_PASSWORD).await;
    assert_eq!(
        app.send(reqwest::Method::GET, "/v1/me", Some(&me), None)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_recovery_email_needs_a_recent_sign_in() {
    let app = TestApp::spawn().await;
    app.confirmed_user("ines").await;
    // A token stolen a while after its sign-in: alive, but not recent.
    let stolen = app.access_token("ines", PASSWORD).await;
    app.clock.advance(5 * MINUTE + 1);
    assert_eq!(
        app.send(reqwest::Method::GET, "/v1/me", Some(&stolen), None)
            .await
            .status,
        200,
        "the token is still alive"
    );
    let r = put_email(&app, &stolen, "thief@example.net").await;
    assert_eq!(
        (r.status, r.code()),
        (401, "reauthentication_required".into()),
        "{}",
        r.text
    );
    assert!(
        app.mails_to("thief@example.net", "confirm_email")
            .await
            .is_empty(),
        "no code went to the new address"
    );
    assert!(!app
        .audit_types("ines")
        .await
        .iter()
        .any(|t| t == "email_change_requested"));
    // Signed in again, the owner changes it.
    let fresh = app.access_token("ines", PASSWORD).await;
    let r = put_email(&app, &fresh, "ines@example.org").await;
    assert_eq!(r.status, 202, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_recovery_email_confirms_the_new_one_and_tells_the_old() {
    let app = TestApp::spawn().await;
    app.confirmed_user("hank").await;
    let token = app.access_token("hank", PASSWORD).await;
    // The sign-up's confirmation code went out a moment ago, but to the old
    // address: the new one gets its code at once (the spacing is per recipient).
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v1/me/email",
            None,
            Some(json!({"email": "new@example.org"})),
        )
        .await;
    assert_eq!(r.status, 401, "needs an access token");
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v1/me/email",
            Some(&token),
            Some(json!({"email": "new@example.org"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (202, json!({"email_verified": false}))
    );
    // Until confirmed, resets still go to the old address.
    let me = app
        .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
        .await
        .json();
    assert_eq!(me["email"], "hank@example.com");
    let code = app
        .last_code("new@example.org", "confirm_email")
        .await
        .expect("a code to the new address");
    let r = app
        .post(
            "/v1/register/confirm",
            json!({"username": "hank", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me = app
        .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
        .await
        .json();
    assert_eq!(me["email"], "new@example.org");
    assert_eq!(me["email_verified"], true);
    let notice = app
        .mails_to("hank@example.com", "email_changed")
        .await
        .pop()
        .expect("the old address is told");
    assert!(notice.body.contains("n***@example.org"));
    // Resets now go to the new address.
    app.clock.advance(60);
    app.reset_code("hank", "new@example.org").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locale_comes_from_the_body_or_accept_language() {
    let app = TestApp::spawn().await;
    let r = app
        .request(
            app.http
                .post(format!("{}/v1/register", app.url))
                .header("accept-language", "sv-SE, de;q=0.8, en;q=0.5")
                .json(
                    &json!({"username": "ida", "email": "ida@example.com", "password": PASSWORD}),
                ),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        app.mails_to("ida@example.com", "confirm_email").await[0].subject,
        "Bestätigen Sie Ihre Wiederherstellungs-E-Mail"
    );
    app.register("jon", "jon@example.com", PASSWORD).await;
    assert_eq!(
        app.mails_to("jon@example.com", "confirm_email").await[0].subject,
        "Confirm your recovery email"
    );
    let r = app
        .post("/v1/register", json!({"username": "kim", "email": "kim@example.com", "password": PASSWORD, "locale": "sv"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_request".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_carry_who_and_expire_after_ninety_days() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("lea").await;
    let code = app.reset_code("lea", &email).await;
    app.verify("lea", &wrong(&code)).await;
    let events = app
        .running
        .store
        .audit_events(&Username::parse("lea").expect("valid"))
        .await
        .expect("events");
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get(schema::TYPE).map(String::as_str))
        .collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "code_sent",
            "email_confirmed",
            "code_sent",
            "proof_failed"
        ]
    );
    for e in &events {
        assert_eq!(
            e.get(schema::CLIENT_IP).map(String::as_str),
            Some("127.0.0.1")
        );
        // The harness's client sends a User-Agent of its own: each event
        // stores it as sent.
        assert_eq!(
            e.get(schema::USER_AGENT).map(String::as_str),
            Some(sspr_tests::USER_AGENT),
            "{e:?}"
        );
        assert!(e.get(schema::REQUEST_ID).is_some_and(|r| !r.is_empty()));
        let at: i64 = e.get(schema::AT).and_then(|v| v.parse().ok()).unwrap_or(0);
        let exp: i64 = e
            .get(schema::EXPIRES_AT)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert_eq!(exp - at, 90 * DAY);
        assert!(e.get(schema::OUTCOME).is_some());
    }
}

/// The expiry the tests above read (`schema::EXPIRES_AT`) is what the table
/// deletes by: the deployed table's TTL attribute in the template, and the
/// local table's as `ensure_table` makes it. Another name in either, and
/// every item would live for ever while the values the tests check look right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tables_ttl_attribute_is_the_expiry_the_items_carry() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../infra/template.yaml")).expect("template parses");
    let tables: Vec<&serde_yaml::Value> = doc["Resources"]
        .as_mapping()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::DynamoDB::Table")
        .collect();
    assert_eq!(tables.len(), 1, "one table");
    let ttl = &tables[0]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(
        ttl["AttributeName"].as_str(),
        Some(schema::EXPIRES_AT),
        "the template's TTL attribute: {ttl:?}"
    );
    assert_eq!(ttl["Enabled"].as_bool(), Some(true), "{ttl:?}");

    // The local table, as the tests run it.
    let app = TestApp::spawn().await;
    let store = &app.running.store;
    let local = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe the table's TTL");
    let spec = local.time_to_live_description().expect("a TTL description");
    assert_eq!(spec.attribute_name(), Some(schema::EXPIRES_AT), "{spec:?}");
    assert_eq!(
        spec.time_to_live_status(),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled),
        "{spec:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_with_outdated_hash_parameters_rehashes() {
    let app = TestApp::spawn_with(|c| c.hash = sspr_tests::CHEAP_HASH).await;
    app.confirmed_user("max").await;
    let before = app.password_hash("max").await.unwrap_or_default();
    assert!(before.contains("m=1024,t=1,p=1"), "{before}");
    // Today's parameters, over the same table.
    let config = sspr_core::config::Config::default();
    let today = sspr_core::App::new(
        config,
        sspr_core::config::Secrets::throwaway(),
        std::sync::Arc::new(app.running.store.clone()),
        app.running.app.clock.clone(),
        sspr_core::app::Parts::ALL,
    );
    let trips = app.round_trips();
    sspr_core::flows::signin::sign_in(
        &today,
        "max",
        PASSWORD,
        None,
        &Default::default(),
        app.clock_now(),
    )
    .await
    .expect("signs in");
    assert_eq!(
        app.round_trips() - trips,
        2,
        "the read, and one write with the sign-in's audit and the new hash"
    );
    let after = app.password_hash("max").await.unwrap_or_default();
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_needs_more_than_two_round_trips() {
    let app = TestApp::spawn().await;
    let mut seen = Vec::new();
    macro_rules! trips {
        ($name:expr, $call:expr) => {{
            let (before, sent) = (app.round_trips(), app.attempts());
            let r = $call;
            let used = app.round_trips() - before;
            let attempts = app.attempts() - sent;
            seen.push(($name, used, attempts));
            assert!(used <= 2, "{} used {used} round trips", $name);
            // Every route reads or writes: a count of nothing means no counting.
            assert!(
                used >= 1 && attempts >= used,
                "{}: {used} trips, {attempts} attempts",
                $name
            );
            r
        }};
    }
    trips!(
        "register",
        app.register("nina", "nina@example.com", PASSWORD).await
    );
    let code = app
        .last_code("nina@example.com", "confirm_email")
        .await
        .expect("code");
    trips!(
        "confirm",
        app.post(
            "/v1/register/confirm",
            json!({"username": "nina", "code": code})
        )
        .await
    );
    let token = trips!("token", app.sign_in("nina", PASSWORD).await).json()["access_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    trips!(
        "me",
        app.send(reqwest::Method::GET, "/v1/me", Some(&token), None)
            .await
    );
    trips!("codes", app.ask_code("nina", "reset_password").await);
    trips!(
        "codes unknown",
        app.ask_code("nobody", "reset_password").await
    );
    let code = app
        .last_code("nina@example.com", "reset_code")
        .await
        .expect("code");
    trips!("verify wrong", app.verify("nina", &wrong(&code)).await);
    let rt = trips!("verify", app.verify("nina", &code).await).json()["reset_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    trips!("reset weak", app.reset(&rt, "weak").await);
    trips!("reset", app.reset(&rt, NEW_PASSWORD).await);
    let token = app.access_token("nina", NEW_PASSWORD).await;
    trips!("change", app.send(reqwest::Method::POST, "/v1/password/change", Some(&token),
        Some(json!({"current_password": NEW_PASSWORD, "new_password": "brisk pelican umbrella tundra"}))).await);
    let token = app
        .access_token("nina", "brisk pelican umbrella tundra")
        .await;
    app.clock.advance(MINUTE);
    let r = trips!(
        "email",
        app.send(
            reqwest::Method::PUT,
            "/v1/me/email",
            Some(&token),
            Some(json!({"email": "n2@example.com"}))
        )
        .await
    );
    assert_eq!(r.status, 202, "{}", r.text);
    // The recovery methods, a proof by authenticator, a second factor.
    let token = app
        .access_token("nina", "brisk pelican umbrella tundra")
        .await;
    let send = |m: reqwest::Method, path: &'static str, body: Option<Value>| {
        app.send(m, path, Some(&token), body)
    };
    trips!(
        "methods",
        send(reqwest::Method::GET, "/v1/me/methods", None).await
    );
    let r = trips!(
        "method add",
        send(
            reqwest::Method::POST,
            "/v1/me/methods",
            Some(json!({"type": "totp"}))
        )
        .await
    );
    let secret = r.json()["secret"].as_str().unwrap_or("").to_owned();
    let otp = |at: i64| sspr_tests::otp(&secret, at);
    let r = trips!(
        "method confirm",
        send(
            reqwest::Method::POST,
            "/v1/me/methods/totp/confirm",
            Some(json!({"code": otp(app.clock_now())}))
        )
        .await
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = trips!(
        "recovery codes",
        send(
            reqwest::Method::POST,
            "/v1/me/recovery-codes",
            Some(json!({}))
        )
        .await
    );
    let rc = r.json()["codes"][0].as_str().unwrap_or("").to_owned();
    trips!(
        "reconfirm",
        send(
            reqwest::Method::POST,
            "/v1/me/methods/reconfirm",
            Some(json!({}))
        )
        .await
    );
    app.clock.advance(30);
    let r = trips!(
        "verify totp",
        app.post(
            "/v1/password/verify",
            json!({"username": "nina", "method": "totp", "code": otp(app.clock_now())})
        )
        .await
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = trips!(
        "verify recovery",
        app.post(
            "/v1/password/verify",
            json!({"username": "nina", "method": "recovery_code", "code": rc})
        )
        .await
    );
    assert_eq!(r.status, 200, "{}", r.text);
    app.clock.advance(30);
    let r = trips!(
        "token otp",
        app.post("/v1/token", json!({"username": "nina", "password": "brisk pelican umbrella tundra", "otp": otp(app.clock_now())})).await
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json()["access_token"].as_str().unwrap_or("").to_owned();
    let r = trips!(
        "method remove",
        app.send(
            reqwest::Method::DELETE,
            "/v1/me/methods/totp",
            Some(&token),
            None
        )
        .await
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(seen.len(), 21);
    println!("DynamoDB round trips per route, counted on the wire by an SDK interceptor");
    println!("(HTTP attempts in flight together count once):");
    println!(
        "  {:<16} {:>11} {:>13}",
        "route", "round trips", "HTTP requests"
    );
    for (route, trips, attempts) in &seen {
        println!("  {route:<16} {trips:>11} {attempts:>13}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_is_a_503_problem_with_nothing_inside() {
    let mut app = TestApp::spawn().await;
    app.confirmed_user("olga").await;
    app.running.stop_dynamo();
    for r in [
        app.ask_code("olga", "reset_password").await,
        app.sign_in("olga", PASSWORD).await,
        app.verify("olga", "123456").await,
        app.register("pete", "pete@example.com", PASSWORD).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (503, "unavailable".into()),
            "{}",
            r.text
        );
        assert_eq!(r.header("content-type"), "application/problem+json");
        for leak in [
            "dynamo",
            "Dynamo",
            "127.0.0.1",
            "dispatch failure",
            "connect",
        ] {
            assert!(!r.text.contains(leak), "{leak} in {}", r.text);
        }
    }
}

async fn put_email(app: &TestApp, token: &str, email: &str) -> sspr_tests::Answer {
    app.send(
        reqwest::Method::PUT,
        "/v1/me/email",
        Some(token),
        Some(json!({"email": email})),
    )
    .await
}

async fn confirm(app: &TestApp, user: &str, code: &str) -> sspr_tests::Answer {
    app.post(
        "/v1/register/confirm",
        json!({"username": user, "code": code}),
    )
    .await
}

/// A thief with a stolen access token starts moving `user`'s recovery email to
/// their own address and receives its code; returns the code.
async fn thief_starts_an_email_change(app: &TestApp, user: &str) -> String {
    let stolen = app.access_token(user, PASSWORD).await;
    app.clock.advance(MINUTE);
    let r = put_email(app, &stolen, "thief@example.net").await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.last_code("thief@example.net", "confirm_email")
        .await
        .expect("the code went to the thief")
}

/// The account still has its owner's recovery email, confirmed, with no change
/// pending, and a code asked for the dead change goes nowhere.
async fn the_owners_email_stands(app: &TestApp, user: &str, email: &str, password: &str) {
    let token = app.access_token(user, password).await;
    let me = app
        .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
        .await
        .json();
    assert_eq!(
        (&me["email"], &me["email_verified"]),
        (&json!(email), &json!(true))
    );
    let p = profile(app, user).await;
    assert!(
        !p.contains_key(schema::PENDING_EMAIL),
        "no change pending: {p:?}"
    );
    assert!(
        !p.contains_key(&schema::attr(schema::VERIFY, schema::CODE)),
        "no confirmation code lives"
    );
    app.clock.advance(MINUTE);
    let sent = app
        .mails_to("thief@example.net", "confirm_email")
        .await
        .len();
    assert_eq!(app.ask_code(user, "verify_email").await.status, 202);
    assert_eq!(
        app.mails_to("thief@example.net", "confirm_email")
            .await
            .len(),
        sent,
        "no new code for the dead change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_ends_a_pending_email_change() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("ivy").await;
    let code = thief_starts_an_email_change(&app, "ivy").await;
    // The owner notices and resets the password.
    let token = app.reset_token("ivy", &email).await;
    assert_eq!(app.reset(&token, NEW_PASSWORD).await.status, 204);
    let r = confirm(&app, "ivy", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    the_owners_email_stands(&app, "ivy", &email, NEW_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_a_pending_email_change() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("ivy").await;
    let code = thief_starts_an_email_change(&app, "ivy").await;
    let own = app.access_token("ivy", PASSWORD).await;
    let r = app.change_password(&own, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = confirm(&app, "ivy", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    the_owners_email_stands(&app, "ivy", &email, NEW_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_email_change_dies_with_the_sessions_of_the_token_that_asked_for_it() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("ivy").await;
    let code = thief_starts_an_email_change(&app, "ivy").await;
    // An operator ends every session of the account (a new token version)
    // without touching anything else on it.
    app.running
        .store
        .client()
        .update_item()
        .table_name(app.running.store.table())
        .key(schema::PK, Av::S("USER#ivy".into()))
        .key(schema::SK, Av::S("PROFILE".into()))
        .update_expression("SET token_version = token_version + :one")
        .expression_attribute_values(":one", Av::N("1".into()))
        .send()
        .await
        .expect("sessions revoked");
    let r = confirm(&app, "ivy", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    // A code asked again for the dead change does not go out either.
    app.clock.advance(MINUTE);
    assert_eq!(app.ask_code("ivy", "verify_email").await.status, 202);
    assert_eq!(
        app.mails_to("thief@example.net", "confirm_email")
            .await
            .len(),
        1
    );
    let token = app.access_token("ivy", PASSWORD).await;
    let me = app
        .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
        .await
        .json();
    assert_eq!(me["email"], email);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_code_sent_before_a_password_change_is_dead() {
    let app = TestApp::spawn().await;
    let r = app.register("joy", "joy@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let code = app
        .last_code("joy@example.com", "confirm_email")
        .await
        .expect("a code");
    let token = app.access_token("joy", PASSWORD).await;
    let r = app.change_password(&token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = confirm(&app, "joy", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
    // The owner asks for a new one (the one-a-minute spacing still holds) and confirms.
    app.clock.advance(MINUTE);
    assert_eq!(app.ask_code("joy", "verify_email").await.status, 202);
    let code = app
        .last_code("joy@example.com", "confirm_email")
        .await
        .expect("a new code");
    assert_eq!(confirm(&app, "joy", &code).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_code_or_token_from_before_a_password_change_is_dead() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("kim").await;
    let granted = app.reset_token("kim", &email).await;
    app.clock.advance(MINUTE);
    let code = app.reset_code("kim", &email).await;
    let token = app.access_token("kim", PASSWORD).await;
    let r = app.change_password(&token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.reset(&granted, "brisk pelican umbrella tundra").await;
    assert_eq!((r.status, r.code()), (401, "invalid_token".into()));
    let r = app.verify("kim", &code).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code".into()));
}
