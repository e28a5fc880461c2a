//! The courier: sends what the outbox holds once the write that queued it has
//! committed. Deployed, it runs in the `mailer` function on the table's stream;
//! locally, inside `sspr-local`, on the same stream read from dynoxide. Either
//! way a record only names a mail: the courier reads it back (so a record seen
//! twice sends once), opens its seal, renders it in the user's language and
//! hands it to the mail service, retrying a few times. A queued text message
//! ([`Message::SmsCode`](super::Message::SmsCode)) takes the same path to the
//! SMS sender instead; with SMS off there is none, and it is undeliverable.
//!
//! ```text
//!   queued ──send ok──▶ sent (item deleted)
//!     │ └──send fails `tries` times, or SMS is off──▶ undeliverable: item deleted, the code
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
use super::{render, render_sms};
use crate::audit::AuditKind;
use crate::domain::Username;
use crate::ports::{
    AuditEvent, Clock, Effects, MailError, Mailer, Outbox, Requester, SmsSender, StoreError,
};

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
    /// The mail service (or SMS service) refused it `tries` times, or it is an
    /// SMS and SMS is off; its code is revoked.
    Undeliverable,
}

#[derive(Clone)]
pub struct Courier {
    pub outbox: Arc<dyn Outbox>,
    pub mailer: Arc<dyn Mailer>,
    /// Where text messages go; `None` when SMS is off (`SSPR_SMS=off`).
    pub sms: Option<Arc<dyn SmsSender>>,
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
            self.drop_mail(&mail, Dropped::Expired, now).await?;
            return Ok(Delivery::Expired);
        }
        // Sealed by a function that rotated since this one started: read the keyring again.
        self.key.ring().ensure(mail.version()).await;
        let Some(opened) = mail.open(&self.key) else {
            tracing::warn!(kind = %mail.kind, "queued mail does not open; dropped");
            self.drop_mail(&mail, Dropped::Unreadable, now).await?;
            return Ok(Delivery::Unreadable);
        };
        if let Some(sms) = render_sms(&opened.message, opened.locale, &opened.to) {
            let Some(sender) = &self.sms else {
                tracing::error!(
                    kind = sms.kind,
                    "sms undeliverable: SMS is off; its code is revoked"
                );
                self.drop_mail(&mail, Dropped::Undelivered, now).await?;
                return Ok(Delivery::Undeliverable);
            };
            if !is_e164(&sms.to) {
                tracing::warn!(
                    kind = sms.kind,
                    "queued sms to a number that is not E.164; dropped"
                );
                self.drop_mail(&mail, Dropped::Undelivered, now).await?;
                return Ok(Delivery::Undeliverable);
            }
            let (sender, text) = (sender.as_ref(), &sms);
            return self
                .hand_over(&mail, now, Channel::Sms, sms.kind, move || {
                    sender.send(text)
                })
                .await;
        }
        if crate::domain::Email::parse(&opened.to).is_err() {
            // Stored before addresses were checked as they are now: no retry
            // would deliver it, so it is undeliverable at once.
            tracing::warn!(kind = %mail.kind, "queued mail to an undeliverable address; dropped");
            self.drop_mail(&mail, Dropped::Undelivered, now).await?;
            return Ok(Delivery::Undeliverable);
        }
        let out = render(&opened.message, opened.locale, &opened.to);
        let (mailer, out) = (self.mailer.as_ref(), &out);
        self.hand_over(&mail, now, Channel::Mail, out.kind, move || {
            mailer.send(out)
        })
        .await
    }

    /// Send through `send`, retrying as configured; sent, it leaves the queue,
    /// refused every time, it is undeliverable. The logs name the kind only,
    /// never the address, the number or the text.
    async fn hand_over<'a, F>(
        &self,
        mail: &StoredMail,
        now: i64,
        channel: Channel,
        kind: &'static str,
        send: F,
    ) -> Result<Delivery, StoreError>
    where
        F: Fn() -> Sending<'a>,
    {
        let tries = self.retry.tries.max(1);
        let mut delay = self.retry.first_delay;
        for attempt in 1..=tries {
            match send().await {
                Ok(()) => {
                    match channel {
                        Channel::Mail => tracing::info!(kind, "mail sent"),
                        Channel::Sms => tracing::info!(kind, "sms sent"),
                    }
                    self.outbox.sent(mail).await?;
                    return Ok(Delivery::Sent);
                }
                Err(e) => {
                    {
                        // A borrowed cause is not `Send`: it must not live across the wait.
                        let cause = std::error::Error::source(&e);
                        match channel {
                            Channel::Mail => {
                                tracing::warn!(kind, attempt, error = %e, cause = ?cause, "mail not sent")
                            }
                            Channel::Sms => {
                                tracing::warn!(kind, attempt, error = %e, cause = ?cause, "sms not sent")
                            }
                        }
                    }
                    if attempt < tries {
                        tokio::time::sleep(delay).await;
                        delay = delay.saturating_mul(4);
                    }
                }
            }
        }
        match channel {
            Channel::Mail => {
                tracing::error!(kind, tries, "mail undeliverable; its code is revoked")
            }
            Channel::Sms => tracing::error!(kind, tries, "sms undeliverable; its code is revoked"),
        }
        self.drop_mail(mail, Dropped::Undelivered, now).await?;
        Ok(Delivery::Undeliverable)
    }

    /// Take a mail off the queue for good, revoking its code, with an audit event.
    async fn drop_mail(&self, mail: &StoredMail, why: Dropped, now: i64) -> Result<(), StoreError> {
        let who = Requester {
            ip: String::new(),
            user_agent: "sspr-courier".into(),
            request_id: mail.id.clone(),
            origin: None,
        };
        let kind = match (&mail.code, why) {
            (Some(_), Dropped::Undelivered) => AuditKind::CodeUndelivered,
            (None, Dropped::Undelivered) => AuditKind::MailUndelivered,
            (_, Dropped::Unreadable) => AuditKind::MailUnreadable,
            (_, Dropped::Expired) => AuditKind::MailExpired,
        };
        let outcome = mail.code.as_ref().map_or("notice", |(p, _)| p.as_str());
        let ev = AuditEvent::new(kind, outcome, now, &who);
        self.outbox.undeliverable(mail, &Effects::audit([ev])).await
    }
}

/// Why a mail leaves the queue unsent.
#[derive(Debug, Clone, Copy)]
enum Dropped {
    /// Its send-by time passed.
    Expired,
    /// Its seal does not open.
    Unreadable,
    /// No channel can take it.
    Undelivered,
}

/// One send under way, as an `async_trait` method returns it.
type Sending<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Which service a queued message goes to (for the logs).
#[derive(Debug, Clone, Copy)]
enum Channel {
    Mail,
    Sms,
}

/// `+` and 2 to 15 digits, the first not 0 (ITU-T E.164): what SNS takes as
/// a phone number. Anything else would be refused on every try.
fn is_e164(to: &str) -> bool {
    let Some(digits) = to.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn only_e164_numbers_are_handed_to_the_sms_service() {
        for ok in ["+4915112345678", "+14155550123", "+12", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "4915112345678",
            "+0151123456",
            "+1234567890123456",
            "+49 151 12345678",
            "+",
            "+1",
            "+４９151",
            "a@example.com",
            "",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
