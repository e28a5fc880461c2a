//! `sspr-bench lambda DIR` and `sspr-bench argon2`: figures for BENCHMARKS.md.
//!
//! `lambda DIR` runs each function's release binary in DIR (and `hello-lambda`)
//! under a minimal Lambda runtime API on loopback, the way Lambda runs a
//! `bootstrap`: it measures init (exec to the first `next` request), the first
//! invocation (which makes the function's first DynamoDB call) and, for
//! `sspr-signin`, the peak memory over 200 sign-ins. With `--cpu-quota PCT` each
//! process runs in a cgroup (v1 `cpu`) limited to PCT% of one CPU, as a 128 MB
//! Lambda function is. With `--secrets-manager` every function reads its keyring
//! from moto's Secrets Manager at its cold start (`SSPR_SECRET_ARN`), as deployed,
//! instead of the local runtimes' two variables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Mutex};

#[derive(Default)]
struct Emu {
    next: Mutex<Option<mpsc::Receiver<(String, Value)>>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    ready: Mutex<Option<oneshot::Sender<Instant>>>,
}

async fn next(State(emu): State<Arc<Emu>>) -> axum::response::Response {
    if let Some(tx) = emu.ready.lock().await.take() {
        let _ = tx.send(Instant::now());
    }
    let mut guard = emu.next.lock().await;
    let Some(rx) = guard.as_mut() else {
        return axum::response::Response::default();
    };
    match rx.recv().await {
        Some((id, event)) => axum::response::Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header(
                "lambda-runtime-deadline-ms",
                (now_ms() + 30_000).to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(axum::body::Body::from(event.to_string()))
            .unwrap_or_default(),
        None => {
            // No more events: let the runtime wait forever.
            drop(guard);
            std::future::pending::<()>().await;
            axum::response::Response::default()
        }
    }
}

async fn respond(
    State(emu): State<Arc<Emu>>,
    UrlPath((id, _kind)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = emu.waiting.lock().await.remove(&id) {
        let _ = tx.send(v);
    }
    "ok"
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn event(method: &str, path: &str, body: Value) -> Value {
    sspr_tests::events::Event::new(method, path)
        .json(body)
        .to_value()
}

struct Run {
    init: Duration,
    first: Duration,
    statuses: Vec<u64>,
    peak_kib: u64,
    /// CPU time (user + system) the process spent on every invocation after the first.
    warm_cpu: Duration,
    /// Wall time of every invocation after the first.
    warm_wall: Vec<f64>,
}

/// utime + stime of a process, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // Fields after the command: state is [0]; utime [11], stime [12].
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // Linux reports in clock ticks of 1/100 s.
    Duration::from_millis(ticks * 10)
}

fn cgroup(quota_pct: Option<u32>) -> Option<PathBuf> {
    static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let pct = quota_pct?;
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(format!(
        "/sys/fs/cgroup/cpu/sspr-bench-{}-{run}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("cpu.cfs_period_us"), "100000").ok()?;
    std::fs::write(dir.join("cpu.cfs_quota_us"), (pct * 1000).to_string()).ok()?;
    Some(dir)
}

/// A bootstrap's environment as a 128 MB function's, against the runtime API
/// at `api`, plus `env`; its output discarded, and killed when dropped.
fn lambda_env(cmd: &mut tokio::process::Command, api: &str, name: &str, env: &[(String, String)]) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
}

async fn run_binary(
    bin: &Path,
    env: &[(String, String)],
    events: Vec<Value>,
    quota: Option<u32>,
) -> Result<Run, String> {
    let (tx, rx) = mpsc::channel(events.len().max(1));
    let (ready_tx, ready_rx) = oneshot::channel();
    let emu = Arc::new(Emu {
        next: Mutex::new(Some(rx)),
        waiting: Mutex::new(HashMap::new()),
        ready: Mutex::new(Some(ready_tx)),
    });
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(next),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/{kind}",
            axum::routing::post(respond),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            axum::routing::post(|| async { "ok" }),
        )
        .with_state(emu.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    // A cgroup of its own per run, so no run starts on a quota an earlier one
    // (a sign-in's Argon2) used up.
    let group = cgroup(quota);
    let mut cmd = match &group {
        Some(dir) => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c")
                .arg(format!("echo $$ > {}/tasks && exec \"$0\"", dir.display()))
                .arg(bin);
            c
        }
        None => tokio::process::Command::new(bin),
    };
    lambda_env(&mut cmd, &api.to_string(), "bench", env);
    cmd.env("AWS_LAMBDA_MAX_CONCURRENCY", "1");
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
    let pid = child.id().unwrap_or(0);
    let ready = tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .map_err(|_| "no init".to_string())?
        .map_err(|e| e.to_string())?;
    let mut statuses = Vec::new();
    let mut first = Duration::ZERO;
    let mut cpu_after_first = Duration::ZERO;
    let mut warm_wall = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let id = format!("req-{i}");
        let (wtx, wrx) = oneshot::channel();
        emu.waiting.lock().await.insert(id.clone(), wtx);
        let sent = Instant::now();
        tx.send((id, e)).await.map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(60), wrx)
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| e.to_string())?;
        if i == 0 {
            first = sent.elapsed();
            cpu_after_first = cpu_time(pid);
        } else {
            warm_wall.push(sent.elapsed().as_secs_f64() * 1e3);
        }
        statuses.push(resp["statusCode"].as_u64().unwrap_or(0));
    }
    let warm_cpu = cpu_time(pid).saturating_sub(cpu_after_first);
    let peak_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let _ = child.kill().await;
    let _ = child.wait().await;
    if let Some(dir) = &group {
        let _ = std::fs::remove_dir(dir);
    }
    server.abort();
    Ok(Run {
        init: ready - t0,
        first,
        statuses,
        peak_kib,
        warm_cpu,
        warm_wall,
    })
}

/// Exec `bin` against cargo lambda's runtime API (`cargo lambda watch
/// --only-lambda-apis` on `port`) and invoke it through that emulator's invoke
/// API at once: the time from exec to the answer of its first invocation.
async fn run_under_watch(
    bin: &Path,
    env: &[(String, String)],
    event: &Value,
    port: u16,
) -> Result<(Duration, u64), String> {
    let mut cmd = tokio::process::Command::new(bin);
    lambda_env(&mut cmd, &format!("http://127.0.0.1:{port}/.rt"), "_", env);
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
    let answer = http
        .post(format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
        ))
        .json(event)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| e.to_string());
    let took = t0.elapsed();
    let _ = child.kill().await;
    let _ = child.wait().await;
    let body: Value = answer?.json().await.map_err(|e| e.to_string())?;
    Ok((took, body["statusCode"].as_u64().unwrap_or(0)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn lambda(
    dir: PathBuf,
    quota: Option<u32>,
    rounds: usize,
    watch: Option<u16>,
    secrets_manager: bool,
) {
    // DynamoDB: dynoxide with the table and one user, made through the real store.
    let dynamo = sspr_core::store::embedded::EmbeddedDynamo::start(None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = sspr_local::local_dynamo_client(dynamo.endpoint()).await;
    let store =
        sspr_core::store::DynamoStore::new(client, "sspr", Duration::from_secs(90 * 86_400));
    store.ensure_table().await.unwrap_or_else(|e| panic!("{e}"));
    let b64 = base64::engine::general_purpose::STANDARD;
    let (hmac, seed) = (b64.encode([7u8; 32]), b64.encode([9u8; 32]));
    let secrets =
        sspr_core::config::Secrets::from_base64(&hmac.clone().into(), &seed.clone().into())
            .unwrap_or_else(|e| panic!("{e}"));
    let outbox = std::env::temp_dir().join(format!("sspr-bench-{}", std::process::id()));
    let config = sspr_core::config::Config {
        outbox_dir: outbox.display().to_string(),
        ..Default::default()
    };
    let app = sspr_core::App::new(
        config,
        secrets,
        Arc::new(store),
        Arc::new(sspr_core::ports::SystemClock),
        sspr_core::app::Parts::ALL,
    );
    let reg = sspr_core::flows::register::Registration {
        username: sspr_core::domain::Username::parse("bench.user")
            .unwrap_or_else(|e| panic!("{e}")),
        email: sspr_core::domain::Email::parse("bench@example.com")
            .unwrap_or_else(|e| panic!("{e}")),
        password: "correct horse battery staple orbit".into(),
        locale: Default::default(),
    };
    let _ = sspr_core::flows::register::register(&app, reg, &Default::default(), app.now()).await;
    // With --secrets-manager, every function reads its keys at its cold start
    // as deployed: one GetSecretValue of the keyring (two versions, as after a
    // rotation) from moto's Secrets Manager, counted in the init figure.
    let moto = match secrets_manager {
        true => Some(sspr_tests::moto::Moto::start().await),
        false => None,
    };
    let mut keys: Vec<(&str, String)> =
        vec![("SSPR_HMAC_SECRET", hmac), ("SSPR_SIGNING_KEY", seed)];
    if let Some(m) = &moto {
        use secrecy::ExposeSecret as _;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let doc = sspr_core::keys::KeyringDoc::generate(now)
            .rotate(now, 0, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        let arn = m
            .create_secret("sspr-bench-keyring", doc.to_text().expose_secret())
            .await;
        keys = vec![
            ("SSPR_SECRET_ARN", arn),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", m.url.clone()),
        ];
        println!(
            "keys: the keyring from Secrets Manager (moto at {}) at each cold start",
            m.url
        );
    }
    let env: Vec<(String, String)> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint()),
        ("SSPR_MAIL", "outbox"),
        ("SSPR_OUTBOX_DIR", &outbox.display().to_string()),
        (
            "SSPR_CLIENT_LIMITS",
            "token=off,codes=off,confirm=off,verify=off",
        ),
        // The answer floor is a sleep, not work: measure the work. And let
        // every round's eligible code request issue a code.
        ("SSPR_ANSWER_FLOOR_MS", "0"),
        ("SSPR_CODE_MIN_INTERVAL_SECS", "0"),
        ("SSPR_CODE_SENDS_PER_HOUR", "50"),
        ("RUST_LOG", "warn"),
        // The events function's bus and queue: its case below publishes
        // nothing, so neither is called.
        ("SSPR_EVENT_BUS", "bench"),
        (
            "SSPR_EVENT_DLQ_URL",
            "http://127.0.0.1:9/000000000000/bench",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(keys.iter().map(|(k, v)| (k.to_string(), v.clone())))
    .collect();
    // The first invocation of each makes its first DynamoDB call without Argon2.
    // Every signin call that reaches DynamoDB checks a password, so its Argon2-free
    // first call is a sign-in from a client already at its limit (the charge is
    // the DynamoDB call; the answer 429); its first real sign-in is a row of its own.
    let throttled = sspr_core::ports::ClientCharge {
        ip: "1.2.3.4".into(),
        route: sspr_core::limits::RouteKey::Token,
        max: 1,
        window_secs: 86_400,
        now: app.now(),
    };
    let _ = app.meter.charge(&throttled).await;
    let sign_in = event(
        "POST",
        "/v1/token",
        json!({"username": "bench.user", "password": "correct horse battery staple orbit"}),
    );
    let cases: Vec<(&str, &str, Value, Option<&str>)> = vec![
        (
            "hello-lambda",
            "hello-lambda",
            event("GET", "/", json!({})),
            None,
        ),
        (
            "sspr-dispatch",
            "sspr-dispatch",
            event(
                "POST",
                "/v1/codes",
                json!({"username": "nobody", "purpose": "reset_password"}),
            ),
            None,
        ),
        (
            "sspr-dispatch",
            "  eligible",
            event(
                "POST",
                "/v1/codes",
                json!({"username": "bench.user", "purpose": "verify_email"}),
            ),
            None,
        ),
        (
            "sspr-mailer",
            "sspr-mailer",
            json!({"Records": [{
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": {"pk": {"S": "USER#bench.user"}, "sk": {"S": "MAIL#000000000000#none"}},
                    "SequenceNumber": "100000000000000000001",
                },
            }]}),
            None,
        ),
        (
            "sspr-events",
            "sspr-events",
            // An audit item no other system hears of: the record is read and
            // dropped (the template's filter would not even deliver it).
            json!({"Records": [{
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": {"pk": {"S": "USER#bench.user"}, "sk": {"S": "AUDIT#000000000000#0#none"}},
                    "NewImage": {"type": {"S": "code_sent"}, "at": {"N": "0"}},
                    "SequenceNumber": "100000000000000000002",
                },
            }]}),
            None,
        ),
        (
            "sspr-register",
            "sspr-register",
            event(
                "POST",
                "/v1/register/confirm",
                json!({"username": "nobody", "code": "123456"}),
            ),
            None,
        ),
        (
            "sspr-password",
            "sspr-password",
            event(
                "POST",
                "/v1/password/verify",
                json!({"username": "nobody", "code": "123456"}),
            ),
            None,
        ),
        (
            "sspr-methods",
            "sspr-methods",
            event("GET", "/v1/me/methods", json!({})),
            None,
        ),
        (
            "sspr-signin",
            "sspr-signin",
            sign_in.clone(),
            Some("token=1/86400,codes=off,confirm=off,verify=off"),
        ),
        ("sspr-signin", "  first sign-in", sign_in, None),
    ];
    let cap = quota
        .map(|q| format!("{q}% of one CPU (cgroup cpu.cfs_quota_us)"))
        .unwrap_or_else(|| "no CPU cap".into());
    println!("method: each release binary exec'd under a loopback Lambda runtime API, {cap}; median of {rounds} cold starts;");
    println!("        init = exec to its first /next; first = its first invocation, which makes its first DynamoDB call without Argon2");
    println!("        (signin: a sign-in from a client over its limit, answered 429; its first real sign-in, with Argon2, is the last row)");
    println!(
        "{:<16} {:>10} {:>10} {:>12} {:>10}",
        "binary", "init ms", "first ms", "init/hello", "status"
    );
    let mut hello_init = 0.0;
    for (name, label, ev, limits) in &cases {
        let bin = dir.join(name);
        let mut env = env.clone();
        if let Some(l) = limits {
            env.retain(|(k, _)| k != "SSPR_CLIENT_LIMITS");
            env.push(("SSPR_CLIENT_LIMITS".into(), l.to_string()));
        }
        let (mut inits, mut firsts, mut status) = (Vec::new(), Vec::new(), 0);
        for _ in 0..rounds {
            match run_binary(&bin, &env, vec![ev.clone()], quota).await {
                Ok(r) => {
                    inits.push(r.init.as_secs_f64() * 1e3);
                    firsts.push(r.first.as_secs_f64() * 1e3);
                    status = r.statuses.first().copied().unwrap_or(0);
                }
                Err(e) => println!("{name}: {e}"),
            }
        }
        if inits.is_empty() {
            continue;
        }
        let (i, f) = (median(inits), median(firsts));
        if *name == "hello-lambda" {
            hello_init = i;
        }
        let ratio = i / hello_init.max(1e-9);
        // The budgets hold under the cap: init at most 1.5x hello-world's and
        // the first invocation at most 25 ms (a sign-in's Argon2 excepted).
        let first_sign_in = *name == "sspr-signin" && *label != *name;
        let verdict = match (quota, *name, first_sign_in) {
            (None, _, _) | (_, "hello-lambda", _) => "",
            (Some(_), _, true) => "Argon2 at the cap",
            (Some(_), _, false) if ratio <= 1.5 && f <= 25.0 => "within budget",
            (Some(_), _, false) => "OVER budget",
        };
        println!(
            "{:<16} {:>10.2} {:>10.2} {:>11.2}x {:>10}   {}",
            label, i, f, ratio, status, verdict
        );
    }
    if let Some(port) = watch {
        println!("under cargo lambda's emulator (cargo lambda watch --only-lambda-apis): exec of the bootstrap to the answer of its first invocation, sent at exec; median of {rounds}");
        println!(
            "{:<16} {:>14} {:>12} {:>10}",
            "binary", "exec->answer", "vs hello", "status"
        );
        let mut hello = 0.0;
        for (name, label, ev, limits) in &cases {
            let mut env = env.clone();
            if let Some(l) = limits {
                env.retain(|(k, _)| k != "SSPR_CLIENT_LIMITS");
                env.push(("SSPR_CLIENT_LIMITS".into(), l.to_string()));
            }
            let (mut took, mut status) = (Vec::new(), 0);
            for _ in 0..rounds {
                match run_under_watch(&dir.join(name), &env, ev, port).await {
                    Ok((t, s)) => {
                        took.push(t.as_secs_f64() * 1e3);
                        status = s;
                    }
                    Err(e) => println!("{name}: {e}"),
                }
            }
            if took.is_empty() {
                continue;
            }
            let t = median(took);
            if *name == "hello-lambda" {
                hello = t;
            }
            println!(
                "{:<16} {:>11.2} ms {:>11.2}x {:>10}",
                label,
                t,
                t / hello.max(1e-9),
                status
            );
        }
    }
    // Warm cost outside Argon2: 2000 code requests to one warm dispatch process.
    let n = 2000;
    let codes: Vec<Value> = (0..=n)
        .map(|i| {
            event(
                "POST",
                "/v1/codes",
                json!({"username": format!("nobody{i}"), "purpose": "reset_password"}),
            )
        })
        .collect();
    match run_binary(&dir.join("sspr-dispatch"), &env, codes, None).await {
        Ok(mut r) => {
            r.warm_wall.sort_by(|a, b| a.total_cmp(b));
            let p = |q: f64| r.warm_wall[((r.warm_wall.len() - 1) as f64 * q) as usize];
            println!(
                "sspr-dispatch warm, {n} x POST /v1/codes (unknown user: client charge + read): CPU {:.3} ms per request (process utime+stime); wall p50 {:.2} ms, p99 {:.2} ms (includes dynoxide and loopback)",
                r.warm_cpu.as_secs_f64() * 1e3 / n as f64,
                p(0.5),
                p(0.99)
            );
        }
        Err(e) => println!("dispatch warm run: {e}"),
    }
    // Peak memory over 200 sign-ins in one process.
    let signins: Vec<Value> = (0..200)
        .map(|i| {
            let pw = if i % 2 == 0 {
                "correct horse battery staple orbit"
            } else {
                "not the password"
            };
            event(
                "POST",
                "/v1/token",
                json!({"username": "bench.user", "password": pw}),
            )
        })
        .collect();
    match run_binary(&dir.join("sspr-signin"), &env, signins, None).await {
        Ok(r) => {
            let ok = r.statuses.iter().filter(|s| **s == 200).count();
            println!("sspr-signin over 200 sign-ins ({ok} right, the rest wrong): peak RSS (VmHWM) {:.1} MB", r.peak_kib as f64 / 1024.0);
        }
        Err(e) => println!("sspr-signin memory run: {e}"),
    }
    let _ = std::fs::remove_dir_all(&outbox);
}

fn argon2() {
    use sspr_core::domain::{Email, NewPassword, Password, PasswordHasher, Username};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let hasher = PasswordHasher::new(Default::default());
    let user = Username::parse("bench.user").unwrap_or_else(|e| panic!("{e}"));
    let email = Email::parse("bench@example.com").unwrap_or_else(|e| panic!("{e}"));
    let pw = NewPassword::parse(
        "correct horse battery staple orbit",
        &Default::default(),
        &user,
        &email,
    )
    .unwrap_or_else(|_| panic!("weak"));
    let typed =
        Password::parse("correct horse battery staple orbit").unwrap_or_else(|| panic!("empty"));
    let phc = rt
        .block_on(hasher.hash(&pw))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let _ = rt.block_on(hasher.verify(Some(&typed), Some(&phc)));
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let m = median(times.clone());
    println!("method: Argon2id m=19456 KiB t=2 p=1, 30 verifications on the blocking pool, one core, this build's profile");
    println!(
        "argon2id verify: median {m:.2} ms, min {:.2} ms; process peak RSS {:.1} MB",
        times.iter().cloned().fold(f64::MAX, f64::min),
        peak as f64 / 1024.0
    );
    println!("at Lambda's CPU share (1 vCPU at 1769 MB): 128 MB ~{:.0} ms, 512 MB ~{:.0} ms, 1024 MB ~{:.0} ms per hash", m * 1769.0 / 128.0, m * 1769.0 / 512.0, m * 1769.0 / 1024.0);
}

/// Closed-loop load: `workers` clients, each sending its next request when the
/// last is answered, for `secs` seconds per route.
async fn load(url: &str, secs: u64) {
    let http = reqwest::Client::new();
    // A user to sign in as.
    let _ = http
        .post(format!("{url}/v1/register"))
        .json(&json!({"username": "load.user", "email": "load@example.com", "password": "correct horse battery staple orbit"}))
        .send()
        .await;
    println!("method: closed loop over HTTP/1.1 keep-alive to {url}, 16 concurrent clients, {secs} s per route");
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>7}",
        "route", "req/s", "p50 ms", "p99 ms", "non-2xx"
    );
    for (name, path, body) in [
        (
            "POST /v1/codes (unknown users)",
            "/v1/codes",
            json!({"username": "nobody", "purpose": "reset_password"}),
        ),
        (
            "POST /v1/token (right password)",
            "/v1/token",
            json!({"username": "load.user", "password": "correct horse battery staple orbit"}),
        ),
    ] {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let http = http.clone();
            let url = format!("{url}{path}");
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let (mut lat, mut bad) = (Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match http.post(&url).json(&body).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => bad += 1,
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                (lat, bad)
            }));
        }
        let (mut all, mut bad) = (Vec::new(), 0);
        for t in tasks {
            if let Ok((l, b)) = t.await {
                all.extend(l);
                bad += b;
            }
        }
        all.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| {
            all.get(((all.len().max(1) - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        println!(
            "{:<40} {:>9.0} {:>9.2} {:>9.2} {:>7}",
            name,
            all.len() as f64 / secs as f64,
            p(0.5),
            p(0.99),
            bad
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("lambda") => {
            let dir = PathBuf::from(
                args.get(1)
                    .cloned()
                    .unwrap_or_else(|| "target/release".into()),
            );
            let quota = args
                .iter()
                .position(|a| a == "--cpu-quota")
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok());
            let rounds = args
                .iter()
                .position(|a| a == "--rounds")
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(5);
            let watch = args
                .iter()
                .position(|a| a == "--watch")
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok());
            let secrets_manager = args.iter().any(|a| a == "--secrets-manager");
            lambda(dir, quota, rounds, watch, secrets_manager).await;
        }
        Some("load") => {
            let url = args
                .get(1)
                .cloned()
                .unwrap_or_else(|| "http://127.0.0.1:8080".into());
            let secs: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(10);
            load(&url, secs).await;
        }
        Some("argon2") => {
            tokio::task::spawn_blocking(argon2)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        _ => eprintln!(
            "usage: sspr-bench lambda [DIR] [--cpu-quota PCT] [--rounds N] [--watch PORT] [--secrets-manager] | sspr-bench argon2 | sspr-bench load URL [SECS]"
        ),
    }
}
