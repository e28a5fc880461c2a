//! Passwords: the NIST 800-63B rules for a new one (NFKC-normalised length
//! within the policy, no controls, a zxcvbn score high enough, not the
//! username or email, none of the organisation's banned terms, not on the
//! breach list, not one of the latest few) with the reasons a client is
//! shown, and the Argon2id hasher that hashes and verifies off the request
//! thread, spends the same work on an unknown user as on a wrong password,
//! and says when a hash wants its parameters upgraded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use super::policy::{HashParams, PasswordPolicy};
use super::{is_control, Email, Username};

thread_local! {
    /// Each blocking thread's Argon2 memory, kept between hashes.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Longest password text accepted at sign-in, in characters; longer is a wrong password.
const MAX_SIGNIN_CHARS: usize = 1024;

/// Why a new password was refused, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeakReason {
    TooShort,
    TooLong,
    /// On a common-password list or otherwise guessable (zxcvbn score too low).
    Common,
    ContainsUsername,
    ContainsEmail,
    /// One of the latest passwords.
    Reused,
    /// Holds NUL or other control characters.
    InvalidCharacters,
    /// Holds one of the organisation's banned terms, or a near miss of one
    /// (`domain/banned.rs`).
    Banned,
    /// Known from a breach: on the shipped list of breached passwords
    /// (`domain/compromised.rs`), or, with `SSPR_HIBP=on`, in Have I Been
    /// Pwned's corpus.
    Compromised,
}

impl WeakReason {
    /// Every reason, for what must cover them all (each language's words).
    pub const ALL: [Self; 9] = [
        Self::TooShort,
        Self::TooLong,
        Self::Common,
        Self::ContainsUsername,
        Self::ContainsEmail,
        Self::Reused,
        Self::InvalidCharacters,
        Self::Banned,
        Self::Compromised,
    ];
}

/// A password as typed at sign-in or as the current password: NFKC-normalised,
/// never printed.
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// `None` when it cannot be anyone's password (too long to be one we set).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.chars().count() > MAX_SIGNIN_CHARS {
            return None;
        }
        Some(Self(SecretString::from(raw.nfkc().collect::<String>())))
    }

    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// How many leading characters of a password zxcvbn scores.
///
/// zxcvbn 3.1's arithmetic overflows on long inputs: the fuzz pass found a
/// 34-character keyboard walk whose spatial estimate raises the keyboard's
/// degree to the power of its turns, and its match-sequence search multiplies
/// by the factorial of the sequence length, which leaves `u64` past 20. Both,
/// and every other product it forms, stay in range for 20 characters or fewer
/// (at most 20!, 6^19 and a rank times 2^40), so the score is taken over the
/// first 20: the release profile aborts on panic, and an input must never be
/// able to take an instance down. The policy so judges the first 20
/// characters: if they are guessable the password is refused however it goes
/// on; characters past the 20th are not scored, and a pattern straddling the
/// 20th is scored by its part inside (the length rules and the username and
/// email checks still see the whole password). Twenty characters of a score
/// of 3 are already 10^8 guesses, and the cap bounds zxcvbn's work per request.
pub const SCORED_CHARS: usize = 20;

/// zxcvbn's score (0 to 4) of the first [`SCORED_CHARS`] characters of `pw`.
pub fn guessability(pw: &str, inputs: &[&str]) -> u8 {
    let end = pw
        .char_indices()
        .nth(SCORED_CHARS)
        .map_or(pw.len(), |(i, _)| i);
    zxcvbn::zxcvbn(&pw[..end], inputs).score() as u8
}

/// A password that passed the policy: NFKC-normalised, long enough, not
/// guessable, free of the username, the email and the banned terms, not on
/// the breach list. Reuse is checked against the
/// stored hashes by [`PasswordHasher::matches_any`].
pub struct NewPassword(SecretString);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

impl NewPassword {
    pub fn parse(
        raw: &str,
        policy: &PasswordPolicy,
        user: &Username,
        email: &Email,
    ) -> Result<Self, Vec<WeakReason>> {
        let pw: String = raw.nfkc().collect();
        let mut reasons = Vec::new();
        if pw.chars().any(is_control) {
            reasons.push(WeakReason::InvalidCharacters);
        }
        let len = pw.chars().count();
        if len < policy.min_len {
            reasons.push(WeakReason::TooShort);
        }
        if len > policy.max_len {
            // Too long to score cheaply, and refused anyway.
            reasons.push(WeakReason::TooLong);
            return Err(reasons);
        }
        let lower = pw.to_lowercase();
        if lower.contains(user.as_str()) {
            reasons.push(WeakReason::ContainsUsername);
        }
        let local = email.local_part().to_lowercase();
        if local.chars().count() >= 3 && lower.contains(&local) {
            reasons.push(WeakReason::ContainsEmail);
        }
        if len > 0 {
            let inputs = [user.as_str(), email.local_part(), email.as_str(), "sspr"];
            if guessability(&pw, &inputs) < policy.min_score {
                reasons.push(WeakReason::Common);
            }
        }
        // Both cost microseconds (BENCHMARKS.md): checked whatever else failed,
        // so every reason is shown at once.
        if policy.banned.matches(&pw) {
            reasons.push(WeakReason::Banned);
        }
        if policy.compromised.as_ref().is_some_and(|f| f.contains(&pw)) {
            reasons.push(WeakReason::Compromised);
        }
        if reasons.is_empty() {
            Ok(Self(SecretString::from(pw)))
        } else {
            Err(reasons)
        }
    }

    fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The password's SHA-1 in upper-case hex, as Have I Been Pwned's range
    /// API keys it: the online check sends the first five characters of it
    /// and nothing else (k-anonymity). SHA-1 is the corpus's choice, not a
    /// hash of ours: nothing is stored or compared with it here.
    pub fn sha1_hex(&self) -> String {
        let d = crate::digest::sha1_for_legacy_use(self.expose().as_bytes());
        let mut out = String::with_capacity(40);
        for b in d {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Right, but hashed with other parameters than today's: hash it again.
    YesRehash,
}

/// A hashing failure (a malformed stored hash, or the blocking pool gone).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Argon2id with fixed parameters. Every call runs on Tokio's blocking pool,
/// never on the async executor.
#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    /// What an unknown user's password is checked against (see [`dummy_hash`]).
    dummy: Arc<String>,
    /// Argon2 verifications run, with the parameters they ran at (m, t, p), for
    /// tests that prove an unknown user costs a full one.
    verifications: Arc<VerifyLog>,
}

/// A record of Argon2 verifications.
#[derive(Debug, Default)]
pub struct VerifyLog {
    count: AtomicU64,
    last_params: std::sync::Mutex<Option<(u32, u32, u32)>>,
}

impl VerifyLog {
    fn note(&self, params: Option<(u32, u32, u32)>) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = self.last_params.lock() {
            *last = params;
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// The `(m, t, p)` of the hash the last verification ran against.
    pub fn last_params(&self) -> Option<(u32, u32, u32)> {
        self.last_params.lock().ok().and_then(|l| *l)
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish()
    }
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> Self {
        Self {
            params,
            dummy: Arc::new(dummy_hash(params)),
            verifications: Arc::new(VerifyLog::default()),
        }
    }

    /// The verifications this hasher (and its clones) ran.
    pub fn verifications(&self) -> &VerifyLog {
        &self.verifications
    }

    /// Argon2id of `password` under `salt` into `out`, in this thread's reused
    /// memory block: allocating 19 MiB per hash lets glibc's heap grow far past
    /// what a 128 MB function has (measured: 205 MB over 200 sign-ins).
    fn argon2id_into(
        params: HashParams,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), HashError> {
        let p = Params::new(params.m_kib, params.t, params.p, Some(out.len()))
            .map_err(|e| HashError(e.to_string()))?;
        let blocks = p.block_count();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        BLOCKS.with(|cell| {
            let mut memory = cell.borrow_mut();
            if memory.len() < blocks {
                memory.resize(blocks, argon2::Block::new());
            }
            argon
                .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
                .map_err(|e| HashError(e.to_string()))
        })
    }

    fn hash_sync(params: HashParams, password: &str) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut out = [0u8; 32];
        Self::argon2id_into(params, password.as_bytes(), &salt, &mut out)?;
        Ok(phc(params, &salt, &out))
    }

    fn verify_sync(
        params: HashParams,
        password: &str,
        phc: &str,
        log: &VerifyLog,
    ) -> Result<Verified, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|e| HashError(e.to_string()))?;
        let stored = Params::try_from(&parsed).map_err(|e| HashError(e.to_string()))?;
        log.note(Some((stored.m_cost(), stored.t_cost(), stored.p_cost())));
        let ok = if parsed.algorithm == Algorithm::Argon2id.ident() && parsed.version == Some(0x13)
        {
            // Our own hashes: recompute in the reused block, compare in constant time.
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return Err(HashError("hash without salt or output".into()));
            };
            let mut salt_buf = [0u8; 64];
            let salt = salt
                .decode_b64(&mut salt_buf)
                .map_err(|e| HashError(e.to_string()))?;
            let mut out = vec![0u8; expected.len()];
            let at = HashParams {
                m_kib: stored.m_cost(),
                t: stored.t_cost(),
                p: stored.p_cost(),
            };
            Self::argon2id_into(at, password.as_bytes(), salt, &mut out)?;
            bool::from(subtle::ConstantTimeEq::ct_eq(
                out.as_slice(),
                expected.as_bytes(),
            ))
        } else {
            // Anything else (an older variant or version): the library's own check.
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        };
        if !ok {
            return Ok(Verified::No);
        }
        let current = parsed.algorithm == Algorithm::Argon2id.ident()
            && stored.m_cost() == params.m_kib
            && stored.t_cost() == params.t
            && stored.p_cost() == params.p;
        Ok(if current {
            Verified::Yes
        } else {
            Verified::YesRehash
        })
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| HashError(format!("blocking pool: {e}")))?
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, password: &NewPassword) -> Result<String, HashError> {
        let params = self.params;
        let pw = SecretString::from(password.expose().to_owned());
        Self::blocking(move || Self::hash_sync(params, pw.expose_secret())).await
    }

    /// A fresh hash of a password that was just verified against an outdated one.
    pub async fn rehash(&self, password: &Password) -> Result<String, HashError> {
        let params = self.params;
        let pw = SecretString::from(password.expose().to_owned());
        Self::blocking(move || Self::hash_sync(params, pw.expose_secret())).await
    }

    /// Check `password` against `phc`; with `None` (no such user), spend the same
    /// time against a dummy hash and answer [`Verified::No`].
    pub async fn verify(
        &self,
        password: Option<&Password>,
        phc: Option<&str>,
    ) -> Result<Verified, HashError> {
        let params = self.params;
        let dummy = self.dummy.clone();
        let known = phc.is_some();
        let phc = phc.map(str::to_owned);
        // A missing password still costs one Argon2 run, so its timing matches.
        let pw = SecretString::from(password.map(|p| p.expose().to_owned()).unwrap_or_default());
        let has_pw = password.is_some();
        let log = self.verifications.clone();
        Self::blocking(move || {
            let target = phc.as_deref().unwrap_or(dummy.as_str());
            let v = Self::verify_sync(params, pw.expose_secret(), target, &log)?;
            Ok(if known && has_pw { v } else { Verified::No })
        })
        .await
    }

    /// True when `password` matches any of `hashes` (the reuse check).
    pub async fn matches_any(
        &self,
        password: &NewPassword,
        hashes: Vec<String>,
    ) -> Result<bool, HashError> {
        let params = self.params;
        let pw = SecretString::from(password.expose().to_owned());
        let log = self.verifications.clone();
        Self::blocking(move || {
            for h in &hashes {
                if Self::verify_sync(params, pw.expose_secret(), h, &log)? != Verified::No {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }
}

/// A PHC string at `params` with a random salt and a random output: checking
/// any password against it runs exactly the Argon2 work a real hash at those
/// parameters costs, then compares, and never matches (the output is no
/// password's hash, and [`PasswordHasher::verify`] answers `No` for it anyway).
/// Made in microseconds, so no cold start pays an Argon2 run for it.
fn dummy_hash(params: HashParams) -> String {
    let mut bytes = [0u8; 16 + 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    phc(params, &bytes[..16], &bytes[16..])
}

/// The PHC string of an Argon2id output.
fn phc(params: HashParams, salt: &[u8], out: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_kib,
        params.t,
        params.p,
        b64.encode(salt),
        b64.encode(out)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Username {
        Username::parse("alice").expect("valid")
    }

    fn email() -> Email {
        Email::parse("wonderland@example.com").expect("valid")
    }

    fn check(pw: &str) -> Result<NewPassword, Vec<WeakReason>> {
        NewPassword::parse(pw, &PasswordPolicy::default(), &user(), &email())
    }

    #[test]
    fn the_sha1_is_the_upper_case_hex_the_range_api_keys_on() {
        // Have I Been Pwned's own example: "P@ssw0rd" hashes to 21BD1...
        let pw = NewPassword(SecretString::from("P@ssw0rd".to_owned()));
        assert_eq!(pw.sha1_hex(), "21BD12DC183F740EE76F27B78EB39C8AD972A757");
        let pw = NewPassword(SecretString::from(
            "correct horse battery staple orbit".to_owned(),
        ));
        let h = pw.sha1_hex();
        assert_eq!(h.len(), 40);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
    }

    #[test]
    fn strong_passphrases_pass() {
        assert!(check("correct horse battery staple orbit").is_ok());
        assert!(check("Tr4vel-Plum-Kettle-92!").is_ok());
    }

    #[test]
    fn each_rule_names_its_reason() {
        assert!(check("Kx9!vQ2#")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::TooShort));
        assert!(check("password1234")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::Common));
        assert!(check("qwertyuiop123")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::Common));
        assert!(check("alice-Zebra-Quartz-71")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::ContainsUsername));
        assert!(check("Wonderland-Quartz-71x")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::ContainsEmail));
        assert_eq!(
            check(&"Ab1!xYz9".repeat(40)).err(),
            Some(vec![WeakReason::TooLong])
        );
        assert!(check("Zebra\0Quartz-71-Plum")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::InvalidCharacters));
    }

    #[test]
    fn zxcvbn_cannot_overflow_on_what_it_is_given() {
        // Overflow checks are on for zxcvbn in every profile: an overflow panics here.
        let rows = [
            "qwertyuiop",
            "asdfghjkl",
            "zxcvbnm",
            "1234567890",
            "!@#$%^&*()",
        ];
        let mut walks = vec![
            "fi".repeat(40),
            "fifififififififififififififififififi".into(),
            "7412589630".repeat(8),
            "1593574862".repeat(8),
            "QwErTyUiOp".repeat(8),
            "a".repeat(200),
            "aA1!".repeat(50),
            "passwordPASSWORDp4ssw0rd".repeat(4),
        ];
        for r in rows {
            let back: String = r.chars().rev().collect();
            walks.push(format!("{r}{back}").repeat(6));
            walks.push(r.to_uppercase().repeat(8));
        }
        // Whole, the walk the fuzz pass found overflows (so this test guards the cap).
        let whole = std::panic::catch_unwind(|| zxcvbn::zxcvbn(&"fi".repeat(17), &[]).score());
        assert!(
            whole.is_err(),
            "zxcvbn no longer overflows on it; revisit SCORED_CHARS"
        );
        for w in &walks {
            assert!(guessability(w, &["alice"]) <= 4);
            assert_eq!(
                guessability(w, &[]),
                zxcvbn::zxcvbn(&w.chars().take(SCORED_CHARS).collect::<String>(), &[]).score()
                    as u8
            );
        }
    }

    #[test]
    fn a_long_keyboard_walk_is_refused_not_a_panic() {
        // NFKC turns each ligature into "fi": 34 characters of one spatial walk.
        let walk = "\u{FB01}".repeat(17);
        assert!(check(&walk)
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::Common));
    }

    #[test]
    fn long_passphrases_are_welcome() {
        let phrase = "the quiet harbour keeps its lanterns lit long after the ferries sleep";
        assert!(phrase.chars().count() >= 64);
        assert!(check(phrase).is_ok());
        let max = format!("{}{}", "x7Qp!".repeat(51), "z");
        assert_eq!(max.chars().count(), 256);
        assert!(check(&max)
            .err()
            .is_none_or(|r| !r.contains(&WeakReason::TooLong)));
    }

    #[test]
    fn no_composition_rules() {
        // all lower case, no digits, no symbols: fine when long and unguessable
        assert!(check("sunlit marmalade quarrel vortex").is_ok());
    }

    #[test]
    fn passwords_are_nfkc_normalised() {
        // U+FB01 (the "fi" ligature) folds to "fi" under NFKC.
        let a = Password::parse("\u{FB01}ne-Zebra-Quartz-71").expect("some");
        assert_eq!(a.expose(), "fine-Zebra-Quartz-71");
        let n = check("\u{FB01}ne-Zebra-Quartz-71").expect("strong");
        assert_eq!(n.expose(), "fine-Zebra-Quartz-71");
    }

    #[test]
    fn the_minimum_is_configurable() {
        let policy = PasswordPolicy {
            min_len: 20,
            ..Default::default()
        };
        let r = NewPassword::parse("Tr4vel-Plum-Kettle-92!", &policy, &user(), &email());
        assert!(r.is_ok());
        let r = NewPassword::parse("Tr4vel-Plum-Kettle", &policy, &user(), &email());
        assert!(r.err().unwrap_or_default().contains(&WeakReason::TooShort));
    }

    fn banning(terms: &[&str]) -> PasswordPolicy {
        PasswordPolicy {
            banned: super::super::BannedTerms::new(terms).expect("valid terms"),
            ..Default::default()
        }
    }

    #[test]
    fn a_password_holding_a_banned_term_is_refused_as_banned() {
        let policy = banning(&["contoso"]);
        let r = NewPassword::parse("P@ssw0rd-Contoso!", &policy, &user(), &email());
        assert!(r.err().unwrap_or_default().contains(&WeakReason::Banned));
        // Strong otherwise: the term is the only reason.
        let r = NewPassword::parse("Tr4vel-C0nt0so-Kettle-92!", &policy, &user(), &email());
        assert_eq!(r.err(), Some(vec![WeakReason::Banned]));
        // Nothing banned, the same password passes.
        let r = NewPassword::parse(
            "Tr4vel-C0nt0so-Kettle-92!",
            &Default::default(),
            &user(),
            &email(),
        );
        assert!(r.is_ok());
    }

    #[test]
    fn a_strong_password_holding_no_banned_term_passes() {
        let policy = banning(&["contoso", "fabrikam", "northwind"]);
        assert!(NewPassword::parse("Tr4vel-Plum-Kettle-92!", &policy, &user(), &email()).is_ok());
        assert!(NewPassword::parse(
            "sunlit marmalade quarrel vortex",
            &policy,
            &user(),
            &email()
        )
        .is_ok());
    }

    /// An entry of the shipped breach list that zxcvbn scores as strong: only
    /// the list can refuse it.
    const BREACHED_BUT_STRONG: &str = "23WKoa0FP78dk";

    #[test]
    fn a_password_on_the_breach_list_is_refused_as_compromised() {
        assert!(
            PasswordPolicy::default().compromised.is_some(),
            "the shipped filter is found"
        );
        // On the list, and strong enough for zxcvbn: only the list refuses it.
        assert_eq!(
            check(BREACHED_BUT_STRONG).err(),
            Some(vec![WeakReason::Compromised])
        );
        assert_eq!(
            check(&BREACHED_BUT_STRONG.to_uppercase()).err(),
            Some(vec![WeakReason::Compromised]),
            "the list is matched whatever the case"
        );
        // A common one is refused on both counts.
        assert!(check("password1234")
            .err()
            .unwrap_or_default()
            .contains(&WeakReason::Compromised));
        // Not on it, it passes.
        assert!(check("Tr4vel-Plum-Kettle-92!").is_ok());
    }

    #[test]
    fn the_breach_filter_refuses_fewer_than_one_in_ten_thousand_unlisted_passwords() {
        use rand::Rng as _;
        let filter = PasswordPolicy::default()
            .compromised
            .expect("shipped filter");
        let mut rng = rand::thread_rng();
        let alphabet: Vec<char> = ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .chain("-!.#".chars())
            .collect();
        let trials = 1_000_000;
        let mut hits = 0u32;
        for _ in 0..trials {
            let s: String = (0..16)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            hits += u32::from(filter.contains(&s));
        }
        let rate = f64::from(hits) / f64::from(trials);
        eprintln!(
            "compromised filter: {hits} false positives in {trials} random 16-character strings \
             ({rate:.6}, 1 in {:.0}); {} entries",
            if hits == 0 { f64::INFINITY } else { 1.0 / rate },
            filter.entries()
        );
        assert!(rate < 1.0 / 10_000.0, "{rate}");
    }

    fn fast() -> PasswordHasher {
        PasswordHasher::new(HashParams {
            m_kib: 256,
            t: 1,
            p: 1,
        })
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_and_verify() {
        let h = PasswordHasher::new(HashParams::default());
        let pw = check("correct horse battery staple orbit").expect("strong");
        let phc = h.hash(&pw).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let typed = Password::parse("correct horse battery staple orbit").expect("some");
        assert_eq!(
            h.verify(Some(&typed), Some(&phc)).await.ok(),
            Some(Verified::Yes)
        );
        let wrong = Password::parse("correct horse battery staple orbiT").expect("some");
        assert_eq!(
            h.verify(Some(&wrong), Some(&phc)).await.ok(),
            Some(Verified::No)
        );
        assert_eq!(h.verify(Some(&typed), None).await.ok(), Some(Verified::No));
        assert_eq!(h.verify(None, Some(&phc)).await.ok(), Some(Verified::No));
    }

    #[tokio::test]
    async fn our_hashes_verify_with_the_library_and_the_library_s_with_ours() {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let h = PasswordHasher::new(HashParams::default());
        let pw = check("correct horse battery staple orbit").expect("strong");
        let ours = h.hash(&pw).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default()
            .verify_password(b"correct horse battery staple orbit", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(&[3u8; 16]).expect("salt");
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).expect("params"),
        )
        .hash_password(b"correct horse battery staple orbit", &salt)
        .expect("hash")
        .to_string();
        let typed = Password::parse("correct horse battery staple orbit").expect("some");
        assert_eq!(
            h.verify(Some(&typed), Some(&theirs)).await.ok(),
            Some(Verified::Yes)
        );
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 1, 1, None).expect("params"),
        )
        .hash_password(b"correct horse battery staple orbit", &salt)
        .expect("hash")
        .to_string();
        assert_eq!(
            h.verify(Some(&typed), Some(&argon2i)).await.ok(),
            Some(Verified::YesRehash),
            "another variant verifies, then rehashes"
        );
    }

    #[tokio::test]
    async fn outdated_parameters_ask_for_a_rehash() {
        let pw = check("correct horse battery staple orbit").expect("strong");
        let old = fast().hash(&pw).await.expect("hash");
        let typed = Password::parse("correct horse battery staple orbit").expect("some");
        let now = PasswordHasher::new(HashParams::default());
        assert_eq!(
            now.verify(Some(&typed), Some(&old)).await.ok(),
            Some(Verified::YesRehash)
        );
    }

    #[tokio::test]
    async fn reuse_is_found_in_any_of_the_hashes() {
        let h = fast();
        let a = check("correct horse battery staple orbit").expect("strong");
        let b = check("sunlit marmalade quarrel vortex").expect("strong");
        let ha = h.hash(&a).await.expect("hash");
        assert_eq!(h.matches_any(&a, vec!["$argon2id$v=19$m=256,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(), ha.clone()]).await.ok(), Some(true));
        assert_eq!(h.matches_any(&b, vec![ha]).await.ok(), Some(false));
    }

    #[tokio::test]
    async fn an_unknown_user_costs_one_argon2_run_at_the_current_parameters() {
        let h = PasswordHasher::new(HashParams::default());
        // The dummy is a well-formed PHC string at the current parameters...
        let parsed = PasswordHash::new(h.dummy.as_str()).expect("a PHC string");
        let at = Params::try_from(&parsed).expect("params");
        assert_eq!((at.m_cost(), at.t_cost(), at.p_cost()), (19_456, 2, 1));
        assert_eq!(parsed.hash.map(|o| o.len()), Some(32));
        // ...made fresh per process, so no two deployments share one...
        assert_ne!(h.dummy, PasswordHasher::new(HashParams::default()).dummy);
        // ...and checking against it runs Argon2 at those parameters, and fails.
        let typed = Password::parse("correct horse battery staple orbit").expect("some");
        assert_eq!(h.verify(Some(&typed), None).await.ok(), Some(Verified::No));
        assert_eq!(h.verifications().count(), 1);
        assert_eq!(h.verifications().last_params(), Some((19_456, 2, 1)));
    }
}
