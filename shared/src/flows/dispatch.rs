//! Sending a one-time code. The answer is the same whatever happens here, so
//! this flow reports nothing but infrastructure failure.

use crate::app::App;
use crate::domain::{Code, Purpose, Username};
use crate::mail::Message;
use crate::ports::{AuditEvent, CodeIssue, Eligibility, Requester, SendWindow};

use super::{resets_blocked, send_code, signin_locked, window_at, CodeDelivery, Unavailable};

/// What happened, for tests and logs only; the client sees none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    Sent,
    /// The mail could not be handed over; the code was revoked.
    NotDelivered,
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
    let audit = [AuditEvent::new("code_sent", purpose.as_str(), now, who)];
    if !app.store.issue_code(user, &issue, &audit).await?.applied() {
        // A concurrent request took the slot, or the state changed since the read.
        return Ok(Dispatched::Limited);
    }
    let minutes = c.ttl.as_secs() / 60;
    let code = code.expose().to_owned();
    let (message, to) = match purpose {
        Purpose::ResetPassword => (Message::ResetCode { code, minutes }, rec.email),
        Purpose::VerifyEmail => (
            Message::ConfirmEmail { code, minutes },
            rec.pending_email.unwrap_or(rec.email),
        ),
        Purpose::UnlockAccount => (Message::UnlockCode { code, minutes }, rec.email),
    };
    let delivery = CodeDelivery {
        user,
        purpose,
        digest: &issue.digest,
        message,
        locale: rec.locale,
        to: &to,
    };
    Ok(if send_code(app, delivery, who, now).await {
        Dispatched::Sent
    } else {
        Dispatched::NotDelivered
    })
}
