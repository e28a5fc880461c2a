//! Recovery methods and gates (API.md "Recovery methods and gates", "Reset
//! through the gates", "Sign-in with a second factor"), black-box over HTTP
//! against the local host on dynoxide. The authenticator codes come from
//! `totp-rs`, an implementation independent of sspr's.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use reqwest::Method;
use serde_json::{json, Value};
use sspr_core::store::schema;
use sspr_tests::{otp, Answer, TestApp, NEW_PASSWORD, PASSWORD};

const MINUTE: i64 = 60;

async fn get(app: &TestApp, path: &str, token: &str) -> Answer {
    app.send(Method::GET, path, Some(token), None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.send(Method::POST, path, Some(token), Some(body)).await
}

/// Add an authenticator app and confirm it; its base32 secret.
async fn enrol_totp(app: &TestApp, token: &str) -> String {
    let r = post(app, "/v1/me/methods", token, json!({"type": "totp"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = r.json();
    assert_eq!(b["type"], "totp");
    let secret = b["secret"].as_str().expect("a secret").to_owned();
    let uri = b["otpauth_uri"].as_str().expect("an otpauth URI");
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")));
    let id = b["id"].as_str().expect("an id").to_owned();
    let code = otp(&secret, app.clock_now());
    let r = app.confirm_method(token, &id, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["confirmed"], true);
    // The next step, so no later proof reuses the step the confirmation spent.
    app.clock.advance(30);
    secret
}

/// Make a new set of recovery codes.
async fn recovery_codes(app: &TestApp, token: &str) -> Vec<String> {
    app.recovery_codes(token).await
}

/// Add a method described by `body` (`201`): its id, to confirm it with.
async fn add_method(app: &TestApp, token: &str, body: Value) -> String {
    let r = post(app, "/v1/me/methods", token, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().unwrap_or_default().to_owned()
}

/// `DELETE /v1/me/methods/{id}`.
async fn remove_method(app: &TestApp, token: &str, id: &str) -> Answer {
    app.send(
        Method::DELETE,
        &format!("/v1/me/methods/{id}"),
        Some(token),
        None,
    )
    .await
}

/// The statuses the spawned `tries` answer, each joined.
async fn joined<I>(tries: I) -> Vec<u16>
where
    I: IntoIterator<Item = tokio::task::JoinHandle<u16>>,
{
    futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.expect("joined"))
        .collect()
}

/// Add a second email and confirm it with the code mailed to it.
async fn enrol_email(app: &TestApp, token: &str, email: &str) {
    let id = add_method(app, token, json!({"type": "email", "email": email})).await;
    let code = app
        .last_code(email, "method_code")
        .await
        .expect("a confirmation code to the new address");
    let r = app.confirm_method(token, &id, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Add a phone and confirm it with the code sent to it by SMS.
async fn enrol_phone(app: &TestApp, token: &str, phone: &str) {
    let id = add_method(app, token, json!({"type": "phone", "phone": phone})).await;
    app.running.settle_mail().await;
    let code = sspr_tests::latest_sms_code(&app.outbox, phone).expect("an SMS with a code");
    let r = app.confirm_method(token, &id, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn make_admin(app: &TestApp, user: &str) {
    let store = &app.running.store;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key(schema::PK, Av::S(format!("{}{user}", schema::USER_PREFIX)))
        .key(schema::SK, Av::S(schema::PROFILE.into()))
        .update_expression("SET #r = :a")
        .expression_attribute_names("#r", schema::ROLE)
        .expression_attribute_values(":a", Av::S("admin".into()))
        .send()
        .await
        .expect("role set");
}

async fn verify(app: &TestApp, body: Value) -> Answer {
    app.post("/v1/password/verify", body).await
}

/// The first gate passed: the gate token and the proofs offered next.
fn gate(r: &Answer) -> (String, Vec<String>) {
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    assert_eq!(b["expires_in"], 300, "a gate token lives 5 minutes");
    assert!(b.get("reset_token").is_none(), "one gate is not a reset");
    let next = b["next"]
        .as_array()
        .expect("next")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    (
        b["gate_token"].as_str().expect("a gate token").to_owned(),
        next,
    )
}

fn reset_token(r: &Answer) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["expires_in"], 900);
    r.json()["reset_token"]
        .as_str()
        .expect("a reset token")
        .to_owned()
}

fn assert_invalid_code(r: &Answer, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_code".into()),
        "{what}: {}",
        r.text
    );
}

async fn two_gates() -> TestApp {
    TestApp::spawn_with(|c| c.reset_gates = 2).await
}

async fn with_sms(gates: u8) -> TestApp {
    TestApp::spawn_with(|c| {
        c.reset_gates = gates;
        c.sms = sspr_core::config::SmsMode::Outbox;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_method_is_enrolled_pending_then_confirmed_and_listed_masked() {
    let app = with_sms(1).await;
    let email = app.confirmed_user("mona").await;
    let token = app.access_token("mona", PASSWORD).await;
    let r = get(&app, "/v1/me/methods", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    assert_eq!(b["gates"], 1);
    assert_eq!(b["methods_needed"], 0);
    assert_eq!(b["reconfirm_due"], false);
    assert_eq!(b["methods"][0]["id"], "primary");
    assert_eq!(b["methods"][0]["label"], "m***@example.com");

    // Pending until its first code: listed, not confirmed, and no gate.
    let r = post(&app, "/v1/me/methods", &token, json!({"type": "totp"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let listed = get(&app, "/v1/me/methods", &token).await.json();
    let totp = &listed["methods"][1];
    assert_eq!(
        (totp["type"].clone(), totp["confirmed"].clone()),
        (json!("totp"), json!(false))
    );
    assert_eq!(totp["label"], "authenticator");
    // A wrong code does not confirm it.
    let r = post(
        &app,
        "/v1/me/methods/totp/confirm",
        &token,
        json!({"code": "000000"}),
    )
    .await;
    assert_invalid_code(&r, "a wrong authenticator code");

    let secret = enrol_totp(&app, &token).await;
    assert!(!secret.is_empty());
    enrol_email(&app, &token, "mona.two@example.org").await;
    enrol_phone(&app, &token, "+4915112345678").await;
    let codes = recovery_codes(&app, &token).await;
    assert_eq!(codes.len(), 10);
    assert!(codes
        .iter()
        .all(|c| c.len() == 19 && c.matches('-').count() == 3));

    let listed = get(&app, "/v1/me/methods", &token).await.json();
    let methods = listed["methods"].as_array().expect("methods");
    let by_type = |t: &str| {
        methods
            .iter()
            .filter(|m| m["type"] == t)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(methods.len(), 5, "{listed}");
    assert!(methods.iter().all(|m| m["confirmed"] == true), "{listed}");
    assert_eq!(by_type("email")[1]["label"], "m***@example.org");
    assert_eq!(by_type("phone")[0]["label"], "+49 *** **** 78");
    assert!(by_type("totp")[0]["confirmed_at"].is_string());

    // The limits: one totp, one phone, two email.
    for body in [
        json!({"type": "totp"}),
        json!({"type": "phone", "phone": "+4915199999999"}),
        json!({"type": "email", "email": "third@example.org"}),
    ] {
        let r = post(&app, "/v1/me/methods", &token, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "method_limit".into()),
            "{body}: {}",
            r.text
        );
    }
    for (body, code) in [
        (
            json!({"type": "phone", "phone": "0151 1234"}),
            "invalid_phone",
        ),
        (
            json!({"type": "email", "email": "not an address"}),
            "invalid_email",
        ),
        (json!({"type": "fax"}), "invalid_request"),
        (
            json!({"type": "totp", "phone": "+4915112345678"}),
            "invalid_request",
        ),
    ] {
        let r = post(&app, "/v1/me/methods", &token, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, code.into()),
            "{body}: {}",
            r.text
        );
    }

    // The primary email was told of every addition and confirmation.
    let told: Vec<String> = app
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to == email)
        .map(|m| m.file)
        .collect();
    for kind in ["method_added", "method_confirmed", "recovery_codes_created"] {
        assert!(told.iter().any(|f| f.contains(kind)), "{kind}: {told:?}");
    }
    let audit = app.audit_types("mona").await;
    for kind in ["method_added", "method_confirmed", "recovery_codes_created"] {
        assert!(audit.iter().any(|a| a == kind), "{kind}: {audit:?}");
    }
    // Nothing secret at rest: the TOTP secret is sealed, the codes are
    // digests. Every item of the table, every attribute, in every form a
    // secret could be written: as shown, without dashes, either case, and
    // its raw bytes as they are, in hex, in base64 (standard and URL-safe,
    // padded or not) and, for the codes, in base32.
    let stored = sspr_tests::consistency::scan(&app.running.store).await;
    assert!(
        stored.iter().any(|i| matches!(i.get(schema::SK), Some(Av::S(sk)) if sk.starts_with(schema::METHOD_PREFIX))),
        "the scan holds the method items"
    );
    let mut leaves = Vec::new();
    for item in &stored {
        for v in item.values() {
            attribute_bytes(v, &mut leaves);
        }
    }
    let totp_raw: Vec<u8> = totp_rs::Secret::try_from_base32(&secret)
        .expect("the secret is base32")
        .as_bytes()
        .to_vec();
    assert!(totp_raw.len() >= 16, "an 80-bit secret at least");
    let mut needles = vec![("the TOTP secret".to_owned(), secret.clone())];
    needles.extend(
        forms_of_bytes(&totp_raw)
            .into_iter()
            .map(|f| ("the TOTP secret's bytes".to_owned(), f)),
    );
    for c in &codes {
        let bare = c.replace('-', "");
        needles.push(("a recovery code".to_owned(), c.clone()));
        needles.push(("a recovery code without dashes".to_owned(), bare.clone()));
        needles.extend(
            forms_of_bytes(&crockford_bytes(&bare))
                .into_iter()
                .map(|f| ("a recovery code's bytes".to_owned(), f)),
        );
    }
    for (what, needle) in &needles {
        let lower = needle.to_ascii_lowercase();
        for leaf in &leaves {
            let hit = if needle.is_empty() {
                false
            } else {
                contains(leaf, needle.as_bytes())
                    || contains(&leaf.to_ascii_lowercase(), lower.as_bytes())
            };
            assert!(!hit, "{what} is stored in the table");
        }
    }
    // The raw bytes themselves, in a binary or a string attribute.
    for raw in std::iter::once(totp_raw.clone())
        .chain(codes.iter().map(|c| crockford_bytes(&c.replace('-', ""))))
    {
        assert!(
            leaves.iter().all(|l| !contains(l, &raw)),
            "a secret's raw bytes are stored in the table"
        );
    }
}

/// Every string, number and binary inside an attribute value, as bytes.
fn attribute_bytes(v: &Av, out: &mut Vec<Vec<u8>>) {
    match v {
        Av::S(s) | Av::N(s) => out.push(s.as_bytes().to_vec()),
        Av::B(b) => out.push(b.as_ref().to_vec()),
        Av::Ss(l) | Av::Ns(l) => out.extend(l.iter().map(|s| s.as_bytes().to_vec())),
        Av::Bs(l) => out.extend(l.iter().map(|b| b.as_ref().to_vec())),
        Av::L(l) => l.iter().for_each(|v| attribute_bytes(v, out)),
        Av::M(m) => m.values().for_each(|v| attribute_bytes(v, out)),
        Av::Bool(_) | Av::Null(_) => {}
        other => panic!("an attribute type the test does not read: {other:?}"),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The text forms of `raw`: hex, base64 (standard and URL-safe, padded and
/// not) and base32 (RFC 4648 and Crockford's). Compared either case.
fn forms_of_bytes(raw: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![hex];
    for e in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.push(e.encode(raw));
    }
    for alphabet in [
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        b"0123456789ABCDEFGHJKMNPQRSTVWXYZ",
    ] {
        forms.push(base32(raw, alphabet));
    }
    forms
}

/// Base32 of `raw` in `alphabet`, five bits a symbol, most significant first, no padding.
fn base32(raw: &[u8], alphabet: &[u8; 32]) -> String {
    let (mut buf, mut bits, mut out) = (0u32, 0u32, String::new());
    for &b in raw {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(alphabet[((buf >> bits) & 31) as usize]));
        }
        buf &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(alphabet[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The 80 bits a recovery code's 16 Crockford symbols spell, most
/// significant first (as `RecoveryCode::generate` draws them).
fn crockford_bytes(code: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in code.bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("{c} is not a Crockford symbol"));
        buf = (buf << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    assert_eq!(out.len(), 10, "a recovery code is 80 bits");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gate_reset_with_email_and_totp() {
    let app = two_gates().await;
    let email = app.confirmed_user("nils").await;
    let token = app.access_token("nils", PASSWORD).await;
    // Below the gates: the sign-in says what is missing, and no reset starts.
    let r = app.sign_in("nils", PASSWORD).await;
    assert_eq!(r.json()["methods_needed"], 1, "{}", r.text);
    let r = app.ask_code("nils", "reset_password").await;
    assert_eq!(r.status, 202);
    assert!(
        app.mails_to(&email, "reset_code").await.is_empty(),
        "no code below the gates"
    );

    let secret = enrol_totp(&app, &token).await;
    let code = app.reset_code("nils", &email).await;
    let (gate_token, next) = gate(&verify(&app, json!({"username": "nils", "code": code})).await);
    assert_eq!(next, ["totp"]);
    // The same method twice is not two gates.
    let r = verify(&app, json!({"gate_token": gate_token, "code": code})).await;
    assert_invalid_code(&r, "the email's code again");
    let otp_now = otp(&secret, app.clock_now());
    let r = verify(
        &app,
        json!({"gate_token": gate_token, "method": "totp", "code": otp_now}),
    )
    .await;
    let rt = reset_token(&r);
    // The gate is spent: the second proof cannot be made again.
    app.clock.advance(30);
    let again = otp(&secret, app.clock_now());
    let r = verify(
        &app,
        json!({"gate_token": gate_token, "method": "totp", "code": again}),
    )
    .await;
    assert_invalid_code(&r, "a spent gate token");
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    let r = app.sign_in("nils", NEW_PASSWORD).await;
    assert_eq!(r.code(), "second_factor_required", "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gate_reset_with_email_and_sms() {
    let app = with_sms(2).await;
    let email = app.confirmed_user("olaf").await;
    let token = app.access_token("olaf", PASSWORD).await;
    let phone = "+4915155554444";
    enrol_phone(&app, &token, phone).await;
    let code = app.reset_code("olaf", &email).await;
    let (gate_token, next) = gate(&verify(&app, json!({"username": "olaf", "code": code})).await);
    assert_eq!(next, ["phone"]);
    let r = app
        .post(
            "/v1/codes",
            json!({"gate_token": gate_token, "channel": "sms"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.running.settle_mail().await;
    let sms = sspr_tests::latest_sms_code(&app.outbox, phone).expect("the second gate's SMS");
    assert_ne!(sms, code);
    let rt = reset_token(
        &verify(
            &app,
            json!({"gate_token": gate_token, "method": "phone", "code": sms}),
        )
        .await,
    );
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    // SMS first works the same way: channel sms for the first gate (a
    // minute on: one code a minute to the same phone).
    app.clock.advance(MINUTE);
    let r = app
        .post(
            "/v1/codes",
            json!({"username": "olaf", "purpose": "reset_password", "channel": "sms"}),
        )
        .await;
    assert_eq!(r.status, 202);
    app.running.settle_mail().await;
    let first = sspr_tests::latest_sms_code(&app.outbox, phone).expect("an SMS");
    assert_ne!(first, sms, "a new code");
    let (_, next) = gate(&verify(&app, json!({"username": "olaf", "code": first})).await);
    assert_eq!(next, ["email"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gate_reset_with_totp_and_a_recovery_code() {
    let app = two_gates().await;
    app.confirmed_user("pia").await;
    let token = app.access_token("pia", PASSWORD).await;
    let secret = enrol_totp(&app, &token).await;
    let codes = recovery_codes(&app, &token).await;
    let r = verify(
        &app,
        json!({"username": "pia", "method": "totp", "code": otp(&secret, app.clock_now())}),
    )
    .await;
    let (gate_token, next) = gate(&r);
    assert_eq!(next, ["email", "recovery_code"]);
    let r = verify(
        &app,
        json!({"gate_token": gate_token, "method": "recovery_code", "code": codes[3].to_uppercase()}),
    )
    .await;
    let rt = reset_token(&r);
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    let left = get(
        &app,
        "/v1/me/methods",
        &access_token_2fa(&app, "pia", NEW_PASSWORD, &secret).await,
    )
    .await
    .json();
    let rc = listed(&left, "recovery_codes");
    assert_eq!(rc["label"], "9 left", "{left}");
    assert_eq!(rc["remaining"], 9, "{left}");
    assert!(app.audited("pia", "recovery_code_used").await);
}

fn listed(list: &Value, kind: &str) -> Value {
    list["methods"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["type"] == kind).cloned())
        .unwrap_or(Value::Null)
}

/// Sign in with the password and the authenticator's code of the next step.
async fn access_token_2fa(app: &TestApp, user: &str, password: &str, secret: &str) -> String {
    app.clock.advance(30);
    let r = app
        .post(
            "/v1/token",
            json!({"username": user, "password": password, "otp": otp(secret, app.clock_now())}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_needs_two_gates_whatever_the_configuration() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("quinn").await;
    make_admin(&app, "quinn").await;
    let stranger = app.confirmed_user("rolf").await;
    // One method: no code goes out, and the answers are those of anyone.
    let r = app.ask_code("quinn", "reset_password").await;
    let unknown = app.ask_code("nobody-here", "reset_password").await;
    assert_eq!(
        (r.status, r.text.clone()),
        (unknown.status, unknown.text.clone())
    );
    assert!(app.mails_to(&email, "reset_code").await.is_empty());
    let r = verify(&app, json!({"username": "quinn", "code": "123456"})).await;
    let other = verify(&app, json!({"username": "nobody-here", "code": "123456"})).await;
    assert_invalid_code(&r, "an admin below the gates");
    assert_eq!(r.text, other.text, "one body for all");
    assert_eq!(
        app.sign_in("quinn", PASSWORD).await.json()["methods_needed"],
        1
    );
    // A second method: the reset goes through two gates.
    let token = app.access_token("quinn", PASSWORD).await;
    let secret = enrol_totp(&app, &token).await;
    let code = app.reset_code("quinn", &email).await;
    let (gate_token, _) = gate(&verify(&app, json!({"username": "quinn", "code": code})).await);
    let rt = reset_token(
        &verify(
            &app,
            json!({"gate_token": gate_token, "method": "totp", "code": otp(&secret, app.clock_now())}),
        )
        .await,
    );
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    // Anyone else still resets through one gate.
    let rt = app.reset_token("rolf", &stranger).await;
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_token_of_another_user_or_used_twice_resets_nothing() {
    let app = two_gates().await;
    let mut secrets = Vec::new();
    for user in ["sara", "tom"] {
        app.confirmed_user(user).await;
        let token = app.access_token(user, PASSWORD).await;
        secrets.push(enrol_totp(&app, &token).await);
    }
    let code = app.reset_code("sara", "sara@example.com").await;
    let (sara_gate, _) = gate(&verify(&app, json!({"username": "sara", "code": code})).await);
    // Tom's authenticator with Sara's gate: the gate is Sara's, and Tom's code proves nothing for her.
    let r = verify(
        &app,
        json!({"gate_token": sara_gate, "method": "totp", "code": otp(&secrets[1], app.clock_now())}),
    )
    .await;
    assert_invalid_code(&r, "another user's second factor");
    // A gate token is bound to its user: Tom's own code passes only Tom's gate.
    let code = app.reset_code("tom", "tom@example.com").await;
    let (tom_gate, _) = gate(&verify(&app, json!({"username": "tom", "code": code})).await);
    let r = verify(
        &app,
        json!({"gate_token": sara_gate, "username": "tom", "method": "totp", "code": otp(&secrets[1], app.clock_now())}),
    )
    .await;
    assert_eq!(r.status, 400, "a gate token with a username: {}", r.text);
    // Used once, a gate token is spent.
    let rt = reset_token(
        &verify(
            &app,
            json!({"gate_token": tom_gate, "method": "totp", "code": otp(&secrets[1], app.clock_now())}),
        )
        .await,
    );
    app.clock.advance(30);
    let r = verify(
        &app,
        json!({"gate_token": tom_gate, "method": "totp", "code": otp(&secrets[1], app.clock_now())}),
    )
    .await;
    assert_invalid_code(&r, "a gate token used twice");
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    // A gate token is not a reset token.
    assert_eq!(app.reset(&sara_gate, NEW_PASSWORD).await.status, 401);
    // And it lapses after 5 minutes.
    app.clock.advance(5 * MINUTE);
    let r = verify(
        &app,
        json!({"gate_token": sara_gate, "method": "totp", "code": otp(&secrets[0], app.clock_now())}),
    )
    .await;
    assert_invalid_code(&r, "an expired gate token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_totp_code_and_a_recovery_code_each_work_once_under_16_parallel_attempts() {
    // 48 proofs from one address: the per-client limits would answer some
    // 429, and the 15 losers of the first race would block resets (the block
    // has tests of its own): this test is about single use alone.
    let app = Arc::new(
        TestApp::spawn_with(|c| {
            c.client_limits = sspr_core::limits::ClientLimits::default()
                .with_overrides("verify=off,token=off")
                .expect("valid overrides");
            c.codes.max_failed_proofs = 100;
            c.signin.max_failures = 100;
        })
        .await,
    );
    app.confirmed_user("uma").await;
    let token = app.access_token("uma", PASSWORD).await;
    let secret = enrol_totp(&app, &token).await;
    let codes = recovery_codes(&app, &token).await;
    let code = otp(&secret, app.clock_now());
    let race = |body: Value| {
        let app = app.clone();
        async move {
            let tries = (0..16).map(|_| {
                let app = app.clone();
                let body = body.clone();
                tokio::spawn(async move { app.post("/v1/password/verify", body).await.status })
            });
            joined(tries).await
        }
    };
    let statuses = race(json!({"username": "uma", "method": "totp", "code": code})).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    let statuses =
        race(json!({"username": "uma", "method": "recovery_code", "code": codes[0]})).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // The same at sign-in: one recovery code, one session.
    let tries = (0..16).map(|_| {
        let app = app.clone();
        let rc = codes[1].clone();
        tokio::spawn(async move {
            app.post(
                "/v1/token",
                json!({"username": "uma", "password": PASSWORD, "recovery_code": rc}),
            )
            .await
            .status
        })
    });
    let statuses: Vec<u16> = joined(tries).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_authenticator_codes_count_toward_the_reset_block() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("vera").await;
    let token = app.access_token("vera", PASSWORD).await;
    let secret = enrol_totp(&app, &token).await;
    let codes = recovery_codes(&app, &token).await;
    let right = otp(&secret, app.clock_now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        let r = verify(
            &app,
            json!({"username": "vera", "method": "totp", "code": wrong}),
        )
        .await;
        assert_invalid_code(&r, "a wrong authenticator code");
    }
    // The fifth failure is a wrong recovery code of a user who holds a set:
    // every method shares the block.
    let guess = "aaaa-bbbb-cccc-dddd";
    assert!(!codes.iter().any(|c| c.eq_ignore_ascii_case(guess)));
    let r = verify(
        &app,
        json!({"username": "vera", "method": "recovery_code", "code": guess}),
    )
    .await;
    assert_invalid_code(&r, "a recovery code not in the user's set");
    // Blocked: the right authenticator code and a mailed code prove nothing now.
    let r = verify(
        &app,
        json!({"username": "vera", "method": "totp", "code": right}),
    )
    .await;
    assert_invalid_code(&r, "the right code while blocked");
    app.ask_code("vera", "reset_password").await;
    assert!(
        app.mails_to(&email, "reset_code").await.is_empty(),
        "no code while blocked"
    );
    assert!(app.audited("vera", "resets_blocked").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_needs_the_second_factor_once_totp_is_confirmed() {
    let app = TestApp::spawn().await;
    app.confirmed_user("walt").await;
    let token = app.access_token("walt", PASSWORD).await;
    let secret = enrol_totp(&app, &token).await;
    let codes = recovery_codes(&app, &token).await;
    // The right password alone: the second factor is asked for.
    let r = app.sign_in("walt", PASSWORD).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "second_factor_required".into()),
        "{}",
        r.text
    );
    assert_eq!(r.json()["methods"], json!(["totp", "recovery_code"]));
    // A wrong password never learns that there is one.
    let r = app.sign_in("walt", NEW_PASSWORD).await;
    assert_eq!(r.code(), "invalid_credentials");
    let with = |otp: Value| json!({"username": "walt", "password": PASSWORD, "otp": otp});
    let r = app.post("/v1/token", with(json!("000000"))).await;
    assert_eq!(
        r.code(),
        "invalid_credentials",
        "a wrong authenticator code"
    );
    let code = otp(&secret, app.clock_now());
    let r = app.post("/v1/token", with(json!(code))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["methods_needed"], 0);
    assert_eq!(r.json()["reconfirm_due"], false);
    // The same code again: its step is spent.
    let r = app.post("/v1/token", with(json!(code))).await;
    assert_eq!(r.code(), "invalid_credentials", "a code works once");
    let r = app
        .post(
            "/v1/token",
            json!({"username": "walt", "password": PASSWORD, "recovery_code": codes[9]}),
        )
        .await;
    assert_eq!(
        r.status, 200,
        "a recovery code in place of the authenticator: {}",
        r.text
    );
    // A wrong password with a right code is a wrong password.
    app.clock.advance(30);
    let r = app
        .post(
            "/v1/token",
            json!({"username": "walt", "password": NEW_PASSWORD, "otp": otp(&secret, app.clock_now())}),
        )
        .await;
    assert_eq!(r.code(), "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_method_below_the_gates_is_refused() {
    let app = two_gates().await;
    app.confirmed_user("xena").await;
    let token = app.access_token("xena", PASSWORD).await;
    enrol_totp(&app, &token).await;
    let r = remove_method(&app, &token, "totp").await;
    assert_eq!(
        (r.status, r.code()),
        (409, "method_required".into()),
        "{}",
        r.text
    );
    let r = remove_method(&app, &token, "primary").await;
    assert_eq!(
        (r.status, r.code()),
        (409, "method_required".into()),
        "{}",
        r.text
    );
    // With a third method, one of them can go, and the primary email is told.
    recovery_codes(&app, &token).await;
    let r = remove_method(&app, &token, "totp").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = remove_method(&app, &token, "recovery_codes").await;
    assert_eq!(r.code(), "method_required", "the last but one stays");
    let told = app.mails_to("xena@example.com", "method_removed").await;
    assert_eq!(told.len(), 1);
    assert!(app.audited("xena", "method_removed").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_methods_need_a_recent_sign_in() {
    let app = TestApp::spawn().await;
    app.confirmed_user("yuri").await;
    let token = app.access_token("yuri", PASSWORD).await;
    app.clock.advance(5 * MINUTE + 1);
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/me/methods",
            Some(json!({"type": "totp"})),
        ),
        (Method::POST, "/v1/me/recovery-codes", Some(json!({}))),
        (Method::DELETE, "/v1/me/methods/totp", None),
    ] {
        let r = app.send(method, path, Some(&token), body).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "reauthentication_required".into()),
            "{path}: {}",
            r.text
        );
    }
    // Listing needs no recent sign-in.
    assert_eq!(get(&app, "/v1/me/methods", &token).await.status, 200);
    let r = post(&app, "/v1/me/methods/reconfirm", &token, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json()["reconfirmed_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_are_due_for_reconfirmation_after_the_configured_days() {
    let app = TestApp::spawn_with(|c| c.reconfirm_days = 30).await;
    app.confirmed_user("zoe").await;
    app.clock.advance(31 * 86_400);
    let r = app.sign_in("zoe", PASSWORD).await;
    assert_eq!(r.json()["reconfirm_due"], true, "{}", r.text);
    let token = r.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        post(&app, "/v1/me/methods/reconfirm", &token, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&app, "/v1/me/methods", &token).await.json()["reconfirm_due"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_a_pending_method_added_by_the_old_session() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("abel").await;
    let token = app.access_token("abel", PASSWORD).await;
    let r = post(
        &app,
        "/v1/me/methods",
        &token,
        json!({"type": "email", "email": "mallory@example.net"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let code = app
        .last_code("mallory@example.net", "method_code")
        .await
        .expect("code");
    let rt = app.reset_token("abel", &email).await;
    assert_eq!(app.reset(&rt, NEW_PASSWORD).await.status, 204);
    let fresh = app.access_token("abel", NEW_PASSWORD).await;
    let r = post(
        &app,
        "/v1/me/methods/email/confirm",
        &fresh,
        json!({"code": code}),
    )
    .await;
    assert_invalid_code(&r, "a method pending from a session the reset ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_address_gets_its_code_at_once_and_the_hourly_cap_holds() {
    let app = TestApp::spawn().await;
    let r = app.register("bert", "bert@exmaple.com", PASSWORD).await;
    assert_eq!(r.status, 201);
    // Signed in before confirming: the typo is corrected right away.
    let token = app.access_token("bert", PASSWORD).await;
    let r = app.change_email(&token, "bert@example.com").await;
    assert_eq!(
        r.status, 202,
        "the new address gets its code at once: {}",
        r.text
    );
    assert!(app
        .last_code("bert@example.com", "confirm_email")
        .await
        .is_some());
    // The same address again within the minute waits.
    let r = app.change_email(&token, "bert@example.com").await;
    assert_eq!(r.status, 429, "{}", r.text);
    let wait: u64 = r.header("retry-after").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // The hourly cap counts every address: 5 codes, then none for the hour.
    for i in 0..3 {
        let r = app.change_email(&token, &format!("b{i}@example.com")).await;
        assert_eq!(r.status, 202, "{i}: {}", r.text);
    }
    let r = app.change_email(&token, "b9@example.com").await;
    assert_eq!(r.status, 429, "the sixth code in the hour: {}", r.text);
    let wait: u64 = r.header("retry-after").parse().expect("seconds");
    assert!(wait > 60, "until the hour is over: {wait}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_removals_never_leave_fewer_methods_than_the_gates() {
    let app = Arc::new(two_gates().await);
    app.confirmed_user("cleo").await;
    let token = app.access_token("cleo", PASSWORD).await;
    enrol_totp(&app, &token).await;
    recovery_codes(&app, &token).await;
    // Three methods, two gates: either removal alone is fine, both together are not.
    for _ in 0..8 {
        let tries = ["totp", "recovery_codes"].map(|id| {
            let app = app.clone();
            let token = token.clone();
            tokio::spawn(async move { remove_method(&app, &token, id).await.status })
        });
        let statuses: Vec<u16> = joined(tries).await;
        let removed = statuses.iter().filter(|s| **s == 204).count();
        assert_eq!(removed, 1, "exactly one removal lands: {statuses:?}");
        assert!(statuses.contains(&409), "{statuses:?}");
        let listed = get(&app, "/v1/me/methods", &token).await.json();
        assert_eq!(
            listed["methods"].as_array().map(Vec::len),
            Some(2),
            "{listed}"
        );
        // Put the removed one back for the next round.
        if self::listed(&listed, "totp").is_null() {
            enrol_totp(&app, &token).await;
        } else {
            recovery_codes(&app, &token).await;
        }
    }
}

/// The audit events of a user as (type, outcome), oldest first.
async fn audit_pairs(app: &TestApp, user: &str) -> Vec<(String, String)> {
    let u = sspr_core::domain::Username::parse(user).expect("valid username");
    app.running
        .store
        .audit_events(&u)
        .await
        .expect("audit events")
        .into_iter()
        .map(|e| {
            let get = |k: &str| e.get(k).cloned().unwrap_or_default();
            (get(schema::TYPE), get(schema::OUTCOME))
        })
        .collect()
}

fn times(events: &[(String, String)], kind: &str, outcome: &str) -> usize {
    events
        .iter()
        .filter(|(k, o)| k == kind && o == outcome)
        .count()
}

/// An authenticator code that none of the steps accepted at `at` (one either
/// side) gives.
fn wrong_otp(secret: &str, at: i64) -> String {
    let accepted = [otp(secret, at - 30), otp(secret, at), otp(secret, at + 30)];
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !accepted.iter().any(|a| a == c))
        .unwrap_or("444444")
        .to_owned()
}

/// Every place a password or a factor is checked against the sign-in lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// The password of `POST /v1/token`.
    Password,
    /// The authenticator's code after the right password.
    Totp,
    /// A recovery code after the right password.
    RecoveryCode,
    /// The current password of `POST /v1/password/change`.
    CurrentPassword,
}

/// A user who holds each kind of secret, and what it takes to give it.
struct Holder {
    name: &'static str,
    secret: Secret,
    email: String,
    token: String,
    totp: String,
    codes: Vec<String>,
}

impl Holder {
    async fn new(app: &TestApp, name: &'static str, secret: Secret) -> Self {
        let email = app.confirmed_user(name).await;
        let token = app.access_token(name, PASSWORD).await;
        let (mut totp, mut codes) = (String::new(), Vec::new());
        if matches!(secret, Secret::Totp | Secret::RecoveryCode) {
            totp = enrol_totp(app, &token).await;
            codes = recovery_codes(app, &token).await;
        }
        Self {
            name,
            secret,
            email,
            token,
            totp,
            codes,
        }
    }

    /// The `signin_failed` outcome of a wrong one.
    fn refusal(&self) -> &'static str {
        match self.secret {
            Secret::Password => "password",
            Secret::Totp => "totp",
            Secret::RecoveryCode => "recovery_code",
            Secret::CurrentPassword => "current_password",
        }
    }

    /// Give the secret: the `i`th wrong one, or (`None`) the right one.
    async fn give(&self, app: &TestApp, wrong: Option<usize>) -> Answer {
        let now = app.clock_now();
        let password = match (self.secret, wrong) {
            (Secret::Password | Secret::CurrentPassword, Some(i)) => {
                format!("wrong password number {i}")
            }
            _ => PASSWORD.to_owned(),
        };
        match self.secret {
            Secret::Password => app.sign_in(self.name, &password).await,
            Secret::Totp => {
                let code = match wrong {
                    Some(_) => wrong_otp(&self.totp, now),
                    None => otp(&self.totp, now),
                };
                app.post(
                    "/v1/token",
                    json!({"username": self.name, "password": password, "otp": code}),
                )
                .await
            }
            Secret::RecoveryCode => {
                let code = match wrong {
                    Some(i) => format!("{i:016}"),
                    None => self.codes[0].clone(),
                };
                app.post(
                    "/v1/token",
                    json!({"username": self.name, "password": password, "recovery_code": code}),
                )
                .await
            }
            Secret::CurrentPassword => {
                app.send(
                    Method::POST,
                    "/v1/password/change",
                    Some(&self.token),
                    Some(json!({"current_password": password, "new_password": "brisk pelican umbrella tundra"})),
                )
                .await
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_password_or_factor_counts_toward_the_one_sign_in_lock_with_its_notice_and_audit(
) {
    let app = TestApp::spawn().await;
    let limit = sspr_core::domain::SignInPolicy::default().max_failures as usize;
    let mut holders = Vec::new();
    for (name, secret) in [
        ("lockpw", Secret::Password),
        ("locktotp", Secret::Totp),
        ("lockrc", Secret::RecoveryCode),
        ("lockchange", Secret::CurrentPassword),
    ] {
        holders.push(Holder::new(&app, name, secret).await);
    }
    for h in &holders {
        for i in 0..limit {
            let before = app.round_trips();
            let r = h.give(&app, Some(i)).await;
            assert_eq!(
                (r.status, r.code()),
                (401, "invalid_credentials".into()),
                "{:?} wrong #{i}: {}",
                h.secret,
                r.text
            );
            // The audit rides the write that counts: no round trip more.
            let trips = app.round_trips() - before;
            assert!(trips <= 2, "{:?}: {trips} round trips", h.secret);
            let notices = app.mails_to(&h.email, "signin_locked").await.len();
            let expected = usize::from(i + 1 == limit);
            assert_eq!(notices, expected, "{:?}: notices after {}", h.secret, i + 1);
        }
        let events = audit_pairs(&app, h.name).await;
        assert_eq!(
            times(&events, "signin_failed", h.refusal()),
            limit,
            "{:?}: {events:?}",
            h.secret
        );
        assert_eq!(
            times(&events, "signin_locked", "locked"),
            1,
            "{:?}",
            h.secret
        );
        // Locked: the right secret gets the wrong one's answer, audited, not counted.
        let r = h.give(&app, None).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "invalid_credentials".into()),
            "{:?}: the right secret while locked: {}",
            h.secret,
            r.text
        );
        let events = audit_pairs(&app, h.name).await;
        assert_eq!(
            times(&events, "signin_failed", "locked"),
            1,
            "{:?}",
            h.secret
        );
        assert_eq!(
            times(&events, "signin_locked", "locked"),
            1,
            "{:?}",
            h.secret
        );
        assert_eq!(times(&events, "password_changed", "success"), 0);
        assert_eq!(app.mails_to(&h.email, "signin_locked").await.len(), 1);
    }
    // The lock lapses by itself; the password is the one it was.
    app.clock.advance(15 * MINUTE);
    for h in &holders {
        let r = match h.secret {
            Secret::Password | Secret::CurrentPassword => app.sign_in(h.name, PASSWORD).await,
            _ => h.give(&app, None).await,
        };
        assert_eq!(r.status, 200, "{:?} after the lock: {}", h.secret, r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sign_in_is_audited_with_its_method() {
    let app = TestApp::spawn().await;
    let pw = Holder::new(&app, "auditpw", Secret::Password).await;
    let mfa = Holder::new(&app, "auditmfa", Secret::Totp).await;
    // `Holder::new` signed each in once with the password alone.
    assert_eq!(
        times(&audit_pairs(&app, pw.name).await, "signed_in", "password"),
        1
    );
    assert_eq!(pw.give(&app, None).await.status, 200);
    // Past the step the authenticator's confirmation spent.
    app.clock.advance(30);
    let r = mfa.give(&app, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/v1/token",
            json!({"username": mfa.name, "password": PASSWORD, "recovery_code": mfa.codes[3]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The right password alone, the factor missing: no sign-in, nothing counted.
    let r = app.sign_in(mfa.name, PASSWORD).await;
    assert_eq!(r.code(), "second_factor_required");
    let pw_events = audit_pairs(&app, pw.name).await;
    assert_eq!(
        times(&pw_events, "signed_in", "password"),
        2,
        "{pw_events:?}"
    );
    let events = audit_pairs(&app, mfa.name).await;
    let signed_in: Vec<&str> = events
        .iter()
        .filter(|(k, _)| k == "signed_in")
        .map(|(_, o)| o.as_str())
        .collect();
    assert_eq!(
        signed_in,
        ["password", "password+totp", "password+recovery_code"],
        "{events:?}"
    );
    assert!(
        !events.iter().any(|(k, _)| k == "signin_failed"),
        "{events:?}"
    );
    // Who signed in is kept with each.
    let u = sspr_core::domain::Username::parse(mfa.name).expect("valid");
    for e in app.running.store.audit_events(&u).await.expect("events") {
        if e.get(schema::TYPE).map(String::as_str) == Some("signed_in") {
            assert_eq!(
                e.get(schema::CLIENT_IP).map(String::as_str),
                Some("127.0.0.1")
            );
            assert!(e.get(schema::REQUEST_ID).is_some_and(|r| !r.is_empty()));
        }
    }
}

/// A user with an authenticator whose hash was made with outdated
/// parameters: the sign-in that proves both gets the hash replaced in the
/// one write that spends the authenticator's step, two round trips in all;
/// asked only for the second factor, nothing is hashed or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_with_its_second_factor_rehashes_an_outdated_hash_in_its_one_write() {
    let app = TestApp::spawn_with(|c| c.hash = sspr_tests::CHEAP_HASH).await;
    app.confirmed_user("ruth").await;
    let token = app.access_token("ruth", PASSWORD).await;
    let secret = enrol_totp(&app, &token).await;
    let hash = || async { app.password_hash("ruth").await.expect("a hash") };
    let before = hash().await;
    assert!(before.contains("m=1024,t=1,p=1"), "{before}");
    // Today's parameters, with the running app's keys (the seal of the
    // authenticator's secret among them), over the same table.
    let mut today = app.running.app.ctx.clone();
    today.hasher = sspr_core::domain::PasswordHasher::new(sspr_core::config::HashParams::default());
    let sign_in = |second: Option<sspr_core::flows::signin::SecondFactor>| {
        let today = today.clone();
        let now = app.clock_now();
        async move {
            sspr_core::flows::signin::sign_in(
                &today,
                "ruth",
                PASSWORD,
                second,
                &Default::default(),
                now,
            )
            .await
        }
    };
    let trips = app.round_trips();
    let asked = sign_in(None).await;
    assert!(
        matches!(
            asked,
            Err(sspr_core::flows::signin::SignInError::SecondFactorRequired { .. })
        ),
        "{asked:?}"
    );
    assert_eq!(
        app.round_trips() - trips,
        1,
        "asked for the factor: the read alone"
    );
    assert_eq!(
        hash().await,
        before,
        "not replaced before the second factor"
    );
    let trips = app.round_trips();
    sign_in(Some(sspr_core::flows::signin::SecondFactor::Otp(otp(
        &secret,
        app.clock_now(),
    ))))
    .await
    .expect("signs in");
    assert_eq!(
        app.round_trips() - trips,
        2,
        "the read, and one write spending the step with the new hash"
    );
    let after = hash().await;
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{after}"
    );
    assert_eq!(
        app.sign_in("ruth", PASSWORD).await.code(),
        "second_factor_required"
    );
}
