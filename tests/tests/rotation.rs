//! Key rotation (DESIGN.md "Version 1.2: Keys"), drilled against dynoxide and
//! moto's Secrets Manager: several hosts on one table, each with the keys it
//! loaded from the secret as a deployed function loads them
//! (`sspr_core::app::load_secrets`), the rotation's four steps run for real
//! (`Rotation::rotate_now`), and one clock shared by the test and the hosts.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use reqwest::Method;
use serde_json::{json, Value};
use sspr_core::config::Secrets;
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
    let r = post(
        app,
        &format!("/v1/me/methods/{id}/confirm"),
        token,
        json!({"code": code}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    secret
}

async fn recovery_codes(app: &TestApp, token: &str) -> Vec<String> {
    let r = post(app, "/v1/me/recovery-codes", token, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
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
    assert_eq!(again, resealed, "nothing to reseal under the current version");
}
