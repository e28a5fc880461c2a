//! Setting a new password with a reset token: the journey's last step
//! (`lifecycle::next`), which spends the grant in the password's write.

use crate::audit::AuditKind;
use crate::domain::lifecycle::{next, Step, Transition};
use crate::domain::{NewPassword, UserRecord, Username, WeakReason};
use crate::ports::{AuditEvent, Change, Effects, PasswordGuard, PasswordWrite, Requester};

use super::{not_breached, password_notices, Context, Unavailable};

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

impl From<crate::domain::password::HashError> for ResetError {
    fn from(e: crate::domain::password::HashError) -> Self {
        Self::Unavailable(e.into())
    }
}

/// Check a new password against the policy and the latest hashes, hash it, and
/// build the history to store with it.
pub(crate) async fn prepare(
    cx: &Context,
    rec: &UserRecord,
    user: &Username,
    raw: &str,
    now: i64,
    guard: PasswordGuard,
) -> Result<Result<PasswordWrite, Vec<WeakReason>>, Unavailable> {
    let policy = &cx.rules.passwords;
    let pw = match NewPassword::parse(raw, policy, user, &rec.email) {
        Ok(pw) => pw,
        Err(reasons) => return Ok(Err(reasons)),
    };
    if let Err(reasons) = not_breached(cx, &pw).await {
        return Ok(Err(reasons));
    }
    let recent: Vec<String> = std::iter::once(rec.password_hash.clone())
        .chain(rec.password_history.iter().cloned())
        .take(policy.history)
        .collect();
    if cx.hasher.matches_any(&pw, recent.clone()).await? {
        return Ok(Err(vec![WeakReason::Reused]));
    }
    let hash = cx.hasher.hash(&pw).await?;
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
    cx: &Context,
    token: &str,
    new_password: &str,
    who: &Requester,
    now: i64,
) -> Result<(), ResetError> {
    cx.keys.ensure(token).await;
    let claims = cx
        .keys
        .verify_reset(token, now)
        .map_err(|_| ResetError::InvalidToken)?;
    let user = Username::parse(&claims.sub).map_err(|_| ResetError::InvalidToken)?;
    let rec = cx.user(&user).await?.ok_or(ResetError::InvalidToken)?;
    let step = Step::Reset { jti: &claims.jti };
    let Ok(Transition::Reset(spent)) = next(&rec.journey, &step, now) else {
        return Err(ResetError::InvalidToken);
    };
    let guard = PasswordGuard::ResetGrant(spent);
    let write = prepare(cx, &rec, &user, new_password, now, guard)
        .await?
        .map_err(ResetError::WeakPassword)?;
    let fx = Effects {
        audit: vec![AuditEvent::new(
            AuditKind::PasswordReset,
            "success",
            now,
            who,
        )],
        mail: password_notices(cx, &rec, true, now),
    };
    let change = Change::SetPassword(write);
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        // Spent by a concurrent reset, or the password moved under us.
        return Err(ResetError::InvalidToken);
    }
    Ok(())
}
