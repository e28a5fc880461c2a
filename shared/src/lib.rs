//! `sspr-core`: the domain of sspr and everything its functions share.

pub mod app;
pub mod aws;
pub mod config;
pub mod domain;
pub mod flows;
pub mod http;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod ports;
pub mod store;
pub mod token;

pub use app::App;
