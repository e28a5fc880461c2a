//! Handler tests: the functions driven with real API Gateway HTTP API (v2)
//! events, starting from a fixture AWS captured (shipped by the
//! `aws_lambda_events` crate, copied into tests/fixtures).

use serde_json::{json, Value};
use sspr_core::store::schema;
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

/// `POST path` with a JSON body from the client at 203.0.113.7, unauthenticated.
fn client_post(path: &str, body: Value) -> lambda_http::Request {
    event("POST", path, Some(body), "203.0.113.7", None)
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
        client_post(
            "/v1/register",
            json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD}),
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
        client_post(
            "/v1/register/confirm",
            json!({"username": "alice", "code": code}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);

    let r = sspr_dispatch::handle(
        app,
        client_post(
            "/v1/codes",
            json!({"username": "alice", "purpose": "reset_password"}),
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
        client_post(
            "/v1/password/verify",
            json!({"username": "alice", "code": code}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let token = body(&r)["reset_token"].as_str().unwrap_or("").to_owned();
    let r = sspr_password::handle(
        app,
        client_post(
            "/v1/password/reset",
            json!({"reset_token": token, "new_password": "brisk pelican umbrella tundra"}),
        ),
    )
    .await;
    assert_eq!(r.status(), 204);

    let r = sspr_signin::handle(
        app,
        client_post(
            "/v1/token",
            json!({"username": "alice", "password": "brisk pelican umbrella tundra"}),
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
        assert_eq!(
            e.get(schema::CLIENT_IP).map(String::as_str),
            Some("203.0.113.7")
        );
        assert_eq!(
            e.get(schema::REQUEST_ID).map(String::as_str),
            Some("LV7fzho-PHcEJPw=")
        );
        assert_eq!(
            e.get(schema::USER_AGENT).map(String::as_str),
            Some("curl/7.58.0")
        );
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

/// One invocation through the functions' Lambda entry point, as the runtime
/// drives it: the raw event in, the JSON the runtime posts back out.
async fn invoke(app: &sspr_core::App, event: Value) -> Value {
    let entry = sspr_core::http::entry::Entry::new(app.clone(), |app, req| async move {
        sspr_signin::handle(&app, req).await
    });
    drive(entry, event).await
}

/// `event` (raw JSON) through `entry` as the Lambda runtime passes it, and
/// the JSON of what comes back.
async fn drive<T>(mut entry: T, event: Value) -> Value
where
    T: lambda_http::Service<
        lambda_http::lambda_runtime::LambdaEvent<lambda_http::request::LambdaRequest>,
    >,
    T::Response: serde::Serialize,
    T::Error: std::fmt::Debug,
{
    let payload: lambda_http::request::LambdaRequest =
        serde_json::from_str(&event.to_string()).expect("a v2 event");
    let answer = entry
        .call(lambda_http::lambda_runtime::LambdaEvent::new(
            payload,
            Default::default(),
        ))
        .await
        .expect("an answer");
    serde_json::to_value(answer).expect("the answer is JSON")
}

/// Whether lambda_http's own conversion (what `lambda_http::run` does with an
/// event) panics on it.
fn lambda_http_panics_on(event: &Value) -> bool {
    let text = event.to_string();
    std::panic::catch_unwind(move || lambda_http::request::from_str(&text).map(|_| ())).is_err()
}

/// The events that make lambda_http 1.3's request builder panic (request.rs:553
/// and :175), and what the entry point answers instead.
fn hostile_events() -> Vec<(&'static str, Value, u16)> {
    let jwks = || Event::new("GET", "/.well-known/jwks.json").to_value();
    let mut out = Vec::new();
    for host in ["127.0.0.1:99999", "x:y", "a b", "[::1"] {
        let mut e = jwks();
        e["headers"]["host"] = json!(host);
        // Host dropped, then the request context's domain name: served.
        out.push(("a bad Host", e, 200));
    }
    for proto in ["", "a b", "ht tp"] {
        let mut e = jwks();
        e["headers"]["x-forwarded-proto"] = json!(proto);
        out.push(("an odd X-Forwarded-Proto", e, 200));
    }
    let mut e = jwks();
    e["headers"]["host"] = json!("x:y");
    e["requestContext"]["domainName"] = json!("[::1");
    out.push(("a bad Host and domain name", e, 200));
    let mut e = Event::new("OPTIONS", "*").to_value();
    e["headers"]["host"] = json!("127.0.0.1:8080");
    out.push(("OPTIONS * with a port", e, 400));
    let long = format!("/{}", "a".repeat(65_533));
    out.push((
        "a 65,534-byte target",
        Event::new("GET", &long).to_value(),
        414,
    ));
    let mut e = jwks();
    e["rawQueryString"] = json!("a b");
    out.push(("a query that is no URI", e, 400));
    let mut e = Event::post("/v1/token", json!({})).to_value();
    e["isBase64Encoded"] = json!(true);
    e["body"] = json!("not base64!");
    out.push(("a body that is not base64", e, 400));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_events_get_an_answer_from_the_entry_point_not_a_panic() {
    let t = TestApp::spawn().await;
    for (what, event, status) in hostile_events() {
        assert!(
            lambda_http_panics_on(&event),
            "{what}: lambda_http no longer panics here; the upstream bug may be fixed"
        );
        let answer = invoke(&t.running.app, event).await;
        assert_eq!(answer["statusCode"], status, "{what}: {answer}");
        if status >= 400 {
            assert_eq!(
                answer["headers"]["content-type"], "application/problem+json",
                "{what}"
            );
            let body: Value =
                serde_json::from_str(answer["body"].as_str().unwrap_or("")).unwrap_or_default();
            let code = if status == 414 {
                "uri_too_long"
            } else {
                "invalid_request"
            };
            assert_eq!(body["code"], code, "{what}: {answer}");
        }
    }
    // A body over 16 KiB is refused on every route, as the local host does.
    let mut e = Event::new("GET", "/.well-known/jwks.json").to_value();
    e["body"] = json!("x".repeat(sspr_core::http::MAX_BODY + 1));
    let answer = invoke(&t.running.app, e).await;
    assert_eq!(answer["statusCode"], 413, "{answer}");
    // And the app still serves an ordinary event.
    let answer = invoke(
        &t.running.app,
        Event::new("GET", "/.well-known/jwks.json").to_value(),
    )
    .await;
    assert_eq!(answer["statusCode"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_point_answers_head_like_get_without_a_body() {
    let t = TestApp::spawn().await;
    let get = invoke(
        &t.running.app,
        Event::new("GET", "/.well-known/jwks.json").to_value(),
    )
    .await;
    let head = invoke(
        &t.running.app,
        Event::new("HEAD", "/.well-known/jwks.json").to_value(),
    )
    .await;
    assert_eq!(head["statusCode"], 200, "{head}");
    assert!(
        head["body"].is_null() || head["body"] == "",
        "HEAD has no body: {head}"
    );
    let len = get["body"].as_str().map(str::len).unwrap_or(0);
    assert!(len > 0);
    assert_eq!(head["headers"]["content-length"], len.to_string());
    let mut without_length = head["headers"].clone();
    if let Some(h) = without_length.as_object_mut() {
        h.remove("content-length");
    }
    assert_eq!(without_length, get["headers"]);
}

/// One invocation through the entry point of whichever function has the
/// event's path (the pages' or an API function's), as `sspr-local` routes it.
async fn invoke_any(app: &sspr_core::App, pages: &sspr_web::Pages, event: Value) -> Value {
    let entry = sspr_core::http::entry::Entry::new(
        (app.clone(), pages.clone()),
        |(app, pages): (sspr_core::App, sspr_web::Pages), req| async move {
            sspr_local::route(&app, &pages, req).await
        },
    );
    drive(entry, event).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_every_function_and_every_refusal_carries_strict_transport_security() {
    let t = TestApp::spawn().await;
    let app = &t.running.app;
    let pages = sspr_web::Pages::new(&app.config);
    // Every route of every table (the pages' too), with its method, with
    // HEAD where it is a GET, and with a method it does not take.
    let mut paths: Vec<(String, String)> = Vec::new();
    let web = sspr_web::ROUTES.iter().map(|r| (r.method.clone(), r.path));
    let api = sspr_local::FUNCTIONS
        .iter()
        .flat_map(|t| t.iter())
        .map(|r| (r.method.clone(), r.path));
    for (method, path) in web.chain(api) {
        let path = path.replace("{file}", "app.css").replace("{id}", "totp");
        if method == lambda_http::http::Method::GET {
            paths.push(("HEAD".into(), path.clone()));
        }
        paths.push(("PATCH".into(), path.clone()));
        paths.push((method.to_string(), path));
    }
    let mut events: Vec<(String, Value)> = paths
        .into_iter()
        .map(|(m, p)| {
            let e = if m == "POST" || m == "PUT" {
                Event::new(&m, &p).json(json!({}))
            } else {
                Event::new(&m, &p)
            };
            (format!("{m} {p}"), e.to_value())
        })
        .collect();
    events.push((
        "no such route".into(),
        Event::new("GET", "/nowhere").to_value(),
    ));
    // The entry point's own refusals, before any route is looked for.
    for (what, e, _) in hostile_events() {
        events.push((what.into(), e));
    }
    let mut big = Event::new("POST", "/v1/token").to_value();
    big["body"] = json!("x".repeat(sspr_core::http::MAX_BODY + 1));
    events.push(("a body over 16 KiB".into(), big));

    let mut statuses = std::collections::BTreeSet::new();
    for (what, event) in events {
        let answer = invoke_any(app, &pages, event).await;
        let status = answer["statusCode"].as_u64().unwrap_or(0);
        statuses.insert(status);
        assert_eq!(
            answer["headers"]["strict-transport-security"], "max-age=63072000; includeSubDomains",
            "{what}: {status} {}",
            answer["headers"]
        );
    }
    // The answers above are each kind there is: served, refused by a
    // handler, by the route table and by the entry point.
    for want in [200, 204, 400, 401, 404, 405, 413, 414] {
        assert!(statuses.contains(&want), "no {want} among {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_may_be_kept_five_minutes_and_is_asked_again_with_its_etag() {
    let app = TestApp::spawn().await;
    let url = format!("{}/.well-known/jwks.json", app.url);
    let r = app.request(app.http.get(&url)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert_eq!(r.header("cache-control"), "public, max-age=300");
    assert_eq!(r.json()["keys"][0]["kty"], "OKP");
    let etag = r.header("etag");
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    let [again, weak, stale] = app.conditional_gets(&url, &etag).await;
    assert_eq!(again.status, 304, "the verifier's copy is current");
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), etag);
    assert_eq!(again.header("cache-control"), "public, max-age=300");
    assert_eq!(weak.status, 304, "a list, and a weak tag, match too");
    assert_eq!((stale.status, stale.text.as_str()), (200, r.text.as_str()));
    // Another key (another master secret: a rotation) is another tag, so a
    // copy of the old key set is never taken for current.
    let rotated = TestApp::spawn().await;
    let other = rotated
        .request(
            rotated
                .http
                .get(format!("{}/.well-known/jwks.json", rotated.url))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(other.status, 200, "a new key set is sent whole");
    assert_ne!(other.header("etag"), etag);
    assert_ne!(other.json()["keys"][0]["kid"], r.json()["keys"][0]["kid"]);
    // The answers that carry tokens or account data are still never kept.
    let token = app
        .post(
            "/v1/token",
            json!({"username": "nobody", "password": "wrong wrong wrong"}),
        )
        .await;
    assert_eq!(token.header("cache-control"), "no-store");
}
