//! Request policy lives with the route: every function's route table is
//! held to API.md's contract (which routes need a bearer, a recent sign-in,
//! the human check, the answer floor, a per-client limit), and the serving
//! path is shown to apply a policy itself, before the handler runs (a
//! refusal leaves the handler untouched) or after it (the floor).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use sspr_core::flows::account::Session;
use sspr_core::http::{self, Auth, Floor, Policy, Problem, ProblemCode, Route};
use sspr_core::limits::ClientLimits;
use sspr_core::ports::StoreError;
use sspr_core::{route, App};
use sspr_tests::events::Event;
use sspr_tests::{TestApp, PASSWORD};

/// A route's policy as API.md states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Contract {
    auth: Auth,
    captcha: bool,
    floor: Floor,
    /// Whether the route has a per-client limit out of the box.
    limited: bool,
}

const fn c(auth: Auth, captcha: bool, floor: Floor, limited: bool) -> Contract {
    Contract {
        auth,
        captcha,
        floor,
        limited,
    }
}

const OPEN: Contract = c(Auth::None, false, Floor::Off, true);
const PAGE: Contract = c(Auth::None, false, Floor::Off, false);
const BEARER: Contract = c(Auth::Bearer, false, Floor::Off, true);
const RECENT: Contract = c(Auth::Recent, false, Floor::Off, true);
const FLOOR: Contract = c(Auth::None, false, Floor::WellFormed, true);

/// API.md, route by route: `(function, method path) -> policy`.
fn contract() -> BTreeMap<(&'static str, String), Contract> {
    let rows = [
        // Sign-up takes the human check; confirming a code keeps to the floor.
        (
            "register",
            "POST /v1/register",
            c(Auth::None, true, Floor::Off, true),
        ),
        ("register", "POST /v1/register/confirm", FLOOR),
        ("register", "GET /v1/me", BEARER),
        // A change of the recovery email is a change of a way to recover.
        ("register", "PUT /v1/me/email", RECENT),
        // One answer for every well-formed request, and the human check.
        (
            "dispatch",
            "POST /v1/codes",
            c(Auth::None, true, Floor::WellFormed, true),
        ),
        ("password", "POST /v1/password/verify", FLOOR),
        ("password", "POST /v1/password/reset", OPEN),
        ("password", "POST /v1/password/change", BEARER),
        ("password", "POST /v1/unlock", FLOOR),
        // Refused sign-ins look the same in time for strangers and users.
        (
            "signin",
            "POST /v1/token",
            c(
                Auth::None,
                false,
                Floor::Refusal(ProblemCode::InvalidCredentials),
                true,
            ),
        ),
        ("signin", "GET /.well-known/jwks.json", PAGE),
        ("methods", "GET /v1/me/methods", BEARER),
        ("methods", "POST /v1/me/methods", RECENT),
        ("methods", "POST /v1/me/methods/reconfirm", BEARER),
        ("methods", "POST /v1/me/methods/{id}/confirm", BEARER),
        ("methods", "DELETE /v1/me/methods/{id}", RECENT),
        ("methods", "POST /v1/me/recovery-codes", RECENT),
        ("web", "GET /", PAGE),
        ("web", "GET /reset", PAGE),
        ("web", "GET /register", PAGE),
        ("web", "GET /account", PAGE),
        ("web", "GET /assets/{file}", PAGE),
        ("web", "GET /favicon.ico", PAGE),
        ("web", "GET /openapi.json", PAGE),
    ];
    rows.into_iter()
        .map(|(f, route, p)| ((f, route.to_owned()), p))
        .collect()
}

fn rows<S>(
    function: &'static str,
    routes: &'static [Route<S>],
) -> Vec<((&'static str, String), Contract)> {
    let limits = ClientLimits::default();
    routes
        .iter()
        .map(|r| {
            (
                (function, format!("{} {}", r.method, r.path)),
                Contract {
                    auth: r.policy.auth,
                    captcha: r.policy.captcha.is_some(),
                    floor: r.policy.floor,
                    limited: limits.0.contains_key(&r.key),
                },
            )
        })
        .collect()
}

/// Every route of every function, with the policy its table gives it.
fn tables() -> BTreeMap<(&'static str, String), Contract> {
    [
        rows("register", sspr_register::ROUTES),
        rows("dispatch", sspr_dispatch::ROUTES),
        rows("password", sspr_password::ROUTES),
        rows("signin", sspr_signin::ROUTES),
        rows("methods", sspr_methods::ROUTES),
        rows("web", sspr_web::ROUTES),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn every_route_table_gives_each_route_the_policy_api_md_states() {
    let tables = tables();
    let contract = contract();
    for (route, want) in &contract {
        assert_eq!(tables.get(route), Some(want), "{route:?}");
    }
    for route in tables.keys() {
        assert!(
            contract.contains_key(route),
            "{route:?} is in no contract row"
        );
    }
}

#[test]
fn only_the_routes_of_register_and_dispatch_name_the_human_check() {
    let with_captcha: Vec<_> = tables()
        .into_iter()
        .filter(|(_, p)| p.captcha)
        .map(|((f, _), _)| f)
        .collect();
    assert_eq!(with_captcha, ["dispatch", "register"]);
}

/// A well-formed body for each route behind a bearer that reads one, so
/// that only the sign-in can refuse it.
fn well_formed(path: &str) -> Option<Value> {
    match path {
        "/v1/me/email" => Some(json!({"email": "new@example.com"})),
        "/v1/password/change" => {
            // A wrong current password: the change, past its sign-in, refuses
            // it and the token lives on for the other routes.
            Some(
                json!({"current_password": "not the password at all", "new_password": "another long phrase 42"}),
            )
        }
        "/v1/me/methods" => Some(json!({"type": "totp"})),
        "/v1/me/methods/{id}/confirm" => Some(json!({"code": "123456"})),
        _ => None,
    }
}

async fn serve_path(app: &App, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let concrete = path.replace("{id}", "totp");
    let mut e = Event::new(method, &concrete).from_ip("198.51.100.20");
    if let Some(b) = well_formed(path) {
        e = e.json(b);
    }
    if let Some(t) = token {
        e = e.bearer(t);
    }
    let req = e.request();
    let resp = match path {
        "/v1/me" | "/v1/me/email" => sspr_register::handle(app, req).await,
        "/v1/password/change" => sspr_password::handle(app, req).await,
        _ => sspr_methods::handle(app, req).await,
    };
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    (
        resp.status().as_u16(),
        body["code"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_behind_a_bearer_refuses_what_its_policy_refuses() {
    let t = TestApp::spawn().await;
    t.confirmed_user("paula").await;
    let token = t.access_token("paula", PASSWORD).await;
    let app = &t.running.app;
    let signed: Vec<_> = contract()
        .into_iter()
        .filter(|(_, p)| p.auth != Auth::None)
        .map(|((_, route), p)| (route, p.auth))
        .collect();
    assert_eq!(signed.len(), 9, "{signed:?}");
    for (route, _) in &signed {
        let (method, path) = route.split_once(' ').unwrap_or_default();
        for bad in [None, Some("not.a.token")] {
            assert_eq!(
                serve_path(app, method, path, bad).await,
                (401, "invalid_token".to_owned()),
                "{route} with {bad:?}"
            );
        }
    }
    // Past the recent sign-in but within the token's life: only (recent)
    // routes refuse, and they ask for a new sign-in.
    t.clock.advance(5 * 60 + 1);
    for (route, auth) in &signed {
        let (method, path) = route.split_once(' ').unwrap_or_default();
        let (status, code) = serve_path(app, method, path, Some(&token)).await;
        if *auth == Auth::Recent {
            assert_eq!(
                (status, code.as_str()),
                (401, "reauthentication_required"),
                "{route}"
            );
        } else {
            assert!(
                code != "invalid_token" && code != "reauthentication_required",
                "{route}: {status} {code}"
            );
        }
    }
}

// A table of the test's own, to watch the serving path apply each policy.

static RAN: AtomicUsize = AtomicUsize::new(0);
static CHECKED: AtomicUsize = AtomicUsize::new(0);
static STOPPED: AtomicUsize = AtomicUsize::new(0);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ProbeBody {
    word: String,
    #[serde(default)]
    captcha: Option<String>,
}

/// Says who the policy signed in.
async fn whoami(_: &App, _: &Request, s: Session) -> Result<Response<Body>, Problem> {
    RAN.fetch_add(1, Ordering::SeqCst);
    Ok(http::json(
        lambda_http::http::StatusCode::OK,
        &json!({"username": s.user.as_str(), "auth_time": s.claims.auth_time}),
    ))
}

/// Answers at once: `{"word": "junk"}` as malformed, `"no"` as a refusal
/// after acting on it, anything else as done.
async fn answer(_: &App, req: &Request) -> Result<Response<Body>, Problem> {
    RAN.fetch_add(1, Ordering::SeqCst);
    let b: ProbeBody = http::json_body(req)?;
    match b.word.as_str() {
        "junk" => Err(Problem::invalid_request("word: junk")),
        "no" => Err(Problem::invalid_credentials()),
        _ => Ok(http::no_content()),
    }
}

/// Reads a user through the request's store and says how the store answered.
async fn read(app: &App, _: &Request) -> Result<Response<Body>, Problem> {
    RAN.fetch_add(1, Ordering::SeqCst);
    let user = sspr_core::domain::Username::parse("nobody").map_err(|_| Problem::not_found())?;
    let seen = match app.store.get_user(&user).await {
        Ok(_) => "read",
        Err(StoreError::OverLimit) => {
            STOPPED.fetch_add(1, Ordering::SeqCst);
            "over_limit"
        }
        Err(StoreError::Failed { .. }) => "failed",
    };
    Ok(http::json(
        lambda_http::http::StatusCode::OK,
        &json!({"store": seen}),
    ))
}

/// A human check that takes the token `human` only.
const PROBE_CHECK: http::Check = |_, token, _| {
    Box::pin(async move {
        CHECKED.fetch_add(1, Ordering::SeqCst);
        match token.as_deref() {
            Some("human") => Ok(()),
            _ => Err(Problem::captcha_failed()),
        }
    })
};

static PROBE: &[Route] = &[
    route!(GET "/v1/me" => Me, whoami; signed Bearer),
    route!(GET "/v1/me/methods" => Methods, whoami; signed Recent),
    route!(POST "/v1/codes" => Codes, answer; Policy {
        body: Some(http::shape::<ProbeBody>),
        captcha: Some(PROBE_CHECK),
        ..Policy::OPEN
    }),
    route!(POST "/v1/password/verify" => Verify, answer; Policy {
        floor: Floor::WellFormed,
        ..Policy::OPEN
    }),
    route!(POST "/v1/token" => Token, answer; Policy {
        floor: Floor::Refusal(ProblemCode::InvalidCredentials),
        ..Policy::OPEN
    }),
    route!(GET "/v1/me/recovery-codes" => RecoveryCodes, read),
];

async fn probe(app: &App, e: Event) -> (u16, Value) {
    let resp = http::serve(PROBE, app, e.from_ip("198.51.100.30").request()).await;
    let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    (resp.status().as_u16(), body)
}

fn ran() -> usize {
    RAN.load(Ordering::SeqCst)
}

// The probe tests share the counters: one test walks them in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_path_applies_each_policy_around_the_handler() {
    let floor = Duration::from_millis(300);
    let t = TestApp::spawn_with(|c| {
        c.answer_floor = floor;
        c.client_limits = ClientLimits::default()
            .with_overrides("recovery_codes=1/600")
            .expect("valid");
    })
    .await;
    let app = &t.running.app;
    t.confirmed_user("quinn").await;
    let token = t.access_token("quinn", PASSWORD).await;

    // auth: Bearer refuses without a token before its handler runs, and
    // hands the handler the session it established.
    let before = ran();
    let (status, body) = probe(app, Event::new("GET", "/v1/me")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(ran(), before, "the handler ran without a token");
    let (status, body) = probe(app, Event::new("GET", "/v1/me").bearer(&token)).await;
    assert_eq!((status, body["username"].as_str()), (200, Some("quinn")));
    assert_eq!(ran(), before + 1);

    // auth: Recent refuses a sign-in older than five minutes, before the handler.
    t.clock.advance(5 * 60 + 1);
    let before = ran();
    let (status, body) = probe(app, Event::new("GET", "/v1/me/methods").bearer(&token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("reauthentication_required"))
    );
    assert_eq!(ran(), before, "the handler ran for a stale sign-in");
    let (status, _) = probe(app, Event::new("GET", "/v1/me").bearer(&token)).await;
    assert_eq!(status, 200, "a bearer route takes the older sign-in");

    // captcha: a body the handler would refuse is refused first, as the
    // handler refuses it (no check made); then the check, before the handler.
    let (ran_before, checked) = (ran(), CHECKED.load(Ordering::SeqCst));
    let (status, body) = probe(app, Event::post("/v1/codes", json!({"wrd": "x"}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(
        CHECKED.load(Ordering::SeqCst),
        checked,
        "checked a malformed body"
    );
    let (status, body) = probe(app, Event::post("/v1/codes", json!({"word": "x"}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("captcha_failed"))
    );
    assert_eq!(CHECKED.load(Ordering::SeqCst), checked + 1);
    assert_eq!(ran(), ran_before, "the handler ran past a failed check");
    let (status, _) = probe(
        app,
        Event::post("/v1/codes", json!({"word": "x", "captcha": "human"})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(ran(), ran_before + 1);

    // floor: every answer to a well-formed request waits for it, a
    // malformed one does not.
    for (word, status, held) in [("x", 204, true), ("no", 401, true), ("junk", 400, false)] {
        let started = Instant::now();
        let (got, _) = probe(
            app,
            Event::post("/v1/password/verify", json!({"word": word})),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(got, status, "{word}");
        assert_eq!(took >= floor, held, "{word}: {took:?} against {floor:?}");
    }
    // floor on a refusal: only that refusal waits.
    for (word, status, held) in [("x", 204, false), ("no", 401, true), ("junk", 400, false)] {
        let started = Instant::now();
        let (got, _) = probe(app, Event::post("/v1/token", json!({"word": word}))).await;
        let took = started.elapsed();
        assert_eq!(got, status, "{word}");
        assert_eq!(took >= floor, held, "{word}: {took:?} against {floor:?}");
    }

    // limit: over it, the handler's store call ends in the typed stop, not
    // a failure, and the answer is the meter's 429 with Retry-After.
    let (status, body) = probe(app, Event::new("GET", "/v1/me/recovery-codes")).await;
    assert_eq!((status, body["store"].as_str()), (200, Some("read")));
    let stopped = STOPPED.load(Ordering::SeqCst);
    let resp = http::serve(
        PROBE,
        app,
        Event::new("GET", "/v1/me/recovery-codes")
            .from_ip("198.51.100.30")
            .request(),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(
        STOPPED.load(Ordering::SeqCst),
        stopped + 1,
        "the handler saw no stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_call_over_the_limit_is_the_typed_stop() {
    let t = TestApp::spawn_with(|c| {
        c.client_limits = ClientLimits::default()
            .with_overrides("me=1/600")
            .expect("valid");
    })
    .await;
    let app = &t.running.app;
    let user = sspr_core::domain::Username::parse("nobody").expect("a username");
    let (first, _) = app.metered(sspr_core::limits::RouteKey::Me, "198.51.100.40");
    assert!(first.store.get_user(&user).await.is_ok());
    let (second, meter) = app.metered(sspr_core::limits::RouteKey::Me, "198.51.100.40");
    assert!(matches!(
        second.store.get_user(&user).await,
        Err(StoreError::OverLimit)
    ));
    let verdict = meter
        .expect("a limited route")
        .settle()
        .await
        .expect("settled");
    assert!(matches!(
        verdict,
        sspr_core::ports::Admission::Limited { .. }
    ));
}
