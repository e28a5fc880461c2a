//! Authenticator-app codes (TOTP, RFC 6238 over HOTP, RFC 4226): the secret a
//! user's app shares with sspr, how it is shown once at enrolment (base32 and
//! the `otpauth://` URI the apps read from a QR code), the code of a time step,
//! the check of a typed code, and the seal the secret is stored under.
//!
//! - **Parameters**: HMAC-SHA1, 6 digits, 30-second steps from the Unix epoch:
//!   the only set every authenticator app honours (several accept SHA-256 in
//!   the URI and silently compute SHA-1). SHA-1 is sound inside HMAC here; no
//!   collision attack on it reaches an HMAC.
//! - **Secret**: 20 bytes (160 bits, the size of a SHA-1 output and RFC 4226's
//!   recommended length) from the OS generator; a stored one of 16 to 64 bytes
//!   is accepted (RFC 4226 asks at least 128 bits).
//! - **Skew**: one step either side (RFC 6238 §5.2 recommends at most one
//!   step of network delay); a code is compared in constant time with each of
//!   the three. [`TotpSecret::check`] answers the step that matched, the latest
//!   one when two steps happen to share a code: the flows record it and accept
//!   only later steps, so a code works once (RFC 6238 §5.2, ASVS 5.0 V6.5), even
//!   once its step has slid to the other edge of the window.
//! - **At rest**: sealed with ChaCha20-Poly1305 ([`TotpSeal`]) under a key
//!   derived from the master secret, a fresh nonce each time, and bound to its
//!   user and method, so a sealed secret copied onto another user's or another
//!   method's item does not open. Unlike a code, the secret cannot be kept as a
//!   hash: sspr needs it to compute the codes (NIST SP 800-63B asks such
//!   secrets be protected at rest). Nothing here prints it.

use std::sync::Arc;

use ring::hmac;
use secrecy::{ExposeSecret as _, SecretBox};
use subtle::ConstantTimeEq as _;

use super::Username;
use crate::keyring::{open, seal, sealed_version, Ring};

/// Seconds in a time step (RFC 6238's `X`).
pub const STEP_SECS: u64 = 30;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// Bytes in a secret sspr generates.
pub const SECRET_LEN: usize = 20;

/// The time step holding `now` (Unix seconds); 0 before the epoch.
pub fn step_at(now: i64) -> u64 {
    u64::try_from(now).map_or(0, |t| t / STEP_SECS)
}

/// The secret an authenticator app shares with sspr: 16 to 64 bytes (20 when
/// sspr makes it). `Debug` hides it; nothing but the enrolment answer shows it.
pub struct TotpSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// RFC 4648 §6's base32 alphabet, what every authenticator app reads.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 3986 unreserved characters pass; every other byte is `%XX`. So neither
/// the `:` between issuer and account nor a `&` or `#` in either can be read
/// as the URI's own punctuation.
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TotpSecret {
    /// A fresh 160-bit secret from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A secret read back (opened from its seal): 16 to 64 bytes, else `None`.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (16..=64)
            .contains(&b.len())
            .then(|| Self(SecretBox::new(Box::new(b.to_vec()))))
    }

    /// The secret in base32 without padding, as a person types it into an app.
    pub fn base32(&self) -> String {
        let bytes = self.0.expose_secret();
        let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
        let (mut buf, mut bits) = (0u16, 0u32);
        for &b in bytes {
            buf = (buf << 8) | u16::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[usize::from((buf >> bits) & 31)]));
            }
            // Keep only the bits not written yet, so the shift never overflows.
            buf &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(char::from(BASE32[usize::from((buf << (5 - bits)) & 31)]));
        }
        out
    }

    /// The key URI the apps read from a QR code (Google Authenticator's
    /// format): the label `issuer:account` and the `issuer` parameter both
    /// carry the issuer, as apps old and new look in one or the other.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            percent_encode(account),
            self.base32(),
        )
    }

    /// The HOTP value of `step` (RFC 4226 §5.3: HMAC-SHA1 of the big-endian
    /// counter, dynamic truncation) before it is cut to six digits.
    fn truncated(&self, step: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, self.0.expose_secret());
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        // A SHA-1 tag is 20 bytes and the offset at most 15, so the four bytes
        // are always there; `get` keeps that a fact of the code, not a panic.
        let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
        match mac.get(offset..offset + 4) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
            _ => 0,
        }
    }

    /// The code of `step`: six digits, zero padded.
    pub fn code_at(&self, step: u64) -> String {
        format!("{:06}", self.truncated(step) % 1_000_000)
    }

    /// Check a typed code at `now`: six ASCII digits once spaces are dropped
    /// (anything else is `None`), compared in constant time with the codes of
    /// the step before, the step of and the step after `now`. Answers the
    /// step that matched (the latest, should two share the code), which the
    /// caller records so the code works once.
    pub fn check(&self, code: &str, now: i64) -> Option<u64> {
        let typed: Vec<u8> = code.bytes().filter(|&b| b != b' ').collect();
        if typed.len() != DIGITS || !typed.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let now_step = step_at(now);
        let mut matched = None;
        // All three are computed and compared whatever matches, so the time
        // taken says nothing of which digits were right.
        for step in [
            now_step.checked_sub(1),
            Some(now_step),
            now_step.checked_add(1),
        ]
        .into_iter()
        .flatten()
        {
            if bool::from(self.code_at(step).as_bytes().ct_eq(&typed)) {
                matched = Some(step);
            }
        }
        matched
    }
}

/// The keys TOTP secrets are sealed with at rest: the keyring's TOTP key of
/// each version, in the one seal of `keyring::seal`, as queued mail is.
#[derive(Clone)]
pub struct TotpSeal(Arc<Ring>);

impl std::fmt::Debug for TotpSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSeal([redacted])")
    }
}

/// What a seal is bound to. A username holds no NUL (`Username::parse`), so
/// the user ends at the first one and the method id is the rest: no two
/// (user, method) pairs give the same bytes.
fn aad(user: &Username, method_id: &str) -> Vec<u8> {
    format!("sspr-totp/v1\0{}\0{method_id}", user.as_str()).into_bytes()
}

impl TotpSeal {
    pub fn new(ring: Arc<Ring>) -> Self {
        Self(ring)
    }

    /// The secret sealed under the current version, with a fresh random nonce
    /// (96 bits: no two seals under one key share one in any number of
    /// enrolments that could happen). Empty only if the key could not be
    /// made; an empty seal never opens.
    pub fn seal(&self, secret: &TotpSecret, user: &Username, method_id: &str) -> Vec<u8> {
        let sets = self.0.sets();
        let set = sets.current();
        seal(
            set.totp.as_ref(),
            set.version,
            &aad(user, method_id),
            secret.0.expose_secret(),
        )
    }

    /// The secret, if `sealed` was sealed under a version held for this user
    /// and method and not changed since; `None` otherwise.
    pub fn open(&self, sealed: &[u8], user: &Username, method_id: &str) -> Option<TotpSecret> {
        let sets = self.0.sets();
        let mut plain = open(
            |v| sets.get(v).and_then(|s| s.totp.as_ref()),
            &aad(user, method_id),
            sealed,
        )?;
        let secret = TotpSecret::from_bytes(&plain);
        // The plaintext was a copy of the secret; clear it before it is freed.
        zeroize_vec(&mut plain);
        secret
    }

    /// `sealed` sealed again under the current version, when it was made
    /// under an older one and opens: what the write that records a proof
    /// of it, or a reseal, puts in its place.
    pub fn reseal(&self, sealed: &[u8], user: &Username, method_id: &str) -> Option<Vec<u8>> {
        if sealed_version(sealed)? == self.0.sets().current().version {
            return None;
        }
        let secret = self.open(sealed, user, method_id)?;
        Some(self.seal(&secret, user, method_id))
    }
}

/// Overwrite a buffer that held secret bytes (secrecy's own zeroize does the
/// same for what it boxes).
fn zeroize_vec(buf: &mut Vec<u8>) {
    secrecy::zeroize::Zeroize::zeroize(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").expect("20 bytes")
    }

    /// A seal over a keyring of its own (the argument tells two apart).
    fn seal_key(b: u8) -> TotpSeal {
        TotpSeal::new(Ring::of_master(
            &char::from(b'a' + b).to_string().repeat(40),
        ))
    }

    #[test]
    fn a_secret_sealed_before_a_rotation_opens_after_it_and_reseals_under_the_new_version() {
        use crate::keyring::{KeyringDoc, Sets};
        let one = KeyringDoc::generate(0);
        let old = TotpSeal::new(Arc::new(Ring::new(Sets::from_doc(&one))));
        let new = TotpSeal::new(Arc::new(Ring::new(Sets::from_doc(
            &one.rotate(0, 0, 0).expect("rotates"),
        ))));
        let alice = user("alice");
        let s = TotpSecret::generate();
        let sealed = old.seal(&s, &alice, "m1");
        assert_eq!(sealed_version(&sealed), Some(1));
        assert!(
            old.reseal(&sealed, &alice, "m1").is_none(),
            "already current"
        );
        let opened = new
            .open(&sealed, &alice, "m1")
            .expect("the previous version opens");
        assert_eq!(opened.base32(), s.base32());
        let moved = new.reseal(&sealed, &alice, "m1").expect("moves");
        assert_eq!(sealed_version(&moved), Some(2));
        assert_eq!(
            new.open(&moved, &alice, "m1").map(|t| t.base32()),
            Some(s.base32())
        );
        assert!(old.open(&moved, &alice, "m1").is_none());
    }

    fn user(name: &str) -> Username {
        Username::parse(name).expect("valid")
    }

    #[test]
    fn codes_are_the_last_six_digits_of_rfc_6238_appendix_b() {
        let s = rfc_secret();
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(s.code_at(step_at(t)), code, "T = {t}");
            assert_eq!(s.check(code, t), Some(step_at(t)), "T = {t}");
        }
    }

    #[test]
    fn steps_are_thirty_seconds_from_the_epoch_and_zero_before_it() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(1_111_111_109), 37_037_036);
        assert_eq!(step_at(-1), 0);
        assert_eq!(step_at(i64::MIN), 0);
        assert_eq!(step_at(i64::MAX), i64::MAX as u64 / 30);
    }

    #[test]
    fn one_step_of_skew_either_side_is_accepted_and_two_are_not() {
        let s = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = step_at(now);
        assert_eq!(s.check(&s.code_at(step), now), Some(step));
        assert_eq!(s.check(&s.code_at(step - 1), now), Some(step - 1));
        assert_eq!(s.check(&s.code_at(step + 1), now), Some(step + 1));
        for far in [step - 2, step + 2, step - 100, step + 100] {
            let code = s.code_at(far);
            // One code in a million also belongs to a step in the window.
            let in_window = [step - 1, step, step + 1]
                .iter()
                .any(|&w| s.code_at(w) == code);
            if !in_window {
                assert_eq!(s.check(&code, now), None, "step {far} accepted");
            }
        }
    }

    #[test]
    fn a_code_that_fits_two_steps_answers_the_later_one() {
        // RFC 6238's seed gives steps 910737 and 910738 the same code (found
        // by a scan; one neighbouring pair in a million is expected).
        let s = rfc_secret();
        let later = 910_738;
        assert_eq!(s.code_at(later - 1), "911617");
        assert_eq!(s.code_at(later), "911617");
        let at = |step: u64| i64::try_from(step * STEP_SECS).expect("fits");
        // Whichever of the two steps it is now, the answer is the later, so a
        // caller accepting only steps after the last one it recorded cannot
        // take the code twice as the window slides.
        assert_eq!(s.check("911617", at(later - 1)), Some(later));
        assert_eq!(s.check("911617", at(later)), Some(later));
        assert_eq!(s.check("911617", at(later + 1)), Some(later));
        assert_eq!(s.check("911617", at(later - 2)), Some(later - 1));
    }

    #[test]
    fn at_the_epoch_the_window_has_no_step_before_it() {
        let s = rfc_secret();
        assert_eq!(s.check(&s.code_at(0), 0), Some(0));
        assert_eq!(s.check(&s.code_at(1), 0), Some(1));
        assert_eq!(s.check(&s.code_at(0), -100), Some(0));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let s = rfc_secret();
        assert_eq!(s.check("287 082", 59), Some(1), "spaces are dropped");
        assert_eq!(s.check(" 287082 ", 59), Some(1));
        for bad in [
            "",
            "28708",
            "2870820",
            "28708a",
            "287-082",
            "287\t082",
            "+87082",
            "-87082",
            "２８７０８２",
            "287082\n",
            "28708\u{0662}",
        ] {
            assert_eq!(s.check(bad, 59), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn secrets_are_twenty_random_bytes_and_stored_ones_sixteen_to_sixty_four() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_eq!(a.0.expose_secret().len(), SECRET_LEN);
        assert_ne!(a.0.expose_secret(), b.0.expose_secret());
        assert_eq!(a.base32().len(), 32, "160 bits are 32 base32 symbols");
        assert!(TotpSecret::from_bytes(&[1; 15]).is_none());
        assert!(TotpSecret::from_bytes(&[1; 16]).is_some());
        assert!(TotpSecret::from_bytes(&[1; 64]).is_some());
        assert!(TotpSecret::from_bytes(&[1; 65]).is_none());
        assert!(TotpSecret::from_bytes(&[]).is_none());
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        let b32 = |b: &[u8]| {
            let mut padded = b.to_vec();
            // from_bytes wants 16 bytes at least: compare prefixes of a longer input.
            padded.resize(20, 0);
            TotpSecret::from_bytes(&padded).expect("20 bytes").base32()
        };
        assert_eq!(
            rfc_secret().base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "RFC 6238's seed as every app's test vector spells it"
        );
        // RFC 4648 §10: "foobar" -> MZXW6YTBOI======; padding dropped.
        let s = TotpSecret::from_bytes(b"foobarfoobarfoob").expect("16 bytes");
        assert_eq!(s.base32(), "MZXW6YTBOJTG633CMFZGM33PMI");
        assert!(b32(&[0xff; 20]).bytes().all(|c| c == b'7'));
        assert!(b32(&[0; 20]).bytes().all(|c| c == b'A'));
        assert!(!s.base32().contains('='));
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_every_parameter() {
        let s = rfc_secret();
        assert_eq!(
            s.otpauth_uri("Example Corp", "alice@example.com"),
            "otpauth://totp/Example%20Corp:alice%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Corp\
             &algorithm=SHA1&digits=6&period=30"
        );
        let uri = s.otpauth_uri("a:b&c", "x?y#z/ü");
        assert!(uri.starts_with("otpauth://totp/a%3Ab%26c:x%3Fy%23z%2F%C3%BC?secret="));
        assert!(uri.contains("&issuer=a%3Ab%26c&"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = rfc_secret();
        assert_eq!(format!("{s:?}"), "TotpSecret([redacted])");
        assert_eq!(format!("{:?}", seal_key(1)), "TotpSeal([redacted])");
    }

    #[test]
    fn a_sealed_secret_opens_to_the_same_codes() {
        let key = seal_key(1);
        let alice = user("alice");
        let s = TotpSecret::generate();
        let sealed = key.seal(&s, &alice, "m1");
        assert_eq!(sealed.len(), 5 + ring::aead::NONCE_LEN + SECRET_LEN + 16);
        assert!(
            !sealed
                .windows(SECRET_LEN)
                .any(|w| w == s.0.expose_secret().as_slice()),
            "the secret is not in the clear"
        );
        let opened = key.open(&sealed, &alice, "m1").expect("opens");
        assert_eq!(opened.base32(), s.base32());
        assert_eq!(opened.code_at(12345), s.code_at(12345));
        assert_ne!(
            key.seal(&s, &alice, "m1"),
            sealed,
            "each seal has a fresh nonce"
        );
    }

    #[test]
    fn a_sealed_secret_does_not_open_for_another_user_method_key_or_after_a_change() {
        let key = seal_key(1);
        let alice = user("alice");
        let s = TotpSecret::generate();
        let sealed = key.seal(&s, &alice, "m1");
        assert!(key.open(&sealed, &user("mallory"), "m1").is_none());
        assert!(key.open(&sealed, &alice, "m2").is_none());
        assert!(key.open(&sealed, &alice, "m1\0").is_none());
        assert!(seal_key(2).open(&sealed, &alice, "m1").is_none());
        // The boundary between user and method is not movable.
        let ab = user("abc");
        let sealed_ab = key.seal(&s, &ab, "d");
        assert!(key.open(&sealed_ab, &user("abcd"), "").is_none());
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x01;
            assert!(
                key.open(&flipped, &alice, "m1").is_none(),
                "byte {i} flipped"
            );
        }
        assert!(key
            .open(&sealed[..ring::aead::NONCE_LEN + 10], &alice, "m1")
            .is_none());
        assert!(key.open(&sealed[..3], &alice, "m1").is_none());
        assert!(key.open(&[], &alice, "m1").is_none());
    }

    #[test]
    fn codes_base32_and_checks_agree_with_the_independent_totp_rs_crate() {
        use rand::Rng as _;
        let mut rng = rand::rngs::OsRng;
        for _ in 0..500 {
            let mut bytes = vec![0u8; rng.gen_range(16..=64)];
            rng.fill(bytes.as_mut_slice());
            let ours = TotpSecret::from_bytes(&bytes).expect("16..=64 bytes");
            let theirs = totp_rs::Builder::new()
                .with_algorithm(totp_rs::Algorithm::SHA1)
                .with_digits(6)
                .with_skew(1)
                .with_step_duration(30)
                .with_secret(totp_rs::Secret::from(bytes.as_slice()))
                .build()
                .expect("a valid configuration");
            assert_eq!(
                ours.base32(),
                totp_rs::Secret::from(bytes.as_slice()).to_base32()
            );
            // Any time up to the year 2514, and a few near the epoch.
            let now: i64 = if rng.gen_bool(0.1) {
                rng.gen_range(0..120)
            } else {
                rng.gen_range(0..1 << 34)
            };
            let t = u64::try_from(now).expect("not negative");
            assert_eq!(ours.code_at(step_at(now)), theirs.generate(t).to_string());
            // Codes of the steps around now: both accept and refuse the same ones.
            for offset in -3i64..=3 {
                let Some(at) = now.checked_add(offset * 30).filter(|&a| a >= 0) else {
                    continue;
                };
                let code = ours.code_at(step_at(at));
                let theirs_code = theirs.generate(u64::try_from(at).expect("not negative"));
                assert_eq!(code, theirs_code.to_string(), "at {at}");
                assert_eq!(
                    ours.check(&code, now).is_some(),
                    theirs.check(&code, t).is_some(),
                    "offset {offset} at {now}"
                );
            }
        }
    }
}
