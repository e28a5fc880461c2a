//! Sending a one-time code. The answer is the same whatever happens here, so
//! this flow reports nothing but infrastructure failure. The code's mail is
//! queued in the very write that issues the code, and the courier sends it
//! after the answer: how long the mail service takes tells nobody anything.

use crate::app::App;
use crate::domain::{Code, Purpose, Username};
use crate::ports::{AuditEvent, CodeIssue, Effects, Eligibility, Requester, SendWindow};

use super::{code_letter, resets_blocked, signin_locked, window_at, CodeMail, Unavailable};

/// What happened, for tests and logs only; the client sees none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// The code was issued and its mail queued.
    Queued,
    /// Unknown user, nothing to confirm, unconfirmed email or blocked.
    NotEligible,
    /// The hourly or per-minute limit.
    Limited,
}

pub async fn dispatch(
    app: &App,
    user: &Username,
    purpose: Purpose,
    who: &Requester,
    now: i64,
) -> Result<Dispatched, Unavailable> {
    let Some(rec) = app.store.get_user(user).await? else {
        return Ok(Dispatched::NotEligible);
    };
    let c = &app.config.codes;
    let eligibility = match purpose {
        Purpose::ResetPassword => {
            if !rec.email_verified || resets_blocked(&rec, c, now) {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::ResetPassword {
                max_failed: c.max_failed_proofs,
                block_cut: now - c.block_for.as_secs() as i64,
            }
        }
        Purpose::VerifyEmail => {
            if rec.email_verified && rec.pending_email.is_none() {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::VerifyEmail {
                pending: rec.pending_email.clone(),
            }
        }
        Purpose::UnlockAccount => {
            let s = &app.config.signin;
            if !rec.email_verified || !signin_locked(&rec, s, now) {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::UnlockAccount {
                max_failures: s.max_failures,
                lock_cut: now - s.lock_for.as_secs() as i64,
            }
        }
    };
    let slot = rec.slot(purpose);
    let window_len = c.send_window.as_secs() as i64;
    let window = window_at(slot.window_start, now, window_len);
    let interval_cut = now - c.min_interval.as_secs() as i64;
    if (window == SendWindow::Current && slot.window_count >= c.max_sends)
        || slot.last_sent > interval_cut
    {
        return Ok(Dispatched::Limited);
    }
    let code = Code::generate(c.length);
    let issue = CodeIssue {
        purpose,
        digest: app.codes.digest(purpose, user, &code),
        expires_at: now + c.ttl.as_secs() as i64,
        now,
        window,
        window_cut: now - window_len,
        max_sends: c.max_sends,
        interval_cut,
        eligibility,
    };
    let to = match purpose {
        Purpose::VerifyEmail => rec.pending_email.as_deref().unwrap_or(&rec.email),
        Purpose::ResetPassword | Purpose::UnlockAccount => &rec.email,
    };
    let mail = code_letter(
        app,
        CodeMail {
            user,
            purpose,
            code: &code,
            digest: &issue.digest,
            expires_at: issue.expires_at,
            to,
            locale: rec.locale,
        },
        now,
    );
    let fx =
        Effects::audit([AuditEvent::new("code_sent", purpose.as_str(), now, who)]).with_mail(mail);
    if !app.store.issue_code(user, &issue, &fx).await?.applied() {
        // A concurrent request took the slot, or the state changed since the read.
        return Ok(Dispatched::Limited);
    }
    Ok(Dispatched::Queued)
}
