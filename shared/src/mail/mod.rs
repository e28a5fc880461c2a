//! The mailers behind the [`Mailer`](crate::ports::Mailer) port: Amazon SES,
//! and the outbox folder of `.eml` files for local runs. What a mail says, the
//! sealed queue and the courier are the domain's (`sspr_domain::mail`),
//! re-exported here.

mod outbox;
mod ses;

pub use outbox::OutboxMailer;
pub use ses::SesMailer;
pub use sspr_domain::mail::*;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ports::MailError;

/// A sender's failed sends (SES's, SNS's): counted since start, each one in
/// the sender's failure metric by kind and reason, and the error the send
/// answers.
#[derive(Debug)]
pub(crate) struct SendFailures {
    count: AtomicU64,
    metric: &'static str,
}

impl SendFailures {
    pub(crate) const fn new(metric: &'static str) -> Self {
        Self {
            count: AtomicU64::new(0),
            metric,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    pub(crate) fn failed(
        &self,
        kind: &'static str,
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> MailError {
        self.count.fetch_add(1, Ordering::SeqCst);
        crate::metrics::count(self.metric, &[("Kind", kind), ("Reason", what)]);
        MailError {
            what,
            source: Some(source),
        }
    }
}
