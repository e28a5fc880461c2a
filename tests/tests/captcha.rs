//! The optional human check on sign-up and code requests, against a stand-in
//! for the provider's `siteverify` endpoint on loopback: the real request
//! (form-encoded secret, token and client IP), the provider's JSON answer,
//! its failures and its silence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sspr_core::captcha::{CaptchaConfig, Provider, SecretString, WhenDown};
use sspr_tests::{TestApp, PASSWORD};

/// How the stand-in provider answers.
#[derive(Clone, Copy)]
enum Mood {
    /// `success: true` for the token `human`, else `false`.
    Judging,
    /// A 500.
    Broken,
    /// No answer for ten seconds, then `success: true`: a check that waited
    /// for it would admit, so only the timeout refuses.
    Silent,
}

struct Stand {
    url: String,
    /// Each request's form body.
    seen: Arc<Mutex<Vec<String>>>,
}

async fn provider(mood: Mood) -> Stand {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let log = log.clone();
        async move {
            if let Ok(mut l) = log.lock() {
                l.push(body.clone());
            }
            match mood {
                Mood::Judging => {
                    let human = body.split('&').any(|kv| kv == "response=human");
                    axum::response::Response::builder()
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(format!(
                            "{{\"success\": {human}, \"error-codes\": []}}"
                        )))
                        .unwrap_or_default()
                }
                Mood::Broken => axum::response::Response::builder()
                    .status(500)
                    .body(axum::body::Body::from("oops"))
                    .unwrap_or_default(),
                Mood::Silent => {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    axum::response::Response::builder()
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(
                            "{\"success\": true, \"error-codes\": []}",
                        ))
                        .unwrap_or_default()
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/siteverify", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Stand { url, seen }
}

fn check(url: &str, when_down: WhenDown) -> CaptchaConfig {
    CaptchaConfig {
        provider: Provider::Turnstile,
        site_key: "site-key-1".into(),
        secret: Some(SecretString::from("the-secret")),
        verify_url: url.to_owned(),
        timeout: Duration::from_millis(300),
        when_down,
    }
}

fn codes(captcha: Option<&str>) -> serde_json::Value {
    let mut b = serde_json::json!({"username": "nora", "purpose": "reset_password"});
    if let Some(t) = captcha {
        b["captcha"] = t.into();
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_sign_up_need_a_solved_check_and_the_provider_hears_secret_token_and_ip() {
    let p = provider(Mood::Judging).await;
    let url = p.url.clone();
    let app = TestApp::spawn_with(move |c| c.captcha = Some(check(&url, WhenDown::Refuse))).await;
    for (token, status) in [(None, 400), (Some("bot"), 400), (Some("human"), 202)] {
        let r = app.post("/v1/codes", codes(token)).await;
        assert_eq!(r.status, status, "{token:?}: {}", r.text);
        if status == 400 {
            assert_eq!(r.code(), "captcha_failed");
        }
    }
    let sign_up = |token: &str| serde_json::json!({"username": "nora", "email": "nora@example.com", "password": PASSWORD, "captcha": token});
    let r = app.post("/v1/register", sign_up("bot")).await;
    assert_eq!((r.status, r.code()), (400, "captcha_failed".into()));
    assert_eq!(app.post("/v1/register", sign_up("human")).await.status, 201);
    // A refused check happens before anything else: no account, no mail.
    assert!(
        app.mails_to("nora@example.com", "confirm_email")
            .await
            .len()
            == 1
    );
    let seen = p.seen.lock().map(|s| s.clone()).unwrap_or_default();
    // The request with no token never reached the provider.
    assert_eq!(seen.len(), 4, "{seen:?}");
    for body in &seen {
        assert!(body.contains("secret=the-secret"), "{body}");
        assert!(body.contains("remoteip=127.0.0.1"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_or_is_silent_refuses_by_default_and_admits_when_told() {
    for mood in [Mood::Broken, Mood::Silent] {
        let p = provider(mood).await;
        let url = p.url.clone();
        let refuse =
            TestApp::spawn_with(move |c| c.captcha = Some(check(&url, WhenDown::Refuse))).await;
        // The silent provider would say "human" after ten seconds: refused,
        // the check gave up at its timeout instead of waiting for it.
        let r = refuse.post("/v1/codes", codes(Some("human"))).await;
        assert_eq!((r.status, r.code()), (503, "captcha_unavailable".into()));
        let asked = p.seen.lock().map(|s| s.len()).expect("the log");
        assert_eq!(asked, 1, "the provider was asked, once");
        let url = p.url.clone();
        let admit =
            TestApp::spawn_with(move |c| c.captcha = Some(check(&url, WhenDown::Admit))).await;
        assert_eq!(
            admit.post("/v1/codes", codes(Some("human"))).await.status,
            202
        );
        // Admitting still needs a token to try with.
        assert_eq!(admit.post("/v1/codes", codes(None)).await.status, 400);
    }
    // A function given no secret cannot ask: it refuses, as if the provider were down.
    let p = provider(Mood::Judging).await;
    let url = p.url.clone();
    let keyless = TestApp::spawn_with(move |c| {
        c.captcha = Some(CaptchaConfig {
            secret: None,
            ..check(&url, WhenDown::Refuse)
        })
    })
    .await;
    let r = keyless.post("/v1/codes", codes(Some("human"))).await;
    assert_eq!((r.status, r.code()), (503, "captcha_unavailable".into()));
    assert!(
        p.seen.lock().map(|s| s.is_empty()).unwrap_or(false),
        "never asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_check_on_the_pages_show_its_widget_and_let_in_its_origin_only() {
    let p = provider(Mood::Judging).await;
    let url = p.url.clone();
    let app = TestApp::spawn_with(move |c| c.captcha = Some(check(&url, WhenDown::Refuse))).await;
    for (path, widget) in [
        ("/reset", true),
        ("/register", true),
        ("/account", false),
        ("/", false),
    ] {
        let r = app
            .request(app.http.get(format!("{}{path}", app.url)))
            .await;
        let csp = r.header("content-security-policy");
        assert!(
            csp.contains("frame-src https://challenges.cloudflare.com"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = r.text;
        assert_eq!(
            html.contains("class=\"cf-turnstile\" data-sitekey=\"site-key-1\""),
            widget,
            "{path}"
        );
        assert_eq!(
            html.contains("<script src=\"https://challenges.cloudflare.com/turnstile/v0/api.js\""),
            widget,
            "{path}"
        );
        assert!(
            !html.contains("the-secret"),
            "{path}: the secret stays on the server"
        );
    }
}

/// The check on, its secret not yet read: what register and dispatch start
/// with on Lambda.
fn deployed(url: &str, arn: Option<String>) -> sspr_core::config::Config {
    sspr_core::config::Config {
        captcha: Some(CaptchaConfig {
            secret: None,
            ..check(url, WhenDown::Refuse)
        }),
        captcha_secret_arn: arn,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_function_reads_the_check_s_secret_from_secrets_manager_and_the_provider_hears_it(
) {
    let moto = sspr_tests::moto::Moto::start().await;
    let sdk = moto.sdk().await;
    let arn = moto
        .create_secret("sspr-captcha", "secret-from-the-store")
        .await;
    let p = provider(Mood::Judging).await;
    let mut config = deployed(&p.url, Some(arn.clone()));
    sspr_core::app::load_captcha_secret(&sdk, &mut config)
        .await
        .expect("read at the start");
    let read = config.captcha.expect("on");
    let app = TestApp::spawn_with(move |c| c.captcha = Some(read)).await;
    assert_eq!(
        app.post("/v1/codes", codes(Some("human"))).await.status,
        202
    );
    let seen = p.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains("secret=secret-from-the-store"),
        "{}",
        seen[0]
    );

    // A secret that is not there stops the start: no function runs with a
    // check it cannot make.
    let mut gone = deployed(&p.url, Some(format!("{arn}-gone")));
    assert!(sspr_core::app::load_captcha_secret(&sdk, &mut gone)
        .await
        .is_err());
    // Nothing is asked of Secrets Manager (here an address that answers
    // nothing) when the check is off, or by a function given no ARN (every
    // one but register and dispatch).
    let nowhere = sspr_core::aws::local("http://127.0.0.1:9", sspr_tests::moto::REGION).build();
    let mut off = sspr_core::config::Config {
        captcha_secret_arn: Some(arn),
        ..Default::default()
    };
    assert!(sspr_core::app::load_captcha_secret(&nowhere, &mut off)
        .await
        .is_ok());
    let mut others = deployed(&p.url, None);
    assert!(sspr_core::app::load_captcha_secret(&nowhere, &mut others)
        .await
        .is_ok());
    assert!(others.captcha.is_some_and(|c| c.secret.is_none()));
}
