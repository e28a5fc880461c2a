//! Changing the password while signed in. The current password is a secret
//! like the sign-in password: a wrong one counts on the sign-in counter (its
//! lock, notice and audit, [`signin::count_failure`]), and while the lock
//! holds the change is refused as a locked sign-in is, so a stolen access
//! token is no way around the lock to guess the password.

use crate::audit::AuditKind;
use crate::domain::lifecycle::signin_lock;
use crate::domain::{Password, Verified, WeakReason};
use crate::ports::{AuditEvent, Change, Effects, PasswordGuard, Requester};

use super::account::Session;
use super::reset::prepare;
use super::signin::{self, Refusal};
use super::{password_notices, Context, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// A reset or another change got there first: the session's token is dead now.
    #[error("invalid token")]
    InvalidToken,
    /// The current password is wrong.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("weak password")]
    WeakPassword(Vec<WeakReason>),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

pub async fn change(
    cx: &Context,
    session: Session,
    current: &str,
    new_password: &str,
    who: &Requester,
    now: i64,
) -> Result<(), ChangeError> {
    let Session { user, rec, .. } = session;
    let current = Password::parse(current);
    let verdict = cx
        .hasher
        .verify(current.as_ref(), Some(&rec.password_hash))
        .await
        .map_err(Unavailable::from)?;
    // Locked: refused after the same Argon2 run, audited, not counted, as at sign-in.
    if signin_lock(&rec.signin, &cx.rules.signin, now).holds() {
        signin::refuse_locked(cx, &user, who, now).await?;
        return Err(ChangeError::InvalidCredentials);
    }
    if verdict == Verified::No {
        signin::count_failure(cx, &user, Some(&rec), Refusal::CurrentPassword, who, now).await?;
        return Err(ChangeError::InvalidCredentials);
    }
    let guard = PasswordGuard::TokenVersion(rec.token_version);
    let write = prepare(cx, &rec, &user, new_password, now, guard)
        .await?
        .map_err(ChangeError::WeakPassword)?;
    let fx = Effects {
        audit: vec![AuditEvent::new(
            AuditKind::PasswordChanged,
            "success",
            now,
            who,
        )],
        mail: password_notices(cx, &rec, false, now),
    };
    let change = Change::SetPassword(write);
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        // A reset or another change got there first: this token is dead now.
        return Err(ChangeError::InvalidToken);
    }
    Ok(())
}
