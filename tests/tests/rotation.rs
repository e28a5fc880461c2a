//! Key rotation (DESIGN.md "Version 1.2: Keys"), drilled against dynoxide and
//! moto's Secrets Manager: several hosts on one table, each with the keys it
//! loaded from the secret as a deployed function loads them
//! (`sspr_core::app::load_secrets`), the rotation's four steps run for real
//! (`Rotation::rotate_now`), and one clock shared by the test and the hosts.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use reqwest::Method;
use serde_json::{json, Value};
use sspr_core::config::Secrets;
use sspr_core::keyring::REREAD_SECS;
use sspr_core::keys::rotation::Rotation;
use sspr_core::keys::{KeyringDoc, RotateError, RotateRefusal};
use sspr_core::ports::{Clock as _, ManualClock};
use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_core::store::{schema, DynamoStore, ResealKeys};
use sspr_tests::moto::Moto;
use sspr_tests::{otp, Answer, TestApp, PASSWORD};

/// What the stack puts in the secret at first: a plain master secret, which
/// is version 1.
const FIRST_SECRET: &str = "a-plain-master-secret-of-forty-four-characters";

/// `SSPR_SECRET_ARN` is the process's; one test at a time sets it.
static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The keys a function cold-started now would hold: read from the secret
/// `arn` by `load_secrets`, with the secret as the source it reads again.
async fn load(moto: &Moto, arn: &str) -> Secrets {
    let _one = ENV.lock().await;
    std::env::set_var("SSPR_SECRET_ARN", arn);
    let secrets = sspr_core::app::load_secrets(&moto.sdk().await).await;
    std::env::remove_var("SSPR_SECRET_ARN");
    secrets.expect("the keys load from Secrets Manager")
}

/// The version a stored seal names: `'s'`, then the version as a big-endian
/// u32 (read here by hand, not by the code under test).
fn seal_version(sealed: &[u8]) -> Option<u32> {
    (sealed.len() > 5 && sealed[0] == b's')
        .then(|| u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]))
}

/// The version a token's `kid` names (`k<version>-...`).
fn kid_version(token: &str) -> u32 {
    let kid = jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid");
    kid.strip_prefix('k')
        .and_then(|k| k.split('-').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a kid naming its version: {kid}"))
}

/// The JWKS's kids, in order.
async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let r = app
        .send(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The current value of the secret and its versions' labels.
async fn secret_state(moto: &Moto, arn: &str) -> (String, Vec<(String, Vec<String>)>) {
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    let value = sm
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("the secret reads")
        .secret_string()
        .expect("a string")
        .to_owned();
    let mut stages: Vec<(String, Vec<String>)> = sm
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("the secret is described")
        .version_ids_to_stages()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.sort();
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    stages.sort();
    (value, stages)
}

/// The rotation `sspr-admin keys rotate` runs: Secrets Manager's four steps
/// for a fresh token, against moto, refused on what `store` still holds.
async fn rotate(
    moto: &Moto,
    arn: &str,
    store: &DynamoStore,
    token_life: i64,
    now: i64,
) -> Result<KeyringDoc, RotateError> {
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    Rotation {
        secrets: &sm,
        store,
        secret_id: arn,
        token_life,
    }
    .rotate_now(now)
    .await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.send(Method::POST, path, Some(token), Some(body)).await
}

/// Add an authenticator app and confirm it at the clock's step; its base32
/// secret. The step is spent: the next proof needs the clock moved.
async fn enrol_totp(app: &TestApp, token: &str) -> String {
    let r = post(app, "/v1/me/methods", token, json!({"type": "totp"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json()["secret"].as_str().expect("a secret").to_owned();
    let id = r.json()["id"].as_str().expect("an id").to_owned();
    let code = otp(&secret, app.clock_now());
    let r = app.confirm_method(token, &id, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    secret
}

async fn recovery_codes(app: &TestApp, token: &str) -> Vec<String> {
    app.recovery_codes(token).await
}

async fn sign_in_totp(app: &TestApp, user: &str, secret: &str) -> Answer {
    app.post(
        "/v1/token",
        json!({"username": user, "password": PASSWORD, "otp": otp(secret, app.clock_now())}),
    )
    .await
}

async fn sign_in_recovery(app: &TestApp, user: &str, code: &str) -> Answer {
    app.post(
        "/v1/token",
        json!({"username": user, "password": PASSWORD, "recovery_code": code}),
    )
    .await
}

fn token_of(r: &Answer) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// `GET /v1/me` with `token`: 200 while it verifies, 401 once it does not.
async fn me(app: &TestApp, token: &str) -> u16 {
    app.send(Method::GET, "/v1/me", Some(token), None)
        .await
        .status
}

/// The sealed secret of `user`'s authenticator, and the step it last proved.
async fn totp_item(app: &TestApp, user: &str) -> (Vec<u8>, i64) {
    let u = sspr_core::domain::Username::parse(user).expect("valid");
    let items = app
        .running
        .store
        .raw_methods(&u)
        .await
        .expect("the methods read");
    let item = items
        .iter()
        .find(|i| matches!(i.get(schema::SK), Some(Av::S(sk)) if sk.ends_with("totp")))
        .expect("an authenticator");
    let sealed = match item.get(schema::SECRET) {
        Some(Av::B(b)) => b.as_ref().to_vec(),
        other => panic!("a sealed secret: {other:?}"),
    };
    let step = match item.get(schema::STEP) {
        Some(Av::N(n)) => n.parse().expect("a number"),
        other => panic!("a step: {other:?}"),
    };
    (sealed, step)
}

/// One table, one secret at version 1, one clock: what every test here starts from.
struct World {
    moto: Moto,
    arn: String,
    dynamo: EmbeddedDynamo,
    clock: Arc<ManualClock>,
}

impl World {
    async fn new(name: &str) -> Self {
        let moto = Moto::start().await;
        let arn = moto.create_secret(name, FIRST_SECRET).await;
        let dynamo = EmbeddedDynamo::start(None).await.expect("dynoxide");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // On a step's start, so a test's proofs land where it moves the clock.
        let clock = Arc::new(ManualClock::new(now - now % 30));
        Self {
            moto,
            arn,
            dynamo,
            clock,
        }
    }

    /// A host cold-started now: its keys loaded from the secret.
    async fn host(&self, courier: bool) -> TestApp {
        let secrets = load(&self.moto, &self.arn).await;
        TestApp::spawn_keyed(
            self.dynamo.endpoint(),
            secrets,
            self.clock.clone(),
            courier,
            // Every request comes from one address: the load is not about
            // the per-client limits.
            |c| c.client_limits.0.clear(),
        )
        .await
    }

    async fn rotate(&self, app: &TestApp) -> Result<KeyringDoc, RotateError> {
        rotate(
            &self.moto,
            &self.arn,
            &app.running.store,
            sspr_core::keys::token_life(&app.running.app.config),
            self.clock.now(),
        )
        .await
    }
}

/// A user with a confirmed authenticator, made on `app`; its secret.
async fn totp_user(app: &TestApp, user: &str) -> String {
    app.confirmed_user(user).await;
    let token = app.access_token(user, PASSWORD).await;
    enrol_totp(app, &token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warm_host_opens_what_a_host_started_after_the_rotation_sealed() {
    let world = World::new("sspr-warm").await;
    let warm = world.host(true).await;
    let secret = totp_user(&warm, "wanda").await;
    assert_eq!(seal_version(&totp_item(&warm, "wanda").await.0), Some(1));
    let rotated = world.rotate(&warm).await.expect("the first rotation");
    assert_eq!(rotated.versions(), vec![2, 1]);
    let fresh = world.host(false).await;
    // The host started after the rotation seals under version 2 (the proof
    // reseals the authenticator): the warm one holds version 1 alone.
    world.clock.advance(30);
    token_of(&sign_in_totp(&fresh, "wanda", &secret).await);
    assert_eq!(seal_version(&totp_item(&warm, "wanda").await.0), Some(2));
    assert!(
        warm.running.app.keys.current_kid().starts_with("k1-"),
        "the warm host has not read the secret again yet"
    );
    // The warm host meets version 2, reads the secret again, and opens it.
    world.clock.advance(30);
    let r = sign_in_totp(&warm, "wanda", &secret).await;
    assert_eq!(
        r.status, 200,
        "the warm host opens the newer seal: {}",
        r.text
    );
    assert!(warm.running.app.keys.current_kid().starts_with("k2-"));
    assert_eq!(kid_version(&token_of(&r)), 2, "and signs under version 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_totp_proved_under_the_previous_version_is_resealed_in_the_write_of_its_step() {
    let world = World::new("sspr-reseal").await;
    let before = world.host(true).await;
    let secret = totp_user(&before, "rhea").await;
    let (sealed, step) = totp_item(&before, "rhea").await;
    assert_eq!(seal_version(&sealed), Some(1));
    world.rotate(&before).await.expect("the first rotation");
    let after = world.host(false).await;
    world.clock.advance(30);
    let proved_at = world.clock.now() / 30;
    token_of(&sign_in_totp(&after, "rhea", &secret).await);
    let (resealed, last) = totp_item(&after, "rhea").await;
    assert_eq!(last, proved_at, "the sign-in recorded its step");
    assert!(last > step);
    assert_eq!(
        seal_version(&resealed),
        Some(2),
        "the write that recorded the step sealed the secret under the current version"
    );
    assert_ne!(resealed, sealed);
    // The same secret under its new seal: the next step proves.
    world.clock.advance(30);
    token_of(&sign_in_totp(&after, "rhea", &secret).await);
    // A proof under the current version writes the step alone.
    let (again, _) = totp_item(&after, "rhea").await;
    assert_eq!(
        again, resealed,
        "nothing to reseal under the current version"
    );
}

/// What the drill's users hold, all made under version 1.
struct Person {
    name: String,
    /// The authenticator's base32 secret.
    secret: String,
    /// The recovery codes (each used once, in order).
    codes: Vec<String>,
    /// A reset code in flight.
    reset_code: String,
    /// An access token.
    token: String,
}

/// An access token the drill holds, and when it expires.
#[derive(Clone)]
struct Held {
    who: String,
    token: String,
    exp: i64,
}

fn held(who: &str, token: String) -> Held {
    let claims: Value = {
        let payload = token.split('.').nth(1).expect("a JWT payload");
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url");
        serde_json::from_slice(&raw).expect("JSON claims")
    };
    Held {
        who: who.to_owned(),
        exp: claims["exp"].as_i64().expect("an exp"),
        token,
    }
}

/// What one request of the load was, and what it answered.
struct Outcome {
    what: String,
    status: u16,
    token: Option<Held>,
}

/// How a round's users sign in.
#[derive(Clone, Copy)]
enum Factor {
    Totp,
    /// The recovery code of this index.
    Recovery(usize),
}

/// One round of the load, every user at once (each a task of its own, on
/// the host `apps[(i + r) % len]`): the access token of before the
/// rotation (while it lives) and the last round's verify there, the user's
/// reset code is proved when `prove` names it, and the user signs in with
/// `factor`.
async fn round(
    apps: &[Arc<TestApp>],
    people: &Arc<Vec<Person>>,
    last: &[Option<Held>],
    r: usize,
    factor: Factor,
    prove: std::ops::Range<usize>,
) -> Vec<Outcome> {
    let tasks: Vec<_> = (0..people.len())
        .map(|i| {
            let app = apps[(i + r) % apps.len()].clone();
            let people = people.clone();
            let last = last[i].clone();
            let prove = prove.contains(&i);
            tokio::spawn(async move {
                let p = &people[i];
                let on = format!("round {r}, {} on {}", p.name, app.url);
                let mut out = Vec::new();
                if held(&p.name, p.token.clone()).exp > app.clock_now() {
                    out.push(Outcome {
                        what: format!("{on}: the token of before the rotation"),
                        status: me(&app, &p.token).await,
                        token: None,
                    });
                }
                // A token still alive (the walk of expiries holds each to its end).
                if let Some(t) = last.filter(|t| t.exp > app.clock_now()) {
                    out.push(Outcome {
                        what: format!("{on}: the last round's token"),
                        status: me(&app, &t.token).await,
                        token: None,
                    });
                }
                if prove {
                    out.push(Outcome {
                        what: format!("{on}: the reset code of before the rotation"),
                        status: app.verify(&p.name, &p.reset_code).await.status,
                        token: None,
                    });
                }
                let a = match factor {
                    Factor::Totp => sign_in_totp(&app, &p.name, &p.secret).await,
                    Factor::Recovery(k) => sign_in_recovery(&app, &p.name, &p.codes[k]).await,
                };
                let token = (a.status == 200).then(|| held(&p.name, token_of(&a)));
                out.push(Outcome {
                    what: format!("{on}: a sign-in ({})", a.text),
                    status: a.status,
                    token,
                });
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in futures::future::join_all(tasks).await {
        all.extend(t.expect("a load task"));
    }
    all
}

/// Every answer of a round was a success; the round's tokens, by user.
fn passed(outcomes: Vec<Outcome>, people: &[Person], tokens: &mut Vec<Held>) -> Vec<Option<Held>> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status != 200)
        .map(|o| format!("{} -> {}", o.what, o.status))
        .collect();
    assert!(failed.is_empty(), "refused under the load: {failed:#?}");
    let mut last = vec![None; people.len()];
    for t in outcomes.into_iter().filter_map(|o| o.token) {
        let i = people.iter().position(|p| p.name == t.who).expect("a user");
        tokens.push(t.clone());
        last[i] = Some(t);
    }
    last
}

/// The queued mail in the table: each item's seal's version.
async fn queued_mail(store: &DynamoStore, now: i64) -> Vec<Option<u32>> {
    let mut out = Vec::new();
    store
        .scan_all(|item| {
            let is_mail = matches!(item.get(schema::SK), Some(Av::S(sk)) if sk.starts_with(schema::MAIL_PREFIX));
            let live = matches!(item.get(schema::SEND_BY), Some(Av::N(n)) if n.parse::<i64>().is_ok_and(|by| by > now));
            if is_mail && live {
                out.push(match item.get(schema::SEALED) {
                    Some(Av::B(b)) => seal_version(b.as_ref()),
                    _ => None,
                });
            }
        })
        .await
        .expect("the table scans");
    out
}

/// Walk the clock over the expiry of `tokens`, each checked on `app` the
/// second before it expires (200) and at its expiry (401).
async fn walk_expiries(clock: &ManualClock, app: &TestApp, tokens: &[Held]) {
    let mut exps: Vec<i64> = tokens.iter().map(|t| t.exp).collect();
    exps.sort_unstable();
    exps.dedup();
    for exp in exps {
        let due: Vec<&Held> = tokens.iter().filter(|t| t.exp == exp).collect();
        assert!(
            clock.now() < exp,
            "a token expired before its turn: {}",
            due[0].who
        );
        clock.advance(exp - 1 - clock.now());
        for t in &due {
            assert_eq!(
                me(app, &t.token).await,
                200,
                "{}'s token, a second before it expires",
                t.who
            );
        }
        clock.advance(1);
        for t in &due {
            assert_eq!(
                me(app, &t.token).await,
                401,
                "{}'s token, at its expiry",
                t.who
            );
        }
    }
}

/// Issue 22's drill: a population made under version 1, two rotations during
/// a load of sign-ins and proofs on a host started before them and one
/// started between them, the second refused until the reseal and the token
/// window allow it; afterwards every factor proves, every queued mail is
/// sent, and every token of before verifies until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_drill_loses_no_factor_mail_code_or_token() {
    const USERS: usize = 12;
    let world = World::new("sspr-drill").await;
    let clock = world.clock.clone();
    // The warm host: cold-started before the rotations, it sends the mail
    // of the users' making, then queues what follows (its courier paused).
    let a = Arc::new(world.host(true).await);
    let made = futures::future::join_all((0..USERS).map(|i| {
        let a = a.clone();
        tokio::spawn(async move {
            let name = format!("drill{i:02}");
            let email = a.confirmed_user(&name).await;
            let token = a.access_token(&name, PASSWORD).await;
            let reset_code = a.reset_code(&name, &email).await;
            (name, token, reset_code)
        })
    }))
    .await;
    a.running.pump_pause();
    let mut people = Vec::new();
    for m in made {
        let (name, token, reset_code) = m.expect("a user made");
        let secret = enrol_totp(&a, &token).await;
        let codes = recovery_codes(&a, &token).await;
        people.push(Person {
            name,
            secret,
            codes,
            reset_code,
            token,
        });
    }
    let people = Arc::new(people);
    let token_life = sspr_core::keys::token_life(&a.running.app.config);
    let store = a.running.store.clone();
    let census = store.census(clock.now()).await.expect("a census");
    let v1 = census.of(1);
    assert_eq!(
        (v1.totp, v1.recovery_codes, v1.codes),
        (USERS as u64, 10 * USERS as u64, USERS as u64),
        "the population is under version 1: {census:?}"
    );
    let queued = queued_mail(&store, clock.now()).await;
    assert!(queued.len() >= USERS, "mail is queued: {queued:?}");
    assert!(queued.iter().all(|v| *v == Some(1)), "{queued:?}");
    assert_eq!(census.0.keys().copied().collect::<Vec<_>>(), vec![1]);
    let mut tokens: Vec<Held> = people
        .iter()
        .map(|p| held(&p.name, p.token.clone()))
        .collect();
    assert!(tokens.iter().all(|t| kid_version(&t.token) == 1));

    // Round 0 on the warm host, the first rotation under way meanwhile.
    clock.advance(30);
    let warm_only = [a.clone()];
    let nothing_yet = vec![None; USERS];
    let (outcomes, first) = tokio::join!(
        round(&warm_only, &people, &nothing_yet, 0, Factor::Totp, 0..3),
        world.rotate(&a)
    );
    let first = first.expect("the first rotation");
    assert_eq!(first.versions(), vec![2, 1]);
    let rotated_at = first.current_key().since;
    let mut last = passed(outcomes, &people, &mut tokens);

    // A host cold-started after it holds versions 2 and 1; the load runs on both.
    let b = Arc::new(world.host(false).await);
    assert!(b.running.app.keys.current_kid().starts_with("k2-"));
    let both = [a.clone(), b.clone()];
    clock.advance(30);
    let outcomes = round(&both, &people, &last, 1, Factor::Totp, 3..6).await;
    last = passed(outcomes, &people, &mut tokens);

    // Round 2 meets the warm host with what the new one sealed and signed, all
    // at once; the second rotation is tried meanwhile and refused: version 1
    // still seals and keys what is live.
    let before = secret_state(&world.moto, &world.arn).await;
    clock.advance(30);
    let (outcomes, second) = tokio::join!(
        round(&both, &people, &last, 2, Factor::Totp, 6..9),
        world.rotate(&b)
    );
    match second {
        Err(RotateError::Refused(RotateRefusal::StillSealing {
            version: 1,
            current: 2,
            left,
        })) => assert!(left > 0),
        other => panic!("the second rotation is refused before the reseal: {other:?}"),
    }
    assert_eq!(
        secret_state(&world.moto, &world.arn).await,
        before,
        "a refused rotation leaves the secret as it was"
    );
    last = passed(outcomes, &people, &mut tokens);
    assert!(
        a.running.app.keys.current_kid().starts_with("k2-"),
        "the warm host read the secret again"
    );
    clock.advance(30);
    let outcomes = round(&both, &people, &last, 3, Factor::Recovery(0), 9..12).await;
    last = passed(outcomes, &people, &mut tokens);

    // The reseal, during a round of the load, then again for what raced it.
    let keys = ResealKeys {
        codes: &b.running.app.codes,
        totp: &b.running.app.totp,
        mail: &b.running.app.mail_key,
    };
    clock.advance(30);
    let (outcomes, resealed) = tokio::join!(
        round(&both, &people, &last, 4, Factor::Totp, 0..0),
        store.reseal(1, &keys, clock.now(), |_| {})
    );
    let resealed = resealed.expect("the reseal");
    assert!(resealed.moved > 0, "{resealed:?}");
    last = passed(outcomes, &people, &mut tokens);
    for _ in 0..5 {
        let again = store
            .reseal(1, &keys, clock.now(), |_| {})
            .await
            .expect("a reseal");
        assert_eq!(again.unopenable, 0, "{again:?}");
        if again.raced == 0 {
            break;
        }
    }
    let census = store.census(clock.now()).await.expect("a census");
    assert_eq!(
        census.of(1).movable(),
        0,
        "nothing movable under version 1: {census:?}"
    );
    assert_eq!(census.left(1), 0, "and no code in flight: {census:?}");
    assert_eq!(census.of(2).totp, USERS as u64, "{census:?}");

    // Version 1 holds nothing now, but its tokens may live: still refused.
    let before = secret_state(&world.moto, &world.arn).await;
    match world.rotate(&b).await {
        Err(RotateError::Refused(RotateRefusal::TokensLive { version: 1, until })) => {
            assert_eq!(until, rotated_at + REREAD_SECS + token_life)
        }
        other => panic!("the second rotation waits for version 1's tokens: {other:?}"),
    }
    assert_eq!(secret_state(&world.moto, &world.arn).await, before);

    // Every token that expires before version 1 may retire verifies until
    // it expires, and not after; the rotation that retires it comes then.
    let until = rotated_at + REREAD_SECS + token_life;
    let (early, late): (Vec<Held>, Vec<Held>) =
        tokens.iter().cloned().partition(|t| t.exp <= until);
    assert!(early.iter().any(|t| kid_version(&t.token) == 1));
    walk_expiries(&clock, &b, &early).await;
    clock.advance(until - clock.now());
    // The rotation that retires version 1, during a round of the load.
    let before = secret_state(&world.moto, &world.arn).await;
    let (outcomes, third) = tokio::join!(
        round(&both, &people, &last, 5, Factor::Totp, 0..0),
        world.rotate(&b)
    );
    let third = third.expect("the rotation that retires version 1");
    let from = tokens.len();
    passed(outcomes, &people, &mut tokens);
    // What lives on past it was signed under version 2, the warm host's late
    // tokens included: a host signs under what it read at most `REREAD_SECS`
    // ago, and the retirement waited that long and a token's life.
    let v2_tokens: Vec<Held> = late
        .into_iter()
        .chain(tokens[from..].iter().cloned())
        .collect();
    assert!(
        v2_tokens.iter().all(|t| kid_version(&t.token) == 2),
        "no token of version 1 outlives its key"
    );
    assert!(
        v2_tokens.len() >= USERS,
        "version 2 signed the later sign-ins"
    );
    assert_eq!(third.versions(), vec![3, 2]);
    let after = secret_state(&world.moto, &world.arn).await;
    assert_ne!(after.0, before.0, "the secret moved on");
    assert_eq!(
        KeyringDoc::parse(&after.0.clone().into())
            .expect("a keyring")
            .versions(),
        vec![3, 2]
    );

    // A host cold-started now holds versions 3 and 2, and its courier sends
    // every mail still queued (sealed under 1 once, moved to 2 by the reseal).
    let queued = queued_mail(&store, clock.now()).await;
    assert!(queued.iter().all(|v| *v == Some(2)), "{queued:?}");
    let c = Arc::new(world.host(true).await);
    let sent = c.mails().await;
    assert_eq!(sent.len(), queued.len(), "every queued mail is sent");
    assert!(queued_mail(&store, clock.now()).await.is_empty());
    for p in people.iter() {
        let to = format!("{}@example.com", p.name);
        assert!(
            sent.iter()
                .any(|m| m.to == to && m.file.contains("-recovery_codes_created-")),
            "{to}'s notice of its recovery codes"
        );
    }

    // Every token version 2 signed before the rotation (or while it ran)
    // verifies on the new host until it expires, and not after.
    walk_expiries(&clock, &c, &v2_tokens).await;

    // Every factor still proves: the authenticator and a recovery code of
    // every user, on the new host; the host of between reads the secret
    // again for what the new one sealed.
    for p in people.iter() {
        let t = token_of(&sign_in_totp(&c, &p.name, &p.secret).await);
        assert_eq!(kid_version(&t), 3);
        assert_eq!(
            me(&b, &t).await,
            200,
            "the host of between verifies version 3"
        );
        token_of(&sign_in_recovery(&c, &p.name, &p.codes[1]).await);
        token_of(&sign_in_recovery(&b, &p.name, &p.codes[2]).await);
    }
    let kids = jwks_kids(&c).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(
        kids[0].starts_with("k3-") && kids[1].starts_with("k2-"),
        "{kids:?}"
    );
    assert_eq!(
        jwks_kids(&b).await,
        kids,
        "the host of between lists the same"
    );
}

/// A warm host signs under the version it holds until it reads the keyring
/// again: on a version it meets that it does not hold, or at its first
/// request `REREAD_SECS` after its last read. So after a rotation it signs
/// under the previous version for at most that long, and the rotation that
/// retires that version waits that long and a token's life: every token it
/// signed late verifies until it expires, before the retirement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_a_warm_host_signed_after_a_rotation_lives_until_it_expires() {
    let world = World::new("sspr-stale").await;
    let warm = world.host(true).await;
    warm.confirmed_user("sven").await;
    let first = world.rotate(&warm).await.expect("the first rotation");
    let since = first.current_key().since;
    let token_life = sspr_core::keys::token_life(&warm.running.app.config);
    world.clock.advance(30);
    let late = held("sven", warm.access_token("sven", PASSWORD).await);
    assert_eq!(
        kid_version(&late.token),
        1,
        "the warm host met nothing of version 2 yet"
    );
    // Its first request REREAD_SECS after its read moves it to version 2.
    world
        .clock
        .advance(since + REREAD_SECS + 1 - world.clock.now());
    let moved = held("sven", warm.access_token("sven", PASSWORD).await);
    assert_eq!(kid_version(&moved.token), 2, "read again, signs under 2");
    // The late token lives until it expires; version 1 is not retired before.
    world.clock.advance(late.exp - 1 - world.clock.now());
    assert_eq!(
        me(&warm, &late.token).await,
        200,
        "a token verifies until it expires"
    );
    match world.rotate(&warm).await {
        Err(RotateError::Refused(RotateRefusal::TokensLive { version: 1, until })) => {
            assert_eq!(until, since + REREAD_SECS + token_life);
            assert!(until >= late.exp, "the window covers the late token");
        }
        other => panic!("version 1 is retired while its late token lives: {other:?}"),
    }
    world
        .clock
        .advance(since + REREAD_SECS + token_life - world.clock.now());
    assert_eq!(me(&warm, &late.token).await, 401, "expired, and not before");
    world
        .rotate(&warm)
        .await
        .expect("the rotation that retires version 1");
    let fresh = world.host(false).await;
    assert_eq!(
        me(&fresh, &moved.token).await,
        200,
        "version 2's token lives on"
    );
}

/// An authenticator whose seal a function cannot open (a version it could not
/// read: here a host that holds version 1 alone and has no secret to read
/// again) cannot be judged: a right code answers 503, and nothing counts
/// toward the sign-in lock; once a host that holds the version answers, the
/// same person signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authenticator_a_host_cannot_open_answers_503_and_counts_no_failure() {
    let world = World::new("sspr-unread").await;
    let warm = world.host(true).await;
    let secret = totp_user(&warm, "ulla").await;
    let blind = TestApp::spawn_keyed(
        world.dynamo.endpoint(),
        Secrets::derive(&FIRST_SECRET.to_owned().into()).expect("version 1"),
        world.clock.clone(),
        false,
        |c| c.client_limits.0.clear(),
    )
    .await;
    world.rotate(&warm).await.expect("the first rotation");
    let fresh = world.host(false).await;
    world.clock.advance(30);
    token_of(&sign_in_totp(&fresh, "ulla", &secret).await);
    assert_eq!(seal_version(&totp_item(&fresh, "ulla").await.0), Some(2));
    world.clock.advance(30);
    let r = sign_in_totp(&blind, "ulla", &secret).await;
    assert_eq!(r.status, 503, "{}", r.text);
    let user = sspr_core::domain::Username::parse("ulla").expect("valid");
    let profile = fresh
        .running
        .store
        .raw_profile(&user)
        .await
        .expect("read")
        .expect("the profile");
    let failures = match profile.get("si_cnt") {
        Some(Av::N(n)) => n.parse::<i64>().expect("a number"),
        _ => 0,
    };
    assert_eq!(failures, 0, "a seal that does not open is no wrong secret");
    token_of(&sign_in_totp(&fresh, "ulla", &secret).await);
}
