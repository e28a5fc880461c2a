//! The use cases, one file each. Pure logic over the ports: each takes a
//! [`Context`] (ports, rules, keys, hasher, clock), the parsed input, who
//! asked, and `now`. What is true of the stored state is `domain::lifecycle`'s
//! to say; a flow decides what to do about it and hands the store a typed
//! [`Change`] or [`Failure`] that re-asserts what it read. A flow sends no
//! mail itself: it queues it with the write that it tells of ([`Effects`]),
//! and the courier sends it.

pub mod account;
pub mod change;
pub mod dispatch;
pub mod methods;
pub mod register;
pub mod reset;
pub mod signin;
pub mod unlock;
pub mod verify;

use std::sync::Arc;

use crate::audit::AuditKind;
use crate::domain::{
    Code, CodeDigest, CodeKey, Email, Locale, NewPassword, PasswordHasher, ProofVerdict, Purpose,
    Rules, SendSlot, Tallied, Tally, TotpSeal, UserRecord, Username, WeakReason,
};
use crate::mail::{MailKey, Message};
use crate::ports::{
    AuditEvent, BreachCorpus, Change, Clock, CodeIssue, Effects, Eligibility, FailedProof, Failure,
    QueuedMail, Requester, RightCode, Spend, Store, StoreError,
};
use crate::token::Keys;

/// What every flow runs on, and nothing more: the account store, the rules,
/// the keys, the hasher and the clock. Built once per cold start by the
/// composition root (`sspr-core`'s `App`); a request's copy may carry a
/// metered store (`limits::Metered`).
#[derive(Clone)]
pub struct Context {
    pub rules: Arc<Rules>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    pub codes: Arc<CodeKey>,
    pub mail_key: Arc<MailKey>,
    /// Seals and opens the TOTP secrets at rest.
    pub totp: Arc<TotpSeal>,
    pub hasher: PasswordHasher,
    /// The optional online check of new passwords (`SSPR_HIBP`); `None`: off.
    pub breaches: Option<Arc<dyn BreachCorpus>>,
}

impl std::fmt::Debug for Context {
    /// The rules; the ports and keys show nothing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context {{ rules: {:?}, .. }}", self.rules)
    }
}

impl Context {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The user's record, with every key version it names held (the keyring
    /// read again when one is not: another function rotated since), and the
    /// keyring read again when what is held is `keyring::REREAD_SECS` old.
    pub async fn user(&self, name: &Username) -> Result<Option<UserRecord>, StoreError> {
        let rec = self.store.get_user(name).await?;
        if let Some(r) = &rec {
            self.keys.ring().ensure(r.key_versions()).await;
        }
        // What this request signs or seals is under the current version,
        // read at most `REREAD_SECS` ago.
        self.keys.ring().ensure_fresh(self.now()).await;
        Ok(rec)
    }
}

/// The proof of an authenticator's `step`, its secret `sealed` for `user`'s
/// method `id`: sealed again under the current key version in the same write
/// when it was sealed under an older one.
pub(crate) fn totp_step(
    cx: &Context,
    user: &Username,
    id: &str,
    sealed: &[u8],
    step: u64,
) -> crate::ports::MethodProof {
    let reseal = cx
        .totp
        .reseal(sealed, user, id)
        .map(|to| crate::ports::Reseal {
            from: sealed.to_vec(),
            to,
        });
    crate::ports::MethodProof::TotpStep { step, reseal }
}

/// A backing service failed (store, hashing pool, signing). The cause goes to
/// the log; the client sees `503 unavailable`.
#[derive(Debug, thiserror::Error)]
#[error("backing service unavailable")]
pub struct Unavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl From<StoreError> for Unavailable {
    fn from(e: StoreError) -> Self {
        Self(Box::new(e))
    }
}

impl From<crate::domain::password::HashError> for Unavailable {
    fn from(e: crate::domain::password::HashError) -> Self {
        Self(Box::new(e))
    }
}

impl From<crate::token::TokenError> for Unavailable {
    fn from(e: crate::token::TokenError) -> Self {
        Self(Box::new(e))
    }
}

/// Each flow's error takes a failed store call as its `Unavailable`.
macro_rules! unavailable_from_store {
    ($($error:ty),+) => {$(
        impl From<StoreError> for $error {
            fn from(e: StoreError) -> Self {
                Self::Unavailable(e.into())
            }
        }
    )+};
}

unavailable_from_store!(
    account::AccountError,
    change::ChangeError,
    methods::MethodsError,
    register::ConfirmError,
    reset::ResetError,
    signin::SignInError,
    verify::VerifyError
);

/// A new password that passed the offline rules, asked of the online corpus
/// when it is on: `Err` with `compromised` when the corpus holds it. A lookup
/// that fails admits the password (the adapter logs and counts it): the
/// offline rules, the shipped filter among them, still stand.
pub(crate) async fn not_breached(cx: &Context, pw: &NewPassword) -> Result<(), Vec<WeakReason>> {
    let Some(corpus) = &cx.breaches else {
        return Ok(());
    };
    match corpus.holds(&pw.sha1_hex()).await {
        Ok(true) => Err(vec![WeakReason::Compromised]),
        Ok(false) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "breach lookup failed; the password is admitted");
            Ok(())
        }
    }
}

/// A code proof that spends the code when it is right.
pub(crate) struct Proof {
    pub purpose: Purpose,
    /// The audit event of a right proof, by the user as read (an email
    /// confirmed at sign-up, or moved from a confirmed address).
    pub success: fn(&UserRecord) -> AuditKind,
}

/// Prove a code that only spends itself (confirm an email, unlock sign-in): when
/// it is pending and right, spend it with `spend` in one conditional write (with
/// the mail `notices` queues) and return the user as read; otherwise count a
/// guess against a live code (and audit the failure) and return `None`. Resets
/// prove codes in `verify`, which also keeps the failure window that blocks them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prove_code(
    cx: &Context,
    user: &Username,
    code: &Code,
    proof: Proof,
    spend: impl FnOnce(&UserRecord) -> Spend,
    notices: impl FnOnce(&UserRecord) -> Vec<QueuedMail>,
    who: &Requester,
    now: i64,
) -> Result<Option<UserRecord>, StoreError> {
    let Some(rec) = cx.user(user).await? else {
        return Ok(None);
    };
    let max_attempts = cx.rules.codes.max_attempts;
    let given = cx.codes.digest_as(
        rec.slot(proof.purpose).digest.as_ref(),
        proof.purpose,
        user,
        code,
    );
    let verdict = rec.slot(proof.purpose).judge(&given, now, max_attempts);
    if verdict == ProofVerdict::Right {
        let right_code = RightCode {
            purpose: proof.purpose,
            digest: given,
            now,
            max_attempts,
            spend: spend(&rec),
        };
        let mut fx = Effects::audit([AuditEvent::new((proof.success)(&rec), "success", now, who)]);
        fx.mail.extend(notices(&rec));
        let applied = cx
            .store
            .write(user, &Change::SpendCode(right_code), &fx)
            .await?
            .applied();
        return Ok(applied.then_some(rec));
    }
    let failed = FailedProof {
        purpose: proof.purpose,
        against_code: against_code(verdict, given),
        tally: None,
        now,
    };
    let fx = Effects::audit([AuditEvent::new(
        AuditKind::ProofFailed,
        proof.purpose.as_str(),
        now,
        who,
    )]);
    cx.store.count(user, &Failure::Proof(failed), &fx).await?;
    Ok(None)
}

/// The digest a wrong proof counts against, when the code was live.
pub(crate) fn against_code(verdict: ProofVerdict, given: CodeDigest) -> Option<CodeDigest> {
    match verdict {
        ProofVerdict::Wrong { against_code: true } => Some(given),
        _ => None,
    }
}

/// A time as people read it in a notice (`2026-11-24 10:00 UTC`).
pub(crate) fn human_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A mail to queue with a write, sealed for `user`'s outbox.
pub(crate) fn letter(
    cx: &Context,
    user: &Username,
    to: &Email,
    locale: Locale,
    message: Message,
    now: i64,
) -> QueuedMail {
    QueuedMail::new(&cx.mail_key, user, to.as_str(), locale, message, now)
}

/// The mail (or SMS) that carries a new code of `purpose` to `to`; it is
/// revoked when it cannot be delivered, and not sent once the code has expired.
pub(crate) struct CodeMail<'a> {
    pub user: &'a Username,
    pub purpose: Purpose,
    pub to: CodeTo<'a>,
    pub locale: Locale,
    /// The origin the request came to, for the page link when no public URL
    /// is configured.
    pub origin: Option<&'a str>,
    /// Whether a mail carries the page link.
    pub linked: bool,
    /// A code that confirms a new recovery method, not the account's email.
    pub for_method: bool,
}

/// Where a code travels.
#[derive(Clone, Copy)]
pub(crate) enum CodeTo<'a> {
    Mail(&'a Email),
    Sms(&'a crate::domain::Phone),
}

impl CodeTo<'_> {
    pub(crate) fn address(&self) -> &str {
        match self {
            Self::Mail(e) => e.as_str(),
            Self::Sms(p) => p.as_str(),
        }
    }
}

impl<'a> CodeMail<'a> {
    /// A code of `purpose` for `user` to `dest`.
    pub(crate) fn to(
        user: &'a Username,
        purpose: Purpose,
        dest: &dispatch::Destination<'a>,
        locale: Locale,
        origin: Option<&'a str>,
        linked: bool,
    ) -> Self {
        let to = match dest {
            dispatch::Destination::Mail { to, .. } => CodeTo::Mail(to),
            dispatch::Destination::Sms { to, .. } => CodeTo::Sms(to),
        };
        Self {
            user,
            purpose,
            to,
            locale,
            origin,
            linked,
            for_method: false,
        }
    }

    /// A code of `purpose` by mail to `to`, with the page link.
    pub(crate) fn mail(
        user: &'a Username,
        purpose: Purpose,
        to: &'a Email,
        locale: Locale,
        origin: Option<&'a str>,
    ) -> Self {
        Self {
            user,
            purpose,
            to: CodeTo::Mail(to),
            locale,
            origin,
            linked: true,
            for_method: false,
        }
    }
}

/// The page link of a code mail: `<public URL>/reset#u=<user>&c=<code>` (or
/// `/register` to confirm an email). The code rides in the fragment, which a
/// browser never sends, so it reaches no server and no log; the page fills
/// its form in and spends nothing until the person submits.
fn page_link(cx: &Context, m: &CodeMail<'_>, code: &Code) -> Option<String> {
    if !m.linked || m.for_method {
        return None;
    }
    let page = match m.purpose {
        Purpose::ResetPassword => "reset",
        Purpose::VerifyEmail => "register",
        Purpose::UnlockAccount => return None,
    };
    let base = cx.rules.public_url.as_deref().or(m.origin)?;
    let base = base.trim_end_matches('/');
    Some(format!(
        "{base}/{page}#u={}&c={}",
        m.user.as_str(),
        code.expose()
    ))
}

/// The mail or SMS that carries `code` (of digest `digest`, lapsing at `expires_at`).
pub(crate) fn code_letter(
    cx: &Context,
    m: &CodeMail<'_>,
    code: &Code,
    digest: &CodeDigest,
    expires_at: i64,
    now: i64,
) -> QueuedMail {
    let text = code.expose().to_owned();
    let minutes = cx.rules.codes.ttl.as_secs() / 60;
    let link = page_link(cx, m, code);
    let message = match (m.to, m.purpose) {
        (CodeTo::Sms(_), _) => Message::SmsCode {
            code: text,
            minutes,
        },
        (CodeTo::Mail(_), _) if m.for_method => Message::MethodCode {
            code: text,
            minutes,
        },
        (_, Purpose::ResetPassword) => Message::ResetCode {
            code: text,
            minutes,
            link,
        },
        (_, Purpose::VerifyEmail) => Message::ConfirmEmail {
            code: text,
            minutes,
            link,
        },
        (_, Purpose::UnlockAccount) => Message::UnlockCode {
            code: text,
            minutes,
        },
    };
    QueuedMail::new(&cx.mail_key, m.user, m.to.address(), m.locale, message, now).for_code(
        m.purpose,
        digest.clone(),
        expires_at,
    )
}

/// A fresh code for `m`: the code, its digest, when it lapses, and its mail.
pub(crate) fn fresh_code(
    cx: &Context,
    m: &CodeMail<'_>,
    now: i64,
) -> (CodeDigest, i64, QueuedMail) {
    let c = &cx.rules.codes;
    let code = Code::generate(c.length);
    let digest = cx.codes.digest(m.purpose, m.user, &code);
    let expires_at = now + c.ttl.as_secs() as i64;
    let mail = code_letter(cx, m, &code, &digest, expires_at, now);
    (digest, expires_at, mail)
}

/// A new code for `m`, in the room `send` the send limit left: the write
/// that issues it (under `eligibility`) and the mail that carries it,
/// queued by that same write.
pub(crate) fn new_code(
    cx: &Context,
    m: CodeMail<'_>,
    send: SendSlot,
    eligibility: Eligibility,
    now: i64,
) -> (CodeIssue, QueuedMail) {
    let (digest, expires_at, mail) = fresh_code(cx, &m, now);
    let issue = CodeIssue {
        purpose: m.purpose,
        digest,
        expires_at,
        now,
        send,
        eligibility,
    };
    (issue, mail)
}

/// The notices that the password of `rec` was reset or changed: to the user,
/// in their language, and to the admins when the user is one.
pub(crate) fn password_notices(
    cx: &Context,
    rec: &UserRecord,
    by_reset: bool,
    now: i64,
) -> Vec<QueuedMail> {
    let at = human_time(now);
    let msg = Message::PasswordChanged {
        helpdesk: cx.rules.helpdesk_url.clone(),
        by_reset,
        at: at.clone(),
    };
    let mut mail = vec![letter(cx, &rec.username, &rec.email, rec.locale, msg, now)];
    if rec.is_admin {
        for admin in &cx.rules.admin_emails {
            let notice = Message::AdminNotice {
                username: rec.username.as_str().to_owned(),
                by_reset,
                at: at.clone(),
            };
            mail.push(letter(
                cx,
                &rec.username,
                admin,
                Locale::default(),
                notice,
                now,
            ));
        }
    }
    mail
}

/// Tries at counting one failure: each try after the first starts from where
/// the last found the counter, so only a failure that lands between a try's
/// read and its write costs another (a burst costs a few, a lone failure one).
const TALLY_TRIES: usize = 6;

/// Count one more failure, starting from the counter as read, with `write`
/// (which gets the tally, so it can add what reaching the limit carries).
/// `Ok(Some(reached))` once a write landed, `Ok(None)` when the user is gone or
/// the counter would not hold still.
pub(crate) async fn count_failure<F, Fut>(
    (window_start, count): (i64, u32),
    limit: u32,
    window_len: i64,
    now: i64,
    mut write: F,
) -> Result<Option<bool>, StoreError>
where
    F: FnMut(Tally) -> Fut,
    Fut: std::future::Future<Output = Result<Tallied, StoreError>>,
{
    let mut at = (window_start, count);
    for _ in 0..TALLY_TRIES {
        let t = crate::domain::lifecycle::tally_from(at.0, at.1, limit, window_len, now);
        match write(t).await? {
            Tallied::Applied => return Ok(Some(t.reaches)),
            Tallied::Gone => return Ok(None),
            Tallied::Moved {
                window_start,
                count,
            } => at = (window_start, count),
        }
    }
    tracing::warn!("a failure was not counted: the counter kept moving");
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_moved_counter_is_counted_again_from_where_it_stood() {
        // The read said 3 (not reaching 5), but two failures landed meanwhile:
        // the write finds 4 and the retry is the one that reaches the limit.
        let mut seen = Vec::new();
        let reached = count_failure((100, 3), 5, 60, 120, |t| {
            seen.push(t);
            let r = if seen.len() == 1 {
                Tallied::Moved {
                    window_start: 100,
                    count: 4,
                }
            } else {
                Tallied::Applied
            };
            async move { Ok(r) }
        })
        .await
        .expect("no store error");
        assert_eq!(reached, Some(true));
        assert_eq!(seen.len(), 2);
        assert!(!seen[0].reaches && seen[1].reaches);
    }

    #[tokio::test]
    async fn a_counter_that_never_holds_still_gives_up_after_a_few_tries() {
        let mut tries = 0;
        let reached = count_failure((100, 3), 5, 60, 120, |_| {
            tries += 1;
            async move {
                Ok(Tallied::Moved {
                    window_start: 100,
                    count: 3,
                })
            }
        })
        .await
        .expect("no store error");
        assert_eq!(reached, None);
        assert_eq!(tries, TALLY_TRIES);
        let gone = count_failure((0, 0), 5, 60, 120, |_| async { Ok(Tallied::Gone) })
            .await
            .expect("no store error");
        assert_eq!(gone, None);
    }
}
