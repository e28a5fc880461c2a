//! Bad input never gets a 5xx: each gets the 4xx problem API.md names.

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;
use sspr_core::limits::RouteKey;
use sspr_tests::{Answer, TestApp, PASSWORD};

fn expect(r: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{what}: {}",
        r.text
    );
    assert_eq!(
        r.header("content-type"),
        "application/problem+json",
        "{what}"
    );
    let body = r.json();
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(
            !body[field].is_null(),
            "{what}: {field} missing from {body}"
        );
    }
    assert_eq!(body["status"], status);
}

const JSON: Option<&str> = Some("application/json");

/// Routes that read a JSON body, walked in this order by both body tests;
/// each test adds its own routes after these.
const JSON_BODY_ROUTES: [&str; 7] = [
    "/v1/register",
    "/v1/register/confirm",
    "/v1/codes",
    "/v1/password/verify",
    "/v1/password/reset",
    "/v1/password/change",
    "/v1/token",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_the_named_problems() {
    let app = TestApp::spawn().await;
    for path in JSON_BODY_ROUTES
        .into_iter()
        .chain(["/v1/me/methods/totp/confirm"])
    {
        let r = app
            .raw(Method::POST, path, JSON, b"{\"username\": ".to_vec())
            .await;
        expect(
            &r,
            400,
            "invalid_request",
            &format!("{path} malformed JSON"),
        );
        let r = app
            .raw(Method::POST, path, JSON, b"[1, 2, 3]".to_vec())
            .await;
        expect(&r, 400, "invalid_request", &format!("{path} array"));
        let r = app.raw(Method::POST, path, JSON, b"".to_vec()).await;
        expect(&r, 400, "invalid_request", &format!("{path} empty"));
        let r = app.raw(Method::POST, path, JSON, b"null".to_vec()).await;
        expect(&r, 400, "invalid_request", &format!("{path} null"));
        let r = app
            .raw(Method::POST, path, Some("text/plain"), b"{}".to_vec())
            .await;
        expect(
            &r,
            415,
            "unsupported_media_type",
            &format!("{path} text/plain"),
        );
        let r = app.raw(Method::POST, path, None, b"{}".to_vec()).await;
        expect(
            &r,
            415,
            "unsupported_media_type",
            &format!("{path} no content type"),
        );
        let big = format!("{{\"username\": \"{}\"}}", "a".repeat(40_000));
        let r = app.raw(Method::POST, path, JSON, big.into_bytes()).await;
        expect(&r, 413, "payload_too_large", &format!("{path} 40 KB"));
        let r = app
            .raw(Method::POST, path, JSON, vec![0xff, 0xfe, 0x00, 0x7b])
            .await;
        expect(&r, 400, "invalid_request", &format!("{path} not UTF-8"));
        let r = app.raw(Method::GET, path, None, Vec::new()).await;
        expect(&r, 405, "method_not_allowed", &format!("{path} GET"));
    }
    let r = app.raw(Method::GET, "/v1/nothing", None, Vec::new()).await;
    expect(&r, 404, "not_found", "unknown route");
    let r = app.raw(Method::POST, "/v1/me", JSON, b"{}".to_vec()).await;
    expect(&r, 405, "method_not_allowed", "POST /v1/me");
    assert_eq!(r.header("allow"), "GET, HEAD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_wrong_types_name_the_field() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/codes",
            json!({"username": "alice", "purpose": "reset_password", "admin": true}),
        )
        .await;
    expect(&r, 400, "invalid_request", "unknown field");
    assert!(
        r.json()["detail"].as_str().unwrap_or("").contains("admin"),
        "{}",
        r.text
    );
    let r = app.post("/v1/codes", json!({"username": "alice"})).await;
    expect(&r, 400, "invalid_request", "missing field");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("purpose"),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/v1/codes",
            json!({"username": 42, "purpose": "reset_password"}),
        )
        .await;
    expect(&r, 400, "invalid_request", "wrong type");
    let r = app
        .post(
            "/v1/codes",
            json!({"username": "alice", "purpose": "launch_missiles"}),
        )
        .await;
    expect(&r, 400, "invalid_request", "unknown purpose");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("purpose"),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_field_values_are_refused_with_reasons() {
    let app = TestApp::spawn().await;
    let reg = |u: &str, e: &str, p: &str| json!({"username": u, "email": e, "password": p});
    let cases = [
        (
            reg("al\u{0}ice", "a@example.com", PASSWORD),
            "invalid_username",
        ),
        (
            reg("al\u{7}ice", "a@example.com", PASSWORD),
            "invalid_username",
        ),
        (reg("ab", "a@example.com", PASSWORD), "invalid_username"),
        (
            reg(&"x".repeat(65), "a@example.com", PASSWORD),
            "invalid_username",
        ),
        (reg("alice", "not-an-email", PASSWORD), "invalid_email"),
        (reg("alice", "a@b", PASSWORD), "invalid_email"),
        (
            reg("alice", "a\u{0}@example.com", PASSWORD),
            "invalid_email",
        ),
        (
            reg("alice", "a@example.com", &"p".repeat(5000)),
            "weak_password",
        ),
        (
            reg("alice", "a@example.com", "Zebra\u{0}Quartz-71-Plum"),
            "weak_password",
        ),
    ];
    for (body, code) in cases {
        let r = app.post("/v1/register", body.clone()).await;
        expect(&r, 400, code, &body.to_string());
    }
    let r = app
        .post(
            "/v1/register",
            reg("alice", "a@example.com", &"p".repeat(5000)),
        )
        .await;
    assert_eq!(r.json()["reasons"], json!(["too_long"]));
    // Codes and usernames that cannot exist are the one invalid_code.
    for (u, c) in [
        ("alice", "12345"),
        ("alice", "abcdef"),
        ("alice", "1234567"),
        ("a\u{0}", "123456"),
        ("alice", "١٢٣٤٥٦"),
    ] {
        let r = app
            .post("/v1/password/verify", json!({"username": u, "code": c}))
            .await;
        expect(&r, 400, "invalid_code", c);
        let r = app
            .post("/v1/register/confirm", json!({"username": u, "code": c}))
            .await;
        expect(&r, 400, "invalid_code", c);
    }
    // A 5000-character password at sign-in is simply wrong.
    let r = app.sign_in("alice", &"p".repeat(5000)).await;
    expect(&r, 401, "invalid_credentials", "long password");
}

/// Addresses that cannot be delivered as written: non-ASCII local parts, invisible
/// and direction-changing characters anywhere, encoded-word look-alikes, and
/// internationalised domains not in their `xn--` form.
const UNDELIVERABLE: [&str; 12] = [
    "jörg@example.com",
    "алиса@example.com",
    "a\u{200B}b@example.com",
    "alice\u{200D}@example.com",
    "\u{202E}alice@example.com",
    "alice@exa\u{202E}mple.com",
    "alice@example.com\u{FEFF}",
    "al\u{00AD}ice@example.com",
    "alice@exam\u{2060}ple.com",
    "=?UTF-8?B?am9yZw==?=@example.com",
    "=?utf-8?q?j=C3=B6rg?=@example.com",
    "alice@bücher.de",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_that_cannot_be_delivered_as_written_are_refused() {
    let app = TestApp::spawn_with(|c| {
        c.client_limits.0.remove(&RouteKey::Register);
    })
    .await;
    for (i, addr) in UNDELIVERABLE.iter().enumerate() {
        let user = format!("undeliverable{i}");
        let r = app.register(&user, addr, PASSWORD).await;
        expect(&r, 400, "invalid_email", addr);
        assert_eq!(
            r.json()["detail"].as_str().map(|d| d.starts_with("email")),
            Some(true),
            "{addr:?}: {}",
            r.text
        );
        // Nothing was created: the name is still free.
        let r = app.register(&user, "ok@example.com", PASSWORD).await;
        assert_eq!(r.status, 201, "{addr:?}: {}", r.text);
    }
    // The A-label form of an internationalised domain is an address.
    let r = app.register("idn", "jorg@xn--bcher-kva.de", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.confirmed_user("changer").await;
    let token = app
        .post(
            "/v1/token",
            json!({"username": "changer", "password": PASSWORD}),
        )
        .await
        .json()["access_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    app.clock.advance(60);
    for addr in UNDELIVERABLE {
        let r = app
            .send(
                Method::PUT,
                "/v1/me/email",
                Some(&token),
                Some(json!({"email": addr})),
            )
            .await;
        expect(&r, 400, "invalid_email", addr);
    }
    // No mail went anywhere but to the plain addresses.
    for m in app.mails().await {
        assert!(m.to.is_ascii() && !m.raw.contains("To: =?"), "{}", m.to);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_address_that_cannot_be_delivered_gets_no_mail_and_its_code_is_revoked() {
    let app = TestApp::spawn().await;
    app.confirmed_user("legacy").await;
    // An account stored before addresses were checked as they are now.
    app.running
        .store
        .client()
        .update_item()
        .table_name(app.running.store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("USER#legacy".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .update_expression("SET email = :e")
        .expression_attribute_values(
            ":e",
            aws_sdk_dynamodb::types::AttributeValue::S("jörg@example.com".into()),
        )
        .send()
        .await
        .expect("stored");
    let before = app.mails().await.len();
    let r = app.ask_code("legacy", "reset_password").await;
    assert_eq!(r.status, 202, "the one answer, as always");
    assert_eq!(
        app.mails().await.len(),
        before,
        "nothing was written with that address"
    );
    let events = app.audit_types("legacy").await;
    assert_eq!(
        events
            .iter()
            .rev()
            .take(2)
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["code_undelivered", "code_sent"],
        "the code was revoked"
    );
}

fn forge(header: serde_json::Value, claims: serde_json::Value, sig: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string()),
        b64.encode(sig)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_forged_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("alice").await;
    let access = app.access_token("alice", PASSWORD).await;
    let reset = app.reset_token("alice", &email).await;
    let now = app.clock_now();
    // Every forgery is built from parts that are checked here, so a step
    // that broke stops the test instead of becoming a refusal that passes.
    let r = app.send(Method::GET, "/v1/me", Some(&access), None).await;
    assert_eq!(r.status, 200, "the genuine access token works: {}", r.text);
    let jwks = app.running.app.keys.jwks();
    let kid = jwks["keys"][0]["kid"]
        .as_str()
        .filter(|k| !k.is_empty())
        .expect("the JWKS names its key")
        .to_owned();
    let parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form: {access}");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[0]).expect("the header is base64url"))
            .expect("the header is JSON");
    assert_eq!(header["kid"], kid.as_str(), "{header}");
    assert_eq!(header["alg"], "EdDSA", "{header}");
    let genuine: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[1]).expect("the claims are base64url"))
            .expect("the claims are JSON");
    let ver = genuine["ver"].as_u64().expect("the token's version");
    let claims = |aud: &str, exp: i64| json!({"iss": "sspr", "sub": "alice", "aud": aud, "iat": now, "nbf": now, "exp": exp, "jti": "x", "ver": ver, "auth_time": now});

    // HS256 signed with the public key (the classic key-confusion forgery).
    let x = jwks["keys"][0]["x"]
        .as_str()
        .filter(|x| !x.is_empty())
        .expect("the JWKS gives the public key")
        .to_owned();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims("sspr-access", now + 900),
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .expect("an HS256 token");
    // A token of another Ed25519 key, with that key's own kid.
    let other = sspr_core::token::Keys::new(sspr_core::config::Secrets::throwaway().ring(), "sspr");
    assert_ne!(other.jwks()["keys"][0]["kid"], kid.as_str(), "another key");
    let foreign = other
        .issue_access("alice", 0, now, 900)
        .expect("another key's token");
    // The genuine header and claims, signed by another Ed25519 key: our kid,
    // the wrong signature and nothing else.
    let under_our_kid = {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let input = format!("{}.{}", parts[0], parts[1]);
        format!(
            "{input}.{}",
            b64.encode(key.sign(input.as_bytes()).to_bytes())
        )
    };
    assert_ne!(under_our_kid, access);
    let sig_of_real = parts[2].clone();
    assert!(!sig_of_real.is_empty(), "the genuine signature");
    let tampered = {
        let mut parts = parts.clone();
        parts[1] = b64.encode(claims("sspr-access", now + 99_999).to_string());
        parts.join(".")
    };
    assert_ne!(tampered, access);
    let bad_access = [
        ("empty", String::new()),
        ("garbage", "not a token".into()),
        ("three dots", "a.b.c".into()),
        (
            "alg none",
            forge(
                json!({"alg": "none", "typ": "JWT"}),
                claims("sspr-access", now + 900),
                b"",
            ),
        ),
        (
            "alg none with kid",
            forge(
                json!({"alg": "none", "kid": kid}),
                claims("sspr-access", now + 900),
                b"",
            ),
        ),
        ("hs256 with public key", hs),
        ("foreign key", foreign),
        ("another key under our kid", under_our_kid),
        ("tampered claims", tampered),
        ("reset token as access", reset.clone()),
        ("signature only", sig_of_real),
    ];
    for (what, t) in &bad_access {
        let r = app.send(Method::GET, "/v1/me", Some(t), None).await;
        expect(&r, 401, "invalid_token", what);
    }
    let r = app.send(Method::GET, "/v1/me", None, None).await;
    expect(&r, 401, "invalid_token", "no token");
    let r = app
        .request(
            app.http
                .get(format!("{}/v1/me", app.url))
                .header("authorization", format!("Basic {access}")),
        )
        .await;
    assert_eq!(r.status, 401, "only Bearer");

    let bad_reset = [
        ("access token as reset", access.clone()),
        (
            "alg none",
            forge(json!({"alg": "none"}), claims("sspr-reset", now + 900), b""),
        ),
        ("garbage", "x".repeat(10_000)),
    ];
    for (what, t) in &bad_reset {
        let r = app.reset(t, "brisk pelican umbrella tundra").await;
        expect(&r, 401, "invalid_token", what);
    }
    // Expired and wrong-audience tokens signed with the real key.
    let keys = &app.running.app.keys;
    // The control: the same issuing, at now, is accepted; only the times differ.
    let current = keys
        .issue_access("alice", ver, now, 900)
        .expect("a current token");
    let r = app.send(Method::GET, "/v1/me", Some(&current), None).await;
    assert_eq!(r.status, 200, "a current token of the real key: {}", r.text);
    let expired = keys
        .issue_access("alice", ver, now - 2000, 900)
        .expect("an expired token");
    let r = app.send(Method::GET, "/v1/me", Some(&expired), None).await;
    expect(&r, 401, "invalid_token", "expired");
    let future = keys
        .issue_access("alice", ver, now + 3600, 900)
        .expect("a future token");
    let r = app.send(Method::GET, "/v1/me", Some(&future), None).await;
    expect(&r, 401, "invalid_token", "not yet valid");
    // The real reset token still works after all that.
    assert_eq!(
        app.reset(&reset, "brisk pelican umbrella tundra")
            .await
            .status,
        204
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrage_of_odd_requests_never_gets_a_5xx() {
    let app = TestApp::spawn().await;
    let bodies: Vec<Vec<u8>> = vec![
        b"{}".to_vec(),
        b"{\"username\": null}".to_vec(),
        b"{\"username\": {\"$ne\": 1}}".to_vec(),
        b"{\"username\": \"alice\", \"username\": \"bob\"}".to_vec(),
        b"{\"username\": \"\\ud800\"}".to_vec(),
        b"\"just a string\"".to_vec(),
        b"1e999999".to_vec(),
        "{\"username\": \"ａｌｉｃｅ\", \"password\": \"x\", \"purpose\": \"reset_password\", \"code\": \"123456\"}".as_bytes().to_vec(),
        vec![b'['; 10_000],
        format!("{{\"new_password\": \"{}\", \"reset_token\": \"{}\"}}", "\\u0000".repeat(2000), "a.b.c").into_bytes(),
    ];
    for path in JSON_BODY_ROUTES.into_iter().chain([
        "/v1/me/email",
        "/v1/me/methods",
        "/v1/me/methods/phone/confirm",
    ]) {
        for b in &bodies {
            let method = if path == "/v1/me/email" {
                Method::PUT
            } else {
                Method::POST
            };
            let r = app.raw(method, path, JSON, b.clone()).await;
            assert!(
                (400..500).contains(&r.status),
                "{path} {:?}: {} {}",
                String::from_utf8_lossy(&b[..b.len().min(40)]),
                r.status,
                r.text
            );
        }
    }
}
