//! The use cases, one file each. Pure logic over the ports: each takes the
//! [`App`](crate::app::App), the parsed input, who asked, and `now`.

pub mod account;
pub mod change;
pub mod dispatch;
pub mod register;
pub mod reset;
pub mod signin;
pub mod unlock;
pub mod verify;

use crate::app::App;
use crate::config::CodePolicy;
use crate::domain::Locale;
use crate::mail::{render, Message};
use crate::ports::{SendWindow, UserRecord};

/// A backing service failed (store, hashing pool, signing). The cause goes to
/// the log; the client sees `503 unavailable`.
#[derive(Debug, thiserror::Error)]
#[error("backing service unavailable")]
pub struct Unavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl From<crate::ports::StoreError> for Unavailable {
    fn from(e: crate::ports::StoreError) -> Self {
        Self(Box::new(e))
    }
}

impl From<crate::domain::password::HashError> for Unavailable {
    fn from(e: crate::domain::password::HashError) -> Self {
        Self(Box::new(e))
    }
}

impl From<crate::token::TokenError> for Unavailable {
    fn from(e: crate::token::TokenError) -> Self {
        Self(Box::new(e))
    }
}

/// Whether a window that started at `start` and lasts `len` seconds is still open at `now`.
pub(crate) fn window_at(start: i64, now: i64, len: i64) -> SendWindow {
    if start > now - len {
        SendWindow::Current
    } else {
        SendWindow::Fresh
    }
}

pub(crate) fn flip(w: SendWindow) -> SendWindow {
    match w {
        SendWindow::Current => SendWindow::Fresh,
        SendWindow::Fresh => SendWindow::Current,
    }
}

/// Sign-in is locked: too many wrong passwords, the last of them recent.
pub(crate) fn signin_locked(rec: &UserRecord, p: &crate::config::SignInPolicy, now: i64) -> bool {
    rec.signin.count >= p.max_failures && rec.signin.last > now - p.lock_for.as_secs() as i64
}

/// Resets are blocked: too many failed proofs, the last of them recent.
pub(crate) fn resets_blocked(rec: &UserRecord, c: &CodePolicy, now: i64) -> bool {
    rec.proofs.count >= c.max_failed_proofs && rec.proofs.last > now - c.block_for.as_secs() as i64
}

/// A code proof that spends the code when it is right.
pub(crate) struct Proof {
    pub purpose: crate::domain::Purpose,
    /// The audit event of a right proof.
    pub success: &'static str,
}

/// Prove a code that only spends itself (confirm an email, unlock sign-in): when
/// it is pending and right, spend it with `spend` in one conditional write and
/// return the user as read; otherwise count a guess against a live code (and
/// audit the failure) and return `None`. Resets prove codes in `verify`, which
/// also keeps the failure window that blocks them.
pub(crate) async fn prove_code(
    app: &App,
    user: &crate::domain::Username,
    code: &crate::domain::Code,
    proof: Proof,
    spend: impl FnOnce(&UserRecord) -> crate::ports::Spend,
    who: &crate::ports::Requester,
    now: i64,
) -> Result<Option<UserRecord>, crate::ports::StoreError> {
    use crate::ports::{AuditEvent, CodeState, FailedProof, RightCode};
    let Some(rec) = app.store.get_user(user).await? else {
        return Ok(None);
    };
    let max_attempts = app.config.codes.max_attempts;
    let slot = rec.slot(proof.purpose);
    let state = slot.state(now, max_attempts);
    let given = app.codes.digest(proof.purpose, user, code);
    let right = slot.digest.as_ref().is_some_and(|d| d.matches(&given));
    if state == CodeState::Pending && right {
        let right_code = RightCode {
            purpose: proof.purpose,
            digest: given,
            now,
            max_attempts,
            spend: spend(&rec),
        };
        let audit = [AuditEvent::new(proof.success, "success", now, who)];
        let applied = app
            .store
            .spend_code(user, &right_code, &audit)
            .await?
            .applied();
        return Ok(applied.then_some(rec));
    }
    let failed = FailedProof {
        purpose: proof.purpose,
        against_code: (state == CodeState::Pending).then_some(given),
        window: SendWindow::Current,
        window_cut: 0,
        now,
    };
    let audit = [AuditEvent::new(
        "proof_failed",
        proof.purpose.as_str(),
        now,
        who,
    )];
    app.store.record_failed_proof(user, &failed, &audit).await?;
    Ok(None)
}

/// A time as people read it in a notice (`2026-11-24 10:00 UTC`).
pub(crate) fn human_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Tell the user (in their language) that their password changed, and the
/// admins when the user is one.
pub(crate) async fn notify_password_changed(app: &App, rec: &UserRecord, by_reset: bool, now: i64) {
    let at = human_time(now);
    let msg = Message::PasswordChanged {
        helpdesk: app.config.helpdesk_url.clone(),
        by_reset,
        at: at.clone(),
    };
    send(app, &msg, rec.locale, &rec.email).await;
    if rec.is_admin {
        let notice = Message::AdminNotice {
            username: rec.username.as_str().to_owned(),
            by_reset,
            at,
        };
        for admin in &app.config.admin_emails {
            send(app, &notice, Locale::default(), admin).await;
        }
    }
}

/// A code on its way to its user.
pub(crate) struct CodeDelivery<'a> {
    pub user: &'a crate::domain::Username,
    pub purpose: crate::domain::Purpose,
    pub digest: &'a crate::domain::CodeDigest,
    pub message: Message,
    pub locale: Locale,
    pub to: &'a str,
}

/// Send a code; when it cannot be delivered, revoke it so no code is valid that
/// nobody received, and give back its place in the hourly limit (the
/// one-a-minute spacing still holds, so a failing mail service is not hammered).
pub(crate) async fn send_code(
    app: &App,
    d: CodeDelivery<'_>,
    who: &crate::ports::Requester,
    now: i64,
) -> bool {
    if send(app, &d.message, d.locale, d.to).await {
        return true;
    }
    let audit = [crate::ports::AuditEvent::new(
        "code_undelivered",
        d.purpose.as_str(),
        now,
        who,
    )];
    if let Err(e) = app
        .store
        .revoke_code(d.user, d.purpose, d.digest, &audit)
        .await
    {
        tracing::error!(error = %e, "undelivered code not revoked; it expires unused");
    }
    false
}

/// Send a message; a failure is logged with its cause (never the message's
/// content) and reported as `false`, for the caller to decide.
pub(crate) async fn send(app: &App, message: &Message, locale: Locale, to: &str) -> bool {
    let mail = render(message, locale, to);
    match app.mailer.send(&mail).await {
        Ok(()) => {
            tracing::info!(kind = mail.kind, "mail sent");
            true
        }
        Err(e) => {
            tracing::error!(kind = mail.kind, error = %e, cause = ?std::error::Error::source(&e), "mail not sent");
            false
        }
    }
}
