//! The keyring: every key sspr holds, by version.
//!
//! A version is one master secret (Secrets Manager's value, or locally the key
//! file beside `--data`); every key is derived from it by HMAC-SHA256 of a
//! fixed label, so the keys of a version are independent and none reveals the
//! master. The keyring holds the current version and, after a rotation, the
//! previous one:
//!
//! - everything sealed, keyed or signed names the version it was made under:
//!   a seal begins with it ([`seal`]), a code's HMAC and a recovery code's
//!   sealed hash are written `"<version>:<...>"` (`domain::code`), a token's
//!   `kid` begins `k<version>-`;
//! - new writes use the current version; reads accept either; a TOTP secret
//!   proved under the previous version is sealed again under the current one
//!   in the write that records its step;
//! - a rotation ([`KeyringDoc::rotate`]) makes a new current version, keeps
//!   the current one as previous and retires the previous one, which it
//!   refuses while anything live is still sealed or keyed under it, or a
//!   token it signed may still be alive.
//!
//! The document (the secret's value) is JSON:
//! `{"format":"sspr-keyring/1","current":2,"keys":[{"version":2,"secret":"...","since":...},...]}`;
//! a plain string (what the stack generates) is version 1 alone.
//!
//! A function keeps what it read at its cold start; a version it meets that it
//! does not hold (another function rotated since) makes it read the document
//! again ([`Ring::ensure`], at most once a minute), so a warm function opens
//! what a newer one sealed.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

/// The `format` of the document.
pub const FORMAT: &str = "sspr-keyring/1";
/// The fewest characters a master secret has.
pub const MIN_SECRET_CHARS: usize = 32;
/// How often a function reads the document again for a version it does not hold.
const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// The longest a function goes on signing and sealing under what it read: at
/// its first request after this many seconds it reads the keyring again. So a
/// version stops signing at most this long after a rotation made another one
/// current, and [`KeyringDoc::rotate`] waits this long and a token's life
/// before it retires it.
pub const REREAD_SECS: i64 = 300;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a keyring could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("the keyring is not valid: {0}")]
    Invalid(String),
}

fn invalid(why: impl Into<String>) -> KeyringError {
    KeyringError::Invalid(why.into())
}

/// One version's master secret and since when it has been current.
#[derive(Clone, Serialize, Deserialize)]
pub struct MasterKey {
    pub version: u32,
    #[serde(with = "secret_text")]
    secret: SecretString,
    /// When it became current (Unix seconds; 0 when not known).
    #[serde(default)]
    pub since: i64,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("version", &self.version)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

mod secret_text {
    use secrecy::{ExposeSecret as _, SecretString};
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
        String::deserialize(de).map(SecretString::from)
    }
}

impl MasterKey {
    /// A fresh version: 32 bytes from the OS generator, base64.
    pub fn generate(version: u32, now: i64) -> Self {
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let secret = SecretString::from(B64.encode(raw));
        secrecy::zeroize::Zeroize::zeroize(&mut raw);
        Self {
            version,
            secret,
            since: now,
        }
    }
}

/// The keyring as it is stored: the current version and at most one previous.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyringDoc {
    format: String,
    pub current: u32,
    /// Newest first.
    keys: Vec<MasterKey>,
}

/// Why a rotation was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotateRefusal {
    #[error(
        "version {version} still seals or keys {left} live item(s); run `keys reseal` to move them to version {current}, then rotate"
    )]
    StillSealing {
        version: u32,
        current: u32,
        left: u64,
    },
    #[error(
        "version {version} signed tokens that may live until {until} (Unix seconds); rotate after that"
    )]
    TokensLive { version: u32, until: i64 },
}

impl KeyringDoc {
    /// A first keyring: version 1, fresh.
    pub fn generate(now: i64) -> Self {
        Self {
            format: FORMAT.into(),
            current: 1,
            keys: vec![MasterKey::generate(1, now)],
        }
    }

    /// The document from a secret's text: the JSON form, or a plain master
    /// secret (version 1 alone).
    pub fn parse(text: &SecretString) -> Result<Self, KeyringError> {
        let t = text.expose_secret().trim();
        let doc = if t.starts_with('{') {
            let doc: Self = serde_json::from_str(t)
                .map_err(|_| invalid("the keyring document is not valid JSON of its form"))?;
            if doc.format != FORMAT {
                return Err(invalid(format!("the format is not {FORMAT}")));
            }
            doc
        } else {
            Self {
                format: FORMAT.into(),
                current: 1,
                keys: vec![MasterKey {
                    version: 1,
                    secret: SecretString::from(t.to_owned()),
                    since: 0,
                }],
            }
        };
        doc.check()?;
        Ok(doc)
    }

    fn check(&self) -> Result<(), KeyringError> {
        if self.keys.is_empty() || self.keys.len() > 2 {
            return Err(invalid("a keyring holds one or two versions"));
        }
        if self.keys.iter().any(|k| k.version == 0) {
            return Err(invalid("versions count from 1"));
        }
        if self.keys.len() == 2 && self.keys[0].version == self.keys[1].version {
            return Err(invalid("two keys of one version"));
        }
        if self.keys.iter().map(|k| k.version).max() != Some(self.current) {
            return Err(invalid("the current version is the newest one held"));
        }
        if self
            .keys
            .iter()
            .any(|k| k.secret.expose_secret().trim().chars().count() < MIN_SECRET_CHARS)
        {
            return Err(invalid(format!(
                "a master secret needs at least {MIN_SECRET_CHARS} characters"
            )));
        }
        Ok(())
    }

    /// The document as the secret's text.
    pub fn to_text(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).unwrap_or_default())
    }

    pub fn current_key(&self) -> &MasterKey {
        match self.keys.iter().find(|k| k.version == self.current) {
            Some(k) => k,
            // `check` holds the current version among the keys.
            None => &self.keys[0],
        }
    }

    pub fn previous(&self) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.version != self.current)
    }

    /// The versions held, current first.
    pub fn versions(&self) -> Vec<u32> {
        let mut v = vec![self.current];
        v.extend(self.previous().map(|k| k.version));
        v
    }

    /// When the previous version's tokens are all dead, if there is one:
    /// [`REREAD_SECS`] (a warm function may sign under it that long after the
    /// rotation) and `token_life` after the current version took over.
    pub fn tokens_dead_at(&self, token_life: i64) -> Option<i64> {
        self.previous()?;
        Some(
            self.current_key()
                .since
                .saturating_add(REREAD_SECS)
                .saturating_add(token_life),
        )
    }

    /// The next keyring: a fresh current version, this current one as the
    /// previous, the previous retired. Refused while `left` live items are
    /// still sealed or keyed under the previous version, or while a token it
    /// signed may live (`token_life` seconds after the current version took
    /// over from it, and [`REREAD_SECS`] for a warm function to have read the
    /// rotation).
    pub fn rotate(&self, now: i64, left: u64, token_life: i64) -> Result<Self, RotateRefusal> {
        let current = self.current_key();
        if let Some(prev) = self.previous() {
            if left > 0 {
                return Err(RotateRefusal::StillSealing {
                    version: prev.version,
                    current: current.version,
                    left,
                });
            }
            let until = self.tokens_dead_at(token_life).unwrap_or(0);
            if now < until {
                return Err(RotateRefusal::TokensLive {
                    version: prev.version,
                    until,
                });
            }
        }
        let next = MasterKey::generate(current.version.saturating_add(1), now);
        Ok(Self {
            format: FORMAT.into(),
            current: next.version,
            keys: vec![next, current.clone()],
        })
    }
}

/// HMAC-SHA256 of `label` under `key`: a subkey independent of every other
/// label's, that reveals nothing of `key`.
pub fn subkey(key: &[u8], label: &[u8]) -> [u8; 32] {
    crate::digest::hmac_sha256(key, &[label])
}

pub const CODE_LABEL: &[u8] = b"sspr/code-hmac/v1";
pub const SIGNING_LABEL: &[u8] = b"sspr/token-signing/v1";
pub const MAIL_LABEL: &[u8] = b"sspr/mail-seal/v1";
pub const TOTP_LABEL: &[u8] = b"sspr/totp-seal/v1";
pub const RECOVERY_LABEL: &[u8] = b"sspr/recovery-seal/v1";

/// The raw keys of one version.
pub struct KeyParts {
    pub hmac: SecretBox<Vec<u8>>,
    pub signing_seed: SecretBox<[u8; 32]>,
    pub mail: SecretBox<[u8; 32]>,
    pub totp: SecretBox<[u8; 32]>,
    pub recovery: SecretBox<[u8; 32]>,
}

impl KeyParts {
    /// Every key of a version from its master secret.
    pub fn derive(master: &str) -> Self {
        let m = master.trim().as_bytes();
        Self {
            hmac: SecretBox::new(Box::new(subkey(m, CODE_LABEL).to_vec())),
            signing_seed: SecretBox::new(Box::new(subkey(m, SIGNING_LABEL))),
            mail: SecretBox::new(Box::new(subkey(m, MAIL_LABEL))),
            totp: SecretBox::new(Box::new(subkey(m, TOTP_LABEL))),
            recovery: SecretBox::new(Box::new(subkey(m, RECOVERY_LABEL))),
        }
    }

    /// The keys of a code HMAC key and a signing seed given apart (the local
    /// runtimes' two variables): the seals' keys come from the HMAC key.
    pub fn from_hmac_and_seed(hmac: Vec<u8>, seed: [u8; 32]) -> Self {
        Self {
            mail: SecretBox::new(Box::new(subkey(&hmac, MAIL_LABEL))),
            totp: SecretBox::new(Box::new(subkey(&hmac, TOTP_LABEL))),
            recovery: SecretBox::new(Box::new(subkey(&hmac, RECOVERY_LABEL))),
            hmac: SecretBox::new(Box::new(hmac)),
            signing_seed: SecretBox::new(Box::new(seed)),
        }
    }
}

/// One version's keys, ready to use.
pub struct KeySet {
    pub version: u32,
    /// When it became current.
    pub since: i64,
    pub(crate) hmac: SecretBox<Vec<u8>>,
    pub(crate) signing: ed25519_dalek::SigningKey,
    pub(crate) verifying: ed25519_dalek::VerifyingKey,
    /// `k<version>-` and a digest of the public key.
    pub(crate) kid: String,
    pub(crate) mail: Option<LessSafeKey>,
    pub(crate) totp: Option<LessSafeKey>,
    pub(crate) recovery: Option<LessSafeKey>,
}

fn aead(key: &SecretBox<[u8; 32]>) -> Option<LessSafeKey> {
    // A 32-byte key is what ChaCha20-Poly1305 takes, so this does not fail;
    // were it to, nothing would seal or open (and nothing is stored in the clear).
    UnboundKey::new(&CHACHA20_POLY1305, key.expose_secret())
        .ok()
        .map(LessSafeKey::new)
}

impl KeySet {
    pub fn new(version: u32, since: i64, parts: KeyParts) -> Self {
        let signing = ed25519_dalek::SigningKey::from_bytes(parts.signing_seed.expose_secret());
        let verifying = signing.verifying_key();
        let digest = crate::digest::sha256(&[&verifying.to_bytes()]);
        let kid = format!("k{version}-{}", B64URL.encode(&digest[..12]));
        Self {
            version,
            since,
            mail: aead(&parts.mail),
            totp: aead(&parts.totp),
            recovery: aead(&parts.recovery),
            hmac: parts.hmac,
            signing,
            verifying,
            kid,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// The version a token's `kid` names (`k<version>-...`).
pub fn kid_version(kid: &str) -> Option<u32> {
    kid.strip_prefix('k')?.split('-').next()?.parse().ok()
}

/// The versions a function holds: the current one first.
pub struct Sets(Vec<KeySet>);

impl Sets {
    pub fn from_doc(doc: &KeyringDoc) -> Self {
        let mut sets: Vec<KeySet> = doc
            .keys
            .iter()
            .map(|k| {
                KeySet::new(
                    k.version,
                    k.since,
                    KeyParts::derive(k.secret.expose_secret()),
                )
            })
            .collect();
        sets.sort_by_key(|s| std::cmp::Reverse(s.version));
        Self(sets)
    }

    pub fn one(set: KeySet) -> Self {
        Self(vec![set])
    }

    pub fn current(&self) -> &KeySet {
        &self.0[0]
    }

    pub fn get(&self, version: u32) -> Option<&KeySet> {
        self.0.iter().find(|s| s.version == version)
    }

    pub fn all(&self) -> &[KeySet] {
        &self.0
    }
}

/// Where a function reads the keyring again (Secrets Manager, deployed).
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn fetch(&self) -> Result<SecretString, Box<dyn std::error::Error + Send + Sync>>;
}

/// The keyring a function runs on: the versions it holds, read again from
/// its source when it meets one it does not.
pub struct Ring {
    sets: RwLock<Arc<Sets>>,
    source: Option<Arc<dyn KeySource>>,
    /// When the source was last read; held across a read, so a caller that
    /// meets a version while another reads waits for that read.
    refreshed: tokio::sync::Mutex<Option<Instant>>,
    /// When what is held was read (the clock's seconds; `None` until the
    /// first request, which comes just after the cold start's read).
    read_at: Mutex<Option<i64>>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let versions: Vec<u32> = self.sets().all().iter().map(|s| s.version).collect();
        write!(f, "Ring {{ versions: {versions:?}, .. }}")
    }
}

impl Ring {
    pub fn new(sets: Sets) -> Self {
        Self {
            sets: RwLock::new(Arc::new(sets)),
            source: None,
            refreshed: tokio::sync::Mutex::new(None),
            read_at: Mutex::new(None),
        }
    }

    /// A ring of one document's versions (the tests' and tools' form).
    pub fn of_doc(doc: &KeyringDoc) -> Arc<Self> {
        Arc::new(Self::new(Sets::from_doc(doc)))
    }

    /// A ring of one version from a master secret of its own (tests).
    pub fn of_master(master: &str) -> Arc<Self> {
        Arc::new(Self::new(Sets::one(KeySet::new(
            1,
            0,
            KeyParts::derive(master),
        ))))
    }

    /// A ring that reads `source` again for a version it does not hold.
    /// The first such version is read for at once, however soon after the
    /// cold start: a function that started just before a rotation would
    /// otherwise refuse, for up to a minute, every code, seal and token of
    /// the new version (and count a refused authenticator code as a wrong
    /// secret). The once-a-minute bound holds from that first read on.
    pub fn with_source(sets: Sets, source: Arc<dyn KeySource>) -> Self {
        Self {
            source: Some(source),
            ..Self::new(sets)
        }
    }

    /// The versions held now.
    pub fn sets(&self) -> Arc<Sets> {
        match self.sets.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Read the keyring again when what is held was read [`REREAD_SECS`] or
    /// more before `now`: called before anything is signed or sealed, so a
    /// warm function moves to a new current version within that time.
    pub async fn ensure_fresh(&self, now: i64) {
        if self.source.is_none() {
            return;
        }
        let stale = {
            let mut at = match self.read_at.lock() {
                Ok(a) => a,
                Err(poisoned) => poisoned.into_inner(),
            };
            match *at {
                None => {
                    *at = Some(now);
                    false
                }
                Some(t) => now.saturating_sub(t) >= REREAD_SECS,
            }
        };
        if stale {
            let _guard = self.refreshed.lock().await;
            let still = match self.read_at.lock() {
                Ok(a) => a.is_some_and(|t| now.saturating_sub(t) >= REREAD_SECS),
                Err(_) => true,
            };
            if still && self.reread().await {
                if let Ok(mut at) = self.read_at.lock() {
                    *at = Some(now);
                }
            }
        }
    }

    /// Read the source and hold what it says; whether that worked.
    async fn reread(&self) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        let doc = match source.fetch().await {
            Ok(text) => KeyringDoc::parse(&text),
            Err(e) => {
                tracing::warn!(error = %e, "reading the keyring again failed");
                return false;
            }
        };
        match doc {
            Ok(doc) => {
                let sets = Arc::new(Sets::from_doc(&doc));
                tracing::info!(current = doc.current, "read the keyring again");
                match self.sets.write() {
                    Ok(mut s) => *s = sets,
                    Err(poisoned) => *poisoned.into_inner() = sets,
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "the keyring read again is not valid");
                false
            }
        }
    }

    /// Make sure every version of `versions` is held, reading the source again
    /// (at most once a minute) when one is not. A version still unknown after
    /// that stays unknown: what it sealed does not open.
    ///
    /// One read at a time: the requests that meet a new version together
    /// wait for the one read the first of them started, and find the
    /// version held (were they to go on without it, each would refuse what
    /// the new version made: a token, a code, an authenticator's seal).
    pub async fn ensure(&self, versions: impl IntoIterator<Item = u32>) {
        let versions: Vec<u32> = versions.into_iter().collect();
        let held = |sets: &Sets| versions.iter().all(|v| sets.get(*v).is_some());
        if held(&self.sets()) {
            return;
        }
        if self.source.is_none() {
            return;
        }
        let mut last = self.refreshed.lock().await;
        if held(&self.sets()) {
            return;
        }
        if last.is_some_and(|t| t.elapsed() < REFRESH_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        self.reread().await;
    }
}

/// The first byte of every seal.
const SEAL_MARK: u8 = b's';
const SEAL_HEAD: usize = 1 + 4 + NONCE_LEN;

/// The one AEAD seal (ChaCha20-Poly1305, a fresh random 96-bit nonce) of TOTP
/// secrets, queued mail and recovery codes: `'s' || version (u32, big-endian)
/// || nonce || ciphertext || tag`. Empty only if the key could not be made; an
/// empty seal never opens.
pub fn seal(key: Option<&LessSafeKey>, version: u32, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let Some(key) = key else {
        return Vec::new();
    };
    let mut nonce = [0u8; NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let mut buf = plain.to_vec();
    if key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .is_err()
    {
        // Only a message longer than ChaCha20's counter allows fails.
        return Vec::new();
    }
    let mut out = Vec::with_capacity(SEAL_HEAD + buf.len());
    out.push(SEAL_MARK);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out
}

/// The version a seal was made under.
pub fn sealed_version(sealed: &[u8]) -> Option<u32> {
    if sealed.len() < SEAL_HEAD || sealed[0] != SEAL_MARK {
        return None;
    }
    let v: [u8; 4] = sealed[1..5].try_into().ok()?;
    Some(u32::from_be_bytes(v))
}

/// The plaintext of a seal, opened with `key_of` its version's key.
pub fn open<'k>(
    key_of: impl FnOnce(u32) -> Option<&'k LessSafeKey>,
    aad: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let key = key_of(sealed_version(sealed)?)?;
    let nonce = Nonce::try_assume_unique_for_key(&sealed[5..SEAL_HEAD]).ok()?;
    let mut buf = sealed[SEAL_HEAD..].to_vec();
    let n = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .ok()?
        .len();
    buf.truncate(n);
    Some(buf)
}

/// Text of a seal, for values stored as strings (`<version>:<base64url>`).
pub fn seal_text(sealed: &[u8]) -> String {
    format!(
        "{}:{}",
        sealed_version(sealed).unwrap_or(0),
        B64URL.encode(sealed)
    )
}

/// The seal of [`seal_text`]'s text.
pub fn seal_of_text(text: &str) -> Option<Vec<u8>> {
    let (_, b) = text.split_once(':')?;
    B64URL.decode(b).ok()
}

/// The version a stored `"<version>:..."` text was made under.
pub fn text_version(text: &str) -> Option<u32> {
    text.split_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_text(doc: &KeyringDoc) -> SecretString {
        doc.to_text()
    }

    #[test]
    fn a_plain_secret_is_version_one_and_the_document_round_trips() {
        let plain = KeyringDoc::parse(&SecretString::from("m".repeat(40))).expect("plain");
        assert_eq!(plain.versions(), vec![1]);
        let again = KeyringDoc::parse(&doc_text(&plain)).expect("json");
        assert_eq!(again.versions(), vec![1]);
        assert!(KeyringDoc::parse(&SecretString::from("short")).is_err());
        assert!(KeyringDoc::parse(&SecretString::from(
            r#"{"format":"x","current":1,"keys":[]}"#
        ))
        .is_err());
    }

    #[test]
    fn a_rotation_keeps_the_current_as_previous_and_refuses_while_the_previous_holds_anything() {
        let one = KeyringDoc::generate(1_000);
        let two = one.rotate(1_000, 0, 900).expect("nothing to retire");
        assert_eq!(two.versions(), vec![2, 1]);
        assert_eq!(
            two.previous().map(|k| k.secret.expose_secret().to_owned()),
            Some(one.current_key().secret.expose_secret().to_owned())
        );
        assert_eq!(
            two.rotate(5_000, 3, 900).map(|d| d.versions()),
            Err(RotateRefusal::StillSealing {
                version: 1,
                current: 2,
                left: 3
            })
        );
        assert_eq!(
            two.rotate(2_100, 0, 900).map(|d| d.versions()),
            Err(RotateRefusal::TokensLive {
                version: 1,
                until: 1_000 + REREAD_SECS + 900
            })
        );
        let three = two
            .rotate(1_000 + REREAD_SECS + 900, 0, 900)
            .expect("version 1 is empty");
        assert_eq!(three.versions(), vec![3, 2]);
    }

    /// A source that answers a document and counts its reads.
    struct Counted(std::sync::Mutex<(KeyringDoc, u32)>);

    #[async_trait]
    impl KeySource for Counted {
        async fn fetch(&self) -> Result<SecretString, Box<dyn std::error::Error + Send + Sync>> {
            let mut g = self.0.lock().map_err(|_| "poisoned")?;
            g.1 += 1;
            Ok(g.0.to_text())
        }
    }

    #[tokio::test]
    async fn a_version_not_held_makes_the_ring_read_its_source_again_at_most_once_a_minute() {
        let one = KeyringDoc::generate(0);
        let two = one.rotate(0, 0, 0).expect("rotates");
        let source = Arc::new(Counted(std::sync::Mutex::new((two.clone(), 0))));
        let ring = Ring::with_source(Sets::from_doc(&one), source.clone());
        let reads = || source.0.lock().map(|g| g.1).unwrap_or(u32::MAX);
        ring.ensure([1]).await;
        assert_eq!(reads(), 0, "a version held reads nothing");
        ring.ensure([2]).await;
        assert_eq!(reads(), 1, "a version not held reads the source");
        assert_eq!(ring.sets().current().version, 2);
        assert!(
            ring.sets().get(1).is_some(),
            "the previous version still opens"
        );
        ring.ensure([3]).await;
        assert_eq!(
            reads(),
            1,
            "an unknown version does not read again within the minute"
        );
        *ring.refreshed.lock().await = None;
        ring.ensure([3]).await;
        assert_eq!(reads(), 2, "after the minute it does");
    }

    #[tokio::test]
    async fn a_warm_ring_reads_its_source_again_once_what_it_holds_is_reread_secs_old() {
        let one = KeyringDoc::generate(0);
        let two = one.rotate(0, 0, 0).expect("rotates");
        let source = Arc::new(Counted(std::sync::Mutex::new((two, 0))));
        let ring = Ring::with_source(Sets::from_doc(&one), source.clone());
        let reads = || source.0.lock().map(|g| g.1).unwrap_or(u32::MAX);
        ring.ensure_fresh(1_000).await;
        ring.ensure_fresh(1_000 + REREAD_SECS - 1).await;
        assert_eq!(reads(), 0, "fresh enough");
        assert_eq!(ring.sets().current().version, 1);
        ring.ensure_fresh(1_000 + REREAD_SECS).await;
        assert_eq!(reads(), 1);
        assert_eq!(
            ring.sets().current().version,
            2,
            "signs under the new version"
        );
        ring.ensure_fresh(1_000 + REREAD_SECS + 1).await;
        assert_eq!(reads(), 1, "read just now");
        let plain = Ring::new(Sets::from_doc(&one));
        plain.ensure_fresh(1_000_000).await;
        assert_eq!(
            plain.sets().current().version,
            1,
            "no source, nothing to read"
        );
    }

    #[test]
    fn a_seal_names_its_version_and_opens_only_under_it() {
        let doc = KeyringDoc::generate(0).rotate(0, 0, 0).expect("rotates");
        let sets = Sets::from_doc(&doc);
        let old = sets.get(1).expect("v1");
        let sealed = seal(old.totp.as_ref(), 1, b"aad", b"secret");
        assert_eq!(sealed_version(&sealed), Some(1));
        let opened = open(
            |v| sets.get(v).and_then(|s| s.totp.as_ref()),
            b"aad",
            &sealed,
        );
        assert_eq!(opened.as_deref(), Some(&b"secret"[..]));
        assert!(open(
            |v| sets.get(v).and_then(|s| s.totp.as_ref()),
            b"other",
            &sealed
        )
        .is_none());
        // The version byte changed: another key, so it does not open.
        let mut moved = sealed.clone();
        moved[4] = 2;
        assert!(open(
            |v| sets.get(v).and_then(|s| s.totp.as_ref()),
            b"aad",
            &moved
        )
        .is_none());
        let text = seal_text(&sealed);
        assert_eq!(text_version(&text), Some(1));
        assert_eq!(seal_of_text(&text), Some(sealed));
        assert_eq!(kid_version(sets.current().kid()), Some(2));
    }

    #[test]
    fn a_master_secret_derives_the_subkeys_and_key_id_it_always_did() {
        // Fixed vectors (HMAC-SHA256 per RFC 2104, Ed25519 per RFC 8032,
        // computed apart from this code): a change here would orphan every
        // digest, seal and token already issued.
        let m = "k".repeat(40);
        let hex = |label| crate::digest::hex(&subkey(m.as_bytes(), label));
        assert_eq!(
            hex(CODE_LABEL),
            "62431999819510a55c90cc9965c8f752fa9eec411f6a2411ba81669c7e4550e4"
        );
        assert_eq!(
            hex(SIGNING_LABEL),
            "2fcf159974daca70b0803b6dbbdbbbe338b112a83796a1d334ac7a9d9f1479d7"
        );
        assert_eq!(
            hex(MAIL_LABEL),
            "a352f35bd2c8c7c37a1b279cbdbf28cc166081e310fe2a5186e6615cbaf53886"
        );
        assert_eq!(
            hex(TOTP_LABEL),
            "b0dd9a1548109eec5cf73571ab76055b6d96d2e455c3eda120ddd40b21bd67f6"
        );
        assert_eq!(
            hex(RECOVERY_LABEL),
            "88b6c60536e915a432d268db52ac29242d09e67bc9a6f59136fb35fc1b7ff4af"
        );
        let ring = Ring::of_master(&m);
        assert_eq!(ring.sets().current().kid(), "k1-OZXbG7hDcujBA7Kl");
    }
}
