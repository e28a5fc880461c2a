//! The keyring across restarts and rotations of the real `sspr-local --data
//! FILE`, and `sspr-admin keys status|rotate|reseal` on its stopped file (the
//! real binary, for its exit codes), then the commands' JSON through the
//! library's `run`, on the key file and on a Secrets Manager secret (moto's:
//! `SSPR_MOTO_SERVER`, or the venv `tests/run` makes).
//!
//! The binaries are `target/<profile>/sspr-local` and `sspr-admin`, next to
//! this test's own executable: build them first with
//! `cargo build -p sspr-local -p sspr-admin`.

use sspr_core::keyring::REREAD_SECS;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sspr_tests::host::{built_binary, log_of, LocalProcess};
use sspr_tests::{otp, parse_eml, PASSWORD};

fn bin(name: &str) -> PathBuf {
    built_binary(name, "`cargo build -p sspr-local -p sspr-admin`")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A running `sspr-local --data DIR/sspr.sqlite`, its output appended to
/// `DIR/sspr-local.log`; dropping it kills it.
type Host = LocalProcess;

async fn start_host(dir: &Path) -> Host {
    Host::start(&bin("sspr-local"), dir, &[("RUST_LOG", "info")])
        .await
        .0
}

/// The newest code of `kind` to `to` in the outbox, waited for.
async fn code(dir: &Path, kind: &str, to: &str, before: usize) -> String {
    let suffix = format!("-{kind}-{to}.eml");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("outbox"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.to_string_lossy().ends_with(&suffix));
        names.sort();
        if names.len() > before {
            let raw = std::fs::read_to_string(names.last().expect("one")).expect("mail");
            return parse_eml(String::new(), raw).code().expect("a code");
        }
        assert!(Instant::now() < deadline, "no {kind} mail to {to}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mails(dir: &Path, kind: &str, to: &str) -> usize {
    let suffix = format!("-{kind}-{to}.eml");
    std::fs::read_dir(dir.join("outbox"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(&suffix))
                .count()
        })
        .unwrap_or(0)
}

/// The authenticator, one step at a time: each code it offers is of a step
/// after the last one used, and never of the previous step (a code made just
/// before a boundary would be out of the window when the server reads it).
struct Authenticator {
    secret: String,
    last: i64,
}

impl Authenticator {
    async fn next(&mut self) -> String {
        loop {
            let step = unix_now() / 30;
            // The step after the last one, if the server's window (one step
            // either side) holds it now and a boundary later.
            let want = (self.last + 1).max(step);
            if want <= step + 1 {
                self.last = want;
                return otp(&self.secret, want * 30);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What a user enrolled before a restart.
struct Enrolled {
    token: String,
    totp: Authenticator,
    recovery: Vec<String>,
}

async fn enroll(host: &Host, dir: &Path, user: &str) -> Enrolled {
    let email = format!("{user}@example.com");
    let (s, _) = host
        .call(
            "POST",
            "/v1/register",
            None,
            json!({"username": user, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 201);
    let c = code(dir, "confirm_email", &email, 0).await;
    let (s, _) = host
        .call(
            "POST",
            "/v1/register/confirm",
            None,
            json!({"username": user, "code": c}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = host
        .call(
            "POST",
            "/v1/token",
            None,
            json!({"username": user, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().expect("a token").to_owned();
    let (s, v) = host
        .call(
            "POST",
            "/v1/me/methods",
            Some(&token),
            json!({"type": "totp"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let mut totp = Authenticator {
        secret: v["secret"].as_str().expect("a secret").to_owned(),
        last: 0,
    };
    let id = v["id"].as_str().expect("an id").to_owned();
    let c = totp.next().await;
    let (s, v) = host
        .call(
            "POST",
            &format!("/v1/me/methods/{id}/confirm"),
            Some(&token),
            json!({"code": c}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = host
        .call("POST", "/v1/me/recovery-codes", Some(&token), json!({}))
        .await;
    assert_eq!(s, 201, "{v}");
    let recovery = v["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    Enrolled {
        token,
        totp,
        recovery,
    }
}

/// Everything enrolled still proves: the token, a fresh TOTP step, a recovery code.
async fn still_proves(host: &Host, user: &str, e: &mut Enrolled) {
    let (s, v) = host
        .call("GET", "/v1/me", Some(&e.token), Value::Null)
        .await;
    assert_eq!(s, 200, "the token from before: {v}");
    assert_eq!(v["username"], user);
    let c = e.totp.next().await;
    let (s, v) = host
        .call(
            "POST",
            "/v1/token",
            None,
            json!({"username": user, "password": PASSWORD, "otp": c}),
        )
        .await;
    assert_eq!(s, 200, "password and TOTP: {v}");
    let rc = e.recovery.pop().expect("a recovery code left");
    let (s, v) = host
        .call(
            "POST",
            "/v1/token",
            None,
            json!({"username": user, "password": PASSWORD, "recovery_code": rc}),
        )
        .await;
    assert_eq!(s, 200, "password and a recovery code: {v}");
}

/// `sspr-admin --data FILE ARGS`: exit status, stdout, stderr.
fn admin(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin("sspr-admin"))
        .arg("--data")
        .arg(dir.join("sspr.sqlite"))
        .args(args)
        .env_remove("SSPR_SECRET_ARN")
        .stdin(Stdio::null())
        .output()
        .expect("sspr-admin runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn status(dir: &Path) -> Value {
    let (ok, out, err) = admin(dir, &["keys", "status", "--json"]);
    assert!(ok, "keys status: {err}");
    serde_json::from_str(&out).expect("JSON")
}

fn under(v: &Value, version: u64) -> Value {
    v["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|r| r["version"] == version)
        .cloned()
        .unwrap_or_else(|| panic!("no version {version} in {v:#}"))
}

/// Neither the key file nor any master secret in it appears in `text`.
fn no_key_in(dir: &Path, text: &str) {
    let keys = std::fs::read_to_string(dir.join("sspr.sqlite.keys")).expect("the key file");
    assert!(!text.contains(keys.trim()), "the key file in the output");
    let doc: Value = serde_json::from_str(&keys).expect("a keyring document");
    for k in doc["keys"].as_array().expect("keys") {
        let secret = k["secret"].as_str().expect("a secret");
        assert!(
            secret.len() >= 32 && !text.contains(secret),
            "a master secret in the output"
        );
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sspr-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_secret_code_and_token() {
    let dir = temp_dir("restart");
    let host = start_host(&dir).await;
    let mut e = enroll(&host, &dir, "kim").await;
    let before = mails(&dir, "reset_code", "kim@example.com");
    let (s, _) = host
        .call(
            "POST",
            "/v1/codes",
            None,
            json!({"username": "kim", "purpose": "reset_password"}),
        )
        .await;
    assert_eq!(s, 202);
    let reset = code(&dir, "reset_code", "kim@example.com", before).await;
    host.stop();

    let host = start_host(&dir).await;
    still_proves(&host, "kim", &mut e).await;
    let (s, v) = host
        .call(
            "POST",
            "/v1/password/verify",
            None,
            json!({"username": "kim", "code": reset}),
        )
        .await;
    assert_eq!(s, 200, "the reset code from before the restart: {v}");
    assert!(v["reset_token"].is_string());
    host.stop();

    let keys = dir.join("sspr.sqlite.keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keys)
            .expect("FILE.keys")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    no_key_in(&dir, &log_of(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_and_reseal_on_a_stopped_file_keep_everything_proving() {
    let dir = temp_dir("rotate");
    let host = start_host(&dir).await;
    let mut e = enroll(&host, &dir, "lou").await;
    host.stop();

    let v = status(&dir);
    assert_eq!(v["current"], 1, "{v:#}");
    assert_eq!(v["previous"], Value::Null, "{v:#}");
    let (ok, out, err) = admin(&dir, &["keys", "rotate", "--json"]);
    assert!(ok, "the first rotation: {err}");
    let r: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (r["current"].clone(), r["previous"].clone()),
        (json!(2), json!(1))
    );
    let mut printed = out + &err;

    let v = status(&dir);
    assert_eq!(
        (v["current"].clone(), v["previous"].clone()),
        (json!(2), json!(1)),
        "{v:#}"
    );
    let v1 = under(&v, 1);
    assert_eq!(v1["role"], "previous");
    assert_eq!(v1["totp"], 1, "{v:#}");
    assert_eq!(v1["recovery_codes"], 10, "{v:#}");
    assert_eq!(v["retire_previous"]["may_retire"], false, "{v:#}");
    printed += &v.to_string();

    // Refused while version 1 still seals them: exit 1, nothing changed.
    let keys_before = std::fs::read_to_string(dir.join("sspr.sqlite.keys")).expect("keys");
    let (ok, _, err) = admin(&dir, &["keys", "rotate"]);
    assert!(!ok, "a second rotation over sealed items");
    assert!(
        err.contains("still seals") && err.contains("keys reseal"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sspr.sqlite.keys")).expect("keys"),
        keys_before,
        "a refusal changes nothing"
    );
    printed += &err;

    let host = start_host(&dir).await;
    still_proves(&host, "lou", &mut e).await;
    host.stop();

    let (ok, out, err) = admin(&dir, &["keys", "reseal", "--json"]);
    assert!(ok, "reseal: {err}");
    let r: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (r["from"].clone(), r["to"].clone()),
        (json!(1), json!(2)),
        "{r:#}"
    );
    assert!(r["moved"].as_u64().is_some_and(|n| n >= 1), "{r:#}");
    assert_eq!(
        (r["raced"].clone(), r["unopenable"].clone()),
        (json!(0), json!(0))
    );
    printed += &out;
    printed += &err;
    let v = status(&dir);
    assert_eq!(under(&v, 1)["movable"], 0, "{v:#}");
    assert_eq!(under(&v, 2)["recovery_codes"], 9, "{v:#}");
    assert_eq!(under(&v, 2)["totp"], 1, "{v:#}");

    // Nothing sealed under version 1, but its tokens may live.
    let (ok, _, err) = admin(&dir, &["keys", "rotate"]);
    assert!(!ok, "a rotation inside the token window");
    assert!(err.contains("signed tokens that may live until"), "{err}");
    printed += &err;

    let host = start_host(&dir).await;
    still_proves(&host, "lou", &mut e).await;
    host.stop();
    let logs = log_of(&dir);
    no_key_in(&dir, &(printed + &logs));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An in-process host on the data file `data` (its keys in `data.keys`), its
/// outbox in `dir`, on a clock stopped at `now`.
async fn host_on(dir: &Path, data: &Path, now: i64) -> sspr_local::Running {
    sspr_local::start(sspr_tests::host_on_file(
        dir,
        data,
        std::sync::Arc::new(sspr_core::ports::ManualClock::new(now)),
    ))
    .await
    .expect("the host starts")
}

/// `user` (at example.com) registered on `running` (`201`).
async fn registered_on(running: &sspr_local::Running, user: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/register", running.url))
        .json(&json!({"username": user, "email": format!("{user}@example.com"), "password": PASSWORD}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), 201);
}

/// `sspr-admin --json keys ARGS` through the library's `run` at `at`: its output or its refusal.
async fn keys_run(admin: &sspr_admin::Admin, args: &[&str], at: i64) -> Result<String, String> {
    let mut argv = vec!["sspr-admin", "--json", "keys"];
    argv.extend_from_slice(args);
    let cli = sspr_admin::parse(argv).expect("parses");
    sspr_admin::run(admin, &cli, at).await
}

fn js(out: String) -> Value {
    serde_json::from_str(&out).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_rotate_and_reseal_through_run_print_their_json() {
    use sspr_admin::{Admin, KeyPlace};
    let dir = temp_dir("run");
    let data = dir.join("sspr.sqlite");
    let now = unix_now();
    let running = host_on(&dir, &data, now).await;
    registered_on(&running, "moe").await;
    let admin = Admin {
        store: running.store.clone(),
        config: running.app.config.as_ref().clone(),
        ctx: None,
        keys: Some(KeyPlace::File(data.clone())),
    };

    let v = js(keys_run(&admin, &["status"], now).await.expect("status"));
    assert_eq!(v["current"], 1);
    assert_eq!(v["previous"], Value::Null);
    assert_eq!(v["retire_previous"], Value::Null);
    assert_eq!(v["rotate"]["allowed"], true);
    assert_eq!(v["token_life_secs"], 900);
    let v1 = under(&v, 1);
    for k in [
        "role",
        "since",
        "totp",
        "recovery_codes",
        "mail",
        "codes",
        "movable",
        "total",
    ] {
        assert!(v1.get(k).is_some(), "{k} in {v:#}");
    }
    assert_eq!(v1["role"], "current");
    assert_eq!(v1["codes"], 1, "the confirmation code in flight: {v:#}");

    let v = js(keys_run(&admin, &["reseal"], now)
        .await
        .expect("reseal of one version"));
    assert_eq!(v["done"], "nothing", "{v:#}");

    let v = js(keys_run(&admin, &["rotate"], now).await.expect("rotate"));
    assert_eq!(
        (
            v["done"].clone(),
            v["current"].clone(),
            v["previous"].clone(),
            v["retired"].clone()
        ),
        (json!("rotated"), json!(2), json!(1), Value::Null),
        "{v:#}"
    );

    let v = js(keys_run(&admin, &["status"], now).await.expect("status"));
    assert_eq!(v["retire_previous"]["version"], 1, "{v:#}");
    let left = &v["retire_previous"];
    assert_eq!(left["codes_left"], 1, "{v:#}");
    // The confirmation mail too, while it waits for the courier.
    assert_eq!(
        left["items_left"].as_u64(),
        Some(1 + left["movable_left"].as_u64().expect("movable_left")),
        "{v:#}"
    );
    assert_eq!(v["retire_previous"]["may_retire"], false, "{v:#}");
    assert_eq!(v["rotate"]["allowed"], false, "{v:#}");
    let e = keys_run(&admin, &["rotate"], now).await.unwrap_err();
    assert!(
        e.contains("rotation refused") && e.contains("keys reseal"),
        "{e}"
    );

    let v = js(keys_run(&admin, &["reseal"], now).await.expect("reseal"));
    assert_eq!(
        (
            v["from"].clone(),
            v["to"].clone(),
            v["codes_in_flight"].clone()
        ),
        (json!(1), json!(2), json!(1)),
        "{v:#}"
    );
    for k in ["scanned", "moved", "raced", "unopenable"] {
        assert!(v[k].is_u64(), "{k} in {v:#}");
    }
    // The code expires; the tokens' window is still open.
    let later = now + 601;
    let e = keys_run(&admin, &["rotate"], later).await.unwrap_err();
    assert!(e.contains("signed tokens that may live until"), "{e}");
    let v = js(keys_run(&admin, &["status"], later).await.expect("status"));
    assert_eq!(v["retire_previous"]["items_left"], 0, "{v:#}");
    assert_eq!(v["retire_previous"]["may_retire"], false, "{v:#}");
    // Past it, version 1 retires.
    let v = js(keys_run(&admin, &["status"], now + REREAD_SECS + 901)
        .await
        .expect("status"));
    assert_eq!(v["retire_previous"]["may_retire"], true, "{v:#}");
    let v = js(keys_run(&admin, &["rotate"], now + REREAD_SECS + 901)
        .await
        .expect("rotate"));
    assert_eq!(
        (
            v["current"].clone(),
            v["previous"].clone(),
            v["retired"].clone()
        ),
        (json!(3), json!(2), json!(1)),
        "{v:#}"
    );
    no_key_in(
        &dir,
        &keys_run(&admin, &["status"], now + REREAD_SECS + 901)
            .await
            .expect("status"),
    );
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The secret's `AWSCURRENT` string.
async fn aws_current(secrets: &aws_sdk_secretsmanager::Client, arn: &str) -> Option<String> {
    secrets
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("read")
        .secret_string()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_rotate_runs_the_secrets_four_steps_and_refuses_what_would_lose_data() {
    use secrecy::ExposeSecret as _;
    use sspr_admin::{Admin, KeyPlace};
    use sspr_core::keys::KeyringDoc;
    let moto = sspr_tests::moto::Moto::start().await;
    let dir = temp_dir("aws");
    let data = dir.join("sspr.sqlite");
    let now = unix_now();
    // The host's keys are the secret's: one document in both places.
    let doc = KeyringDoc::generate(now);
    sspr_core::keys::file::write(&data, &doc).expect("key file");
    let arn = moto
        .create_secret("sspr-keys", doc.to_text().expose_secret())
        .await;
    let running = host_on(&dir, &data, now).await;
    registered_on(&running, "ann").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    let admin = Admin {
        store: running.store.clone(),
        config: running.app.config.as_ref().clone(),
        ctx: None,
        keys: Some(KeyPlace::Secret {
            client: secrets.clone(),
            id: arn.clone(),
        }),
    };
    let v = js(keys_run(&admin, &["rotate"], now).await.expect("rotate"));
    assert_eq!(
        (v["current"].clone(), v["previous"].clone()),
        (json!(2), json!(1)),
        "{v:#}"
    );
    let text = aws_current(&secrets, &arn).await.expect("a string");
    let after = KeyringDoc::parse(&secrecy::SecretString::from(text.clone())).expect("a keyring");
    assert_eq!(
        after.versions(),
        vec![2, 1],
        "AWSCURRENT moved to the new keyring"
    );
    let v = js(keys_run(&admin, &["status"], now).await.expect("status"));
    assert_eq!(
        (v["current"].clone(), v["previous"].clone()),
        (json!(2), json!(1)),
        "{v:#}"
    );
    assert_eq!(under(&v, 1)["codes"], 1, "{v:#}");
    // Refused: the confirmation code is keyed under version 1; the secret stays.
    let e = keys_run(&admin, &["rotate"], now).await.unwrap_err();
    assert!(
        e.contains("rotation refused") && e.contains("keys reseal"),
        "{e}"
    );
    assert_eq!(
        aws_current(&secrets, &arn).await.as_deref(),
        Some(text.as_str()),
        "nothing changed"
    );
    let v = js(keys_run(&admin, &["reseal"], now).await.expect("reseal"));
    assert_eq!(
        (v["from"].clone(), v["to"].clone()),
        (json!(1), json!(2)),
        "{v:#}"
    );
    // Past the code's and the tokens' lives, version 1 retires.
    let v = js(keys_run(&admin, &["rotate"], now + REREAD_SECS + 901)
        .await
        .expect("rotate"));
    assert_eq!(
        (v["current"].clone(), v["retired"].clone()),
        (json!(3), json!(1)),
        "{v:#}"
    );
    for out in [v.to_string(), e] {
        assert!(!out.contains(&text), "the keyring in the output");
    }
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
