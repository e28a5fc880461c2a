//! One-time codes: what a code proves (its [`Purpose`]), how one is drawn
//! (uniform decimal digits from the OS generator) and parsed, and its digest
//! at rest: HMAC-SHA256 keyed by the keyring's code key over purpose, user and
//! code, with the key's version, compared in constant time. A stolen table
//! holds no usable code, and a code for one user or purpose proves nothing for
//! another. Saved recovery codes (`domain/recovery.rs`) are kept here too, as
//! a SHA-256 bound to the user and apart from every purpose, sealed under the
//! keyring's recovery key, so a rotation can move them without the codes.

use std::sync::Arc;

use rand::Rng as _;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::digest::{hex, hmac_sha256, sha256};
use crate::keyring::{open, seal, seal_of_text, seal_text, text_version, Ring};

use super::{Invalid, RecoveryCode, Username};

/// What a one-time code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm a recovery email address (at sign-up or after a change).
    VerifyEmail,
    /// Prove control of the recovery email to reset the password.
    ResetPassword,
    /// Prove control of the recovery email to lift a sign-in lock, keeping the password.
    UnlockAccount,
}

impl Purpose {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "verify_email" => Ok(Self::VerifyEmail),
            "reset_password" => Ok(Self::ResetPassword),
            "unlock_account" => Ok(Self::UnlockAccount),
            _ => Err(Invalid(
                "purpose must be reset_password, verify_email or unlock_account",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::UnlockAccount => "unlock_account",
        }
    }
}

/// A one-time code as typed by the user: only digits, of the configured length.
/// It never prints: `Debug` hides the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code([redacted])")
    }
}

impl Code {
    /// A code as the user typed it. Spaces and dashes people add while typing are dropped.
    pub fn parse(raw: &str, length: usize) -> Result<Self, Invalid> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != length || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid("code must be the digits from the email"));
        }
        Ok(Self(digits))
    }

    /// A fresh code from the OS CSPRNG, each digit uniform.
    pub fn generate(length: usize) -> Self {
        let mut rng = rand::rngs::OsRng;
        Self(
            (0..length)
                .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
                .collect(),
        )
    }

    /// The digits, for the one place that needs them: the email body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The keys codes are MACed with before they are stored: the keyring's code
/// HMAC key of each version (`keyring`). A digest names its version
/// (`"<version>:<hex>"`), so a code issued before a rotation is checked under
/// the key it was made with.
#[derive(Clone)]
pub struct CodeKey(Arc<Ring>);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey([redacted])")
    }
}

/// HMAC-SHA256 of a code, bound to its user and purpose, with the version of
/// the key that made it; or a recovery code's sealed hash. What the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDigest(String);

impl CodeDigest {
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key version it was made under.
    pub fn version(&self) -> Option<u32> {
        text_version(&self.0)
    }

    /// Constant-time equality, so a comparison's duration says nothing of where digests differ.
    pub fn matches(&self, other: &CodeDigest) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

/// What a recovery code's seal is bound to.
fn recovery_aad(user: &Username) -> Vec<u8> {
    format!("sspr/recovery/v1\0{}", user.as_str()).into_bytes()
}

impl CodeKey {
    pub fn new(ring: Arc<Ring>) -> Self {
        Self(ring)
    }

    /// The digest of `code` under the current version.
    pub fn digest(&self, purpose: Purpose, user: &Username, code: &Code) -> CodeDigest {
        self.digest_as(None, purpose, user, code)
    }

    /// The digest of `code` under the version `like` was made with (the
    /// current one when `like` is `None` or of a version not held, which then
    /// matches nothing): what a typed code is compared with.
    pub fn digest_as(
        &self,
        like: Option<&CodeDigest>,
        purpose: Purpose,
        user: &Username,
        code: &Code,
    ) -> CodeDigest {
        let sets = self.0.sets();
        let set = like
            .and_then(CodeDigest::version)
            .and_then(|v| sets.get(v))
            .unwrap_or(sets.current());
        let mac = hmac_sha256(
            set.hmac.expose_secret(),
            &[
                purpose.as_str().as_bytes(),
                &[0],
                user.as_str().as_bytes(),
                &[0],
                code.0.as_bytes(),
            ],
        );
        CodeDigest::of(set.version, &mac)
    }

    /// A recovery code as stored: SHA-256 of the code bound to its user
    /// (80 random bits: no key is needed to make it unguessable), sealed
    /// under the current version, so a rotation can seal it again without
    /// the code. A fresh nonce each time: two users' same code look apart.
    pub fn recovery_entry(&self, user: &Username, code: &RecoveryCode) -> CodeDigest {
        let sets = self.0.sets();
        let set = sets.current();
        let sealed = seal(
            set.recovery.as_ref(),
            set.version,
            &recovery_aad(user),
            &recovery_hash(user, code),
        );
        CodeDigest(seal_text(&sealed))
    }

    /// The stored entry among `left` that holds `code`, if any. Every entry
    /// is opened and compared in constant time.
    pub fn recovery_find(
        &self,
        user: &Username,
        code: &RecoveryCode,
        left: &[CodeDigest],
    ) -> Option<CodeDigest> {
        let sets = self.0.sets();
        let want = recovery_hash(user, code);
        let aad = recovery_aad(user);
        let mut found = None;
        for entry in left {
            let Some(sealed) = seal_of_text(&entry.0) else {
                continue;
            };
            let opened = open(
                |v| sets.get(v).and_then(|s| s.recovery.as_ref()),
                &aad,
                &sealed,
            );
            if opened.is_some_and(|h| bool::from(h.as_slice().ct_eq(&want))) && found.is_none() {
                found = Some(entry.clone());
            }
        }
        found
    }

    /// `entry` sealed again under the current version (`None` if it does not
    /// open): what a reseal writes over a recovery code of an older version.
    pub fn recovery_reseal(&self, user: &Username, entry: &CodeDigest) -> Option<CodeDigest> {
        let sets = self.0.sets();
        let aad = recovery_aad(user);
        let sealed = seal_of_text(&entry.0)?;
        let hash = open(
            |v| sets.get(v).and_then(|s| s.recovery.as_ref()),
            &aad,
            &sealed,
        )?;
        let set = sets.current();
        Some(CodeDigest(seal_text(&seal(
            set.recovery.as_ref(),
            set.version,
            &aad,
            &hash,
        ))))
    }

    /// The key a recipient (an email address or a phone number) goes by in
    /// the per-recipient code spacing: a short HMAC under the current code
    /// key, so the profile names no address in its attribute names and a
    /// stolen table links no address to a user by them.
    pub fn recipient(&self, address: &str) -> String {
        let sets = self.0.sets();
        let out = hmac_sha256(
            sets.current().hmac.expose_secret(),
            &[b"sspr/recipient/v1\0", address.to_lowercase().as_bytes()],
        );
        hex(&out[..8])
    }

    /// The keyring under these keys.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.0
    }
}

/// The hash a recovery code is kept as, before its seal.
fn recovery_hash(user: &Username, code: &RecoveryCode) -> [u8; 32] {
    sha256(&[
        b"\0sspr/recovery_code/v1\0",
        user.as_str().as_bytes(),
        &[0],
        code.canonical().as_bytes(),
    ])
}

impl CodeDigest {
    fn of(version: u32, mac: &[u8; 32]) -> Self {
        Self(format!("{version}:{}", hex(mac)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::keyring::{KeyringDoc, Ring, Sets};

    fn ring(doc: &KeyringDoc) -> Arc<Ring> {
        Arc::new(Ring::new(Sets::from_doc(doc)))
    }

    fn key() -> CodeKey {
        CodeKey::new(ring(&KeyringDoc::generate(0)))
    }

    #[test]
    fn codes_are_digits_of_the_configured_length() {
        for len in 6..=10 {
            let c = Code::generate(len);
            assert_eq!(c.0.len(), len);
            assert!(c.0.bytes().all(|b| b.is_ascii_digit()));
            assert!(Code::parse(c.expose(), len).is_ok());
        }
        assert!(Code::parse("12345", 6).is_err());
        assert!(Code::parse("12345a", 6).is_err());
        assert!(
            Code::parse("１２３４５６", 6).is_err(),
            "full-width digits are not ASCII digits"
        );
        assert_eq!(Code::parse("123 456", 6).map(|c| c.0), Ok("123456".into()));
    }

    #[test]
    fn generated_codes_cover_every_digit_evenly() {
        let mut seen = [0u32; 10];
        for _ in 0..2000 {
            for b in Code::generate(10).0.bytes() {
                seen[(b - b'0') as usize] += 1;
            }
        }
        // 20000 digits: each should be near 2000; 1700..2300 is over 6 sigma.
        assert!(seen.iter().all(|&n| (1700..2300).contains(&n)), "{seen:?}");
    }

    #[test]
    fn digests_bind_user_and_purpose_and_never_hold_the_code() {
        let k = key();
        let alice = Username::parse("alice").expect("valid");
        let bob = Username::parse("bob").expect("valid");
        let code = Code::parse("123456", 6).expect("valid");
        let d = k.digest(Purpose::ResetPassword, &alice, &code);
        assert!(d.matches(&k.digest(Purpose::ResetPassword, &alice, &code)));
        assert!(!d.matches(&k.digest(Purpose::VerifyEmail, &alice, &code)));
        assert!(!d.matches(&k.digest(Purpose::ResetPassword, &bob, &code)));
        assert!(!d.as_str().contains("123456"));
        assert_eq!(d.as_str().len(), 2 + 64);
        assert_eq!(d.version(), Some(1));
        assert_eq!(format!("{code:?}"), "Code([redacted])");
    }

    #[test]
    fn recovery_entries_bind_the_user_and_never_equal_a_purpose_digest() {
        let k = key();
        let alice = Username::parse("alice").expect("valid");
        let bob = Username::parse("bob").expect("valid");
        let rc = RecoveryCode::parse("abcd-efgh-jkmn-pqrs").expect("valid");
        let d = k.recovery_entry(&alice, &rc);
        assert!(!d.as_str().contains("abcdefghjkmnpqrs"));
        assert_eq!(d.version(), Some(1));
        let left = [d.clone()];
        assert_eq!(k.recovery_find(&alice, &rc, &left), Some(d.clone()));
        assert_eq!(
            k.recovery_find(
                &alice,
                &RecoveryCode::parse("ABCDEFGHJKMNPQRS").expect("valid"),
                &left
            ),
            Some(d.clone()),
            "the shown and the typed forms are one code"
        );
        assert_eq!(k.recovery_find(&bob, &rc, &left), None);
        let other = RecoveryCode::parse("abcd-efgh-jkmn-pqrt").expect("valid");
        assert_eq!(k.recovery_find(&alice, &other, &left), None);
        assert_eq!(
            key().recovery_find(&alice, &rc, &left),
            None,
            "another keyring"
        );
        // A mailed code of the same text, for every purpose: never the same digest.
        let digits = RecoveryCode::parse("0123-4567-8901-2345").expect("valid");
        let as_code = Code::parse("0123456789012345", 16).expect("valid");
        for purpose in [
            Purpose::VerifyEmail,
            Purpose::ResetPassword,
            Purpose::UnlockAccount,
        ] {
            let mailed = k.digest(purpose, &alice, &as_code);
            assert_eq!(k.recovery_find(&alice, &digits, &[mailed]), None);
        }
    }

    #[test]
    fn after_a_rotation_old_digests_and_entries_still_match_and_an_entry_reseals() {
        let one = KeyringDoc::generate(0);
        let old = CodeKey::new(ring(&one));
        let new = CodeKey::new(ring(&one.rotate(0, 0, 0).expect("rotates")));
        let alice = Username::parse("alice").expect("valid");
        let code = Code::parse("123456", 6).expect("valid");
        let issued = old.digest(Purpose::ResetPassword, &alice, &code);
        assert!(!new
            .digest(Purpose::ResetPassword, &alice, &code)
            .matches(&issued));
        assert!(new
            .digest_as(Some(&issued), Purpose::ResetPassword, &alice, &code)
            .matches(&issued));
        let rc = RecoveryCode::parse("abcd-efgh-jkmn-pqrs").expect("valid");
        let entry = old.recovery_entry(&alice, &rc);
        assert_eq!(
            new.recovery_find(&alice, &rc, std::slice::from_ref(&entry)),
            Some(entry.clone())
        );
        let moved = new.recovery_reseal(&alice, &entry).expect("opens");
        assert_eq!(moved.version(), Some(2));
        assert_eq!(
            new.recovery_find(&alice, &rc, std::slice::from_ref(&moved)),
            Some(moved.clone())
        );
        assert_eq!(old.recovery_find(&alice, &rc, &[moved]), None);
    }

    #[test]
    fn digests_recipient_keys_and_recovery_hashes_are_the_bytes_already_stored() {
        // Fixed vectors (HMAC-SHA256 and SHA-256 computed apart from this
        // code): what the table holds must go on matching.
        let k = CodeKey::new(Ring::of_master(&"k".repeat(40)));
        let alice = Username::parse("alice").expect("valid");
        let code = Code::parse("123456", 6).expect("valid");
        assert_eq!(
            k.digest(Purpose::ResetPassword, &alice, &code).0,
            "1:0bbca826e16a8c796457f483daaf549305c8bdb85f988a3cf6619067988b31a4"
        );
        assert_eq!(k.recipient("Alice@Example.com"), "eb075c3ad34096eb");
        let rc = RecoveryCode::parse("0123-4567-89AB-CDEF").expect("valid");
        assert_eq!(
            crate::digest::hex(&recovery_hash(&alice, &rc)),
            "7dda7eb7849064b3dab1864e6eaca745aa0e85e637c5d841740c9c9188c2092e"
        );
    }
}
