//! The optional online check of new passwords against Have I Been Pwned's
//! Pwned Passwords range API (`SSPR_HIBP=on`; off by default).
//!
//! k-anonymity: the domain hands over the password's SHA-1 and the request
//! carries only its first five hex characters (`GET /range/{prefix}`); the
//! answer lists every suffix under that prefix with its count, and the match
//! is made here. `Add-Padding: true` makes the service pad each answer with
//! suffixes of count 0 to a size that does not tell the prefix, so not even
//! the length of the answer leaks which range was asked; padding lines are
//! never a match. The call has a short timeout (`SSPR_HIBP_TIMEOUT_MS`,
//! 1 s); a lookup that fails (no answer in time, an error status, an answer
//! that is not the range format) is logged, counted (`BreachLookupFailures`)
//! and admits the password: the offline rules and the shipped filter have
//! already passed, and a third party's outage must not stop a reset.

use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;

use crate::aws::CallError;
use crate::metrics;
use crate::ports::{BreachCorpus, BreachLookupError};

/// The range API's own address.
pub const RANGE_URL: &str = "https://api.pwnedpasswords.com/range/";

/// The longest answer read: a padded range is 800 to 1,000 lines of 40
/// bytes or so; anything far beyond that is not a range answer.
const MAX_ANSWER: usize = 256 * 1024;

/// The check as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HibpConfig {
    /// The range endpoint, ending in `/` (the service's; another only for
    /// tests or a proxy): the prefix is appended to it.
    pub range_url: String,
    pub timeout: Duration,
}

impl Default for HibpConfig {
    fn default() -> Self {
        Self {
            range_url: RANGE_URL.into(),
            timeout: Duration::from_millis(1000),
        }
    }
}

/// The check, with its call: the AWS SDK's own HTTP stack and the operation
/// shape the CAPTCHA's call has (no second HTTP client, no second copy of
/// the orchestrator in the binaries), over rustls with the system's trust
/// roots, since the service is not AWS.
#[derive(Clone)]
pub struct Hibp {
    timeout: Duration,
    /// `None` when the URL cannot be split into origin and path (the
    /// configuration refuses such a URL; a hand-built one fails every lookup,
    /// which admits, and is logged).
    call: Option<Operation<String, String, CallError>>,
}

impl std::fmt::Debug for Hibp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hibp")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The lookup as the flows' port: what a function that takes new passwords
/// names in its [`Parts`](crate::app::Parts).
pub fn corpus(config: &HibpConfig) -> std::sync::Arc<dyn BreachCorpus> {
    std::sync::Arc::new(Hibp::new(config))
}

impl Hibp {
    pub fn new(config: &HibpConfig) -> Self {
        let call = url::Url::parse(&config.range_url).ok().and_then(|u| {
            let origin = u.origin().ascii_serialization();
            let mut path = u.path().to_owned();
            if !path.ends_with('/') {
                path.push('/');
            }
            (origin != "null").then(|| operation(&origin, path))
        });
        Self {
            timeout: config.timeout,
            call,
        }
    }

    async fn ask(&self, prefix: &str) -> Result<String, &'static str> {
        let call = self.call.as_ref().ok_or("no range URL")?;
        match tokio::time::timeout(self.timeout, call.invoke(prefix.to_owned())).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(aws_smithy_runtime_api::client::result::SdkError::ServiceError(_))) => {
                Err("answered an error or nothing readable")
            }
            Ok(Err(_)) => Err("unreachable"),
            Err(_) => Err("no answer in time"),
        }
    }
}

#[async_trait]
impl BreachCorpus for Hibp {
    async fn holds(&self, sha1_hex: &str) -> Result<bool, BreachLookupError> {
        let failed = |why: &'static str| {
            metrics::count("BreachLookupFailures", &[("Reason", why)]);
            Err(BreachLookupError(why))
        };
        let Some((prefix, suffix)) = split(sha1_hex) else {
            return failed("not a SHA-1");
        };
        match self.ask(prefix).await {
            Ok(body) => match listed(&body, suffix) {
                Some(found) => Ok(found),
                None => failed("answer not in the range format"),
            },
            Err(why) => failed(why),
        }
    }
}

/// The five-character prefix the request carries and the 35-character
/// suffix matched here, of an upper-case hex SHA-1.
fn split(sha1_hex: &str) -> Option<(&str, &str)> {
    let hex = sha1_hex.len() == 40
        && sha1_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    hex.then(|| sha1_hex.split_at(5))
}

/// Whether the range answer `body` lists `suffix` with a count above zero;
/// `None` when a line is not `SUFFIX:COUNT` (35 hex characters, a colon, a
/// number), so that an error page or a proxy's answer is never read as
/// "not found".
fn listed(body: &str, suffix: &str) -> Option<bool> {
    let mut found = false;
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (s, count) = line.split_once(':')?;
        let count: u64 = count.trim().parse().ok()?;
        if s.len() != 35 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        // Padding lines carry a count of 0: never a match.
        if count > 0 && s.eq_ignore_ascii_case(suffix) {
            found = true;
        }
    }
    Some(found)
}

/// The range call as an SDK operation: `GET {path}{prefix}` at `origin` with
/// `Add-Padding: true`, no auth, no retry (the caller's timeout bounds it),
/// the answer's text returned when it is a success and not too long.
fn operation(origin: &str, path: String) -> Operation<String, String, CallError> {
    crate::aws::text_operation("hibp", "range", origin, MAX_ANSWER, move |prefix| {
        let mut req = HttpRequest::new(SdkBody::empty());
        req.set_method("GET")?;
        req.set_uri(format!("{path}{prefix}"))?;
        req.headers_mut().insert("add-padding", "true");
        req.headers_mut().insert("user-agent", "sspr");
        Ok(req)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "21BD12DC183F740EE76F27B78EB39C8AD972A757";

    #[test]
    fn only_the_prefix_leaves_and_the_suffix_is_matched_here() {
        assert_eq!(
            split(SHA),
            Some(("21BD1", "2DC183F740EE76F27B78EB39C8AD972A757"))
        );
        assert_eq!(split("21bd12dc183f740ee76f27b78eb39c8ad972a757"), None);
        assert_eq!(split("21BD1"), None);
    }

    #[test]
    fn a_listed_suffix_is_found_and_padding_never_is() {
        let suffix = "2DC183F740EE76F27B78EB39C8AD972A757";
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                    2DC183F740EE76F27B78EB39C8AD972A757:52579\r\n\
                    00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0\r\n";
        assert_eq!(listed(body, suffix), Some(true));
        let padded = "2DC183F740EE76F27B78EB39C8AD972A757:0\r\n";
        assert_eq!(listed(padded, suffix), Some(false));
        assert_eq!(listed("", suffix), Some(false));
    }

    #[test]
    fn an_answer_not_in_the_range_format_is_no_answer() {
        let suffix = "2DC183F740EE76F27B78EB39C8AD972A757";
        assert_eq!(listed("<html>rate limited</html>", suffix), None);
        assert_eq!(
            listed("2DC183F740EE76F27B78EB39C8AD972A757:many", suffix),
            None
        );
        assert_eq!(listed("2DC1:3", suffix), None);
    }
}
