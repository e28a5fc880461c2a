//! The keyring's life outside requests: where it is kept (Secrets Manager's
//! secret, deployed; the key file beside `--data`, locally), what a rotation
//! may retire, and the rotation's steps. The rotation function
//! (`functions/rotate`) and `sspr-admin keys` run these; no request function
//! links them.
//!
//! A rotation makes a new current version and keeps the current one as the
//! previous; the previous one is retired, which is refused while anything
//! live is still sealed or keyed under it ([`DynamoStore::census`]) or while a
//! token it signed may still be alive ([`token_life`] after the current version
//! took over). `sspr-admin keys reseal` moves what is movable first.

use secrecy::SecretString;
pub use sspr_domain::keyring::{KeyringDoc, KeyringError, RotateRefusal};

use crate::config::{Config, Secrets};
use crate::ports::StoreError;
use crate::store::DynamoStore;

/// The longest a token lives (access, reset, gate): how long a version that
/// stopped signing must still verify.
pub fn token_life(config: &Config) -> i64 {
    let rules = config.rules();
    [rules.access_ttl, rules.reset_ttl, rules.gate_ttl]
        .iter()
        .map(|d| d.as_secs() as i64)
        .max()
        .unwrap_or(0)
}

/// Why a rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Refused(#[from] RotateRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("{0}")]
    Secret(String),
}

/// The keyring after a rotation of `doc` at `now`, if the previous version
/// holds nothing live (counted in `store`) and its tokens are dead.
pub async fn plan(
    doc: &KeyringDoc,
    store: &DynamoStore,
    now: i64,
    token_life: i64,
) -> Result<KeyringDoc, RotateError> {
    let left = match doc.previous() {
        Some(prev) => store.census(now).await?.left(prev.version),
        None => 0,
    };
    Ok(doc.rotate(now, left, token_life)?)
}

/// The rotation's four steps over Secrets Manager's staging labels, as the
/// secret's rotation function (`functions/rotate`) is called for them, and
/// `sspr-admin keys rotate` runs them in a row:
/// - `createSecret`: the next keyring ([`plan`]: refused while the previous
///   version holds anything) put as the `AWSPENDING` version of the request's
///   token (nothing, if that version exists: a step may be called again);
/// - `setSecret`: nothing; no other service holds the keys;
/// - `testSecret`: the pending keyring parses, its current version seals,
///   opens and signs, and it still holds the version it replaces;
/// - `finishSecret`: `AWSCURRENT` moves to it (Secrets Manager labels the
///   old one `AWSPREVIOUS`), only if it is this rotation's pending version
///   and passes `testSecret`'s checks again; nothing, if it is current.
pub mod rotation {
    use aws_sdk_secretsmanager::Client;

    use super::*;

    const CURRENT: &str = "AWSCURRENT";
    const PENDING: &str = "AWSPENDING";

    /// A step of Secrets Manager's rotation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Step {
        Create,
        Set,
        Test,
        Finish,
    }

    impl Step {
        pub fn parse(raw: &str) -> Option<Self> {
            match raw {
                "createSecret" => Some(Self::Create),
                "setSecret" => Some(Self::Set),
                "testSecret" => Some(Self::Test),
                "finishSecret" => Some(Self::Finish),
                _ => None,
            }
        }
    }

    /// The secret to rotate, the table whose items it seals, and how long
    /// its tokens live.
    pub struct Rotation<'a> {
        pub secrets: &'a Client,
        pub store: &'a DynamoStore,
        pub secret_id: &'a str,
        pub token_life: i64,
    }

    fn sm<E: std::error::Error + Send + Sync + 'static>(
        what: &'static str,
    ) -> impl FnOnce(aws_sdk_secretsmanager::error::SdkError<E>) -> RotateError {
        move |e| {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            RotateError::Secret(format!("Secrets Manager {what} failed ({e}{cause})"))
        }
    }

    impl Rotation<'_> {
        /// The keyring of the version `stage` labels (or of `version_id`).
        async fn read(
            &self,
            stage: Option<&str>,
            version_id: Option<&str>,
        ) -> Result<Option<KeyringDoc>, RotateError> {
            let out = self
                .secrets
                .get_secret_value()
                .secret_id(self.secret_id)
                .set_version_stage(stage.map(str::to_owned))
                .set_version_id(version_id.map(str::to_owned))
                .send()
                .await;
            let out = match out {
                Ok(o) => o,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(sm("GetSecretValue")(e)),
            };
            let text = out
                .secret_string()
                .ok_or_else(|| RotateError::Secret("the secret holds no string".into()))?;
            Ok(Some(KeyringDoc::parse(&SecretString::from(
                text.to_owned(),
            ))?))
        }

        /// The keyring the functions read now.
        pub async fn current(&self) -> Result<KeyringDoc, RotateError> {
            self.read(Some(CURRENT), None)
                .await?
                .ok_or_else(|| RotateError::Secret("the secret has no current version".into()))
        }

        /// The version ids and their labels.
        async fn stages(&self) -> Result<Vec<(String, Vec<String>)>, RotateError> {
            let out = self
                .secrets
                .describe_secret()
                .secret_id(self.secret_id)
                .send()
                .await
                .map_err(sm("DescribeSecret"))?;
            Ok(out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default())
        }

        /// Run one step for the rotation `token` (the new version's id).
        pub async fn step(&self, step: Step, token: &str, now: i64) -> Result<(), RotateError> {
            match step {
                Step::Create => {
                    if self.read(Some(PENDING), Some(token)).await?.is_some() {
                        return Ok(());
                    }
                    let current = self.current().await?;
                    let next = plan(&current, self.store, now, self.token_life).await?;
                    use secrecy::ExposeSecret as _;
                    self.secrets
                        .put_secret_value()
                        .secret_id(self.secret_id)
                        .client_request_token(token)
                        .secret_string(next.to_text().expose_secret())
                        .version_stages(PENDING)
                        .send()
                        .await
                        .map_err(sm("PutSecretValue"))?;
                    Ok(())
                }
                Step::Set => Ok(()),
                Step::Test => {
                    let pending =
                        self.read(Some(PENDING), Some(token))
                            .await?
                            .ok_or_else(|| {
                                RotateError::Secret("no pending version of this rotation".into())
                            })?;
                    let current = self.current().await?;
                    test(&pending, &current)
                }
                Step::Finish => {
                    let stages = self.stages().await?;
                    let Some((current_id, _)) = stages
                        .iter()
                        .find(|(_, labels)| labels.iter().any(|l| l == CURRENT))
                    else {
                        return Err(RotateError::Secret("no current version".into()));
                    };
                    if current_id == token {
                        return Ok(());
                    }
                    // AWSCURRENT moves only to this rotation's pending
                    // keyring, as testSecret passed it: a call for a token
                    // that made no version (its createSecret was refused)
                    // must not take the label off the current one.
                    let pending = stages
                        .iter()
                        .any(|(id, labels)| id == token && labels.iter().any(|l| l == PENDING));
                    if !pending {
                        return Err(RotateError::Secret(
                            "no pending version of this rotation".into(),
                        ));
                    }
                    let next = self
                        .read(Some(PENDING), Some(token))
                        .await?
                        .ok_or_else(|| {
                            RotateError::Secret("no pending version of this rotation".into())
                        })?;
                    test(&next, &self.current().await?)?;
                    self.secrets
                        .update_secret_version_stage()
                        .secret_id(self.secret_id)
                        .version_stage(CURRENT)
                        .move_to_version_id(token)
                        .remove_from_version_id(current_id)
                        .send()
                        .await
                        .map_err(sm("UpdateSecretVersionStage"))?;
                    Ok(())
                }
            }
        }

        /// The four steps in a row, for a fresh token (`sspr-admin keys
        /// rotate`): the new keyring, or why not (nothing changed then).
        pub async fn rotate_now(&self, now: i64) -> Result<KeyringDoc, RotateError> {
            let token = uuid::Uuid::new_v4().to_string();
            for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
                self.step(step, &token, now).await?;
            }
            self.current().await
        }
    }

    /// What `testSecret` checks of a pending keyring.
    pub fn test(pending: &KeyringDoc, current: &KeyringDoc) -> Result<(), RotateError> {
        let bad = |why: &str| RotateError::Secret(format!("the pending keyring {why}"));
        if pending.current <= current.current {
            return Err(bad("is not newer than the current one"));
        }
        if !pending.versions().contains(&current.current) {
            return Err(bad("drops the version it replaces"));
        }
        let secrets = Secrets::from_doc(pending);
        let user = crate::domain::Username::parse("rotation-probe")
            .map_err(|_| bad("cannot be probed"))?;
        let seal = crate::domain::TotpSeal::new(secrets.ring());
        let secret = crate::domain::TotpSecret::generate();
        let sealed = seal.seal(&secret, &user, "totp");
        if seal.open(&sealed, &user, "totp").map(|s| s.base32()) != Some(secret.base32()) {
            return Err(bad("does not seal and open"));
        }
        let keys = crate::token::Keys::new(secrets.ring(), "rotation-probe");
        let token = keys
            .issue_access("rotation-probe", 0, 1_000, 60)
            .map_err(|_| bad("does not sign"))?;
        keys.verify_access(&token, 1_001)
            .map_err(|_| bad("does not verify what it signs"))?;
        Ok(())
    }
}

/// The key file beside a local host's data file.
pub mod file {
    use std::io::Write as _;
    use std::path::{Path, PathBuf};

    use super::*;

    /// `FILE.keys` for the data file `FILE`.
    pub fn path_of(data: &Path) -> PathBuf {
        let mut name = data.as_os_str().to_owned();
        name.push(".keys");
        PathBuf::from(name)
    }

    #[derive(Debug, thiserror::Error)]
    pub enum FileError {
        #[error("the key file {path}: {source}")]
        Io {
            path: String,
            #[source]
            source: std::io::Error,
        },
        #[error("the key file {path}: {source}")]
        Keyring {
            path: String,
            #[source]
            source: KeyringError,
        },
    }

    /// The keyring kept beside `data`, if there is one.
    pub fn read(data: &Path) -> Result<Option<KeyringDoc>, FileError> {
        let path = path_of(data);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FileError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        KeyringDoc::parse(&SecretString::from(text))
            .map(Some)
            .map_err(|source| FileError::Keyring {
                path: path.display().to_string(),
                source,
            })
    }

    /// Write the keyring beside `data`: a new file (mode 0600 from its
    /// creation) renamed over the old, so a crash leaves one or the other.
    pub fn write(data: &Path, doc: &KeyringDoc) -> Result<(), FileError> {
        use secrecy::ExposeSecret as _;
        let path = path_of(data);
        let io = |source| FileError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(doc.to_text().expose_secret().as_bytes())
            .map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The keys of the host whose data file is `data`: the key file's, or a
    /// fresh keyring written there at the first start.
    pub fn load_or_create(data: &Path, now: i64) -> Result<Secrets, FileError> {
        let doc = match read(data)? {
            Some(doc) => doc,
            None => {
                let doc = KeyringDoc::generate(now);
                write(data, &doc)?;
                doc
            }
        };
        Ok(Secrets::from_doc(&doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_made_once_private_and_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("sspr-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let data = dir.join("host.db");
        let _ = std::fs::remove_file(file::path_of(&data));
        let kid = |s: &Secrets| crate::token::Keys::new(s.ring(), "x").current_kid();
        let first = file::load_or_create(&data, 10).expect("created");
        let again = file::load_or_create(&data, 20).expect("read");
        assert_eq!(kid(&first), kid(&again), "a restart keeps its keys");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file::path_of(&data))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let rotated = first.doc().expect("doc").rotate(30, 0, 0).expect("rotates");
        file::write(&data, &rotated).expect("written");
        let after = file::load_or_create(&data, 40).expect("read");
        assert!(kid(&after).starts_with("k2-"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
