//! `sspr-domain`: the inner layer of sspr, with no AWS and no HTTP in it.
//!
//! - [`domain`]: validated values, the policies, the user entity and the
//!   lifecycles (pure functions) of codes, send limits, blocks and locks;
//! - [`ports`]: the traits the flows run on and the commands they hand them;
//! - [`flows`]: the use cases, each over a [`flows::Context`];
//! - [`keyring`]: every key by version, the one AEAD seal, rotation's rule;
//! - [`token`]: access and reset tokens (EdDSA JWTs) and the JWKS;
//! - [`mail`]: what a mail says, the sealed outbox queue and the courier;
//! - [`pages`] and [`locales`]: what the self-service pages say, and every
//!   language's words (mail and pages) in one file each;
//! - [`limits`]: the route keys and the per-client limits.
//!
//! `sspr-core` implements the ports (DynamoDB, SES), reads the environment
//! into these types and serves the flows over HTTP on Lambda.

pub mod digest;
pub mod domain;
pub mod flows;
pub mod keyring;
pub mod limits;
pub mod locales;
pub mod mail;
pub mod pages;
pub mod ports;
pub mod token;
