//! Setting a new password with a reset token.

use crate::app::App;
use crate::domain::{Email, NewPassword, Username, WeakReason};
use crate::ports::{AuditEvent, Effects, PasswordGuard, PasswordWrite, Requester, UserRecord};

use super::{password_notices, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Bad, expired or spent: one answer for all.
    #[error("invalid token")]
    InvalidToken,
    /// Refused by the policy; the token stays usable.
    #[error("weak password")]
    WeakPassword(Vec<WeakReason>),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl From<crate::ports::StoreError> for ResetError {
    fn from(e: crate::ports::StoreError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl From<crate::domain::password::HashError> for ResetError {
    fn from(e: crate::domain::password::HashError) -> Self {
        Self::Unavailable(e.into())
    }
}

/// Check a new password against the policy and the latest hashes, hash it, and
/// build the history to store with it.
pub(crate) async fn prepare(
    app: &App,
    rec: &UserRecord,
    user: &Username,
    raw: &str,
    now: i64,
    guard: PasswordGuard,
) -> Result<Result<PasswordWrite, Vec<WeakReason>>, Unavailable> {
    let email = Email::parse(&rec.email).map_err(|_| {
        Unavailable(Box::new(crate::ports::StoreError::msg(
            "stored email unreadable",
        )))
    })?;
    let policy = &app.config.passwords;
    let pw = match NewPassword::parse(raw, policy, user, &email) {
        Ok(pw) => pw,
        Err(reasons) => return Ok(Err(reasons)),
    };
    let recent: Vec<String> = std::iter::once(rec.password_hash.clone())
        .chain(rec.password_history.iter().cloned())
        .take(policy.history)
        .collect();
    if app.hasher.matches_any(&pw, recent.clone()).await? {
        return Ok(Err(vec![WeakReason::Reused]));
    }
    let hash = app.hasher.hash(&pw).await?;
    Ok(Ok(PasswordWrite {
        hash,
        history: recent
            .into_iter()
            .take(policy.history.saturating_sub(1))
            .collect(),
        expected_hash: rec.password_hash.clone(),
        now,
        guard,
    }))
}

pub async fn reset(
    app: &App,
    token: &str,
    new_password: &str,
    who: &Requester,
    now: i64,
) -> Result<(), ResetError> {
    let claims = app
        .keys
        .verify_reset(token, now)
        .map_err(|_| ResetError::InvalidToken)?;
    let user = Username::parse(&claims.sub).map_err(|_| ResetError::InvalidToken)?;
    let rec = app
        .store
        .get_user(&user)
        .await?
        .ok_or(ResetError::InvalidToken)?;
    match &rec.reset_grant {
        Some((jti, exp)) if *jti == claims.jti && *exp > now => {}
        _ => return Err(ResetError::InvalidToken),
    }
    let guard = PasswordGuard::ResetGrant {
        jti: claims.jti.clone(),
        now,
    };
    let write = prepare(app, &rec, &user, new_password, now, guard)
        .await?
        .map_err(ResetError::WeakPassword)?;
    let fx = Effects {
        audit: vec![AuditEvent::new("password_reset", "success", now, who)],
        mail: password_notices(app, &rec, true, now),
    };
    if !app.store.set_password(&user, &write, &fx).await?.applied() {
        // Spent by a concurrent reset, or the password moved under us.
        return Err(ResetError::InvalidToken);
    }
    Ok(())
}
