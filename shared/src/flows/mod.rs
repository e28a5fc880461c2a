//! The use cases, one file each. Pure logic over the ports: each takes the
//! [`App`](crate::app::App), the parsed input, who asked, and `now`.

pub mod account;
pub mod change;
pub mod dispatch;
pub mod register;
pub mod reset;
pub mod signin;
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

/// Resets are blocked: too many failed proofs, the last of them recent.
pub(crate) fn resets_blocked(rec: &UserRecord, c: &CodePolicy, now: i64) -> bool {
    rec.proofs.count >= c.max_failed_proofs && rec.proofs.last > now - c.block_for.as_secs() as i64
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
