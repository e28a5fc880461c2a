//! The narrow traits the flows run on, and the commands they hand them: the
//! account store ([`Store`]: one read, one write of a [`Change`], one count
//! of a [`Failure`]), the per-client meter, the mail queue, the mailer and
//! the SMS sender, and a clock. Each write that guards a limit or a single
//! use is one conditional write in the implementation; the flows never
//! read-then-write without a condition that re-asserts what they read (what
//! `domain::lifecycle` returned).

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;

use crate::audit::AuditKind;
use crate::domain::lifecycle::{Confirming, GrantSpent, Passed, ResetCode};
use crate::domain::user::{MethodKind, MethodTarget};
use crate::domain::UserRecord;
use crate::domain::{CodeDigest, Email, Locale, Purpose, SendSlot, Tallied, Tally, Username};
pub use crate::mail::queue::{QueuedMail, StoredMail};
use crate::route_key::RouteKey;

/// Why a call of the account store did not answer: the backing store
/// (DynamoDB) failed, or the request's client is over its limit and the
/// meter let nothing through.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, unreachable, or broken. The cause chain goes to the log;
    /// the client sees `503 unavailable`.
    #[error("store unavailable: {what}")]
    Failed {
        what: &'static str,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Not a failure: the client is over its limit on the route
    /// ([`Admission::Limited`]), so the call never reached the store. The
    /// flow only stops; the answer is the meter's verdict, `429`.
    #[error("stopped: the client is over its limit")]
    OverLimit,
}

impl StoreError {
    pub fn new(what: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Failed {
            what,
            source: Some(Box::new(source)),
        }
    }

    pub fn msg(what: &'static str) -> Self {
        Self::Failed { what, source: None }
    }
}

/// One request's charge against its client's limit on a route.
#[derive(Debug, Clone)]
pub struct ClientCharge {
    /// The client IP, from API Gateway's request context.
    pub ip: String,
    pub route: RouteKey,
    pub max: u32,
    pub window_secs: i64,
    pub now: i64,
}

/// Where a client stands against its limit on a route: an expected outcome,
/// not a failure (`429` with `Retry-After` when it is over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Within,
    Limited { retry_after: u64 },
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

/// Who made a request, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// The origin the request came to (`https://<API domain>`, from API
    /// Gateway's request context, never from a client header).
    pub origin: Option<String>,
}

/// One audit event on a user.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub outcome: &'static str,
    pub at: i64,
    pub requester: Requester,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, outcome: &'static str, at: i64, requester: &Requester) -> Self {
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

/// A new user's profile, with the code that confirms its email.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub email: Email,
    pub locale: Locale,
    pub password_hash: String,
    pub now: i64,
    pub code: CodeDigest,
    pub code_expires_at: i64,
    /// The email's key in the per-recipient spacing.
    pub recipient: String,
}

/// What a new code needs to be true at the moment it is written.
#[derive(Debug, Clone)]
pub enum Eligibility {
    /// A confirmed email and no block on resets; the code goes to the method
    /// `to.via` (recorded with it, so its proof knows which gate it passes),
    /// and with `to.gate`, only while that first gate's grant is alive: the
    /// journey's step as [`crate::domain::lifecycle::next`] decided it.
    ResetPassword {
        max_failed: u32,
        block_cut: i64,
        to: ResetCode,
    },
    /// The code confirms what was read, and goes where it was read to go: the
    /// pending change to this address (still alive: asked for with the token
    /// version that is current), or with none pending, the unconfirmed email.
    VerifyEmail { pending: Option<Email> },
    /// A change to `new_email`, asked with an access token of `token_version`;
    /// the change stays bound to that version, so a reset, a change or anything
    /// else that ends the token's sessions ends it too.
    EmailChange {
        new_email: Email,
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
    /// The room under the send limit, as read ([`crate::domain::lifecycle::may_send`]).
    pub send: SendSlot,
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
    /// A gate of a reset, as [`crate::domain::lifecycle::next`] passed it
    /// (the first of two gates, or the grant of a reset token, spending the
    /// first gate when there is one), unless resets are blocked.
    Reset {
        passed: Passed,
        max_failed: u32,
        block_cut: i64,
    },
    /// Mark the email confirmed; with a pending change, make it the recovery email.
    ConfirmEmail { new_email: Option<Email> },
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

/// The state of the user's methods as read: every change to the set of
/// methods asserts it and moves it on, so two changes made from the same
/// read cannot both land (two removals that each leave enough methods, but
/// not together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodsAsRead {
    /// The access token's version: a session a reset ended changes nothing.
    pub token_version: u64,
    pub revision: u64,
}

/// A new method item, pending (or, for recovery codes, confirmed at once).
#[derive(Debug, Clone)]
pub struct NewMethod {
    pub target: MethodTarget,
    /// The code that confirms an email or phone, with its room under the
    /// hourly cap of confirmation codes.
    pub code: Option<(CodeDigest, i64, SendSlot)>,
    pub confirmed: bool,
    pub read: MethodsAsRead,
    pub now: i64,
}

/// How a method proves itself once.
#[derive(Debug, Clone)]
pub enum MethodProof {
    /// The method's own confirmation code: pending, unexpired, unburned.
    Code {
        digest: CodeDigest,
        max_attempts: u32,
    },
    /// An authenticator's time step, later than every step accepted before;
    /// with the secret sealed again under the current key version when the
    /// one that proved was sealed under the previous one.
    TotpStep { step: u64, reseal: Option<Reseal> },
    /// One recovery code of the set, still unused.
    RecoveryCode(CodeDigest),
}

/// A seal made again under the current key version: written over `from`
/// (re-asserted, so a secret replaced meanwhile is not overwritten).
#[derive(Clone)]
pub struct Reseal {
    pub from: Vec<u8>,
    pub to: Vec<u8>,
}

impl std::fmt::Debug for Reseal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reseal([sealed])")
    }
}

/// What a method's proof does once it is spent.
#[derive(Debug, Clone)]
pub enum MethodGrant {
    /// Confirm the pending method, as [`crate::domain::lifecycle::confirm_method`]
    /// found it: bound to the session that added it, its wrong guesses under
    /// the limit.
    Confirm {
        read: MethodsAsRead,
        confirming: Confirming,
    },
    /// The second factor of a sign-in: forget earlier wrong passwords, and
    /// replace a hash made with outdated parameters when there is one.
    SignIn { rehash: Option<Rehash> },
    /// A gate of a reset ([`Spend::Reset`]).
    Reset(Spend),
}

/// A password hash made with outdated parameters and its replacement, in
/// the write of the sign-in that verified it: `old` as read, so a password
/// changed meanwhile makes the write, and the sign-in, land nothing.
#[derive(Debug, Clone)]
pub struct Rehash {
    pub old: String,
    pub new: String,
}

/// A method's proof to spend, with what it grants, in one write.
#[derive(Debug, Clone)]
pub struct MethodUse {
    pub kind: MethodKind,
    pub proof: MethodProof,
    pub grant: MethodGrant,
    pub now: i64,
}

/// What authorises a password write.
#[derive(Debug, Clone)]
pub enum PasswordGuard {
    /// A reset token's grant, spent by this very write.
    ResetGrant(GrantSpent),
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

/// A change to one user's account, as the flows hand it to the store: each is
/// one conditional write (with the write's [`Effects`]), applied only while
/// what the flow read still holds.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create the user unless the username is taken.
    Create(NewUser),
    /// Write a new code, replacing the previous one of its purpose, if the
    /// send limit and eligibility hold at the moment of writing.
    IssueCode(CodeIssue),
    /// Spend a pending, unexpired, unburned code whose digest is the one given.
    SpendCode(RightCode),
    /// Set a new password, bump the token version and clear the code state:
    /// every code of every purpose, the reset grant, and a pending change of
    /// email (the send limits stay, so a reset cannot be used to mail more codes).
    SetPassword(PasswordWrite),
    /// A successful sign-in without a second factor: forget earlier wrong
    /// passwords (`clear_failures`) and replace a hash made with outdated
    /// parameters (`rehash`), in the write of its `signed_in` audit, so a
    /// sign-in is two round trips whatever it upgrades. With neither, a
    /// [`Record`](Change::Record).
    SignedIn {
        clear_failures: bool,
        rehash: Option<Rehash>,
    },
    /// Nothing but the write's effects (its audit events), for something
    /// that changes no state: a sign-in that had no failures to forget, an
    /// attempt refused while the lock holds.
    Record,
    /// Add a method (replacing a pending one of its kind), or a new set of
    /// recovery codes (the old set dies with the write).
    AddMethod(NewMethod),
    /// Spend a method's proof: a confirmation code, a TOTP step or a recovery
    /// code, each once, and grant what it proves.
    UseMethod(MethodUse),
    /// Remove a method of this kind.
    RemoveMethod {
        kind: MethodKind,
        read: MethodsAsRead,
    },
    /// The user looked at their methods and says they are still theirs.
    Reconfirm { read: MethodsAsRead, now: i64 },
}

/// A failure to count, as its [`Tally`] expects it to land.
#[derive(Debug, Clone)]
pub enum Failure {
    /// A failed code proof; for resets, toward the block.
    Proof(FailedProof),
    /// A wrong password at sign-in.
    SignIn(Tally),
    /// A wrong code for a pending method: counted toward burning it.
    MethodCode { kind: MethodKind, now: i64 },
}

/// The account store the flows use: read a user, apply a change, count a failure.
#[async_trait]
pub trait Store: Send + Sync {
    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError>;
    /// `ConditionFailed` when what the change re-asserts no longer holds.
    async fn write(
        &self,
        user: &Username,
        change: &Change,
        fx: &Effects,
    ) -> Result<Write, StoreError>;
    async fn count(
        &self,
        user: &Username,
        failure: &Failure,
        fx: &Effects,
    ) -> Result<Tallied, StoreError>;
}

/// The per-client (IP) request counter behind `429 too_many_requests`.
#[async_trait]
pub trait ClientMeter: Send + Sync {
    /// Count one request of a client on a route in the current window.
    async fn charge(&self, charge: &ClientCharge) -> Result<Admission, StoreError>;
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

/// A text message ready to send to a phone (`to` in E.164); `Debug` shows
/// only its kind, never the number or the text (which holds a code).
#[derive(Clone)]
pub struct OutgoingSms {
    pub to: String,
    pub text: String,
    /// The message kind (`sms_code`), for logs and metrics.
    pub kind: &'static str,
}

impl std::fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingSms")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What sends a text message (Amazon SNS, or the local outbox folder). A
/// refusal is a [`MailError`]: the courier treats an SMS it cannot deliver
/// exactly as a mail it cannot deliver.
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), MailError>;
}

/// Why a breach corpus could not be asked (no answer in time, an error, an
/// answer that is not the range format). The new password is then admitted:
/// the offline checks have passed, and an outage of a third party must not
/// stop a person from resetting.
#[derive(Debug, thiserror::Error)]
#[error("breach corpus not asked: {0}")]
pub struct BreachLookupError(pub &'static str);

/// An online corpus of breached passwords (Have I Been Pwned's range API,
/// when `SSPR_HIBP=on`). It is given the password's SHA-1 in upper-case hex,
/// never the password, and sends no more of it than the range API's prefix.
#[async_trait]
pub trait BreachCorpus: Send + Sync {
    /// Whether the corpus holds the password whose SHA-1 is `sha1_hex`.
    async fn holds(&self, sha1_hex: &str) -> Result<bool, BreachLookupError>;
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
