//! A bounded fuzz pass (proptest; `SSPR_FUZZ_CASES` cases per target, 2000 by
//! default): request parsing, the domain constructors, password normalisation
//! and token parsing never panic, and the handlers never answer 5xx, whatever
//! the input: the routes behind a bearer get each input twice, without one and
//! with a signed-in user's (where every case must get past the bearer check
//! to its handler).

use proptest::prelude::*;
use serde_json::{json, Value};
use sspr_core::config::{PasswordPolicy, Secrets};
use sspr_core::domain::{Code, Email, Locale, NewPassword, Password, Purpose, Username};
use sspr_core::token::Keys;

fn cases() -> u32 {
    std::env::var("SSPR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings with a bias toward what breaks parsers: controls, NUL, surrogates'
/// neighbours, combining marks, full-width forms, very long runs.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[\\x00-\\x1f\\x7f@.\\-_a-zA-Z0-9]{0,70}",
        "[\u{0300}-\u{036f}\u{fb00}-\u{fb06}\u{ff10}-\u{ff5a}\u{200b}-\u{200f}\u{2028}\u{fffd}a-z]{0,40}",
        (1usize..3000).prop_map(|n| "ﬁ".repeat(n)),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn domain_constructors_never_panic_and_hold_their_promise(s in nasty()) {
        if let Ok(u) = Username::parse(&s) {
            prop_assert!((3..=64).contains(&u.as_str().len()));
            prop_assert!(u.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b)));
        }
        if let Ok(e) = Email::parse(&s) {
            prop_assert!(e.as_str().len() <= 254 && e.as_str().contains('@'));
            // Deliverable as written: plain printable ASCII, never an encoded-word.
            prop_assert!(e.as_str().bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(!e.local_part().contains("=?"));
        }
        for len in [6usize, 8, 10] {
            if let Ok(c) = Code::parse(&s, len) {
                prop_assert_eq!(c.expose().len(), len);
            }
        }
        let _ = Locale::parse(&s);
        let _ = Locale::from_accept_language(&s);
        let _ = Purpose::parse(&s);
        let _ = Password::parse(&s);
    }

    #[test]
    fn password_checks_never_panic_and_accepted_ones_are_normalised(s in nasty()) {
        let user = Username::parse("fuzz.user").map_err(|e| TestCaseError::fail(e.0))?;
        let email = Email::parse("fuzzer@example.com").map_err(|e| TestCaseError::fail(e.0))?;
        match NewPassword::parse(&s, &PasswordPolicy::default(), &user, &email) {
            Ok(_) => {
                use unicode_normalization::UnicodeNormalization;
                let n: String = s.nfkc().collect();
                prop_assert!((12..=256).contains(&n.chars().count()));
                prop_assert!(!n.chars().any(char::is_control));
            }
            Err(reasons) => prop_assert!(!reasons.is_empty()),
        }
    }

    #[test]
    fn token_parsing_never_panics_and_accepts_nothing_forged(s in nasty(), parts in proptest::collection::vec("[A-Za-z0-9_\\-]{0,200}", 0..5)) {
        let keys = Keys::new(Secrets::throwaway().ring(), "sspr");
        let joined = parts.join(".");
        for t in [s.as_str(), joined.as_str()] {
            prop_assert!(keys.verify_access(t, 1_000).is_err());
            prop_assert!(keys.verify_reset(t, 1_000).is_err());
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        nasty().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("username".to_string()),
                    Just("email".to_string()),
                    Just("password".to_string()),
                    Just("code".to_string()),
                    Just("purpose".to_string()),
                    Just("reset_token".to_string()),
                    Just("new_password".to_string()),
                    Just("current_password".to_string()),
                    Just("locale".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The bearer refusals, which end a request before its handler.
const BEARER_REFUSALS: [&str; 2] = ["invalid_token", "reauthentication_required"];

#[test]
fn handlers_never_answer_5xx_to_any_body() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = rt.block_on(sspr_tests::TestApp::spawn_with(|c| {
        c.client_limits.0.clear();
        // Cheap hashes: this pass is about parsing, not Argon2.
        c.hash = sspr_core::config::HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        // Wrong current passwords never lock the user out of the handlers.
        c.signin.max_failures = 1_000_000;
    }));
    // A signed-in user: the routes behind a bearer get every case twice,
    // without one and with this one. The app's clock stands still, so the
    // token stays recent enough for the (recent) routes throughout.
    let bearer = rt.block_on(async {
        app.confirmed_user("fuzz.user").await;
        app.access_token("fuzz.user", sspr_tests::PASSWORD).await
    });
    assert!(!bearer.is_empty(), "signed in");
    // (method, path, behind a bearer)
    let routes = [
        ("POST", "/v1/register", false),
        ("POST", "/v1/register/confirm", false),
        ("PUT", "/v1/me/email", true),
        ("POST", "/v1/codes", false),
        ("POST", "/v1/password/verify", false),
        ("POST", "/v1/password/reset", false),
        ("POST", "/v1/password/change", true),
        ("POST", "/v1/unlock", false),
        ("POST", "/v1/token", false),
        ("GET", "/v1/me/methods", true),
        ("POST", "/v1/me/methods", true),
        ("POST", "/v1/me/methods/totp/confirm", true),
        ("DELETE", "/v1/me/methods/email", true),
        ("POST", "/v1/me/recovery-codes", true),
        ("POST", "/v1/me/methods/reconfirm", true),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases() / 4,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..routes.len(),
        prop_oneof![
            arbitrary_json().prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..300),
        ],
    );
    let reached = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |(i, body)| {
        let (method, path, behind) = routes[i];
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let ask = |token: Option<&str>| {
            let mut req = app
                .http
                .request(m.clone(), format!("{}{path}", app.url))
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            rt.block_on(app.request(req))
        };
        let anonymous = ask(None);
        prop_assert!(
            anonymous.status < 500,
            "{} {} -> {}: {:?}",
            method,
            path,
            anonymous.status,
            String::from_utf8_lossy(&body)
        );
        if behind {
            let signed = ask(Some(&bearer));
            prop_assert!(
                signed.status < 500,
                "{} {} with the bearer -> {}: {:?}",
                method,
                path,
                signed.status,
                String::from_utf8_lossy(&body)
            );
            // Past the bearer check: the handler judged the body.
            prop_assert!(
                !(signed.status == 401 && BEARER_REFUSALS.contains(&signed.code().as_str())),
                "{} {} with the bearer -> {} {}: never reached its handler",
                method,
                path,
                signed.status,
                signed.text
            );
            reached.set(reached.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        reached.get() > 0,
        "cases reached the bearer routes' handlers"
    );
}
