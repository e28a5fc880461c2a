//! Lifting a sign-in lock with an emailed code, keeping the password (Entra's
//! "unlock without reset").

use crate::app::App;
use crate::domain::{Code, Purpose, Username};
use crate::ports::{AuditEvent, CodeState, FailedProof, Requester, RightCode, SendWindow, Spend};

use super::register::ConfirmError;

/// Prove an unlock code: the lock is lifted and earlier wrong passwords forgotten.
/// Any failure is the one `invalid_code`.
pub async fn unlock(
    app: &App,
    user: &Username,
    code: &Code,
    who: &Requester,
    now: i64,
) -> Result<(), ConfirmError> {
    let Some(rec) = app.store.get_user(user).await? else {
        return Err(ConfirmError::InvalidCode);
    };
    let c = &app.config.codes;
    let slot = &rec.unlock;
    let state = slot.state(now, c.max_attempts);
    let given = app.codes.digest(Purpose::UnlockAccount, user, code);
    let right = slot.digest.as_ref().is_some_and(|d| d.matches(&given));
    if state == CodeState::Pending && right {
        let proof = RightCode {
            purpose: Purpose::UnlockAccount,
            digest: given,
            now,
            max_attempts: c.max_attempts,
            spend: Spend::Unlock,
        };
        let audit = [AuditEvent::new("signin_unlocked", "success", now, who)];
        return if app.store.spend_code(user, &proof, &audit).await?.applied() {
            Ok(())
        } else {
            Err(ConfirmError::InvalidCode)
        };
    }
    let proof = FailedProof {
        purpose: Purpose::UnlockAccount,
        against_code: (state == CodeState::Pending).then(|| given.clone()),
        window: SendWindow::Current,
        window_cut: 0,
        now,
    };
    let audit = [AuditEvent::new(
        "proof_failed",
        Purpose::UnlockAccount.as_str(),
        now,
        who,
    )];
    app.store.record_failed_proof(user, &proof, &audit).await?;
    Err(ConfirmError::InvalidCode)
}
