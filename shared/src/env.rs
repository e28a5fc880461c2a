//! What reading the process environment can go wrong with, for every reader
//! of it: the settings ([`crate::config`]) and the AWS SDK's own variables
//! ([`crate::aws`]). Its own module, below both, so that neither imports the
//! other for it.

/// A setting that is present but unusable, or absent but required.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    #[error("{0} is required")]
    Missing(&'static str),
}
