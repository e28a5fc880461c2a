//! The signed-in user's own account: reading the profile and changing the
//! recovery email.

use crate::app::App;
use crate::domain::{Code, Email, Purpose, Username};
use crate::ports::{
    AuditEvent, CodeIssue, Effects, Eligibility, Requester, SendWindow, UserRecord,
};

use super::{code_letter, window_at, CodeMail, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Missing, bad, expired, or older than the last reset or change.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl From<crate::ports::StoreError> for AccountError {
    fn from(e: crate::ports::StoreError) -> Self {
        Self::Unavailable(e.into())
    }
}

/// The user an access token speaks for, if it is still alive: signed by us,
/// unexpired, and of the user's current token version.
pub async fn authorize(
    app: &App,
    bearer: Option<&str>,
    now: i64,
) -> Result<(Username, UserRecord), AccountError> {
    let token = bearer.ok_or(AccountError::InvalidToken)?;
    let claims = app
        .keys
        .verify_access(token, now)
        .map_err(|_| AccountError::InvalidToken)?;
    let user = Username::parse(&claims.sub).map_err(|_| AccountError::InvalidToken)?;
    let rec = app
        .store
        .get_user(&user)
        .await?
        .ok_or(AccountError::InvalidToken)?;
    if rec.token_version != claims.ver {
        return Err(AccountError::InvalidToken);
    }
    Ok((user, rec))
}

pub async fn me(app: &App, bearer: Option<&str>, now: i64) -> Result<UserRecord, AccountError> {
    authorize(app, bearer, now).await.map(|(_, rec)| rec)
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
/// takes effect when it is confirmed, and the old address is told then.
pub async fn change_email(
    app: &App,
    bearer: Option<&str>,
    new: &Email,
    who: &Requester,
    now: i64,
) -> Result<EmailChange, AccountError> {
    let (user, rec) = authorize(app, bearer, now).await?;
    let c = &app.config.codes;
    let slot = &rec.verify;
    let window_len = c.send_window.as_secs() as i64;
    let window = window_at(slot.window_start, now, window_len);
    let interval_cut = now - c.min_interval.as_secs() as i64;
    let window_full = window == SendWindow::Current && slot.window_count >= c.max_sends;
    if window_full || slot.last_sent > interval_cut {
        let until = if window_full {
            slot.window_start + window_len
        } else {
            slot.last_sent + c.min_interval.as_secs() as i64
        };
        return Ok(EmailChange::Limited {
            retry_after: (until - now).max(1) as u64,
        });
    }
    let code = Code::generate(c.length);
    let issue = CodeIssue {
        purpose: Purpose::VerifyEmail,
        digest: app.codes.digest(Purpose::VerifyEmail, &user, &code),
        expires_at: now + c.ttl.as_secs() as i64,
        now,
        window,
        window_cut: now - window_len,
        max_sends: c.max_sends,
        interval_cut,
        eligibility: Eligibility::EmailChange {
            new_email: new.as_str().to_owned(),
            token_version: rec.token_version,
        },
    };
    let mail = code_letter(
        app,
        CodeMail {
            user: &user,
            purpose: Purpose::VerifyEmail,
            code: &code,
            digest: &issue.digest,
            expires_at: issue.expires_at,
            to: new.as_str(),
            locale: rec.locale,
        },
        now,
    );
    let fx = Effects::audit([
        AuditEvent::new("email_change_requested", "success", now, who),
        AuditEvent::new("code_sent", Purpose::VerifyEmail.as_str(), now, who),
    ])
    .with_mail(mail);
    if !app.store.issue_code(&user, &issue, &fx).await?.applied() {
        // A concurrent request sent a code a moment ago.
        return Ok(EmailChange::Limited {
            retry_after: c.min_interval.as_secs().max(1),
        });
    }
    Ok(EmailChange::CodeSent)
}
