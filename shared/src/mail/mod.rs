//! The mailers behind the [`Mailer`](crate::ports::Mailer) port: Amazon SES,
//! and the outbox folder of `.eml` files for local runs. What a mail says, the
//! sealed queue and the courier are the domain's (`sspr_domain::mail`),
//! re-exported here.

mod outbox;
mod ses;

pub use outbox::OutboxMailer;
pub use ses::SesMailer;
pub use sspr_domain::mail::*;
