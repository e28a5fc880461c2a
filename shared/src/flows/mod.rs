//! The use cases, one file each. Pure logic over the ports: each takes the
//! [`App`](crate::app::App), the parsed input, who asked, and `now`. A flow
//! sends no mail itself: it queues it with the write that it tells of
//! ([`Effects`](crate::ports::Effects)), and the courier sends it.

pub mod account;
pub mod change;
pub mod dispatch;
pub mod register;
pub mod reset;
pub mod signin;
pub mod unlock;
pub mod verify;

use crate::app::App;
use crate::config::CodePolicy;
use crate::domain::{Code, CodeDigest, Locale, Purpose, Username};
use crate::mail::Message;
use crate::ports::{QueuedMail, SendWindow, Tallied, Tally, UserRecord};

/// A backing service failed (store, hashing pool, signing). The cause goes to
/// the log; the client sees `503 unavailable`.
#[derive(Debug, thiserror::Error)]
#[error("backing service unavailable")]
pub struct Unavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl From<crate::ports::StoreError> for Unavailable {
    fn from(e: crate::ports::StoreError) -> Self {
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

/// Whether a window that started at `start` and lasts `len` seconds is still open at `now`.
pub(crate) fn window_at(start: i64, now: i64, len: i64) -> SendWindow {
    if start > now - len {
        SendWindow::Current
    } else {
        SendWindow::Fresh
    }
}

/// Sign-in is locked: too many wrong passwords, the last of them recent.
pub(crate) fn signin_locked(rec: &UserRecord, p: &crate::config::SignInPolicy, now: i64) -> bool {
    rec.signin.count >= p.max_failures && rec.signin.last > now - p.lock_for.as_secs() as i64
}

/// Resets are blocked: too many failed proofs, the last of them recent.
pub(crate) fn resets_blocked(rec: &UserRecord, c: &CodePolicy, now: i64) -> bool {
    rec.proofs.count >= c.max_failed_proofs && rec.proofs.last > now - c.block_for.as_secs() as i64
}

/// A code proof that spends the code when it is right.
pub(crate) struct Proof {
    pub purpose: crate::domain::Purpose,
    /// The audit event of a right proof.
    pub success: &'static str,
}

/// Prove a code that only spends itself (confirm an email, unlock sign-in): when
/// it is pending and right, spend it with `spend` in one conditional write (with
/// the mail `notices` queues) and return the user as read; otherwise count a
/// guess against a live code (and audit the failure) and return `None`. Resets
/// prove codes in `verify`, which also keeps the failure window that blocks them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prove_code(
    app: &App,
    user: &Username,
    code: &Code,
    proof: Proof,
    spend: impl FnOnce(&UserRecord) -> crate::ports::Spend,
    notices: impl FnOnce(&UserRecord) -> Vec<QueuedMail>,
    who: &crate::ports::Requester,
    now: i64,
) -> Result<Option<UserRecord>, crate::ports::StoreError> {
    use crate::ports::{AuditEvent, CodeState, Effects, FailedProof, RightCode};
    let Some(rec) = app.store.get_user(user).await? else {
        return Ok(None);
    };
    let max_attempts = app.config.codes.max_attempts;
    let slot = rec.slot(proof.purpose);
    let state = slot.state(now, max_attempts);
    let given = app.codes.digest(proof.purpose, user, code);
    let right = slot.digest.as_ref().is_some_and(|d| d.matches(&given));
    if state == CodeState::Pending && right {
        let right_code = RightCode {
            purpose: proof.purpose,
            digest: given,
            now,
            max_attempts,
            spend: spend(&rec),
        };
        let mut fx = Effects::audit([AuditEvent::new(proof.success, "success", now, who)]);
        fx.mail.extend(notices(&rec));
        let applied = app
            .store
            .spend_code(user, &right_code, &fx)
            .await?
            .applied();
        return Ok(applied.then_some(rec));
    }
    let failed = FailedProof {
        purpose: proof.purpose,
        against_code: (state == CodeState::Pending).then_some(given),
        tally: None,
        now,
    };
    let fx = Effects::audit([AuditEvent::new(
        "proof_failed",
        proof.purpose.as_str(),
        now,
        who,
    )]);
    app.store.record_failed_proof(user, &failed, &fx).await?;
    Ok(None)
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
    app: &App,
    user: &Username,
    to: &str,
    locale: Locale,
    message: Message,
    now: i64,
) -> QueuedMail {
    QueuedMail::new(&app.mail_key, user, to, locale, message, now)
}

/// The mail that carries a new code of `purpose` to `to`; it is revoked when
/// it cannot be delivered, and not sent once the code has expired.
pub(crate) struct CodeMail<'a> {
    pub user: &'a Username,
    pub purpose: Purpose,
    pub code: &'a Code,
    pub digest: &'a CodeDigest,
    pub expires_at: i64,
    pub to: &'a str,
    pub locale: Locale,
}

pub(crate) fn code_letter(app: &App, m: CodeMail<'_>, now: i64) -> QueuedMail {
    let code = m.code.expose().to_owned();
    let minutes = app.config.codes.ttl.as_secs() / 60;
    let message = match m.purpose {
        Purpose::ResetPassword => Message::ResetCode { code, minutes },
        Purpose::VerifyEmail => Message::ConfirmEmail { code, minutes },
        Purpose::UnlockAccount => Message::UnlockCode { code, minutes },
    };
    letter(app, m.user, m.to, m.locale, message, now).for_code(
        m.purpose,
        m.digest.clone(),
        m.expires_at,
    )
}

/// The notices that the password of `rec` was reset or changed: to the user,
/// in their language, and to the admins when the user is one.
pub(crate) fn password_notices(
    app: &App,
    rec: &UserRecord,
    by_reset: bool,
    now: i64,
) -> Vec<QueuedMail> {
    let at = human_time(now);
    let msg = Message::PasswordChanged {
        helpdesk: app.config.helpdesk_url.clone(),
        by_reset,
        at: at.clone(),
    };
    let mut mail = vec![letter(app, &rec.username, &rec.email, rec.locale, msg, now)];
    if rec.is_admin {
        for admin in &app.config.admin_emails {
            let notice = Message::AdminNotice {
                username: rec.username.as_str().to_owned(),
                by_reset,
                at: at.clone(),
            };
            mail.push(letter(
                app,
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

/// The tally of one more failure on a counter that stood at `count` in a
/// window that started at `window_start`: in that window if it is still open
/// (else a fresh one), and whether it is the failure that reaches `limit`.
pub(crate) fn tally_from(
    window_start: i64,
    count: u32,
    limit: u32,
    window_len: i64,
    now: i64,
) -> Tally {
    let window = window_at(window_start, now, window_len);
    let after = match window {
        SendWindow::Current => count.saturating_add(1),
        SendWindow::Fresh => 1,
    };
    Tally {
        window,
        window_cut: now - window_len,
        limit,
        reaches: after == limit,
        now,
    }
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
) -> Result<Option<bool>, crate::ports::StoreError>
where
    F: FnMut(Tally) -> Fut,
    Fut: std::future::Future<Output = Result<Tallied, crate::ports::StoreError>>,
{
    let mut at = (window_start, count);
    for _ in 0..TALLY_TRIES {
        let t = tally_from(at.0, at.1, limit, window_len, now);
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

    #[test]
    fn a_failure_in_an_open_window_counts_on_and_the_limit_is_reached_once() {
        let t = tally_from(100, 3, 5, 60, 120);
        assert_eq!(t.window, SendWindow::Current);
        assert!(!t.reaches);
        assert_eq!(t.window_cut, 60);
        assert!(tally_from(100, 4, 5, 60, 120).reaches, "4 -> 5 reaches");
        assert!(!tally_from(100, 5, 5, 60, 120).reaches, "5 -> 6 is past it");
    }

    #[test]
    fn a_failure_after_the_window_closed_opens_a_fresh_one() {
        let t = tally_from(100, 4, 5, 60, 160);
        assert_eq!(t.window, SendWindow::Fresh, "100 + 60 <= 160");
        assert!(!t.reaches);
        assert!(tally_from(100, 9, 1, 60, 160).reaches, "a limit of one");
    }

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
