//! One-time codes: what a code proves (its [`Purpose`]), how one is drawn
//! (uniform decimal digits from the OS generator) and parsed, and its digest
//! at rest: HMAC-SHA256 keyed by the server secret over purpose, user and
//! code, compared in constant time. A stolen table holds no usable code, and a
//! code for one user or purpose proves nothing for another. Saved recovery
//! codes (`domain/recovery.rs`) are digested here too, under the same key and
//! apart from every purpose.

use hmac::{Hmac, Mac};
use rand::Rng as _;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use subtle::ConstantTimeEq;

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

/// The server key codes are MACed with before they are stored.
pub struct CodeKey(SecretBox<Vec<u8>>);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey([redacted])")
    }
}

/// HMAC-SHA256 of a code, bound to its user and purpose; what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDigest(String);

impl CodeDigest {
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality, so a comparison's duration says nothing of where digests differ.
    pub fn matches(&self, other: &CodeDigest) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl CodeKey {
    pub fn new(key: SecretBox<Vec<u8>>) -> Self {
        Self(key)
    }

    pub fn digest(&self, purpose: Purpose, user: &Username, code: &Code) -> CodeDigest {
        let mut mac = self.mac();
        // The purpose's name comes first and is never empty: recovery_digest
        // relies on that to keep its messages apart from these.
        mac.update(purpose.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(user.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(code.0.as_bytes());
        CodeDigest::of(mac)
    }

    /// The digest of a recovery code, bound to its user. Same key as every
    /// other code, a message no [`Purpose`] digest can have: those begin with
    /// the purpose's name, never with a NUL, and this begins with one. So a
    /// recovery code's digest never stands for a mailed code's, nor the other
    /// way, whatever the two codes' text.
    pub fn recovery_digest(&self, user: &Username, code: &RecoveryCode) -> CodeDigest {
        let mut mac = self.mac();
        mac.update(b"\0sspr/recovery_code/v1\0");
        mac.update(user.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(code.canonical().as_bytes());
        CodeDigest::of(mac)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // The key is at least 32 bytes (checked by config), and HMAC takes any length.
        match Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }
}

impl CodeDigest {
    fn of(mac: Hmac<Sha256>) -> Self {
        let out = mac.finalize().into_bytes();
        Self(out.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The key a recipient (an email address or a phone number) goes by in the
/// per-recipient code spacing: a short HMAC under the code key, so the
/// profile names no address in its attribute names and a stolen table links
/// no address to a user by them.
impl CodeKey {
    pub fn recipient(&self, address: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(b"sspr/recipient/v1\0");
        mac.update(address.to_lowercase().as_bytes());
        let out = mac.finalize().into_bytes();
        out.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CodeKey {
        CodeKey::new(SecretBox::new(Box::new(vec![7u8; 32])))
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
        assert_eq!(d.as_str().len(), 64);
        assert_eq!(format!("{code:?}"), "Code([redacted])");
    }

    #[test]
    fn recovery_digests_bind_the_user_and_never_equal_a_purpose_digest() {
        let k = key();
        let alice = Username::parse("alice").expect("valid");
        let bob = Username::parse("bob").expect("valid");
        let rc = RecoveryCode::parse("abcd-efgh-jkmn-pqrs").expect("valid");
        let d = k.recovery_digest(&alice, &rc);
        assert_eq!(d.as_str().len(), 64);
        assert!(!d.as_str().contains("abcdefghjkmnpqrs"));
        assert!(d.matches(&k.recovery_digest(&alice, &rc)));
        assert!(
            d.matches(&k.recovery_digest(
                &alice,
                &RecoveryCode::parse("ABCDEFGHJKMNPQRS").expect("valid")
            )),
            "the shown and the typed forms give one digest"
        );
        assert!(!d.matches(&k.recovery_digest(&bob, &rc)));
        let other = RecoveryCode::parse("abcd-efgh-jkmn-pqrt").expect("valid");
        assert!(!d.matches(&k.recovery_digest(&alice, &other)));
        let other_key = CodeKey::new(SecretBox::new(Box::new(vec![8u8; 32])));
        assert!(!d.matches(&other_key.recovery_digest(&alice, &rc)));
        // A mailed code of the same text, for every purpose: never the same digest.
        let same_text = Code::parse("abcdefghjkmnpqrs", 16);
        assert!(same_text.is_err(), "mailed codes are digits");
        let digits = RecoveryCode::parse("0123-4567-8901-2345").expect("valid");
        let as_code = Code::parse("0123456789012345", 16).expect("valid");
        for purpose in [
            Purpose::VerifyEmail,
            Purpose::ResetPassword,
            Purpose::UnlockAccount,
        ] {
            assert!(!purpose.as_str().is_empty());
            assert!(!purpose.as_str().starts_with('\0'));
            assert!(!k
                .recovery_digest(&alice, &digits)
                .matches(&k.digest(purpose, &alice, &as_code)));
        }
    }
}
