//! The whole journey of API.md, as a client walks it, reading codes from the outbox.

use serde_json::json;
use sspr_tests::{TestApp, NEW_PASSWORD, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_reset_journey_works_end_to_end() {
    let app = TestApp::spawn().await;

    // Register in German: 201, and the confirmation code is mailed in German.
    let r = app
        .post(
            "/v1/register",
            json!({"username": "Alice", "email": "alice@example.com", "password": PASSWORD, "locale": "de"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let body = r.json();
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email_verified"], false);
    assert!(!body["user_id"].as_str().unwrap_or("").is_empty());
    let mails = app.mails_to("alice@example.com", "confirm_email").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject,
        "Bestätigen Sie Ihre Wiederherstellungs-E-Mail"
    );
    assert!(mails[0].body.starts_with("Guten Tag"));
    let code = mails[0].code().expect("a code on a line of its own");
    assert_eq!(code.len(), 6);

    // Confirm the email.
    let r = app
        .post(
            "/v1/register/confirm",
            json!({"username": "alice", "code": code}),
        )
        .await;
    assert_eq!((r.status, r.json()), (200, json!({"email_verified": true})));

    // Sign in; the profile is there.
    let old_token = app.access_token("alice", PASSWORD).await;
    let r = app
        .send(reqwest::Method::GET, "/v1/me", Some(&old_token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me = r.json();
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["locale"], "de");
    for field in ["user_id", "username", "created_at", "password_changed_at"] {
        assert!(me[field].is_string(), "{field} in {me}");
    }

    // Ask for a reset code; it comes in German.
    let r = app.ask_code("alice", "reset_password").await;
    assert_eq!(
        (r.status, r.json()),
        (202, json!({"status": "accepted", "expires_in": 600}))
    );
    let mail = app
        .mails_to("alice@example.com", "reset_code")
        .await
        .pop()
        .expect("a reset mail");
    assert_eq!(mail.subject, "Ihr Code zum Zurücksetzen des Passworts");
    let code = mail.code().expect("a code");

    // Prove it for a reset token.
    let r = app.verify("alice", &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["expires_in"], 900);
    assert_eq!(r.header("cache-control"), "no-store");
    let reset_token = r.json()["reset_token"].as_str().unwrap_or("").to_owned();

    // A weak password is refused with reasons, and the token stays usable.
    let r = app.reset(&reset_token, "password1").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "weak_password");
    let reasons = r.json()["reasons"].clone();
    assert!(
        reasons
            .as_array()
            .is_some_and(|a| a.contains(&json!("too_short")) && a.contains(&json!("common"))),
        "{reasons}"
    );

    // The reset works once.
    let r = app.reset(&reset_token, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "no token, no automatic sign-in");
    let r = app
        .reset(&reset_token, "another unguessable phrase 81")
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token".into()));

    // The old password fails, the new one works.
    let r = app.sign_in("alice", PASSWORD).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials".into()));
    let new_token = app.access_token("alice", NEW_PASSWORD).await;

    // The access token from before the reset is dead; the new one lives.
    let r = app
        .send(reqwest::Method::GET, "/v1/me", Some(&old_token), None)
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token".into()));
    let r = app
        .send(reqwest::Method::GET, "/v1/me", Some(&new_token), None)
        .await;
    assert_eq!(r.status, 200);

    // The user was told, in German, with the help desk link.
    let notice = app
        .mails_to("alice@example.com", "password_changed")
        .await
        .pop()
        .expect("a notice");
    assert_eq!(notice.subject, "Ihr Passwort wurde geändert");
    assert!(notice.body.contains("https://help.example.com/"));
    assert!(notice.code().is_none());

    // Everything left a trail.
    let events = app.audit_types("alice").await;
    for kind in [
        "registered",
        "code_sent",
        "email_confirmed",
        "code_verified",
        "password_reset",
    ] {
        assert!(
            events.iter().any(|e| e == kind),
            "{kind} missing from {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_registered_in_french_gets_the_reset_code_mail_in_french() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/register",
            json!({"username": "amelie", "email": "amelie@example.com", "password": PASSWORD, "locale": "fr"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let confirm = app
        .mails_to("amelie@example.com", "confirm_email")
        .await
        .pop()
        .expect("a confirmation mail");
    assert_eq!(
        confirm.subject,
        "Confirmez votre adresse e-mail de récupération"
    );
    let code = confirm.code().expect("a code on a line of its own");
    let r = app
        .post(
            "/v1/register/confirm",
            json!({"username": "amelie", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = app.access_token("amelie", PASSWORD).await;
    let me = app
        .send(reqwest::Method::GET, "/v1/me", Some(&token), None)
        .await;
    assert_eq!(me.json()["locale"], "fr");

    // The reset code comes in French, in both parts, and it works.
    let code = app.reset_code("amelie", "amelie@example.com").await;
    let mail = app
        .mails_to("amelie@example.com", "reset_code")
        .await
        .pop()
        .expect("a reset mail");
    assert_eq!(
        mail.subject,
        "Votre code de réinitialisation du mot de passe"
    );
    assert!(mail.body.starts_with("Bonjour,"), "{}", mail.body);
    for french in [
        "Utilisez ce code pour réinitialiser votre mot de passe :",
        "Il est valable 10 minutes et ne fonctionne qu'une fois.",
        "votre mot de passe reste inchangé.",
        "L'équipe de gestion des comptes",
    ] {
        assert!(mail.body.contains(french), "{french}: {}", mail.body);
    }
    let html = mail.html.clone().unwrap_or_default();
    assert!(html.contains("lang=\"fr\""), "{html}");
    assert!(html.contains("réinitialiser votre mot de passe"), "{html}");
    let r = app.verify("amelie", &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_document_verifies_access_tokens() {
    let app = TestApp::spawn().await;
    app.confirmed_user("bob").await;
    let token = app.access_token("bob", PASSWORD).await;
    let r = app
        .send(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(r.status, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&r.text).expect("a JWKS document");
    let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).expect("a usable key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["sspr-access"]);
    v.set_issuer(&["sspr"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v).expect("verifies");
    assert_eq!(data.claims["sub"], "bob");
    assert_eq!(
        data.claims["exp"].as_i64().unwrap_or(0) - data.claims["iat"].as_i64().unwrap_or(0),
        900
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_walker_passes_against_the_local_host() {
    let app = TestApp::spawn().await;
    let mut walk = sspr_tests::walk::Walk::new(
        &app.url,
        sspr_tests::walk::Mailbox::Outbox(app.outbox.clone()),
        sspr_tests::walk::Routing::Api,
    );
    walk.run().await.expect("the journey");
    assert_eq!(walk.steps().len(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_walker_walks_a_two_gate_reset() {
    let app = TestApp::spawn_with(|c| c.reset_gates = 2).await;
    let mut walk = sspr_tests::walk::Walk::new(
        &app.url,
        sspr_tests::walk::Mailbox::Outbox(app.outbox.clone()),
        sspr_tests::walk::Routing::Api,
    );
    walk.run().await.expect("the journey through two gates");
    assert_eq!(
        walk.steps().len(),
        23,
        "the second gate by SMS: {:?}",
        walk.steps()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_host_keeps_its_data_in_a_file_across_restarts() {
    let dir = std::env::temp_dir().join(format!("sspr-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("sspr.db");
    let start = || {
        sspr_tests::host_on_file(
            &dir,
            &data,
            std::sync::Arc::new(sspr_core::ports::SystemClock),
        )
    };
    let http = reqwest::Client::new();
    let first_dynamo = {
        let first = sspr_local::start(start()).await.expect("starts");
        let r = http
            .post(format!("{}/v1/register", first.url))
            .json(&json!({"username": "persisted", "email": "p@example.com", "password": PASSWORD}))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), 201);
        first.courier_endpoint.clone()
    };
    // The first host is dropped: wait until its dynoxide has stopped (its
    // port refuses), so the file is closed before the second opens it.
    let addr = first_dynamo
        .strip_prefix("http://")
        .expect("a loopback endpoint")
        .to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first host's dynoxide at {addr} still answers 30 s after it was dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = sspr_local::start(start())
        .await
        .expect("starts again on the same file");
    let r = http
        .post(format!("{}/v1/token", second.url))
        .json(&json!({"username": "persisted", "password": PASSWORD}))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 200, "the account survived the restart");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
