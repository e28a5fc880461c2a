//! The one way sspr builds its AWS SDK configuration: rustls on ring, trusting
//! Amazon's roots only.
//!
//! The SDK's default HTTPS client is rustls on aws-lc with the system's root
//! store. Both cost a cold start: aws-lc is several megabytes of every binary
//! (and gathers jitter entropy at the first TLS use unless built without it),
//! and loading the system store reads and parses every file in `/etc/ssl/certs`,
//! about 2.4 ms of CPU, which under a 128 MB function's CPU share is tens of
//! milliseconds. Every AWS endpoint sspr calls (DynamoDB, SES, Secrets Manager,
//! and the STS and SSO endpoints behind credentials) presents a certificate
//! from Amazon Trust Services, so the five roots in `aws-roots.pem` are all the
//! trust a function needs, and fewer CAs that could vouch for a forged
//! endpoint. `SSPR_TLS_ROOTS=system` trusts the system store instead (for an
//! endpoint behind another CA, such as a TLS-inspecting proxy).

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The Amazon Trust Services roots (PEM), with their names and fingerprints.
pub const AWS_ROOTS_PEM: &str = include_str!("aws-roots.pem");

/// Which roots the HTTPS client trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Roots {
    /// Amazon Trust Services' roots, compiled in (the default).
    #[default]
    Amazon,
    /// The operating system's store.
    System,
}

impl Roots {
    /// From `SSPR_TLS_ROOTS` (`amazon`, the default, or `system`).
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        Self::parse(std::env::var("SSPR_TLS_ROOTS").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Result<Self, crate::config::ConfigError> {
        match value.map(str::trim) {
            None | Some("") | Some("amazon") => Ok(Self::Amazon),
            Some("system") => Ok(Self::System),
            Some(_) => Err(crate::config::ConfigError::Invalid(
                "SSPR_TLS_ROOTS",
                "expected amazon or system".into(),
            )),
        }
    }
}

/// The HTTPS client every AWS SDK client of sspr uses (plain HTTP works too,
/// for local endpoints).
pub fn http_client(roots: Roots) -> SharedHttpClient {
    let store = match roots {
        Roots::Amazon => TrustStore::empty().with_pem_certificate(AWS_ROOTS_PEM.as_bytes()),
        Roots::System => TrustStore::default(),
    };
    let context = TlsContext::builder().with_trust_store(store);
    let builder = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match context.build() {
        Ok(ctx) => builder.tls_context(ctx).build_https(),
        // `build` cannot fail today; should it ever, the default context (the
        // system store) still verifies every certificate.
        Err(_) => builder.build_https(),
    }
}

/// A loader of the standard AWS configuration (region, credentials and endpoint
/// variables) that uses [`http_client`].
pub fn loader(roots: Roots) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client(roots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn the_compiled_in_roots_are_five_parsable_certificates() {
        // The HTTP client `expect`s these to parse; prove it here, not at a cold start.
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes())
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn amazon_roots_unless_the_system_store_is_asked_for() {
        assert_eq!(Roots::parse(None).ok(), Some(Roots::Amazon));
        assert_eq!(Roots::parse(Some("")).ok(), Some(Roots::Amazon));
        assert_eq!(Roots::parse(Some("amazon")).ok(), Some(Roots::Amazon));
        assert_eq!(Roots::parse(Some(" system ")).ok(), Some(Roots::System));
        assert!(Roots::parse(Some("none")).is_err());
    }
}
