//! Handler tests: the functions driven with real API Gateway HTTP API (v2)
//! events, starting from a fixture AWS captured (shipped by the
//! `aws_lambda_events` crate, copied into tests/fixtures).

use serde_json::{json, Value};
use sspr_tests::events::Event;
use sspr_tests::{TestApp, PASSWORD};

/// `method path` with a JSON body from `ip`, and a forwarded-for header a client controls.
fn event(
    method: &str,
    path: &str,
    body: Option<Value>,
    ip: &str,
    bearer: Option<&str>,
) -> lambda_http::Request {
    let mut e = Event::new(method, path)
        .from_ip(ip)
        .header("x-forwarded-for", "6.6.6.6");
    if let Some(b) = body {
        e = e.json(b);
    }
    if let Some(t) = bearer {
        e = e.bearer(t);
    }
    e.request()
}

fn body(resp: &lambda_http::Response<lambda_http::Body>) -> Value {
    let bytes: &[u8] = resp.body().as_ref();
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_serves_its_routes_from_api_gateway_events() {
    let t = TestApp::spawn().await;
    let app = &t.running.app;

    let r = sspr_register::handle(
        app,
        event(
            "POST",
            "/v1/register",
            Some(json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD})),
            "203.0.113.7",
            None,
        ),
    )
    .await;
    assert_eq!(r.status(), 201, "{:?}", body(&r));
    let code = t
        .last_code("alice@example.com", "confirm_email")
        .await
        .expect("code");
    let r = sspr_register::handle(
        app,
        event(
            "POST",
            "/v1/register/confirm",
            Some(json!({"username": "alice", "code": code})),
            "203.0.113.7",
            None,
        ),
    )
    .await;
    assert_eq!(r.status(), 200);

    let r = sspr_dispatch::handle(
        app,
        event(
            "POST",
            "/v1/codes",
            Some(json!({"username": "alice", "purpose": "reset_password"})),
            "203.0.113.7",
            None,
        ),
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), body(&r)),
        (202, json!({"status": "accepted", "expires_in": 600}))
    );
    let code = t
        .last_code("alice@example.com", "reset_code")
        .await
        .expect("code");

    let r = sspr_password::handle(
        app,
        event(
            "POST",
            "/v1/password/verify",
            Some(json!({"username": "alice", "code": code})),
            "203.0.113.7",
            None,
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let token = body(&r)["reset_token"].as_str().unwrap_or("").to_owned();
    let r = sspr_password::handle(
        app,
        event(
            "POST",
            "/v1/password/reset",
            Some(json!({"reset_token": token, "new_password": "brisk pelican umbrella tundra"})),
            "203.0.113.7",
            None,
        ),
    )
    .await;
    assert_eq!(r.status(), 204);

    let r = sspr_signin::handle(
        app,
        event(
            "POST",
            "/v1/token",
            Some(json!({"username": "alice", "password": "brisk pelican umbrella tundra"})),
            "203.0.113.7",
            None,
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let access = body(&r)["access_token"].as_str().unwrap_or("").to_owned();
    let r = sspr_register::handle(
        app,
        event("GET", "/v1/me", None, "203.0.113.7", Some(&access)),
    )
    .await;
    assert_eq!(body(&r)["username"], "alice");
    let r = sspr_signin::handle(
        app,
        event("GET", "/.well-known/jwks.json", None, "203.0.113.7", None),
    )
    .await;
    assert_eq!(body(&r)["keys"][0]["kty"], "OKP");

    // Each function knows only its own routes.
    let r = sspr_signin::handle(
        app,
        event("POST", "/v1/codes", Some(json!({})), "203.0.113.7", None),
    )
    .await;
    assert_eq!(r.status(), 404);

    // The audit trail holds API Gateway's source IP, never the forgeable header.
    let events = t
        .running
        .store
        .audit_events(&sspr_core::domain::Username::parse("alice").expect("valid"))
        .await
        .expect("events");
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e.get("client_ip").map(String::as_str), Some("203.0.113.7"));
        assert_eq!(
            e.get("request_id").map(String::as_str),
            Some("LV7fzho-PHcEJPw=")
        );
        assert_eq!(e.get("user_agent").map(String::as_str), Some("curl/7.58.0"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_urls_of_cargo_lambda_watch_route_too() {
    let t = TestApp::spawn().await;
    let r = sspr_signin::handle(
        &t.running.app,
        event(
            "GET",
            "/lambda-url/sspr-signin/.well-known/jwks.json",
            None,
            "127.0.0.1",
            None,
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base64_event_body_is_decoded() {
    let t = TestApp::spawn().await;
    let req = Event::new("POST", "/v1/codes")
        .base64_body(r#"{"username":"zed","purpose":"reset_password"}"#)
        .request();
    let r = sspr_dispatch::handle(&t.running.app, req).await;
    assert_eq!(r.status(), 202);
}
