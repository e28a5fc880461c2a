//! Proving a reset code, for a reset token.

use crate::domain::lifecycle::{block_cut, reset_block};
use crate::domain::{Code, ProofVerdict, Purpose, Username};
use crate::ports::{
    AuditEvent, Change, Effects, FailedProof, Failure, Requester, RightCode, Spend,
};

use super::{against_code, Context, Unavailable};

/// A reset token and its lifetime in seconds.
#[derive(Debug)]
pub struct ResetToken {
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

pub async fn verify(
    cx: &Context,
    user: &Username,
    code: &Code,
    who: &Requester,
    now: i64,
) -> Result<ResetToken, VerifyError> {
    let Some(rec) = cx.store.get_user(user).await? else {
        return Err(VerifyError::InvalidCode);
    };
    let c = &cx.rules.codes;
    if reset_block(&rec.proofs, c, now).holds() {
        return Err(VerifyError::InvalidCode);
    }
    let given = cx.codes.digest(Purpose::ResetPassword, user, code);
    let verdict = rec.reset.judge(&given, now, c.max_attempts);
    if verdict == ProofVerdict::Right && rec.email_verified {
        let jti = uuid::Uuid::new_v4().to_string();
        let ttl = cx.rules.reset_ttl.as_secs();
        let spend = Spend::ResetGrant {
            jti: jti.clone(),
            expires_at: now + ttl as i64,
            max_failed: c.max_failed_proofs,
            block_cut: block_cut(c, now),
        };
        let fx = Effects::audit([AuditEvent::new(
            "code_verified",
            Purpose::ResetPassword.as_str(),
            now,
            who,
        )]);
        let right = RightCode {
            purpose: Purpose::ResetPassword,
            digest: given,
            now,
            max_attempts: c.max_attempts,
            spend,
        };
        let w = cx.store.write(user, &Change::SpendCode(right), &fx).await?;
        if !w.applied() {
            // Another proof of the same code won the race.
            return Err(VerifyError::InvalidCode);
        }
        let token = cx
            .keys
            .issue_reset(user.as_str(), &jti, now, ttl as i64)
            .map_err(Unavailable::from)?;
        return Ok(ResetToken {
            token,
            expires_in: ttl,
        });
    }

    // A failed proof: count it against the code (when it was live) and in the
    // failure window; the write that reaches the limit (known from its own
    // condition, so in a burst too exactly one is) also records the block.
    let start = (rec.proofs.window_start, rec.proofs.count);
    let window_len = c.block_window.as_secs() as i64;
    let against_code = against_code(verdict, given);
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
        async move { cx.store.count(user, &Failure::Proof(proof), &fx).await }
    })
    .await?;
    Err(VerifyError::InvalidCode)
}
