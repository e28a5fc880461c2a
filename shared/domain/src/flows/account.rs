//! The signed-in user's own account: reading the profile and changing the
//! recovery email. A change of a way to recover or sign in (the recovery
//! email here, the methods and recovery codes in `methods.rs`) needs a
//! recent sign-in: [`signed_in`], the one check for all of them, made by
//! the serving path as the route's policy says before any flow runs.

use crate::audit::AuditKind;
use crate::domain::lifecycle::may_send;
use crate::domain::{Email, Purpose, UserRecord, Username};
use crate::ports::{AuditEvent, Change, Effects, Eligibility, Requester, StoreError};

use super::{new_code, CodeMail, Context, Unavailable};
use crate::token::AccessClaims;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Missing, bad, expired, or older than the last reset or change.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// A signed-in session: the user an access token speaks for, as read, and
/// the token's claims. Established once per request by the serving path
/// (the route's policy, [`signed_in`]); the flows of a signed-in user take
/// it instead of a token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: Username,
    pub rec: UserRecord,
    pub claims: AccessClaims,
}

/// Why a route that needs a (recent) sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecentError {
    /// The session itself is not alive ([`AccountError::InvalidToken`]), or
    /// the store failed.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The session is alive, but its sign-in is older than `Rules::recent_auth`.
    #[error("reauthentication required")]
    Reauthenticate,
}

impl From<StoreError> for RecentError {
    fn from(e: StoreError) -> Self {
        Self::Account(e.into())
    }
}

/// The session an access token speaks for, if it is still alive: signed by
/// us, unexpired, and of the user's current token version; with `recent`
/// (a change of a way to recover or sign in), only when the user signed in
/// (`auth_time`) at most `Rules::recent_auth` ago. The one check of every
/// route behind a bearer, in this order: the token, the user, then how
/// recent the sign-in is.
pub async fn signed_in(
    cx: &Context,
    bearer: Option<&str>,
    recent: bool,
    now: i64,
) -> Result<Session, RecentError> {
    let token = bearer.ok_or(AccountError::InvalidToken)?;
    cx.keys.ensure(token).await;
    let claims = cx
        .keys
        .verify_access(token, now)
        .map_err(|_| AccountError::InvalidToken)?;
    let user = Username::parse(&claims.sub).map_err(|_| AccountError::InvalidToken)?;
    let rec = cx.user(&user).await?.ok_or(AccountError::InvalidToken)?;
    if rec.token_version != claims.ver {
        return Err(AccountError::InvalidToken.into());
    }
    if recent && !claims.recent(now, cx.rules.recent_auth.as_secs() as i64) {
        return Err(RecentError::Reauthenticate);
    }
    Ok(Session { user, rec, claims })
}

/// What became of a change of recovery email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChange {
    /// A code went to the new address.
    CodeSent,
    /// The code send limit for this user holds; try again after this many seconds.
    Limited { retry_after: u64 },
}

/// Start moving the recovery email to `new`: a code goes there; the change
/// takes effect when it is confirmed, and the old address is told then. It
/// needs a recent sign-in, as every change of a way to recover does: a
/// stolen token alone cannot move the recovery mail to another mailbox.
pub async fn change_email(
    cx: &Context,
    session: Session,
    new: &Email,
    who: &Requester,
    now: i64,
) -> Result<EmailChange, AccountError> {
    let Session { user, rec, .. } = session;
    let c = &cx.rules.codes;
    let recipient = cx.codes.recipient(new.as_str());
    let send = match may_send(&rec.verify, &recipient, c, now) {
        Ok(send) => send,
        Err(l) => {
            return Ok(EmailChange::Limited {
                retry_after: l.retry_after,
            })
        }
    };
    let eligibility = Eligibility::EmailChange {
        new_email: new.clone(),
        token_version: rec.token_version,
    };
    let m = CodeMail::mail(
        &user,
        Purpose::VerifyEmail,
        new,
        rec.locale,
        who.origin.as_deref(),
    );
    let (issue, mail) = new_code(cx, m, send, eligibility, now);
    let fx = Effects::audit([
        AuditEvent::new(AuditKind::EmailChangeRequested, "success", now, who),
        AuditEvent::new(AuditKind::CodeSent, Purpose::VerifyEmail.as_str(), now, who),
    ])
    .with_mail(mail);
    if !cx
        .store
        .write(&user, &Change::IssueCode(issue), &fx)
        .await?
        .applied()
    {
        // A concurrent request sent a code a moment ago.
        return Ok(EmailChange::Limited {
            retry_after: c.min_interval.as_secs().max(1),
        });
    }
    Ok(EmailChange::CodeSent)
}
