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
//! - `stream` (with the `stream` feature: the mailer, events and the local
//!   host): the table's stream as Lambda's typed event and batch response;
//! - [`http`]: `lambda_http` glue, the route tables' entry point and the
//!   problem answers;
//! - [`env`]: the error of a setting missing or unusable, for every reader of
//!   the environment;
//! - [`aws`]: one `SdkConfig` and TLS stack for every AWS client;
//! - [`captcha`]: the optional human check (Turnstile, hCaptcha);
//! - [`logs`]: the log lines (Lambda's JSON format or text) and the access line;
//! - [`metrics`]: the counters, as CloudWatch embedded-metric-format lines;
//! - [`runtime`]: the one start of every deployed function (the Tokio and
//!   Lambda runtimes, the logs, the state built once per cold start).
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
pub mod runtime;
#[cfg(feature = "sms")]
pub mod sms;
pub mod store;
#[cfg(feature = "stream")]
pub mod stream;

pub use sspr_domain::{
    audit, digest, domain, flows, keyring, limits, locales, pages, ports, route_key, token,
};

pub use app::App;
