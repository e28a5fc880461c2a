//! Sign-up, and confirming a recovery email with its code.

use crate::audit::AuditKind;
use crate::domain::{Code, Email, Locale, NewPassword, Purpose, UserRecord, Username, WeakReason};
use crate::mail::Message;
use crate::ports::{AuditEvent, Change, Effects, NewUser, Requester, Spend};

use super::{fresh_code, letter, not_breached, prove_code, CodeMail, Context, Proof, Unavailable};

/// A sign-up, parsed.
#[derive(Debug)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: String,
    pub locale: Locale,
}

/// The new account, as the client sees it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub user_id: String,
    pub username: Username,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("weak password")]
    WeakPassword(Vec<WeakReason>),
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

pub async fn register(
    cx: &Context,
    r: Registration,
    who: &Requester,
    now: i64,
) -> Result<Registered, RegisterError> {
    let pw = NewPassword::parse(&r.password, &cx.rules.passwords, &r.username, &r.email)
        .map_err(RegisterError::WeakPassword)?;
    not_breached(cx, &pw)
        .await
        .map_err(RegisterError::WeakPassword)?;
    let hash = cx.hasher.hash(&pw).await.map_err(Unavailable::from)?;
    let m = CodeMail::mail(
        &r.username,
        Purpose::VerifyEmail,
        &r.email,
        r.locale,
        who.origin.as_deref(),
    );
    let (digest, code_expires_at, mail) = fresh_code(cx, &m, now);
    let user = NewUser {
        user_id: uuid::Uuid::new_v4().to_string(),
        email: r.email.clone(),
        locale: r.locale,
        password_hash: hash,
        now,
        code: digest,
        code_expires_at,
        recipient: cx.codes.recipient(r.email.as_str()),
    };
    // A lost confirmation mail is not fatal: the account stands and the user
    // asks for another code.
    let fx = Effects::audit([
        AuditEvent::new(AuditKind::Registered, "success", now, who),
        AuditEvent::new(AuditKind::CodeSent, Purpose::VerifyEmail.as_str(), now, who),
    ])
    .with_mail(mail);
    let user_id = user.user_id.clone();
    if !cx
        .store
        .write(&r.username, &Change::Create(user), &fx)
        .await
        .map_err(Unavailable::from)?
        .applied()
    {
        return Err(RegisterError::UsernameTaken);
    }
    Ok(Registered {
        user_id,
        username: r.username,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Wrong, expired, spent, burned, or nothing to confirm: one answer for all.
    #[error("invalid code")]
    InvalidCode,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Confirm the recovery email (or a pending new one) with its code.
pub async fn confirm(
    cx: &Context,
    user: &Username,
    code: &Code,
    who: &Requester,
    now: i64,
) -> Result<(), ConfirmError> {
    let spend = |rec: &UserRecord| Spend::ConfirmEmail {
        new_email: rec.pending_email.clone(),
    };
    let proof = Proof {
        purpose: Purpose::VerifyEmail,
        // Moving the address away from a confirmed one is a change other
        // systems hear of (the `EmailChanged` event); the first confirmation
        // is not.
        success: |rec| match rec.pending_email {
            Some(_) if rec.email_verified => AuditKind::EmailChanged,
            _ => AuditKind::EmailConfirmed,
        },
    };
    // Moving the address away from a confirmed one tells the old address, in
    // the same write that moves it.
    let notices = |rec: &UserRecord| match &rec.pending_email {
        Some(new) if rec.email_verified => {
            let msg = Message::EmailChanged {
                new_masked: new.masked(),
                helpdesk: cx.rules.helpdesk_url.clone(),
            };
            vec![letter(cx, user, &rec.email, rec.locale, msg, now)]
        }
        _ => Vec::new(),
    };
    match prove_code(cx, user, code, proof, spend, notices, who, now).await? {
        Some(_) => Ok(()),
        None => Err(ConfirmError::InvalidCode),
    }
}
