//! Warm cost per route, in process: each function's handler called with an API
//! Gateway v2 event, against dynoxide on loopback (so DynamoDB I/O is included,
//! network latency is not). Criterion measures each route; a second pass then
//! times 1000 single calls per route and prints their median and p99, which
//! criterion does not report.
//!
//! Argon2 is excluded and included: the sign-in routes run twice, once with the
//! deployed parameters (m=19 MiB, t=2) and once through an app whose hasher and
//! user hash use m=8 KiB, t=1, which leaves everything but Argon2's work.
//!
//! Run: `cargo bench -p sspr-tests --bench routes` (bench/run does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::json;
use sspr_core::config::HashParams;
use sspr_core::domain::PasswordHasher;
use sspr_core::App;
use sspr_tests::events::Event;
use sspr_tests::{TestApp, PASSWORD};

/// A fresh client address per call, so each call pays its per-client charge
/// and none is ever over its limit.
fn next_ip() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

type Handler = fn(App, lambda_http::Request) -> futures::future::BoxFuture<'static, u16>;

struct Route {
    name: &'static str,
    app: App,
    event: Event,
    handler: Handler,
    status: u16,
}

fn dispatch(app: App, r: lambda_http::Request) -> futures::future::BoxFuture<'static, u16> {
    Box::pin(async move { sspr_dispatch::handle(&app, r).await.status().as_u16() })
}
fn register(app: App, r: lambda_http::Request) -> futures::future::BoxFuture<'static, u16> {
    Box::pin(async move { sspr_register::handle(&app, r).await.status().as_u16() })
}
fn password(app: App, r: lambda_http::Request) -> futures::future::BoxFuture<'static, u16> {
    Box::pin(async move { sspr_password::handle(&app, r).await.status().as_u16() })
}
fn methods(app: App, r: lambda_http::Request) -> futures::future::BoxFuture<'static, u16> {
    Box::pin(async move { sspr_methods::handle(&app, r).await.status().as_u16() })
}
fn signin(app: App, r: lambda_http::Request) -> futures::future::BoxFuture<'static, u16> {
    Box::pin(async move { sspr_signin::handle(&app, r).await.status().as_u16() })
}

async fn call(route: &Route) -> u16 {
    let req = route.event.clone().from_ip(&next_ip()).request();
    (route.handler)(route.app.clone(), req).await
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (t, routes) = rt.block_on(setup());
    // Each route answers as it should before it is timed.
    for r in &routes {
        let got = rt.block_on(call(r));
        assert_eq!(got, r.status, "{}", r.name);
    }

    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    {
        let mut g = c.benchmark_group("route");
        for r in &routes {
            if r.name.contains("Argon2 included") {
                g.sample_size(20);
            } else {
                g.sample_size(60);
            }
            g.bench_function(r.name, |b| b.to_async(&rt).iter(|| call(r)));
        }
        g.finish();
    }
    c.final_summary();

    println!("\nsingle calls, one at a time (wall time of the handler, dynoxide included):");
    println!(
        "{:<44} {:>6} {:>10} {:>10}",
        "route", "calls", "median ms", "p99 ms"
    );
    for r in &routes {
        let n = if r.name.contains("Argon2 included") {
            200
        } else {
            1000
        };
        let mut ms: Vec<f64> = (0..n)
            .map(|_| {
                let t0 = Instant::now();
                let _ = rt.block_on(call(r));
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        println!(
            "{:<44} {:>6} {:>10.3} {:>10.3}",
            r.name,
            n,
            at(0.5),
            at(0.99)
        );
    }
    drop(t);
}

async fn setup() -> (TestApp, Vec<Route>) {
    let t = TestApp::spawn_with(|c| {
        // A benchmark signs in thousands of times; lockout would end it early.
        c.signin.max_failures = 100;
    })
    .await;
    let app = t.running.app.clone();
    t.confirmed_user("bench.user").await;
    let token = t.access_token("bench.user", PASSWORD).await;
    // The same app with Argon2 at its cheapest, and a user hashed that way.
    let mut cheap = app.clone();
    cheap.ctx.hasher = PasswordHasher::new(HashParams {
        m_kib: 8,
        t: 1,
        p: 1,
    });
    let reg = Event::post(
        "/v1/register",
        json!({"username": "cheap.user", "email": "cheap@example.com", "password": PASSWORD}),
    );
    assert_eq!(
        sspr_register::handle(&cheap, reg.request()).await.status(),
        201
    );
    let code = t
        .last_code("cheap@example.com", "confirm_email")
        .await
        .expect("a confirmation code");
    let confirm = Event::post(
        "/v1/register/confirm",
        json!({"username": "cheap.user", "code": code}),
    );
    assert_eq!(
        sspr_register::handle(&cheap, confirm.request())
            .await
            .status(),
        200
    );

    let sign_in =
        |user: &str, pw: &str| Event::post("/v1/token", json!({"username": user, "password": pw}));
    let routes = vec![
        Route {
            name: "POST /v1/codes (unknown user)",
            app: app.clone(),
            event: Event::post(
                "/v1/codes",
                json!({"username": "nobody", "purpose": "reset_password"}),
            ),
            handler: dispatch,
            status: 202,
        },
        Route {
            name: "POST /v1/codes (user within its spacing)",
            app: app.clone(),
            event: Event::post(
                "/v1/codes",
                json!({"username": "bench.user", "purpose": "reset_password"}),
            ),
            handler: dispatch,
            status: 202,
        },
        Route {
            name: "POST /v1/password/verify (unknown user)",
            app: app.clone(),
            event: Event::post(
                "/v1/password/verify",
                json!({"username": "nobody", "code": "123456"}),
            ),
            handler: password,
            status: 400,
        },
        Route {
            name: "GET /v1/me",
            app: app.clone(),
            event: Event::new("GET", "/v1/me").bearer(&token),
            handler: register,
            status: 200,
        },
        Route {
            name: "GET /v1/me/methods",
            app: app.clone(),
            event: Event::new("GET", "/v1/me/methods").bearer(&token),
            handler: methods,
            status: 200,
        },
        Route {
            name: "GET /.well-known/jwks.json",
            app: app.clone(),
            event: Event::new("GET", "/.well-known/jwks.json"),
            handler: signin,
            status: 200,
        },
        Route {
            name: "POST /v1/token, right (Argon2 excluded)",
            app: cheap.clone(),
            event: sign_in("cheap.user", PASSWORD),
            handler: signin,
            status: 200,
        },
        Route {
            name: "POST /v1/token, unknown (Argon2 excluded)",
            app: cheap.clone(),
            event: sign_in("nobody", PASSWORD),
            handler: signin,
            status: 401,
        },
        Route {
            name: "POST /v1/token, right (Argon2 included)",
            app: app.clone(),
            event: sign_in("bench.user", PASSWORD),
            handler: signin,
            status: 200,
        },
        Route {
            name: "POST /v1/token, unknown (Argon2 included)",
            app: app.clone(),
            event: sign_in("nobody", PASSWORD),
            handler: signin,
            status: 401,
        },
    ];
    (t, routes)
}
