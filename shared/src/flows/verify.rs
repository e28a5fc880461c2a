//! Proving a reset code, for a reset token.

use crate::app::App;
use crate::domain::{Code, Purpose, Username};
use crate::ports::{AuditEvent, CodeState, Effects, FailedProof, Requester, RightCode, Spend};

use super::{resets_blocked, Unavailable};

/// A reset token and its lifetime in seconds.
#[derive(Debug)]
pub struct ResetGrant {
    pub token: String,
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Wrong, expired, burned, blocked or unknown: one answer for all.
    #[error("invalid code")]
    InvalidCode,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl From<crate::ports::StoreError> for VerifyError {
    fn from(e: crate::ports::StoreError) -> Self {
        Self::Unavailable(e.into())
    }
}

pub async fn verify(
    app: &App,
    user: &Username,
    code: &Code,
    who: &Requester,
    now: i64,
) -> Result<ResetGrant, VerifyError> {
    let Some(rec) = app.store.get_user(user).await? else {
        return Err(VerifyError::InvalidCode);
    };
    let c = &app.config.codes;
    if resets_blocked(&rec, c, now) {
        return Err(VerifyError::InvalidCode);
    }
    let slot = &rec.reset;
    let state = slot.state(now, c.max_attempts);
    let given = app.codes.digest(Purpose::ResetPassword, user, code);
    let right = slot.digest.as_ref().is_some_and(|d| d.matches(&given));
    if state == CodeState::Pending && right && rec.email_verified {
        let jti = uuid::Uuid::new_v4().to_string();
        let ttl = app.config.reset_ttl.as_secs();
        let spend = Spend::ResetGrant {
            jti: jti.clone(),
            expires_at: now + ttl as i64,
            max_failed: c.max_failed_proofs,
            block_cut: now - c.block_for.as_secs() as i64,
        };
        let fx = Effects::audit([AuditEvent::new(
            "code_verified",
            Purpose::ResetPassword.as_str(),
            now,
            who,
        )]);
        let w = app
            .store
            .spend_code(
                user,
                &RightCode {
                    purpose: Purpose::ResetPassword,
                    digest: given.clone(),
                    now,
                    max_attempts: c.max_attempts,
                    spend,
                },
                &fx,
            )
            .await?;
        if !w.applied() {
            // Another proof of the same code won the race.
            return Err(VerifyError::InvalidCode);
        }
        let token = app
            .keys
            .issue_reset(user.as_str(), &jti, now, ttl as i64)
            .map_err(Unavailable::from)?;
        return Ok(ResetGrant {
            token,
            expires_in: ttl,
        });
    }

    // A failed proof: count it against the code (when it was live) and in the
    // failure window; the write that reaches the limit (known from its own
    // condition, so in a burst too exactly one is) also records the block.
    let start = (rec.proofs.window_start, rec.proofs.count);
    let window_len = c.block_window.as_secs() as i64;
    let against_code = (state == CodeState::Pending).then_some(given);
    super::count_failure(start, c.max_failed_proofs, window_len, now, |t| {
        let mut fx = Effects::audit([AuditEvent::new(
            "proof_failed",
            Purpose::ResetPassword.as_str(),
            now,
            who,
        )]);
        if t.reaches {
            fx = fx.with_audit(AuditEvent::new("resets_blocked", "blocked", now, who));
        }
        let proof = FailedProof {
            purpose: Purpose::ResetPassword,
            against_code: against_code.clone(),
            tally: Some(t),
            now,
        };
        async move { app.store.record_failed_proof(user, &proof, &fx).await }
    })
    .await?;
    Err(VerifyError::InvalidCode)
}
