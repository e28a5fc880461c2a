//! The SMS senders behind the [`SmsSender`](crate::ports::SmsSender) port:
//! Amazon SNS, and the outbox folder for local runs. Only built with the
//! `sms` feature, which only the functions that send (the mailer, the local
//! host) turn on: no request function links the SNS client. What a text
//! message says, and the courier that sends it, are the domain's
//! (`sspr_domain::mail`).

mod outbox;
mod sns;

pub use outbox::OutboxSmsSender;
pub use sns::SnsSender;
