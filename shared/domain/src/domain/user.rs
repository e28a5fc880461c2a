//! The user entity as the flows see it: a profile with typed fields, the state
//! of each purpose's code and send limit, the counters behind the sign-in lock
//! and the reset block, and the reset grant a right code leaves behind. The
//! store decodes its items into these types and refuses an item that does not
//! make one; what the states mean and how they move is `lifecycle`'s.

use super::{CodeDigest, Email, Locale, Purpose, Username};

/// The stored state of one purpose's code and its send limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeSlot {
    pub digest: Option<CodeDigest>,
    pub expires_at: i64,
    pub attempts: u32,
    pub spent: bool,
    /// Start of the current send window.
    pub window_start: i64,
    /// Codes sent in the current window.
    pub window_count: u32,
    pub last_sent: i64,
}

/// A failure counter in its window: failed code proofs (the Entra block
/// rule) or wrong passwords at sign-in (the lockout rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub window_start: i64,
    pub count: u32,
    /// When the latest failure was counted.
    pub last: i64,
}

/// Failed code proofs in the current window.
pub type ProofFailures = Failures;

/// Wrong passwords at sign-in in the current window.
pub type SignInFailures = Failures;

/// The reset a right reset code granted: the `jti` of its token, spent by the
/// one password write it allows, and when it lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetGrant {
    pub jti: String,
    pub expires_at: i64,
}

impl ResetGrant {
    /// Whether a reset token with `jti` may still set a password at `now`.
    pub fn admits(&self, jti: &str, now: i64) -> bool {
        self.jti == jti && self.expires_at > now
    }
}

/// A user's profile as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user_id: String,
    pub username: Username,
    pub email: Email,
    pub email_verified: bool,
    /// A new recovery email waiting for its code.
    pub pending_email: Option<Email>,
    pub locale: Locale,
    pub created_at: i64,
    pub password_changed_at: i64,
    pub password_hash: String,
    /// Earlier hashes, newest first (the current one is `password_hash`).
    pub password_history: Vec<String>,
    pub token_version: u64,
    /// Holds the admin role (set by operators on the profile item: `role = "admin"`).
    pub is_admin: bool,
    pub verify: CodeSlot,
    pub reset: CodeSlot,
    pub unlock: CodeSlot,
    pub signin: SignInFailures,
    pub reset_grant: Option<ResetGrant>,
    pub proofs: ProofFailures,
}

impl UserRecord {
    pub fn slot(&self, purpose: Purpose) -> &CodeSlot {
        match purpose {
            Purpose::VerifyEmail => &self.verify,
            Purpose::ResetPassword => &self.reset,
            Purpose::UnlockAccount => &self.unlock,
        }
    }

    /// Where a code of `purpose` goes: a confirmation to the pending address
    /// when there is one, everything else to the recovery email.
    pub fn code_recipient(&self, purpose: Purpose) -> &Email {
        match (purpose, &self.pending_email) {
            (Purpose::VerifyEmail, Some(pending)) => pending,
            _ => &self.email,
        }
    }
}
