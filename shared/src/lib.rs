//! `sspr-core`: the adapters and the composition root around `sspr-domain`.
//!
//! - [`config`]: the environment read into the domain's policies, and the secrets;
//! - [`app`]: [`App`], built once per cold start (AWS clients, keys, the
//!   flows' [`Context`](flows::Context));
//! - [`store`]: the one store, DynamoDB through `aws-sdk-dynamodb`;
//! - [`mail`]: the SES and outbox-folder mailers;
//! - `sms` (with the `sms` feature: the mailer and the local host only): the
//!   SNS and outbox-folder SMS senders;
//! - `events` (with the `events` feature: the events function and the local
//!   host only): the audit events other systems hear of, to EventBridge or
//!   the outbox folder;
//! - [`http`]: `lambda_http` glue, the route tables' entry point and the
//!   problem answers;
//! - [`env`]: the error of a setting missing or unusable, for every reader of
//!   the environment;
//! - [`aws`]: one `SdkConfig` and TLS stack for every AWS client;
//! - [`captcha`]: the optional human check (Turnstile, hCaptcha);
//! - [`logs`]: the log lines (Lambda's JSON format or text) and the access line;
//! - [`metrics`]: the counters, as CloudWatch embedded-metric-format lines.
//!
//! The domain's modules are re-exported here under their own names, so a
//! function crate needs this one dependency.

pub mod app;
pub mod aws;
pub mod captcha;
pub mod config;
pub mod env;
#[cfg(feature = "events")]
pub mod events;
pub mod hibp;
pub mod http;
pub mod keys;
pub mod logs;
pub mod mail;
pub mod metrics;
#[cfg(feature = "sms")]
pub mod sms;
pub mod store;

pub use sspr_domain::{
    audit, domain, flows, keyring, limits, locales, pages, ports, route_key, token,
};

pub use app::App;
