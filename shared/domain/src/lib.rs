//! `sspr-domain`: the inner layer of sspr, with no AWS and no HTTP in it.
//!
//! - [`audit`]: the audit trail's vocabulary, every kind with its stored,
//!   published and counted names;
//! - [`domain`]: validated values, the policies, the user entity and the
//!   lifecycles (pure functions) of codes, send limits, blocks and locks;
//! - [`ports`]: the traits the flows run on and the commands they hand them;
//! - [`flows`]: the use cases, each over a [`flows::Context`];
//! - [`keyring`]: every key by version, the one AEAD seal, rotation's rule;
//! - [`token`]: access and reset tokens (EdDSA JWTs) and the JWKS;
//! - [`mail`]: what a mail says, the sealed outbox queue and the courier;
//! - [`pages`] and [`locales`]: what the self-service pages say, and every
//!   language's words (mail and pages) in one file each;
//! - [`route_key`]: every operation a client can call, named once;
//! - [`limits`]: the per-client limits and the meter (over [`ports`]).
//!
//! `sspr-core` implements the ports (DynamoDB, SES), reads the environment
//! into these types and serves the flows over HTTP on Lambda.

pub mod audit;
pub mod digest;
pub mod domain;
pub mod flows;
pub mod keyring;
pub mod limits;
pub mod locales;
pub mod mail;
pub mod pages;
pub mod ports;
pub mod route_key;
pub mod token;
