//! Crash safety of `sspr-local --data FILE`: the real binary, on a SQLite file,
//! under a concurrent load of registrations, confirmations, resets and password
//! changes, is killed with SIGKILL in the middle of it and restarted on the same
//! file, three times. After each restart every acknowledged answer holds (a
//! `201` user exists and signs in; after a `204` reset or change the new
//! password works and the old one does not), the table is consistent (see
//! `sspr_tests::consistency`), and the server answers again (the time to its
//! first answer is printed; a restart that never answers within a minute
//! fails). Only the planned kill may end the load: a request the server fails
//! to answer before it, or a server that exited on its own, fails the test.
//!
//! The binary is `target/<profile>/sspr-local`, next to this test's own
//! executable: build it first with `cargo build -p sspr-local` (`tests/run`
//! does). Codes are read from the outbox folder, polled for a few seconds, so
//! the load does not depend on mail being written before the answer.

use sspr_core::store::schema;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sspr_core::config::Config;
use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_core::store::DynamoStore;
use sspr_tests::consistency::check_table;
use sspr_tests::host::{built_binary, log_of, LocalProcess as Server};
use sspr_tests::{parse_eml, NEW_PASSWORD, PASSWORD};

/// The third password of each user, after the reset and the change.
const THIRD_PASSWORD: &str = "brisk pelican umbrella tundra";
/// Concurrent clients in the load.
const WORKERS: usize = 4;
/// How long after the load starts each round's kill comes.
const KILLS: [Duration; 3] = [
    Duration::from_millis(1500),
    Duration::from_millis(2700),
    Duration::from_millis(4100),
];
/// How long a code may take to reach the outbox.
const MAIL_WAIT: Duration = Duration::from_secs(5);

const CLIENT_LIMITS: &str = "register=100000/3600,confirm=100000/3600,codes=100000/3600,\
    verify=100000/3600,reset=100000/3600,change=100000/3600,token=100000/3600,me=100000/3600";

/// `sspr-local` on `dir`, with limits far above the load, so the client
/// counters are written (and checked) too; and the time to its first answer.
async fn start_server(dir: &Path) -> (Server, Duration) {
    let bin = built_binary("sspr-local", "`cargo build -p sspr-local` (tests/run does)");
    Server::start(
        &bin,
        dir,
        &[("SSPR_CLIENT_LIMITS", CLIENT_LIMITS), ("RUST_LOG", "warn")],
    )
    .await
}

/// What the server acknowledged for one user, and what was in flight.
#[derive(Debug, Clone, Default)]
struct Account {
    email: String,
    /// The registration was sent; `registered` says whether `201` came back.
    register_sent: bool,
    registered: bool,
    /// `200` to the email confirmation.
    confirmed: bool,
    /// The password the last acknowledged write set.
    password: String,
    /// A reset or change sent and not answered: it may or may not have applied.
    pending: Option<String>,
    /// Passwords an acknowledged reset or change replaced.
    retired: Vec<String>,
}

type Ledger = Arc<Mutex<HashMap<String, Account>>>;

fn ledger_update(ledger: &Ledger, user: &str, f: impl FnOnce(&mut Account)) {
    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    f(l.entry(user.to_owned()).or_default());
}

/// An answer, or `None` when the server is gone (the kill, or a death the
/// caller reports as a problem).
async fn post(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: Value,
) -> Option<(u16, Value)> {
    let mut req = http.post(url).json(&body).timeout(Duration::from_secs(10));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, body))
}

/// Wait for a code of `kind` to `to` in the outbox (not past the kill).
async fn code_from_outbox(
    outbox: &Path,
    kind: &str,
    to: &str,
    killed: &AtomicBool,
) -> Option<String> {
    let suffix = format!("-{kind}-{to}.eml");
    let deadline = Instant::now() + MAIL_WAIT;
    while Instant::now() < deadline && !killed.load(Ordering::SeqCst) {
        if let Ok(dir) = std::fs::read_dir(outbox) {
            let mut names: Vec<PathBuf> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(&suffix))
                .collect();
            names.sort();
            if let Some(code) = names.last().and_then(|p| {
                let raw = std::fs::read_to_string(p).ok()?;
                parse_eml(String::new(), raw).code()
            }) {
                return Some(code);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// One client: users one after another, each registered, confirmed, reset and
/// changed. Stops at the first request the server does not answer.
struct Load {
    base: String,
    outbox: PathBuf,
    round: usize,
    ledger: Ledger,
    problems: Arc<Mutex<Vec<String>>>,
    killed: Arc<AtomicBool>,
}

async fn worker(load: Arc<Load>, id: usize) {
    let Load {
        base,
        outbox,
        round,
        ledger,
        problems,
        killed,
    } = &*load;
    let http = reqwest::Client::new();
    // A missing code is a problem unless the server was killed meanwhile.
    let problem = |p: String| {
        if !killed.load(Ordering::SeqCst) {
            problems.lock().unwrap_or_else(|e| e.into_inner()).push(p)
        }
    };
    // No answer at all: the planned kill only once it was sent (the flag is
    // set before the signal); before, the server failed on its own.
    let gone = |what: &str| problem(format!("{what}: no answer before the kill"));
    for k in 0.. {
        let user = format!("r{round}w{id}u{k}");
        let email = format!("{user}@example.com");
        ledger_update(ledger, &user, |a| {
            a.email = email.clone();
            a.register_sent = true;
            a.password = PASSWORD.to_owned();
        });
        let body = json!({"username": user, "email": email, "password": PASSWORD});
        let Some((status, _)) = post(&http, &format!("{base}/v1/register"), None, body).await
        else {
            return gone(&format!("{user}: the registration"));
        };
        if status != 201 {
            return problem(format!("{user}: registration answered {status}"));
        }
        ledger_update(ledger, &user, |a| a.registered = true);

        let Some(code) = code_from_outbox(outbox, "confirm_email", &email, killed).await else {
            return problem(format!("{user}: no confirmation code in the outbox"));
        };
        let body = json!({"username": user, "code": code});
        let Some((status, _)) =
            post(&http, &format!("{base}/v1/register/confirm"), None, body).await
        else {
            return gone(&format!("{user}: the confirmation"));
        };
        if status != 200 {
            return problem(format!("{user}: confirmation answered {status}"));
        }
        ledger_update(ledger, &user, |a| a.confirmed = true);

        let body = json!({"username": user, "purpose": "reset_password"});
        let Some((status, _)) = post(&http, &format!("{base}/v1/codes"), None, body).await else {
            return gone(&format!("{user}: the reset code"));
        };
        if status != 202 {
            return problem(format!("{user}: a reset code answered {status}"));
        }
        let Some(code) = code_from_outbox(outbox, "reset_code", &email, killed).await else {
            return problem(format!("{user}: no reset code in the outbox"));
        };
        let body = json!({"username": user, "code": code});
        let Some((status, grant)) =
            post(&http, &format!("{base}/v1/password/verify"), None, body).await
        else {
            return gone(&format!("{user}: the proof"));
        };
        if status != 200 {
            return problem(format!("{user}: the proof answered {status}"));
        }
        let token = grant["reset_token"].as_str().unwrap_or_default();
        ledger_update(ledger, &user, |a| a.pending = Some(NEW_PASSWORD.to_owned()));
        let body = json!({"reset_token": token, "new_password": NEW_PASSWORD});
        let Some((status, _)) = post(&http, &format!("{base}/v1/password/reset"), None, body).await
        else {
            return gone(&format!("{user}: the reset"));
        };
        if status != 204 {
            return problem(format!("{user}: the reset answered {status}"));
        }
        ledger_update(ledger, &user, |a| {
            a.retired
                .push(std::mem::replace(&mut a.password, NEW_PASSWORD.to_owned()));
            a.pending = None;
        });

        let body = json!({"username": user, "password": NEW_PASSWORD});
        let Some((status, signed)) = post(&http, &format!("{base}/v1/token"), None, body).await
        else {
            return gone(&format!("{user}: the sign-in"));
        };
        if status != 200 {
            return problem(format!("{user}: sign-in after the reset answered {status}"));
        }
        let access = signed["access_token"].as_str().unwrap_or_default();
        ledger_update(ledger, &user, |a| {
            a.pending = Some(THIRD_PASSWORD.to_owned())
        });
        let body = json!({"current_password": NEW_PASSWORD, "new_password": THIRD_PASSWORD});
        let Some((status, _)) = post(
            &http,
            &format!("{base}/v1/password/change"),
            Some(access),
            body,
        )
        .await
        else {
            return gone(&format!("{user}: the change"));
        };
        if status != 204 {
            return problem(format!("{user}: the change answered {status}"));
        }
        ledger_update(ledger, &user, |a| {
            a.retired.push(std::mem::replace(
                &mut a.password,
                THIRD_PASSWORD.to_owned(),
            ));
            a.pending = None;
        });
    }
}

async fn sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> (u16, Value) {
    post(
        http,
        &format!("{base}/v1/token"),
        None,
        json!({"username": user, "password": password}),
    )
    .await
    .expect("the restarted server answers")
}

/// Every acknowledged write of `ledger` holds on the server at `base`; what was
/// in flight resolved one way or the other, and the ledger learns which.
async fn acknowledged_writes_hold(http: &reqwest::Client, base: &str, ledger: &Ledger) -> usize {
    let accounts: Vec<(String, Account)> = ledger
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(u, a)| (u.clone(), a.clone()))
        .collect();
    let mut checked = 0;
    for (user, mut a) in accounts {
        if !a.register_sent {
            continue;
        }
        // The acknowledged password first: a right sign-in forgets the wrong
        // ones, so the checks never add up to a lock.
        let (status, signed) = sign_in(http, base, &user, &a.password).await;
        let access = match (status, a.pending.take()) {
            (200, pending) => {
                if let Some(p) = pending {
                    assert_eq!(
                        sign_in(http, base, &user, &p).await.0,
                        401,
                        "{user}: an unapplied write's password"
                    );
                }
                if !a.registered {
                    a.registered = true; // the registration applied; its answer was lost
                }
                signed
            }
            (401, Some(p)) if a.registered => {
                // The write in flight applied: its password replaced the acknowledged one.
                let (status, signed) = sign_in(http, base, &user, &p).await;
                assert_eq!(
                    status, 200,
                    "{user}: neither the acknowledged password nor the one in flight"
                );
                a.retired.push(std::mem::replace(&mut a.password, p));
                signed
            }
            (401, None) if !a.registered => {
                continue; // never acknowledged, and not applied
            }
            (status, _) => panic!("{user}: the acknowledged password answers {status}: {a:?}"),
        };
        for old in &a.retired {
            assert_eq!(
                sign_in(http, base, &user, old).await.0,
                401,
                "{user}: a password an acknowledged reset or change replaced still works"
            );
        }
        if a.confirmed {
            let token = access["access_token"].as_str().unwrap_or_default();
            let me = http
                .get(format!("{base}/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .expect("me");
            assert_eq!(me.status(), 200);
            let me: Value = me.json().await.unwrap_or(Value::Null);
            assert_eq!(
                me["email_verified"], true,
                "{user}: an acknowledged confirmation"
            );
        }
        checked += 1;
        ledger_update(ledger, &user, |stored| *stored = a);
    }
    checked
}

/// The consistency check, on a second connection to the file.
async fn table_is_consistent(data: &Path, what: &str) {
    let dynamo = EmbeddedDynamo::start(Some(data))
        .await
        .expect("open the file");
    let client = sspr_local::local_dynamo_client(dynamo.endpoint()).await;
    let config = Config::default();
    let store = DynamoStore::new(client, config.table.clone(), config.audit_retention);
    match check_table(&store).await {
        Ok(summary) => println!("{what}: consistent, {summary:?}"),
        Err(problems) => panic!("{what}: {problems:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = std::env::temp_dir().join(format!("sspr-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder of its own");
    let http = reqwest::Client::new();
    let ledger: Ledger = Arc::default();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let (mut server, first) = start_server(&dir).await;
    println!("first start: first answer after {first:?}");
    for (round, kill_after) in KILLS.into_iter().enumerate() {
        let load = Arc::new(Load {
            base: server.url.clone(),
            outbox: dir.join("outbox"),
            round,
            ledger: ledger.clone(),
            problems: problems.clone(),
            killed: Arc::default(),
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|id| tokio::spawn(worker(load.clone(), id)))
            .collect();
        tokio::time::sleep(kill_after).await;
        if let Some(status) = server.exited() {
            panic!(
                "round {}: sspr-local exited with {status} before the kill; its log:\n{}",
                round + 1,
                log_of(&dir)
            );
        }
        load.killed.store(true, Ordering::SeqCst);
        server.kill();
        for w in workers {
            w.await.expect("a worker");
        }
        {
            let problems = problems.lock().unwrap_or_else(|e| e.into_inner());
            assert!(
                problems.is_empty(),
                "round {}: answers under load: {problems:#?}",
                round + 1
            );
        }
        let (acked, in_flight) = {
            let l = ledger.lock().unwrap_or_else(|e| e.into_inner());
            let acked = l
                .values()
                .map(|a| a.registered as usize + a.confirmed as usize + a.retired.len())
                .sum::<usize>();
            (acked, l.values().filter(|a| a.pending.is_some()).count())
        };
        let (restarted, took) = start_server(&dir).await;
        server = restarted;
        println!(
            "round {}: killed {kill_after:?} into the load ({acked} writes acknowledged so far, {in_flight} resets or changes in flight); first answer {took:?} after the restart",
            round + 1
        );
        let checked = acknowledged_writes_hold(&http, &server.url, &ledger).await;
        assert!(
            checked > 0,
            "round {}: the load acknowledged something",
            round + 1
        );
        table_is_consistent(
            &dir.join("sspr.sqlite"),
            &format!("after kill {}", round + 1),
        )
        .await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check is not vacuous: what a torn or doubled write would leave is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consistency_check_finds_what_a_torn_write_would_leave() {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    let app = sspr_tests::TestApp::spawn().await;
    app.confirmed_user("tess").await;
    let store = &app.running.store;
    assert!(check_table(store).await.is_ok(), "a clean table passes");
    let put = |pk: &str, sk: &str, extra: Vec<(&str, Av)>| {
        let mut req = store
            .client()
            .put_item()
            .table_name(store.table())
            .item(schema::PK, Av::S(pk.into()))
            .item(schema::SK, Av::S(sk.into()));
        for (k, v) in extra {
            req = req.item(k, v);
        }
        req.send()
    };
    // An audit event without its user, a counter written below zero, and a
    // profile without its registration event.
    put(
        "USER#ghost",
        "AUDIT#1",
        vec![("type", Av::S("registered".into()))],
    )
    .await
    .expect("put");
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key(schema::PK, Av::S("USER#tess".into()))
        .key(schema::SK, Av::S("PROFILE".into()))
        .update_expression("SET si_cnt = :n")
        .expression_attribute_values(":n", Av::N("-1".into()))
        .send()
        .await
        .expect("update");
    let registered = store
        .audit_events(&sspr_core::domain::Username::parse("tess").expect("valid"))
        .await
        .expect("events");
    let sk = registered
        .iter()
        .find(|e| e.get(schema::TYPE).map(String::as_str) == Some("registered"))
        .and_then(|e| e.get(schema::SK).cloned())
        .expect("the registration event");
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(schema::PK, Av::S("USER#tess".into()))
        .key(schema::SK, Av::S(sk))
        .send()
        .await
        .expect("delete");
    let problems = check_table(store).await.expect_err("problems found");
    let found = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(found("USER#ghost"), "{problems:#?}");
    assert!(found("si_cnt"), "{problems:#?}");
    assert!(found("0 registration events"), "{problems:#?}");
}
