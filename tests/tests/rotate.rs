//! The rotate function's handler, step by step as Secrets Manager calls it,
//! against moto's Secrets Manager and the local host's table: a rotation
//! moves `AWSCURRENT` to a keyring of a new version that still holds the old
//! one, a step called again changes nothing, and a rotation that would retire
//! a version still sealing a live item fails and leaves the secret as it was.

use std::sync::{Arc, Mutex};

use tracing::instrument::WithSubscriber as _;

use secrecy::SecretString;
use sspr_core::config::Secrets;
use sspr_core::domain::user::MethodTarget;
use sspr_core::domain::{TotpSecret, Username};
use sspr_core::keys::KeyringDoc;
use sspr_core::ports::{Change, Effects, MethodsAsRead, NewMethod};
use sspr_tests::moto::Moto;
use sspr_tests::rotate::{stages, value, RotateFn};
use sspr_tests::TestApp;

/// The secret as the stack makes it: a plain string, the keyring's version 1.
const MASTER: &str = "a-rotation-test-master-secret-of-more-than-32-characters";

/// Every byte a test's logger wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the log").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("the log").clone()).expect("UTF-8 lines")
    }
}

fn keyring(text: &str) -> KeyringDoc {
    KeyringDoc::parse(&SecretString::from(text.to_owned())).expect("a keyring")
}

fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The keys of version 1, as every function derived them before the first
/// rotation.
fn version_1() -> Secrets {
    Secrets::derive(&MASTER.to_string().into()).expect("derives")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_makes_a_keyring_of_version_2_that_still_holds_version_1_and_each_step_may_run_twice(
) {
    let t = TestApp::spawn().await;
    let moto = Moto::start().await;
    let arn = moto.create_secret("sspr-rotate", MASTER).await;
    let f = RotateFn::new(&t.running.store, &moto, &arn, t.clock.clone()).await;
    let before = stages(&moto, &arn).await;
    let old = before[0].0.clone();

    let rotation = token();
    f.step("createSecret", &rotation).await.expect("created");
    let pending = value(&moto, &arn, "AWSPENDING").await;
    f.step("createSecret", &rotation)
        .await
        .expect("created again");
    assert_eq!(
        value(&moto, &arn, "AWSPENDING").await,
        pending,
        "a second createSecret keeps the pending keyring"
    );
    assert_eq!(
        value(&moto, &arn, "AWSCURRENT").await,
        MASTER,
        "nothing is current before finishSecret"
    );
    for step in ["setSecret", "setSecret", "testSecret", "testSecret"] {
        f.step(step, &rotation).await.expect(step);
    }
    f.step("finishSecret", &rotation).await.expect("finished");
    let after = stages(&moto, &arn).await;
    f.step("finishSecret", &rotation)
        .await
        .expect("finished again");
    assert_eq!(
        stages(&moto, &arn).await,
        after,
        "a second finishSecret moves nothing"
    );

    // AWSCURRENT is the rotation's version: a keyring whose current version
    // is 2 and which still holds version 1; the plain string is AWSPREVIOUS.
    let label = |id: &str| {
        after
            .iter()
            .find(|(v, _)| v == id)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    assert!(
        label(&rotation).contains(&"AWSCURRENT".to_owned()),
        "{after:?}"
    );
    assert!(label(&old).contains(&"AWSPREVIOUS".to_owned()), "{after:?}");
    assert!(!label(&old).contains(&"AWSCURRENT".to_owned()), "{after:?}");
    assert_eq!(value(&moto, &arn, "AWSPREVIOUS").await, MASTER);
    let current = value(&moto, &arn, "AWSCURRENT").await;
    assert_eq!(
        current, pending,
        "the keyring tested is the one made current"
    );
    let doc = keyring(&current);
    assert_eq!(doc.current, 2);
    assert_eq!(doc.versions(), vec![2, 1]);
    assert_eq!(doc.previous().map(|p| p.version), Some(1));

    // Version 1 of the new keyring is the old secret's: what a function
    // sealed and signed before the rotation opens and verifies after it.
    let user = Username::parse("rotation-user").expect("valid");
    let secret = TotpSecret::generate();
    let sealed = sspr_core::domain::TotpSeal::new(version_1().ring()).seal(&secret, &user, "totp");
    let after_keys = Secrets::from_doc(&doc);
    let opened = sspr_core::domain::TotpSeal::new(after_keys.ring()).open(&sealed, &user, "totp");
    assert_eq!(opened.map(|s| s.base32()), Some(secret.base32()));
    let now = t.clock_now();
    let signed = sspr_core::token::Keys::new(version_1().ring(), "sspr")
        .issue_access("rotation-user", 0, now, 60)
        .expect("signed");
    sspr_core::token::Keys::new(after_keys.ring(), "sspr")
        .verify_access(&signed, now + 1)
        .expect("a token of version 1 verifies after the rotation");

    // Events the function must not act on.
    let other = sspr_rotate::handle(
        &f.rotator,
        serde_json::json!({"Step": "createSecret", "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other", "ClientRequestToken": token()}),
    )
    .await;
    assert!(
        matches!(other, Err(sspr_rotate::Failure::OtherSecret)),
        "{other:?}"
    );
    let unknown = f.step("rotateSecret", &rotation).await;
    assert!(
        matches!(unknown, Err(sspr_rotate::Failure::Step(_))),
        "{unknown:?}"
    );
    let garbled =
        sspr_rotate::handle(&f.rotator, serde_json::json!({"Step": "createSecret"})).await;
    assert!(
        matches!(garbled, Err(sspr_rotate::Failure::Event(_))),
        "{garbled:?}"
    );
    assert_eq!(
        value(&moto, &arn, "AWSCURRENT").await,
        current,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_would_retire_a_version_still_sealing_an_authenticator_fails_and_changes_nothing(
) {
    let t = TestApp::spawn().await;
    let moto = Moto::start().await;
    let arn = moto.create_secret("sspr-rotate", MASTER).await;
    let f = RotateFn::new(&t.running.store, &moto, &arn, t.clock.clone()).await;

    // An authenticator enrolled under version 1.
    t.confirmed_user("rotor").await;
    let user = Username::parse("rotor").expect("valid");
    let store: Arc<dyn sspr_core::ports::Store> = Arc::new(t.running.store.clone());
    let rec = store
        .get_user(&user)
        .await
        .expect("read")
        .expect("the user");
    let sealed = sspr_core::domain::TotpSeal::new(version_1().ring()).seal(
        &TotpSecret::generate(),
        &user,
        "totp",
    );
    let add = Change::AddMethod(NewMethod {
        target: MethodTarget::Totp {
            sealed,
            last_step: 0,
        },
        code: None,
        confirmed: true,
        read: MethodsAsRead {
            token_version: rec.token_version,
            revision: rec.methods_revision,
        },
        now: t.clock_now(),
    });
    let written = store
        .write(&user, &add, &Effects::none())
        .await
        .expect("written");
    assert!(written.applied(), "the authenticator is the user's");

    // The first rotation retires nothing: version 1 becomes the previous one.
    f.rotate(&token()).await.expect("rotated to version 2");
    let rotated = value(&moto, &arn, "AWSCURRENT").await;
    assert_eq!(keyring(&rotated).current, 2);

    // Past every token version 1 signed, the next rotation would retire
    // version 1, which still seals the authenticator: refused.
    t.clock.advance(f.rotator.token_life + 1);
    let before = stages(&moto, &arn).await;
    let next = token();
    let log = Captured::default();
    let refused = f
        .step("createSecret", &next)
        .with_subscriber(sspr_core::logs::json_subscriber(
            log.clone(),
            tracing::Level::INFO,
        ))
        .await;
    match &refused {
        Err(e @ sspr_rotate::Failure::Rotate(sspr_core::keys::RotateError::Refused(_))) => {
            assert_eq!(e.outcome(), "refused");
            let why = e.to_string();
            assert!(
                why.contains("version 1 still seals or keys 1 live item"),
                "{why}"
            );
        }
        other => panic!("not refused: {other:?}"),
    }
    // One line says which step of which rotation was refused and why, and
    // holds no key: neither the old secret nor the keyring.
    let lines = log.text();
    let line: serde_json::Value = lines
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("a JSON line: {lines}"));
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["message"], "rotation step", "{line}");
    assert_eq!(line["step"], "createSecret", "{line}");
    assert_eq!(line["version"], next.as_str(), "{line}");
    assert_eq!(line["outcome"], "refused", "{line}");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("still seals")),
        "{line}"
    );
    assert!(!lines.contains(MASTER), "{lines}");
    assert!(!lines.contains(&rotated), "{lines}");
    let doc: serde_json::Value = serde_json::from_str(&rotated).expect("the keyring is JSON");
    let secrets: Vec<&str> = doc["keys"]
        .as_array()
        .expect("its keys")
        .iter()
        .filter_map(|k| k["secret"].as_str())
        .collect();
    assert_eq!(secrets.len(), 2, "both versions' secrets");
    for key in secrets {
        assert!(!lines.contains(key), "a key in the log: {lines}");
    }
    assert_eq!(
        stages(&moto, &arn).await,
        before,
        "no version made, no label moved"
    );
    assert_eq!(value(&moto, &arn, "AWSCURRENT").await, rotated);
    // The later steps of the refused rotation find nothing to do and fail too.
    assert!(f.step("testSecret", &next).await.is_err());
    assert!(f.step("finishSecret", &next).await.is_err());
    assert_eq!(stages(&moto, &arn).await, before);
    assert_eq!(value(&moto, &arn, "AWSCURRENT").await, rotated);
}
