//! The rules sspr enforces, as values: how codes are made, spent and limited,
//! how sign-in locks, what a password must be, and what Argon2id costs. The
//! defaults are DESIGN.md's numbers; `sspr-core`'s configuration reads the
//! environment into these types and nothing else decides them.

use std::sync::Arc;
use std::time::Duration;

use super::{BannedTerms, CompromisedFilter, Email};

/// The code rules: length, lifetime, guesses and send limits.
#[derive(Debug, Clone)]
pub struct CodePolicy {
    /// Digits in a code, 6 to 10.
    pub length: usize,
    /// How long a code stays valid.
    pub ttl: Duration,
    /// Wrong guesses after which a code is burned.
    pub max_attempts: u32,
    /// Codes a user may be sent per purpose within [`CodePolicy::send_window`].
    pub max_sends: u32,
    /// The window the send limit counts in.
    pub send_window: Duration,
    /// The least time between two codes of one purpose.
    pub min_interval: Duration,
    /// Failed proofs within [`CodePolicy::block_window`] that block resets.
    pub max_failed_proofs: u32,
    /// The window failed proofs are counted in.
    pub block_window: Duration,
    /// How long resets stay blocked after the last counted failure.
    pub block_for: Duration,
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            length: 6,
            ttl: Duration::from_secs(600),
            max_attempts: 5,
            max_sends: 5,
            send_window: Duration::from_secs(3600),
            min_interval: Duration::from_secs(60),
            max_failed_proofs: 5,
            block_window: Duration::from_secs(86_400),
            block_for: Duration::from_secs(86_400),
        }
    }
}

/// The sign-in lockout: `max_failures` wrong passwords within `window` lock
/// sign-in for `lock_for` (or until the user proves an emailed unlock code).
#[derive(Debug, Clone)]
pub struct SignInPolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub lock_for: Duration,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(900),
            lock_for: Duration::from_secs(900),
        }
    }
}

/// The password rules.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    /// Fewest characters after NFKC normalisation (never below 8).
    pub min_len: usize,
    /// Most characters after NFKC normalisation.
    pub max_len: usize,
    /// How many of the latest passwords (the current one included) may not be reused.
    pub history: usize,
    /// The least zxcvbn score accepted (0 to 4).
    pub min_score: u8,
    /// The organisation's banned terms (`SSPR_BANNED_TERMS`), matched as
    /// Entra matches its custom list.
    pub banned: BannedTerms,
    /// The breach list (`SSPR_COMPROMISED_FILTER`); `None` only in a policy
    /// built by hand where no shipped filter was found: the configuration
    /// refuses to start without one.
    pub compromised: Option<Arc<CompromisedFilter>>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 12,
            max_len: 256,
            history: 5,
            min_score: 3,
            banned: BannedTerms::default(),
            compromised: CompromisedFilter::shipped(),
        }
    }
}

/// Argon2id cost parameters (OWASP's m=19456 KiB, t=2, p=1 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

/// What the flows need of the configuration: the policies, the token
/// lifetimes and who is told of what. Built once per cold start.
#[derive(Debug, Clone)]
pub struct Rules {
    pub codes: CodePolicy,
    pub passwords: PasswordPolicy,
    pub signin: SignInPolicy,
    /// How long an access token lives.
    pub access_ttl: Duration,
    /// How long a reset token lives.
    pub reset_ttl: Duration,
    /// Where a notice tells a user to turn when a change was not theirs.
    pub helpdesk_url: String,
    /// Who is told when an admin's password is reset or changed.
    pub admin_emails: Vec<Email>,
    /// Where the pages are (`SSPR_PUBLIC_URL`), for the links in code mails;
    /// `None`: the origin the request came to.
    pub public_url: Option<String>,
    /// Proofs of different methods a reset needs (`SSPR_RESET_GATES`, 1 or
    /// 2); an admin always needs 2.
    pub gates: u8,
    /// Methods are due for reconfirmation after this many days (0: never).
    pub reconfirm_days: u32,
    /// Whether the deployment sends SMS (`SSPR_SMS`): a phone proves nothing
    /// without it.
    pub sms: bool,
    /// How long a gate token lives.
    pub gate_ttl: Duration,
    /// How recent a sign-in must be for a change of methods.
    pub recent_auth: Duration,
    /// The issuer an authenticator app shows for sspr's entry.
    pub totp_issuer: String,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            codes: CodePolicy::default(),
            passwords: PasswordPolicy::default(),
            signin: SignInPolicy::default(),
            access_ttl: Duration::from_secs(900),
            reset_ttl: Duration::from_secs(900),
            helpdesk_url: "https://help.example.com/".into(),
            admin_emails: Vec::new(),
            public_url: None,
            gates: 1,
            reconfirm_days: 180,
            sms: false,
            gate_ttl: Duration::from_secs(300),
            recent_auth: Duration::from_secs(300),
            totp_issuer: "sspr".into(),
        }
    }
}
