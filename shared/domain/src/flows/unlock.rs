//! Lifting a sign-in lock with an emailed code, keeping the password (Entra's
//! "unlock without reset").

use crate::audit::AuditKind;
use crate::domain::{Code, Purpose, Username};
use crate::ports::{Requester, Spend};

use super::register::ConfirmError;
use super::{prove_code, Context, Proof};

/// Prove an unlock code: the lock is lifted and earlier wrong passwords forgotten.
/// Any failure is the one `invalid_code`.
pub async fn unlock(
    cx: &Context,
    user: &Username,
    code: &Code,
    who: &Requester,
    now: i64,
) -> Result<(), ConfirmError> {
    let proof = Proof {
        purpose: Purpose::UnlockAccount,
        success: |_| AuditKind::SignInUnlocked,
    };
    let no_mail = |_: &_| Vec::new();
    match prove_code(cx, user, code, proof, |_| Spend::Unlock, no_mail, who, now).await? {
        Some(_) => Ok(()),
        None => Err(ConfirmError::InvalidCode),
    }
}
