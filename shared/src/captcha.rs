//! The optional human check on sign-up and on asking for a code: Cloudflare
//! Turnstile or hCaptcha (`SSPR_CAPTCHA`), off by default.
//!
//! Sign-up's `409 username_taken` tells which usernames exist, and asking for
//! codes is what a mail bomber repeats; the per-client limits slow one address,
//! a CAPTCHA slows many. The page shows the provider's widget; the request
//! carries its token as `captcha`; the function asks the provider's
//! `siteverify` endpoint, with the secret, before anything else happens. A
//! missing or refused token is `400 captcha_failed`, the same for every
//! username. The call has a short timeout (`SSPR_CAPTCHA_TIMEOUT_MS`, 1.5 s);
//! when the provider does not answer in time, answers an error, or says
//! something unreadable, `SSPR_CAPTCHA_WHEN_DOWN` decides: `refuse` (the
//! default: `503 captcha_unavailable`, nothing done; the per-client limits
//! and the CAPTCHA are then one, not zero) or `admit` (the request goes on,
//! guarded by the per-client limits alone, and a warning is logged).

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use secrecy::ExposeSecret as _;

use crate::aws::CallError;
pub use secrecy::SecretString;

/// Which provider checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Turnstile,
    HCaptcha,
}

impl Provider {
    /// The provider's own verification endpoint.
    pub fn verify_url(self) -> &'static str {
        match self {
            Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            Provider::HCaptcha => "https://api.hcaptcha.com/siteverify",
        }
    }

    /// The widget's script, which the pages load when the check is on.
    pub fn script(self) -> &'static str {
        match self {
            Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/api.js",
            Provider::HCaptcha => "https://js.hcaptcha.com/1/api.js",
        }
    }

    /// The origins the widget loads from, for the pages' CSP.
    pub fn origins(self) -> &'static str {
        match self {
            Provider::Turnstile => "https://challenges.cloudflare.com",
            Provider::HCaptcha => "https://hcaptcha.com https://*.hcaptcha.com",
        }
    }

    /// The widget element's class.
    pub fn widget_class(self) -> &'static str {
        match self {
            Provider::Turnstile => "cf-turnstile",
            Provider::HCaptcha => "h-captcha",
        }
    }
}

/// What to do when the provider cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenDown {
    /// `503 captcha_unavailable`: nothing happens without the check.
    Refuse,
    /// Go on without the check (logged).
    Admit,
}

/// The check as configured. `Debug` never shows the secret.
#[derive(Clone)]
pub struct CaptchaConfig {
    pub provider: Provider,
    /// The public key the widget shows.
    pub site_key: String,
    /// Held only by the functions that verify tokens (register, dispatch):
    /// one without it that is asked to verify fails closed.
    pub secret: Option<SecretString>,
    /// `siteverify` (the provider's; another only for tests or a proxy).
    pub verify_url: String,
    pub timeout: Duration,
    pub when_down: WhenDown,
}

impl std::fmt::Debug for CaptchaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptchaConfig")
            .field("provider", &self.provider)
            .field("site_key", &self.site_key)
            .field("verify_url", &self.verify_url)
            .field("timeout", &self.timeout)
            .field("when_down", &self.when_down)
            .finish_non_exhaustive()
    }
}

/// What the provider said of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A person solved it (and the token was not used before).
    Human,
    /// Missing, wrong, expired or spent.
    Refused,
    /// The provider could not be asked (and `when_down` is `refuse`).
    Unavailable,
}

/// The check, with its call to the provider: the AWS SDK's own HTTP stack
/// (the orchestrator and hyper client every bootstrap already carries, so the
/// check costs the binaries next to nothing), over rustls with the system's
/// trust roots, since the providers are not AWS.
#[derive(Clone)]
pub struct Captcha {
    config: Arc<CaptchaConfig>,
    /// `None` when `verify_url` cannot be split into origin and path (the
    /// configuration refuses such a URL; a hand-built one fails closed).
    call: Option<Operation<String, String, CallError>>,
}

impl std::fmt::Debug for Captcha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

impl Captcha {
    pub fn new(config: CaptchaConfig) -> Self {
        let call = url::Url::parse(&config.verify_url).ok().and_then(|u| {
            let origin = u.origin().ascii_serialization();
            let path = u.path().to_owned();
            (origin != "null").then(|| operation(&origin, path))
        });
        Self {
            config: Arc::new(config),
            call,
        }
    }

    pub fn config(&self) -> &CaptchaConfig {
        &self.config
    }

    /// Check `token` (from the request's `captcha` field) for a client at `ip`.
    pub async fn check(&self, token: Option<&str>, ip: &str) -> Verdict {
        let Some(token) = token
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 4096)
        else {
            return Verdict::Refused;
        };
        match tokio::time::timeout(self.config.timeout, self.ask(token, ip)).await {
            Ok(Ok(true)) => Verdict::Human,
            Ok(Ok(false)) => Verdict::Refused,
            Ok(Err(why)) => self.down(why),
            Err(_) => self.down("no answer in time"),
        }
    }

    fn down(&self, why: &'static str) -> Verdict {
        match self.config.when_down {
            WhenDown::Refuse => {
                tracing::error!(why, "captcha provider unavailable: refusing");
                Verdict::Unavailable
            }
            WhenDown::Admit => {
                tracing::warn!(why, "captcha provider unavailable: admitting");
                Verdict::Human
            }
        }
    }

    /// One `siteverify` call: `Ok(success)`, or why it could not be made.
    async fn ask(&self, token: &str, ip: &str) -> Result<bool, &'static str> {
        let secret = self.config.secret.as_ref().ok_or("no secret here")?;
        let call = self.call.as_ref().ok_or("no verify URL")?;
        let form = format!(
            "secret={}&response={}&remoteip={}",
            form_encode(secret.expose_secret()),
            form_encode(token),
            form_encode(ip)
        );
        let answer = call.invoke(form).await.map_err(|e| match e {
            aws_smithy_runtime_api::client::result::SdkError::ServiceError(_) => {
                "answered an error or nothing readable"
            }
            _ => "unreachable",
        })?;
        serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("success").and_then(serde_json::Value::as_bool))
            .ok_or("answer without success")
    }
}

/// The `siteverify` call as an SDK operation: POST the form to `path` at
/// `origin`, no auth, no retry (the caller's timeout bounds it); the answer's
/// text, for [`Captcha::ask`] to read `success` from.
fn operation(origin: &str, path: String) -> Operation<String, String, CallError> {
    crate::aws::text_operation("captcha", "siteverify", origin, 64 * 1024, move |form| {
        let mut req = HttpRequest::new(SdkBody::from(form));
        req.set_method("POST")?;
        req.set_uri(path.as_str())?;
        req.headers_mut()
            .insert("content-type", "application/x-www-form-urlencoded");
        Ok(req)
    })
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded_and_the_secret_never_prints() {
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        let c = CaptchaConfig {
            provider: Provider::Turnstile,
            site_key: "site".into(),
            secret: Some(SecretString::from("s3cret-value")),
            verify_url: Provider::Turnstile.verify_url().into(),
            timeout: Duration::from_millis(1500),
            when_down: WhenDown::Refuse,
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
