//! The narrow traits the flows run on: the store operations they need, a mailer
//! and a clock. Each store operation that guards a limit or a single use is one
//! conditional write in the implementation; the flows never read-then-write
//! without a condition that re-asserts what they read.

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;

use crate::domain::{CodeDigest, Locale, Purpose, Username};
pub use crate::mail::queue::{QueuedMail, StoredMail};

/// A failure of the backing store (DynamoDB): throttled, unreachable, or broken.
/// The cause chain goes to the log; the client sees `503 unavailable`.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {what}")]
pub struct StoreError {
    pub what: &'static str,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Not a failure: the per-client limit refused this request; retry after
    /// this many seconds (answered `429`).
    pub limited: Option<u64>,
}

impl StoreError {
    pub fn new(what: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            what,
            source: Some(Box::new(source)),
            limited: None,
        }
    }

    pub fn msg(what: &'static str) -> Self {
        Self {
            what,
            source: None,
            limited: None,
        }
    }

    pub fn client_limited(retry_after: u64) -> Self {
        Self {
            what: "per-client limit reached",
            source: None,
            limited: Some(retry_after),
        }
    }
}

/// One request's charge against its client's limit on a route.
#[derive(Debug, Clone)]
pub struct ClientCharge {
    /// The client IP, from API Gateway's request context.
    pub ip: String,
    pub route: &'static str,
    pub max: u32,
    pub window_secs: i64,
    pub now: i64,
}

/// A conditional write either applied or found its condition false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Applied,
    ConditionFailed,
}

impl Write {
    pub fn applied(self) -> bool {
        self == Write::Applied
    }
}

/// Where a code of one purpose stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    /// No code was ever sent for this purpose.
    None,
    /// Sent, unexpired, not yet used, guesses left.
    Pending,
    /// Used once; it proves nothing more.
    Spent,
    /// Too many wrong guesses.
    Burned,
    /// Its lifetime is over.
    Expired,
}

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

impl CodeSlot {
    pub fn state(&self, now: i64, max_attempts: u32) -> CodeState {
        match &self.digest {
            None => CodeState::None,
            Some(_) if self.spent => CodeState::Spent,
            Some(_) if self.attempts >= max_attempts => CodeState::Burned,
            Some(_) if self.expires_at <= now => CodeState::Expired,
            Some(_) => CodeState::Pending,
        }
    }
}

/// Failed code proofs in the current window (the Entra block rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofFailures {
    pub window_start: i64,
    pub count: u32,
    pub last: i64,
}

/// Wrong passwords at sign-in in the current window (the lockout rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInFailures {
    pub window_start: i64,
    pub count: u32,
    pub last: i64,
}

/// A user's profile as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user_id: String,
    pub username: Username,
    pub email: String,
    pub email_verified: bool,
    pub pending_email: Option<String>,
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
    /// The `jti` of the reset token a proof granted, and when it expires.
    pub reset_grant: Option<(String, i64)>,
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
}

/// Who made a request, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
}

/// One audit event on a user.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: &'static str,
    pub outcome: &'static str,
    pub at: i64,
    pub requester: Requester,
}

impl AuditEvent {
    pub fn new(kind: &'static str, outcome: &'static str, at: i64, requester: &Requester) -> Self {
        Self {
            kind,
            outcome,
            at,
            requester: requester.clone(),
        }
    }
}

/// What a write carries besides its change, committed with it or not at all:
/// the audit events, and the mail that tells of it (the transactional outbox,
/// sent by the courier once the write has committed).
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub audit: Vec<AuditEvent>,
    pub mail: Vec<QueuedMail>,
}

impl Effects {
    pub fn audit(audit: impl IntoIterator<Item = AuditEvent>) -> Self {
        Self {
            audit: audit.into_iter().collect(),
            mail: Vec::new(),
        }
    }

    pub fn none() -> Self {
        Self::default()
    }

    pub fn with_audit(mut self, ev: AuditEvent) -> Self {
        self.audit.push(ev);
        self
    }

    pub fn with_mail(mut self, mail: QueuedMail) -> Self {
        self.mail.push(mail);
        self
    }
}

/// One more counted failure (a wrong password at sign-in, a failed reset
/// proof), as the flow expects it to land: in the window as read, and either
/// the one that reaches the limit or not. The write re-asserts both, so of a
/// burst of failures exactly one is the one that reaches the limit (and
/// carries the lock's audit event and notice), whatever order they land in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub window: SendWindow,
    /// Windows that started at or before this are closed.
    pub window_cut: i64,
    pub limit: u32,
    /// This failure takes the count from `limit - 1` to `limit`.
    pub reaches: bool,
    pub now: i64,
}

/// What became of a [`Tally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tallied {
    Applied,
    /// The counter was not as expected; this is where it stood.
    Moved {
        window_start: i64,
        count: u32,
    },
    /// No such user (any more).
    Gone,
}

/// A new user's profile, with the code that confirms its email.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub username: Username,
    pub email: String,
    pub locale: Locale,
    pub password_hash: String,
    pub now: i64,
    pub code: CodeDigest,
    pub code_expires_at: i64,
}

/// Which send window a new code is counted in, as read; the write re-asserts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWindow {
    /// The current window is still open and has room.
    Current,
    /// The last window has closed; this code opens a new one.
    Fresh,
}

/// What a new code needs to be true at the moment it is written.
#[derive(Debug, Clone)]
pub enum Eligibility {
    /// A confirmed email and no block on resets.
    ResetPassword { max_failed: u32, block_cut: i64 },
    /// The code confirms what was read, and goes where it was read to go: the
    /// pending change to this address (still alive: asked for with the token
    /// version that is current), or with none pending, the unconfirmed email.
    VerifyEmail { pending: Option<String> },
    /// A change to `new_email`, asked with an access token of `token_version`;
    /// the change stays bound to that version, so a reset, a change or anything
    /// else that ends the token's sessions ends it too.
    EmailChange {
        new_email: String,
        token_version: u64,
    },
    /// A confirmed email and sign-in locked: at least `max_failures` since `lock_cut`.
    UnlockAccount { max_failures: u32, lock_cut: i64 },
}

/// A new code to write, under the send limit.
#[derive(Debug, Clone)]
pub struct CodeIssue {
    pub purpose: Purpose,
    pub digest: CodeDigest,
    pub expires_at: i64,
    pub now: i64,
    pub window: SendWindow,
    /// Windows that started at or before this are closed.
    pub window_cut: i64,
    pub max_sends: u32,
    /// The previous code must have been sent at or before this.
    pub interval_cut: i64,
    pub eligibility: Eligibility,
}

/// A wrong or useless proof to count.
#[derive(Debug, Clone)]
pub struct FailedProof {
    pub purpose: Purpose,
    /// Count a guess against the current code (it was live when read).
    pub against_code: Option<CodeDigest>,
    /// For resets: the failure toward the block, as the flow expects it to land.
    pub tally: Option<Tally>,
    pub now: i64,
}

/// What a right code does when it is spent.
#[derive(Debug, Clone)]
pub enum Spend {
    /// Grant a reset token with this `jti`, unless resets are blocked.
    ResetGrant {
        jti: String,
        expires_at: i64,
        max_failed: u32,
        block_cut: i64,
    },
    /// Mark the email confirmed; with a pending change, make it the recovery email.
    ConfirmEmail { new_email: Option<String> },
    /// Lift the sign-in lock (clear the failure count), keeping the password.
    Unlock,
}

/// A right code to spend: still pending, unexpired and unburned when written.
#[derive(Debug, Clone)]
pub struct RightCode {
    pub purpose: Purpose,
    pub digest: CodeDigest,
    pub now: i64,
    pub max_attempts: u32,
    pub spend: Spend,
}

/// What authorises a password write.
#[derive(Debug, Clone)]
pub enum PasswordGuard {
    /// A reset token's `jti`, spent by this very write.
    ResetGrant { jti: String, now: i64 },
    /// An access token of this version (authenticated change).
    TokenVersion(u64),
}

/// A new password to write.
#[derive(Debug, Clone)]
pub struct PasswordWrite {
    pub hash: String,
    pub history: Vec<String>,
    /// The hash read before; the write fails if it changed since.
    pub expected_hash: String,
    pub now: i64,
    pub guard: PasswordGuard,
}

/// The store operations the flows use.
#[async_trait]
pub trait Store: Send + Sync {
    /// Count one request of a client on a route in the current window; `Some(secs)`
    /// when the client is over its limit (retry after `secs`).
    async fn charge_client(&self, charge: &ClientCharge) -> Result<Option<u64>, StoreError>;
    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError>;
    /// Create the user unless the username is taken (`ConditionFailed`).
    async fn create_user(&self, user: &NewUser, fx: &Effects) -> Result<Write, StoreError>;
    /// Write a new code, replacing the previous one of its purpose, if the send
    /// limit and eligibility hold at the moment of writing.
    async fn issue_code(
        &self,
        user: &Username,
        issue: &CodeIssue,
        fx: &Effects,
    ) -> Result<Write, StoreError>;
    /// Count a failed proof; for resets, toward the block as `proof.tally` expects.
    async fn record_failed_proof(
        &self,
        user: &Username,
        proof: &FailedProof,
        fx: &Effects,
    ) -> Result<Tallied, StoreError>;
    /// Spend a pending, unexpired, unburned code whose digest is `digest`.
    async fn spend_code(
        &self,
        user: &Username,
        proof: &RightCode,
        fx: &Effects,
    ) -> Result<Write, StoreError>;
    /// Set a new password, bump the token version and clear the code state: every
    /// code of every purpose, the reset grant, and a pending change of email
    /// (the send limits stay, so a reset cannot be used to mail more codes).
    async fn set_password(
        &self,
        user: &Username,
        write: &PasswordWrite,
        fx: &Effects,
    ) -> Result<Write, StoreError>;
    /// Count a wrong password at sign-in as `tally` expects it to land.
    async fn record_signin_failure(
        &self,
        user: &Username,
        tally: &Tally,
        fx: &Effects,
    ) -> Result<Tallied, StoreError>;
    /// Forget earlier wrong passwords after a successful sign-in.
    async fn clear_signin_failures(&self, user: &Username) -> Result<Write, StoreError>;
    /// Replace a hash made with outdated parameters.
    async fn rehash(&self, user: &Username, old: &str, new: &str) -> Result<Write, StoreError>;
}

/// A mail ready to send; `Debug` shows neither the body nor anything in it.
#[derive(Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The message kind (`reset_code`, ...), for logs and metrics.
    pub kind: &'static str,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A mail could not be handed over.
#[derive(Debug, thiserror::Error)]
#[error("mail not sent: {what}")]
pub struct MailError {
    pub what: &'static str,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// The queue of mail the writes left behind, as the courier works through it.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// The mail `id` of `user`, if it is still queued (not yet sent or dropped).
    async fn queued(&self, user: &Username, id: &str) -> Result<Option<StoredMail>, StoreError>;
    /// Sent: take it off the queue.
    async fn sent(&self, mail: &StoredMail) -> Result<(), StoreError>;
    /// It will not be delivered: take it off the queue and, for a code, revoke
    /// the code (so no code is valid that nobody received) and give its place
    /// in the hourly send limit back (the one-a-minute spacing still holds).
    async fn undeliverable(&self, mail: &StoredMail, fx: &Effects) -> Result<(), StoreError>;
}

/// The time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock the tests move by hand.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: i64) -> Self {
        Self(AtomicI64::new(start))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
