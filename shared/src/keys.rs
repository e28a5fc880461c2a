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
