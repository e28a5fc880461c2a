//! The courier: sends what the outbox holds once the write that queued it has
//! committed. Deployed, it runs in the `mailer` function on the table's stream;
//! locally, inside `sspr-local`, on the same stream read from dynoxide. Either
//! way a record only names a mail: the courier reads it back (so a record seen
//! twice sends once), opens its seal, renders it in the user's language and
//! hands it to the mail service, retrying a few times.
//!
//! ```text
//!   queued ──send ok──▶ sent (item deleted)
//!     │ └──send fails `tries` times──▶ undeliverable: item deleted, the code
//!     │                               revoked and its hourly place given back,
//!     │                               `code_undelivered` audited
//!     └──past its send-by time, or its seal does not open──▶ dropped, audited
//! ```
//!
//! A failure of the store is an error: the stream record is retried and, at
//! last, dead-lettered (the code then dies at its expiry, unsent).

use std::sync::Arc;
use std::time::Duration;

use super::queue::{MailKey, StoredMail};
use super::render;
use crate::domain::Username;
use crate::ports::{AuditEvent, Clock, Effects, Mailer, Outbox, Requester, StoreError};

/// How hard the courier tries one mail before giving up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailRetry {
    pub tries: u32,
    /// The wait after the first failure; each later wait is four times longer.
    pub first_delay: Duration,
}

impl Default for MailRetry {
    /// Three tries over about a second: a code is worth having quickly or not at
    /// all, and the SES client retries each try on its own as well.
    fn default() -> Self {
        Self {
            tries: 3,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// What became of one queued mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Not queued any more: sent before (a record seen twice) or dropped.
    AlreadyDone,
    /// Its code expired before it could go out.
    Expired,
    /// Its seal does not open (sealed under another key, or tampered with).
    Unreadable,
    /// The mail service refused it `tries` times; its code is revoked.
    Undeliverable,
}

#[derive(Clone)]
pub struct Courier {
    pub outbox: Arc<dyn Outbox>,
    pub mailer: Arc<dyn Mailer>,
    pub key: Arc<MailKey>,
    pub clock: Arc<dyn Clock>,
    pub retry: MailRetry,
}

impl std::fmt::Debug for Courier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Courier")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Courier {
    /// Deliver the queued mail `id` of `user`.
    pub async fn deliver(&self, user: &Username, id: &str) -> Result<Delivery, StoreError> {
        let Some(mail) = self.outbox.queued(user, id).await? else {
            return Ok(Delivery::AlreadyDone);
        };
        let now = self.clock.now();
        if mail.send_by <= now {
            self.drop_mail(&mail, "mail_expired", now).await?;
            return Ok(Delivery::Expired);
        }
        let Some(opened) = mail.open(&self.key) else {
            tracing::warn!(kind = %mail.kind, "queued mail does not open; dropped");
            self.drop_mail(&mail, "mail_unreadable", now).await?;
            return Ok(Delivery::Unreadable);
        };
        if crate::domain::Email::parse(&opened.to).is_err() {
            // Stored before addresses were checked as they are now: no retry
            // would deliver it, so it is undeliverable at once.
            tracing::warn!(kind = %mail.kind, "queued mail to an undeliverable address; dropped");
            self.drop_mail(&mail, "undelivered", now).await?;
            return Ok(Delivery::Undeliverable);
        }
        let out = render(&opened.message, opened.locale, &opened.to);
        let tries = self.retry.tries.max(1);
        let mut delay = self.retry.first_delay;
        for attempt in 1..=tries {
            match self.mailer.send(&out).await {
                Ok(()) => {
                    tracing::info!(kind = out.kind, "mail sent");
                    self.outbox.sent(&mail).await?;
                    return Ok(Delivery::Sent);
                }
                Err(e) => {
                    tracing::warn!(
                        kind = out.kind,
                        attempt,
                        error = %e,
                        cause = ?std::error::Error::source(&e),
                        "mail not sent"
                    );
                    if attempt < tries {
                        tokio::time::sleep(delay).await;
                        delay = delay.saturating_mul(4);
                    }
                }
            }
        }
        tracing::error!(
            kind = out.kind,
            tries,
            "mail undeliverable; its code is revoked"
        );
        self.drop_mail(&mail, "undelivered", now).await?;
        Ok(Delivery::Undeliverable)
    }

    /// Take a mail off the queue for good, revoking its code, with an audit event.
    async fn drop_mail(
        &self,
        mail: &StoredMail,
        why: &'static str,
        now: i64,
    ) -> Result<(), StoreError> {
        let who = Requester {
            ip: String::new(),
            user_agent: "sspr-courier".into(),
            request_id: mail.id.clone(),
            origin: None,
        };
        let kind = match (&mail.code, why) {
            (Some(_), "undelivered") => "code_undelivered",
            (None, "undelivered") => "mail_undelivered",
            _ => why,
        };
        let outcome = mail.code.as_ref().map_or("notice", |(p, _)| p.as_str());
        let ev = AuditEvent::new(kind, outcome, now, &who);
        self.outbox.undeliverable(mail, &Effects::audit([ev])).await
    }
}
