//! The one way sspr builds its AWS SDK configuration: from the standard
//! environment variables, on rustls with ring, trusting Amazon's roots only.
//!
//! A deployed function reads what Lambda gives it (`AWS_REGION`, and the
//! execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`) plus the standard endpoint overrides
//! (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`) that point it at local
//! emulators. That is all `aws-config`'s default chain would find there; the
//! chain itself (profile files, SSO, STS, the instance metadata and container
//! providers) is code no route needs, half a megabyte of each binary and work
//! at every cold start, so sspr does not link it.
//!
//! The SDK's default HTTPS client is rustls on aws-lc with the system's root
//! store. Both cost a cold start: aws-lc is several megabytes of every binary
//! (and gathers jitter entropy at the first TLS use unless built without it),
//! and loading the system store reads and parses every file in `/etc/ssl/certs`,
//! about 2.4 ms of CPU, which under a 128 MB function's CPU share is tens of
//! milliseconds. Every AWS endpoint sspr calls (DynamoDB, SES, SNS, Secrets
//! Manager, EventBridge, SQS) presents a certificate from Amazon Trust
//! Services, so the five roots in `aws-roots.pem` are all the trust a
//! function needs, and fewer CAs that could vouch for a forged endpoint.
//! `SSPR_TLS_ROOTS=system` trusts the system store instead (for an endpoint
//! behind another CA, such as a TLS-inspecting proxy).

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use aws_types::SdkConfig;

use crate::env::ConfigError;

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
    /// From the value of `SSPR_TLS_ROOTS` (`amazon`, the default, or `system`).
    fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        match value.map(str::trim) {
            None | Some("") | Some("amazon") => Ok(Self::Amazon),
            Some("system") => Ok(Self::System),
            Some(_) => Err(ConfigError::Invalid(
                "SSPR_TLS_ROOTS",
                "expected amazon or system".into(),
            )),
        }
    }
}

/// Why a call to a third party (the CAPTCHA provider, Have I Been Pwned) gave
/// no answer. Those calls are SDK operations from a `String` to the answer's
/// text with this one error type, so every binary compiles the orchestrator
/// for them once, whoever makes them.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub &'static str);

/// A call to a third party as an SDK operation on sspr's HTTP client (the
/// system's trust roots, since it is not AWS): `request` makes the HTTP
/// request of the input; no auth, no retry (the caller's timeout bounds it);
/// the answer's text when it is a success of at most `max_answer` bytes.
pub fn text_operation(
    service: &'static str,
    operation: &'static str,
    origin: &str,
    max_answer: usize,
    request: impl Fn(
            String,
        ) -> Result<
            aws_smithy_runtime_api::client::orchestrator::HttpRequest,
            aws_smithy_runtime_api::box_error::BoxError,
        > + Send
        + Sync
        + 'static,
) -> aws_smithy_runtime::client::orchestrator::operation::Operation<String, String, CallError> {
    use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
    aws_smithy_runtime::client::orchestrator::operation::Operation::builder()
        .service_name(service)
        .operation_name(operation)
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client(Roots::System))
        .endpoint_url(origin)
        .no_auth()
        .no_retry()
        .timeout_config(aws_smithy_types::timeout::TimeoutConfig::disabled())
        .serializer(request)
        .deserializer::<String, CallError>(move |resp: &HttpResponse| {
            let fail = |why| Err(OrchestratorError::operation(CallError(why)));
            if !resp.status().is_success() {
                return fail("answered an error");
            }
            match resp.body().bytes().map(std::str::from_utf8) {
                Some(Ok(text)) if text.len() <= max_answer => Ok(text.to_owned()),
                _ => fail("answer unreadable or too long"),
            }
        })
        .build()
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

/// A configuration builder with sspr's HTTP client and the latest SDK
/// behaviour; the caller adds region, credentials and endpoint.
pub fn builder(roots: Roots) -> aws_types::sdk_config::Builder {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client(roots))
}

/// A configuration for a local endpoint (an emulator): one region and
/// throwaway credentials; the caller may add retry and timeout settings.
pub fn local(endpoint: &str, region: &str) -> aws_types::sdk_config::Builder {
    let credentials = Credentials::new("local", "local", None, None, "local");
    builder(Roots::Amazon)
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
}

/// The configuration of a deployed function, from the process environment
/// (see the module documentation).
pub fn from_env() -> Result<SdkConfig, ConfigError> {
    from_vars(&|name| std::env::var(name).ok())
}

fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<SdkConfig, ConfigError> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let region = get("AWS_REGION")
        .or_else(|| get("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let key = get("AWS_ACCESS_KEY_ID").ok_or(ConfigError::Missing("AWS_ACCESS_KEY_ID"))?;
    let secret =
        get("AWS_SECRET_ACCESS_KEY").ok_or(ConfigError::Missing("AWS_SECRET_ACCESS_KEY"))?;
    let roots = Roots::parse(get("SSPR_TLS_ROOTS").as_deref())?;
    let credentials = Credentials::new(key, secret, get("AWS_SESSION_TOKEN"), None, "environment");
    let endpoints = EndpointVars::read(&get);
    Ok(builder(roots)
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .service_config(endpoints)
        .build())
}

/// The endpoint overrides of the environment, read once: the SDK asks for
/// `AWS_ENDPOINT_URL` with its service id (`DynamoDB`, `SES`, `SNS`, `Secrets
/// Manager`, `EventBridge`, `SQS`), which names `AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_SES`, `AWS_ENDPOINT_URL_SNS`,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_EVENTBRIDGE` and
/// `AWS_ENDPOINT_URL_SQS`;
/// `AWS_ENDPOINT_URL` covers the rest.
#[derive(Debug, Default)]
struct EndpointVars(std::collections::BTreeMap<String, String>);

impl EndpointVars {
    const SERVICES: [&'static str; 6] = [
        "DynamoDB",
        "SES",
        "SNS",
        "Secrets Manager",
        "EventBridge",
        "SQS",
    ];

    fn read(get: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut found = std::collections::BTreeMap::new();
        for name in Self::SERVICES
            .iter()
            .map(|id| Self::var("AWS_ENDPOINT_URL", id))
            .chain(["AWS_ENDPOINT_URL".to_owned()])
        {
            if let Some(v) = get(&name) {
                found.insert(name, v);
            }
        }
        Self(found)
    }

    fn var(env: &str, service_id: &str) -> String {
        format!(
            "{env}_{}",
            service_id.to_ascii_uppercase().replace([' ', '-'], "_")
        )
    }
}

impl LoadServiceConfig for EndpointVars {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        self.0
            .get(&Self::var(key.env(), key.service_id()))
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
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

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_function_s_configuration_comes_from_the_standard_variables() {
        use aws_credential_types::provider::ProvideCredentials as _;
        let base = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "example-secret"),
            ("AWS_SESSION_TOKEN", "example-token"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5000"),
        ];
        let sdk = from_vars(&vars(&base)).expect("configured");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let creds = futures::executor::block_on(
            sdk.credentials_provider()
                .expect("credentials")
                .provide_credentials(),
        )
        .expect("credentials");
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.session_token(), Some("example-token"));
        // Each client finds its own endpoint, and only its own (asked as the
        // SDK clients ask; the end-to-end run sends all three through them).
        let endpoint = |sdk: &SdkConfig, service: &str| {
            let key = ServiceConfigKey::builder()
                .service_id(service)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .expect("a key");
            sdk.service_config().and_then(|c| c.load_config(key))
        };
        assert_eq!(
            endpoint(&sdk, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            endpoint(&sdk, "Secrets Manager").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(endpoint(&sdk, "SES"), None);
        let mut sns = base.to_vec();
        sns.push(("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:5001"));
        let sdk_sns = from_vars(&vars(&sns)).expect("configured");
        assert_eq!(
            endpoint(&sdk_sns, "SNS").as_deref(),
            Some("http://127.0.0.1:5001")
        );
        assert_eq!(endpoint(&sdk_sns, "SES"), None);
        // AWS_ENDPOINT_URL covers a service without a variable of its own.
        let mut all = base.to_vec();
        all.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9999"));
        let sdk = from_vars(&vars(&all)).expect("configured");
        assert_eq!(
            endpoint(&sdk, "SES").as_deref(),
            Some("http://127.0.0.1:9999")
        );
        assert_eq!(
            endpoint(&sdk, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        // AWS_DEFAULT_REGION stands in for AWS_REGION; the keys are required.
        let mut older = base.to_vec();
        older[0] = ("AWS_DEFAULT_REGION", "us-west-2");
        let sdk = from_vars(&vars(&older)).expect("configured");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-west-2"));
        assert!(from_vars(&vars(&base[1..])).is_err(), "no region");
        assert!(from_vars(&vars(&base[..2])).is_err(), "no secret key");
        let mut bad = base.to_vec();
        bad.push(("SSPR_TLS_ROOTS", "nonsense"));
        assert!(from_vars(&vars(&bad)).is_err());
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
