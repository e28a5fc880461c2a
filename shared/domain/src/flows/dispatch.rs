//! Sending a one-time code. The answer is the same whatever happens here, so
//! this flow reports nothing but infrastructure failure. The code's mail is
//! queued in the very write that issues the code, and the courier sends it
//! after the answer: how long the mail service takes tells nobody anything.

use crate::domain::lifecycle::{block_cut, lock_cut, may_send, reset_block, signin_lock};
use crate::domain::{Purpose, Username};
use crate::ports::{AuditEvent, Change, Effects, Eligibility, Requester};

use super::{new_code, Context, Unavailable};

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
    cx: &Context,
    user: &Username,
    purpose: Purpose,
    who: &Requester,
    now: i64,
) -> Result<Dispatched, Unavailable> {
    let Some(rec) = cx.store.get_user(user).await? else {
        return Ok(Dispatched::NotEligible);
    };
    let c = &cx.rules.codes;
    let eligibility = match purpose {
        Purpose::ResetPassword => {
            if !rec.email_verified || reset_block(&rec.proofs, c, now).holds() {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::ResetPassword {
                max_failed: c.max_failed_proofs,
                block_cut: block_cut(c, now),
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
            let s = &cx.rules.signin;
            if !rec.email_verified || !signin_lock(&rec.signin, s, now).holds() {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::UnlockAccount {
                max_failures: s.max_failures,
                lock_cut: lock_cut(s, now),
            }
        }
    };
    let Ok(send) = may_send(rec.slot(purpose), c, now) else {
        return Ok(Dispatched::Limited);
    };
    let to = (
        rec.code_recipient(purpose),
        rec.locale,
        who.origin.as_deref(),
    );
    let (issue, mail) = new_code(cx, user, purpose, send, eligibility, to, now);
    let fx =
        Effects::audit([AuditEvent::new("code_sent", purpose.as_str(), now, who)]).with_mail(mail);
    if !cx
        .store
        .write(user, &Change::IssueCode(issue), &fx)
        .await?
        .applied()
    {
        // A concurrent request took the slot, or the state changed since the read.
        return Ok(Dispatched::Limited);
    }
    Ok(Dispatched::Queued)
}
