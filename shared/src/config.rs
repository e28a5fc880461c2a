//! Typed configuration from the environment.
//!
//! Every setting has a safe default; a value that is present but out of range
//! is an error at start, never silently clamped. Secrets live in [`Secrets`],
//! whose `Debug` never shows them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

pub use sspr_domain::domain::policy::{
    CodePolicy, HashParams, PasswordPolicy, Rules, SignInPolicy,
};
use sspr_domain::domain::{BannedTerms, CompromisedFilter};
use sspr_domain::keyring::{KeyParts, KeySet, KeySource, KeyringDoc, Ring, Sets};

/// Where mail goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// `.eml` files in a folder and a copy on stdout (the local default).
    Outbox,
    /// Amazon SES.
    Ses,
}

/// Where text messages go (`SSPR_SMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmsMode {
    /// No SMS: phone numbers cannot be enrolled, and a queued text message is
    /// undeliverable (the deployed default).
    #[default]
    Off,
    /// Amazon SNS, from the mailer function (`SSPR_SMS=sns`).
    Sns,
    /// `.sms.txt` files in the outbox folder and a copy on stdout: what
    /// `sspr-local` uses unless `SSPR_SMS` says otherwise.
    Outbox,
}

impl SmsMode {
    /// Whether text messages are sent at all (so a phone can be a method).
    pub fn enabled(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// From the value of `SSPR_SMS`: `off` (or unset), `sns`, or for local
    /// runs `outbox`.
    pub fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        match value.map(str::trim) {
            None | Some("") | Some("off") => Ok(Self::Off),
            Some("sns") => Ok(Self::Sns),
            Some("outbox") => Ok(Self::Outbox),
            Some(other) => Err(ConfigError::Invalid(
                "SSPR_SMS",
                format!("`{other}` is not off, sns or outbox"),
            )),
        }
    }
}

/// The server's keys: the keyring (`sspr_domain::keyring`), every version's
/// code HMAC key, token signing key and seal keys.
pub struct Secrets {
    ring: Arc<Ring>,
    doc: Option<KeyringDoc>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

impl Secrets {
    /// A fresh keyring of one version, for the local host without `--data`
    /// and tests: tokens and codes die with the process.
    pub fn throwaway() -> Self {
        Self::from_doc(&KeyringDoc::generate(0))
    }

    /// The keyring of a document (the secret's value, or a key file).
    pub fn from_doc(doc: &KeyringDoc) -> Self {
        Self {
            ring: Ring::of_doc(doc),
            doc: Some(doc.clone()),
        }
    }

    /// Every key of every version from the keyring's text (the Secrets
    /// Manager value): a keyring document, or a plain master secret (what the
    /// stack generates, version 1). Each key is HMAC-SHA256 of a fixed label
    /// under its version's master, so they are independent and none reveals
    /// the master.
    pub fn derive(text: &SecretString) -> Result<Self, ConfigError> {
        let doc =
            KeyringDoc::parse(text).map_err(|e| ConfigError::Invalid("secret", e.to_string()))?;
        Ok(Self::from_doc(&doc))
    }

    /// These keys, read again from `source` when a version they do not hold
    /// turns up (a deployed function, after another one rotated).
    pub fn with_source(self, source: Arc<dyn KeySource>) -> Self {
        let sets = match &self.doc {
            Some(doc) => Sets::from_doc(doc),
            None => return self,
        };
        Self {
            ring: Arc::new(Ring::with_source(sets, source)),
            doc: self.doc,
        }
    }

    /// The keyring the flows run on.
    pub fn ring(&self) -> Arc<Ring> {
        self.ring.clone()
    }

    /// The document these keys came from (`None`: the local runtimes' two
    /// variables).
    pub fn doc(&self) -> Option<&KeyringDoc> {
        self.doc.as_ref()
    }

    /// Secrets from base64 text (as kept in a secret store): a key of at least 32
    /// bytes and a seed of exactly 32.
    pub fn from_base64(hmac_key: &SecretString, seed: &SecretString) -> Result<Self, ConfigError> {
        let engine = base64::engine::general_purpose::STANDARD;
        let key = engine
            .decode(hmac_key.expose_secret().trim())
            .map_err(|_| ConfigError::Invalid("SSPR_HMAC_SECRET", "not base64".into()))?;
        if key.len() < 32 {
            return Err(ConfigError::Invalid(
                "SSPR_HMAC_SECRET",
                "needs at least 32 bytes".into(),
            ));
        }
        let raw = engine
            .decode(seed.expose_secret().trim())
            .map_err(|_| ConfigError::Invalid("SSPR_SIGNING_KEY", "not base64".into()))?;
        let seed: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
            ConfigError::Invalid("SSPR_SIGNING_KEY", "needs exactly 32 bytes".into())
        })?;
        // The seal keys come from the HMAC key, so local runtimes keep two
        // variables: one version, 1.
        let parts = KeyParts::from_hmac_and_seed(key, seed);
        Ok(Self {
            ring: Arc::new(Ring::new(Sets::one(KeySet::new(1, 0, parts)))),
            doc: None,
        })
    }
}

/// Everything the functions read from the environment, but the secrets.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub sender: String,
    pub helpdesk_url: String,
    /// Where the pages are (`SSPR_PUBLIC_URL`, `https://...`); the code mails
    /// link there. Unset: the origin each request came to.
    pub public_url: Option<String>,
    pub issuer: String,
    pub access_ttl: Duration,
    pub reset_ttl: Duration,
    pub audit_retention: Duration,
    pub codes: CodePolicy,
    pub passwords: PasswordPolicy,
    pub signin: SignInPolicy,
    pub hash: HashParams,
    pub mail: MailKind,
    /// Where text messages go; off unless `SSPR_SMS` says so.
    pub sms: SmsMode,
    pub outbox_dir: String,
    /// SES configuration set to send through, if any.
    pub ses_configuration_set: Option<String>,
    /// Who is told when an admin's password is reset or changed.
    pub admin_emails: Vec<String>,
    /// Per-client (IP) limits per route.
    pub client_limits: crate::limits::ClientLimits,
    /// The routes whose answer must not tell who has an account (asking for a
    /// code, proving one, and a refused sign-in) answer no earlier than this
    /// after the request arrived, so the work done for a known user cannot be timed.
    pub answer_floor: Duration,
    /// How the courier retries a mail the mail service refused.
    pub mail_retry: crate::mail::courier::MailRetry,
    /// The human check on sign-up and code requests (`SSPR_CAPTCHA`); off when `None`.
    pub captcha: Option<crate::captcha::CaptchaConfig>,
    /// The Secrets Manager secret that holds the check's provider secret
    /// (`SSPR_CAPTCHA_SECRET_ARN`, given to register and dispatch only), read
    /// once per cold start by [`App::from_env`](crate::App::from_env) beside
    /// the master secret; `None` when the check is off. Off Lambda,
    /// `SSPR_CAPTCHA_SECRET` may hold the provider secret itself instead.
    pub captcha_secret_arn: Option<String>,
    /// Proofs of different methods a reset needs (`SSPR_RESET_GATES`, 1 or 2;
    /// admins always 2).
    pub reset_gates: u8,
    /// Days after which a user is asked to reconfirm their methods
    /// (`SSPR_RECONFIRM_DAYS`, 0: never).
    pub reconfirm_days: u32,
    /// The online check of new passwords against Have I Been Pwned
    /// (`SSPR_HIBP=on`); off when `None`.
    pub hibp: Option<crate::hibp::HibpConfig>,
}

/// The default [`Config::answer_floor`]: well above the slowest path it hides
/// (a read, a transaction and sealing a mail: BENCHMARKS.md has the p99 at
/// Lambda's CPU share), and short enough not to be felt.
pub const ANSWER_FLOOR: Duration = Duration::from_millis(250);

impl Default for Config {
    fn default() -> Self {
        Self {
            table: "sspr".into(),
            sender: "sspr <no-reply@example.com>".into(),
            helpdesk_url: "https://help.example.com/".into(),
            public_url: None,
            issuer: "sspr".into(),
            access_ttl: Duration::from_secs(900),
            reset_ttl: Duration::from_secs(900),
            audit_retention: Duration::from_secs(90 * 86_400),
            codes: CodePolicy::default(),
            passwords: PasswordPolicy::default(),
            signin: SignInPolicy::default(),
            hash: HashParams::default(),
            mail: MailKind::Outbox,
            sms: SmsMode::Off,
            outbox_dir: "./outbox".into(),
            ses_configuration_set: None,
            admin_emails: Vec::new(),
            client_limits: crate::limits::ClientLimits::default(),
            answer_floor: ANSWER_FLOOR,
            mail_retry: crate::mail::courier::MailRetry::default(),
            captcha: None,
            captcha_secret_arn: None,
            reset_gates: 1,
            reconfirm_days: 180,
            hibp: None,
        }
    }
}

impl Config {
    /// What the flows need of this configuration. An admin address that does
    /// not parse (only a hand-built configuration can hold one) is left out.
    pub fn rules(&self) -> Rules {
        Rules {
            codes: self.codes.clone(),
            passwords: self.passwords.clone(),
            signin: self.signin.clone(),
            access_ttl: self.access_ttl,
            reset_ttl: self.reset_ttl,
            helpdesk_url: self.helpdesk_url.clone(),
            public_url: self.public_url.clone(),
            gates: self.reset_gates,
            reconfirm_days: self.reconfirm_days,
            sms: self.sms.enabled(),
            totp_issuer: self.issuer.clone(),
            admin_emails: self
                .admin_emails
                .iter()
                .filter_map(|a| crate::domain::Email::parse(a).ok())
                .collect(),
            ..Rules::default()
        }
    }
}

/// `SSPR_CAPTCHA` and its settings: off, or a provider with its site key and
/// secret (both required), its timeout and what to do when it is down.
fn captcha(
    get: &impl Fn(&str) -> Option<String>,
    num: &impl Fn(&'static str, u64, u64, u64) -> Result<u64, ConfigError>,
) -> Result<Option<crate::captcha::CaptchaConfig>, ConfigError> {
    use crate::captcha::{CaptchaConfig, Provider, WhenDown};
    let set = |k: &'static str| {
        get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let provider = match set("SSPR_CAPTCHA").as_deref() {
        None | Some("off") => return Ok(None),
        Some("turnstile") => Provider::Turnstile,
        Some("hcaptcha") => Provider::HCaptcha,
        Some(other) => {
            return Err(ConfigError::Invalid(
                "SSPR_CAPTCHA",
                format!("`{other}` is not off, turnstile or hcaptcha"),
            ))
        }
    };
    let site_key =
        set("SSPR_CAPTCHA_SITE_KEY").ok_or(ConfigError::Missing("SSPR_CAPTCHA_SITE_KEY"))?;
    if !site_key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ConfigError::Invalid(
            "SSPR_CAPTCHA_SITE_KEY",
            "letters, digits, - and _ only".into(),
        ));
    }
    // Only the functions that verify tokens are given the secret.
    let secret = set("SSPR_CAPTCHA_SECRET").map(SecretString::from);
    let verify_url = match set("SSPR_CAPTCHA_VERIFY_URL") {
        None => provider.verify_url().to_owned(),
        Some(v) => {
            public_url(&v).map_err(|e| ConfigError::Invalid("SSPR_CAPTCHA_VERIFY_URL", e.into()))?
        }
    };
    let when_down = match set("SSPR_CAPTCHA_WHEN_DOWN").as_deref() {
        None | Some("refuse") => WhenDown::Refuse,
        Some("admit") => WhenDown::Admit,
        Some(other) => {
            return Err(ConfigError::Invalid(
                "SSPR_CAPTCHA_WHEN_DOWN",
                format!("`{other}` is neither refuse nor admit"),
            ))
        }
    };
    Ok(Some(CaptchaConfig {
        provider,
        site_key,
        secret,
        verify_url,
        timeout: Duration::from_millis(num("SSPR_CAPTCHA_TIMEOUT_MS", 1500, 100, 5000)?),
        when_down,
    }))
}

/// `SSPR_CAPTCHA_SECRET_ARN`: where a deployed function reads the check's
/// provider secret, when the check is on (`None` when it is off, so nothing
/// is read). Given with `SSPR_CAPTCHA_SECRET` too, the start is refused:
/// one secret, from one place.
fn captcha_secret_arn(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let set = |k: &'static str| {
        get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let on = !matches!(set("SSPR_CAPTCHA").as_deref(), None | Some("off"));
    let arn = set("SSPR_CAPTCHA_SECRET_ARN").filter(|_| on);
    if arn.is_some() && set("SSPR_CAPTCHA_SECRET").is_some() {
        return Err(ConfigError::Invalid(
            "SSPR_CAPTCHA_SECRET_ARN",
            "give the secret's ARN or, off Lambda, SSPR_CAPTCHA_SECRET, not both".into(),
        ));
    }
    Ok(arn)
}

/// `SSPR_HIBP` (`off`, the default, or `on`) and its range endpoint
/// (`SSPR_HIBP_URL`, the service's own unless a test or proxy names another)
/// and timeout (`SSPR_HIBP_TIMEOUT_MS`, 1 s).
fn hibp(
    get: &impl Fn(&str) -> Option<String>,
    num: &impl Fn(&'static str, u64, u64, u64) -> Result<u64, ConfigError>,
) -> Result<Option<crate::hibp::HibpConfig>, ConfigError> {
    use crate::hibp::{HibpConfig, RANGE_URL};
    let set = |k: &'static str| {
        get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    match set("SSPR_HIBP").as_deref() {
        None | Some("off") => return Ok(None),
        Some("on") => {}
        Some(other) => {
            return Err(ConfigError::Invalid(
                "SSPR_HIBP",
                format!("`{other}` is neither off nor on"),
            ))
        }
    }
    let range_url = match set("SSPR_HIBP_URL") {
        None => RANGE_URL.to_owned(),
        Some(v) => public_url(&v)
            .map(|u| format!("{u}/"))
            .map_err(|e| ConfigError::Invalid("SSPR_HIBP_URL", e.into()))?,
    };
    Ok(Some(HibpConfig {
        range_url,
        timeout: Duration::from_millis(num("SSPR_HIBP_TIMEOUT_MS", 1000, 100, 5000)?),
    }))
}

/// The pages' origin as configured: `https://host[:port][/path]`, or `http://`
/// on a loopback host (the local host), with no query or fragment; returned
/// without a trailing slash.
fn public_url(v: &str) -> Result<String, &'static str> {
    let u = url::Url::parse(v).map_err(|_| "not a URL")?;
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be https (http only on a loopback host)"),
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("must have no query, fragment or user");
    }
    Ok(v.trim_end_matches('/').to_owned())
}

/// The banned terms: `SSPR_BANNED_TERMS` (comma-separated) and the lines of
/// the file `SSPR_BANNED_TERMS_FILE` names (one term a line; blank lines and
/// lines starting with `#` are skipped), together at most 1000 terms of 4 to
/// 16 characters once normalised.
fn banned_terms(get: &impl Fn(&str) -> Option<String>) -> Result<BannedTerms, ConfigError> {
    let mut terms: Vec<String> = get("SSPR_BANNED_TERMS")
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    let listed = BannedTerms::new(&terms)
        .map_err(|e| ConfigError::Invalid("SSPR_BANNED_TERMS", e.to_string()))?;
    let key = "SSPR_BANNED_TERMS_FILE";
    if let Some(path) = get(key).filter(|p| !p.trim().is_empty()) {
        let text = std::fs::read_to_string(path.trim())
            .map_err(|e| ConfigError::Invalid(key, format!("{}: {e}", path.trim())))?;
        terms.extend(
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(str::to_owned),
        );
        // The file's terms, and the total, are the file's to answer for.
        return BannedTerms::new(&terms).map_err(|e| ConfigError::Invalid(key, e.to_string()));
    }
    Ok(listed)
}

/// The breach filter: the file `SSPR_COMPROMISED_FILTER` names, else the
/// shipped one beside the executable or in a checkout. Missing or damaged,
/// the start is refused: the check must not be silently absent.
fn compromised_filter(path: Option<String>) -> Result<Arc<CompromisedFilter>, ConfigError> {
    const KEY: &str = "SSPR_COMPROMISED_FILTER";
    match path.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
        Some(p) => CompromisedFilter::load(std::path::Path::new(&p))
            .map(Arc::new)
            .map_err(|e| ConfigError::Invalid(KEY, e.to_string())),
        None => CompromisedFilter::shipped().ok_or_else(|| {
            ConfigError::Invalid(
                KEY,
                format!(
                    "unset, and no {} beside the executable or in the source folder",
                    crate::domain::compromised::FILE_NAME
                ),
            )
        }),
    }
}

pub use crate::env::ConfigError;

impl Config {
    /// Read the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read the configuration through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let text = |k: &str, dflt: &str| get(k).filter(|v| !v.is_empty()).unwrap_or(dflt.into());
        let num = |k: &'static str, dflt: u64, lo: u64, hi: u64| -> Result<u64, ConfigError> {
            match get(k).filter(|v| !v.is_empty()) {
                None => Ok(dflt),
                Some(v) => {
                    let n: u64 = v
                        .trim()
                        .parse()
                        .map_err(|_| ConfigError::Invalid(k, "not a whole number".into()))?;
                    if n < lo || n > hi {
                        return Err(ConfigError::Invalid(k, format!("must be {lo} to {hi}")));
                    }
                    Ok(n)
                }
            }
        };
        let secs =
            |k, dflt: Duration, lo, hi| num(k, dflt.as_secs(), lo, hi).map(Duration::from_secs);
        let codes = CodePolicy {
            length: num("SSPR_CODE_LENGTH", d.codes.length as u64, 6, 10)? as usize,
            // ASVS 6.5.5 and NIST 800-63B: an out-of-band code lives 10 minutes at most.
            ttl: secs("SSPR_CODE_TTL_SECS", d.codes.ttl, 60, 600)?,
            max_attempts: num("SSPR_CODE_MAX_ATTEMPTS", 5, 1, 10)? as u32,
            max_sends: num("SSPR_CODE_SENDS_PER_HOUR", 5, 1, 50)? as u32,
            send_window: d.codes.send_window,
            min_interval: secs("SSPR_CODE_MIN_INTERVAL_SECS", d.codes.min_interval, 0, 3600)?,
            max_failed_proofs: num("SSPR_MAX_FAILED_PROOFS", 5, 1, 100)? as u32,
            block_window: d.codes.block_window,
            block_for: secs("SSPR_BLOCK_SECS", d.codes.block_for, 60, 7 * 86_400)?,
        };
        let passwords = PasswordPolicy {
            min_len: num("SSPR_PASSWORD_MIN", 12, 8, 128)? as usize,
            max_len: num("SSPR_PASSWORD_MAX", 256, 64, 1024)? as usize,
            history: num("SSPR_PASSWORD_HISTORY", 5, 1, 24)? as usize,
            min_score: num("SSPR_PASSWORD_MIN_SCORE", 3, 3, 4)? as u8,
            banned: banned_terms(&get)?,
            compromised: Some(compromised_filter(get("SSPR_COMPROMISED_FILTER"))?),
        };
        let signin = SignInPolicy {
            max_failures: num("SSPR_SIGNIN_MAX_FAILURES", 10, 3, 100)? as u32,
            window: secs("SSPR_SIGNIN_WINDOW_SECS", d.signin.window, 60, 86_400)?,
            lock_for: secs("SSPR_SIGNIN_LOCK_SECS", d.signin.lock_for, 60, 86_400)?,
        };
        let mail = match text("SSPR_MAIL", "outbox").as_str() {
            "outbox" => MailKind::Outbox,
            "ses" => MailKind::Ses,
            other => {
                return Err(ConfigError::Invalid(
                    "SSPR_MAIL",
                    format!("`{other}` is neither outbox nor ses"),
                ))
            }
        };
        let mut admin_emails = Vec::new();
        for a in text("SSPR_ADMIN_EMAILS", "")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let e = crate::domain::Email::parse(a)
                .map_err(|e| ConfigError::Invalid("SSPR_ADMIN_EMAILS", format!("`{a}`: {e}")))?;
            admin_emails.push(e.as_str().to_owned());
        }
        // The sender is checked as every address is: a start that cannot mail is
        // refused here rather than failing each send.
        let sender = text("SSPR_SENDER", &d.sender);
        crate::domain::Mailbox::parse(&sender)
            .map_err(|e| ConfigError::Invalid("SSPR_SENDER", format!("`{sender}`: {e}")))?;
        Ok(Self {
            table: text("SSPR_TABLE", &d.table),
            sender,
            helpdesk_url: text("SSPR_HELPDESK_URL", &d.helpdesk_url),
            public_url: match get("SSPR_PUBLIC_URL").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(v) => {
                    Some(public_url(v.trim()).map_err(|e| {
                        ConfigError::Invalid("SSPR_PUBLIC_URL", format!("`{v}`: {e}"))
                    })?)
                }
            },
            issuer: text("SSPR_JWT_ISSUER", &d.issuer),
            access_ttl: secs("SSPR_ACCESS_TTL_SECS", d.access_ttl, 60, 3600)?,
            reset_ttl: secs("SSPR_RESET_TTL_SECS", d.reset_ttl, 60, 3600)?,
            audit_retention: Duration::from_secs(
                num("SSPR_AUDIT_RETENTION_DAYS", 90, 1, 3650)? * 86_400,
            ),
            codes,
            passwords,
            signin,
            hash: d.hash,
            mail,
            sms: SmsMode::parse(get("SSPR_SMS").as_deref())?,
            outbox_dir: text("SSPR_OUTBOX_DIR", &d.outbox_dir),
            ses_configuration_set: get("SSPR_SES_CONFIGURATION_SET").filter(|v| !v.is_empty()),
            admin_emails,
            client_limits: crate::limits::ClientLimits::default()
                .with_overrides(&text("SSPR_CLIENT_LIMITS", ""))
                .map_err(|e| ConfigError::Invalid("SSPR_CLIENT_LIMITS", e))?,
            answer_floor: Duration::from_millis(num(
                "SSPR_ANSWER_FLOOR_MS",
                d.answer_floor.as_millis() as u64,
                0,
                5_000,
            )?),
            mail_retry: crate::mail::courier::MailRetry {
                tries: num("SSPR_MAIL_TRIES", d.mail_retry.tries as u64, 1, 10)? as u32,
                first_delay: Duration::from_millis(num(
                    "SSPR_MAIL_RETRY_MS",
                    d.mail_retry.first_delay.as_millis() as u64,
                    0,
                    10_000,
                )?),
            },
            captcha: captcha(&get, &num)?,
            captcha_secret_arn: captcha_secret_arn(&get)?,
            reset_gates: num("SSPR_RESET_GATES", 1, 1, 2)? as u8,
            reconfirm_days: num("SSPR_RECONFIRM_DAYS", 180, 0, 3650)? as u32,
            hibp: hibp(&get, &num)?,
        })
    }
}

/// Read the secrets from `SSPR_HMAC_SECRET` and `SSPR_SIGNING_KEY` (base64), for
/// local runtimes; deployed functions read them from Secrets Manager instead.
pub fn secrets_from_env() -> Result<Secrets, ConfigError> {
    let get = |k: &'static str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
            .ok_or(ConfigError::Missing(k))
    };
    Secrets::from_base64(&get("SSPR_HMAC_SECRET")?, &get("SSPR_SIGNING_KEY")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = from(&[]).expect("defaults");
        assert_eq!(c.codes.length, 6);
        assert_eq!(c.codes.ttl.as_secs(), 600);
        assert_eq!(c.codes.max_attempts, 5);
        assert_eq!(c.codes.max_sends, 5);
        assert_eq!(c.codes.min_interval.as_secs(), 60);
        assert_eq!(c.passwords.min_len, 12);
        assert_eq!(c.passwords.max_len, 256);
        assert_eq!(c.passwords.history, 5);
        assert_eq!(
            c.hash,
            HashParams {
                m_kib: 19_456,
                t: 2,
                p: 1
            }
        );
        assert_eq!(c.reset_ttl.as_secs(), 900);
        assert_eq!(c.mail, MailKind::Outbox);
        assert_eq!(c.answer_floor, ANSWER_FLOOR);
        assert_eq!(c.mail_retry.tries, 3);
        assert_eq!(c.sms, SmsMode::Off);
        assert!(!c.sms.enabled(), "SMS is off unless asked for");
    }

    #[test]
    fn sms_is_off_sns_or_for_local_runs_the_outbox() {
        let sms = |v: &str| from(&[("SSPR_SMS", v)]).map(|c| c.sms);
        assert_eq!(sms("off").ok(), Some(SmsMode::Off));
        assert_eq!(sms("").ok(), Some(SmsMode::Off));
        assert_eq!(sms("sns").ok(), Some(SmsMode::Sns));
        assert_eq!(sms(" sns ").ok(), Some(SmsMode::Sns));
        assert_eq!(sms("outbox").ok(), Some(SmsMode::Outbox));
        for bad in ["on", "SNS", "twilio", "true"] {
            assert!(sms(bad).is_err(), "{bad}");
        }
        assert!(SmsMode::Sns.enabled() && SmsMode::Outbox.enabled());
        assert!(!SmsMode::Off.enabled());
    }

    #[test]
    fn the_breach_lookup_is_off_unless_on_and_its_url_is_https() {
        assert_eq!(from(&[]).ok().map(|c| c.hibp), Some(None));
        assert_eq!(
            from(&[("SSPR_HIBP", "off")]).ok().map(|c| c.hibp),
            Some(None)
        );
        let on = from(&[("SSPR_HIBP", "on")])
            .ok()
            .and_then(|c| c.hibp)
            .expect("on");
        assert_eq!(on.range_url, "https://api.pwnedpasswords.com/range/");
        assert_eq!(on.timeout, Duration::from_millis(1000));
        let local = from(&[
            ("SSPR_HIBP", "on"),
            ("SSPR_HIBP_URL", "http://127.0.0.1:9/range"),
            ("SSPR_HIBP_TIMEOUT_MS", "300"),
        ])
        .ok()
        .and_then(|c| c.hibp)
        .expect("on");
        assert_eq!(local.range_url, "http://127.0.0.1:9/range/");
        assert_eq!(local.timeout, Duration::from_millis(300));
        for bad in ["yes", "ON", "true"] {
            assert!(from(&[("SSPR_HIBP", bad)]).is_err(), "{bad}");
        }
        assert!(from(&[
            ("SSPR_HIBP", "on"),
            ("SSPR_HIBP_URL", "http://pwned.example.com/range")
        ])
        .is_err());
        assert!(from(&[("SSPR_HIBP", "on"), ("SSPR_HIBP_TIMEOUT_MS", "10000")]).is_err());
    }

    #[test]
    fn out_of_range_values_are_refused_not_clamped() {
        assert!(from(&[("SSPR_CODE_LENGTH", "5")]).is_err());
        assert!(from(&[("SSPR_CODE_LENGTH", "11")]).is_err());
        assert!(from(&[("SSPR_PASSWORD_MIN", "7")]).is_err());
        assert!(
            from(&[("SSPR_CODE_TTL_SECS", "601")]).is_err(),
            "codes live 10 minutes at most"
        );
        assert!(from(&[("SSPR_MAIL", "smtp")]).is_err());
        for bad in [
            "http://id.example.com",
            "id.example.com",
            "https://id.example.com/?x=1",
            "https://id.example.com/#x",
            "javascript:alert(1)",
        ] {
            assert!(from(&[("SSPR_PUBLIC_URL", bad)]).is_err(), "{bad}");
        }
        assert_eq!(
            from(&[("SSPR_PUBLIC_URL", "https://id.example.com/")])
                .map(|c| c.public_url)
                .ok(),
            Some(Some("https://id.example.com".into()))
        );
        assert!(from(&[("SSPR_PUBLIC_URL", "http://127.0.0.1:8080")]).is_ok());
        assert!(
            from(&[]).map(|c| c.captcha.is_none()).unwrap_or(false),
            "off by default"
        );
        assert!(from(&[("SSPR_CAPTCHA", "recaptcha")]).is_err());
        assert!(
            from(&[("SSPR_CAPTCHA", "turnstile")]).is_err(),
            "a provider needs its site key"
        );
        let on = from(&[
            ("SSPR_CAPTCHA", "hcaptcha"),
            ("SSPR_CAPTCHA_SITE_KEY", "site-key"),
            ("SSPR_CAPTCHA_SECRET", "secret"),
        ])
        .expect("valid");
        assert_eq!(on.captcha_secret_arn, None);
        let c = on.captcha.expect("on");
        assert_eq!(c.verify_url, "https://api.hcaptcha.com/siteverify");
        assert_eq!(c.when_down, crate::captcha::WhenDown::Refuse);
        assert!(from(&[
            ("SSPR_CAPTCHA", "turnstile"),
            ("SSPR_CAPTCHA_SITE_KEY", "k"),
            ("SSPR_CAPTCHA_SECRET", "s"),
            ("SSPR_CAPTCHA_VERIFY_URL", "http://verify.example.com"),
        ])
        .is_err());
        assert!(from(&[("SSPR_ADMIN_EMAILS", "ops@example.com, nope")]).is_err());
        let c = from(&[("SSPR_ADMIN_EMAILS", "ops@example.com, Sec@Example.org")]).expect("valid");
        assert_eq!(c.admin_emails, ["ops@example.com", "Sec@example.org"]);
        for bad in [
            "jörg@example.com",
            "ops@example.com, a\u{200B}@example.com",
            "ops\u{202E}@example.com",
            "=?UTF-8?B?am9yZw==?=@example.com",
            "ops@bücher.de",
        ] {
            assert!(from(&[("SSPR_ADMIN_EMAILS", bad)]).is_err(), "{bad:?}");
        }
        for bad in [
            "sspr <jörg@example.com>",
            "s\u{202E}spr <no-reply@example.com>",
            "sspr <no-reply@example.com",
            "no-reply",
        ] {
            assert!(from(&[("SSPR_SENDER", bad)]).is_err(), "{bad:?}");
        }
        assert!(from(&[("SSPR_SENDER", "Kontoteam für Sie <no-reply@example.com>")]).is_ok());
        assert_eq!(
            from(&[("SSPR_CODE_LENGTH", "8")])
                .map(|c| c.codes.length)
                .ok(),
            Some(8)
        );
    }

    #[test]
    fn derived_secrets_are_stable_per_master_and_a_keyring_holds_its_versions() {
        use sspr_domain::token::Keys;
        let kid = |s: &Secrets| Keys::new(s.ring(), "x").current_kid();
        let m = SecretString::from("k".repeat(40));
        let a = Secrets::derive(&m).expect("derives");
        let b = Secrets::derive(&m).expect("derives");
        assert_eq!(kid(&a), kid(&b));
        assert!(kid(&a).starts_with("k1-"), "a plain master is version 1");
        let other = Secrets::derive(&SecretString::from("j".repeat(40))).expect("derives");
        assert_ne!(kid(&a), kid(&other));
        assert!(Secrets::derive(&SecretString::from("short")).is_err());
        let doc = a
            .doc()
            .expect("a document")
            .rotate(0, 0, 0)
            .expect("rotates");
        let two = Secrets::derive(&doc.to_text()).expect("the document");
        assert!(kid(&two).starts_with("k2-"));
        let jwks = Keys::new(two.ring(), "x").jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert_eq!(kids, [kid(&two).as_str(), kid(&a).as_str()]);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secrets::throwaway();
        assert_eq!(format!("{s:?}"), "Secrets([redacted])");
    }

    #[test]
    fn banned_terms_come_from_the_variable_and_the_file() {
        let c = from(&[("SSPR_BANNED_TERMS", "Contoso, Fabr1kam,,")]).expect("terms");
        assert_eq!(c.passwords.banned.terms(), ["contoso", "fabr1kam"]);
        assert!(c.passwords.banned.matches("P@ssw0rd-Contoso!"));
        let dir = std::env::temp_dir().join(format!("sspr-banned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("terms.txt");
        std::fs::write(&file, "# the organisation\nnorthwind\n\n  tailspin  \n").expect("write");
        let path = file.display().to_string();
        let c = from(&[
            ("SSPR_BANNED_TERMS", "contoso"),
            ("SSPR_BANNED_TERMS_FILE", &path),
        ])
        .expect("terms");
        assert_eq!(
            c.passwords.banned.terms(),
            ["contoso", "northwind", "tailspin"]
        );
        let missing = dir.join("absent.txt").display().to_string();
        assert!(matches!(
            from(&[("SSPR_BANNED_TERMS_FILE", &missing)]),
            Err(ConfigError::Invalid("SSPR_BANNED_TERMS_FILE", _))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn banned_terms_of_3_or_17_characters_and_a_list_of_1001_are_refused() {
        for bad in ["abc", "contoso,abc", &"a".repeat(17)] {
            assert!(
                matches!(
                    from(&[("SSPR_BANNED_TERMS", bad)]),
                    Err(ConfigError::Invalid("SSPR_BANNED_TERMS", _))
                ),
                "{bad}"
            );
        }
        let edges = format!("abcd,{}", "a".repeat(16));
        assert_eq!(
            from(&[("SSPR_BANNED_TERMS", &edges)])
                .map(|c| c.passwords.banned.len())
                .ok(),
            Some(2)
        );
        let many: Vec<String> = (0..1001).map(|i| format!("term{i:04}")).collect();
        assert!(matches!(
            from(&[("SSPR_BANNED_TERMS", &many.join(","))]),
            Err(ConfigError::Invalid("SSPR_BANNED_TERMS", _))
        ));
        assert!(from(&[("SSPR_BANNED_TERMS", &many[..1000].join(","))]).is_ok());
    }

    #[test]
    fn the_shipped_compromised_filter_is_found_with_nothing_set() {
        let c = from(&[]).expect("defaults");
        let f = c.passwords.compromised.expect("the shipped filter");
        assert!(f.contains("password1234"));
    }

    #[test]
    fn a_missing_or_damaged_compromised_filter_refuses_the_start() {
        let dir = std::env::temp_dir().join(format!("sspr-filter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("absent.bin").display().to_string();
        assert!(matches!(
            from(&[("SSPR_COMPROMISED_FILTER", &missing)]),
            Err(ConfigError::Invalid("SSPR_COMPROMISED_FILTER", _))
        ));
        let damaged = dir.join("damaged.bin");
        std::fs::write(&damaged, b"SSPRBF16 and then nothing of use").expect("write");
        assert!(matches!(
            from(&[("SSPR_COMPROMISED_FILTER", &damaged.display().to_string())]),
            Err(ConfigError::Invalid("SSPR_COMPROMISED_FILTER", _))
        ));
        // A filter named explicitly is the one used.
        let own = dir.join("own.bin");
        let filter = CompromisedFilter::build(["only-this-one-is-listed", "and-this", "and-that"])
            .expect("built");
        std::fs::write(&own, filter.to_bytes()).expect("write");
        let c = from(&[("SSPR_COMPROMISED_FILTER", &own.display().to_string())]).expect("config");
        let f = c.passwords.compromised.expect("filter");
        assert!(f.contains("only-this-one-is-listed"));
        assert_eq!(f.entries(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_captcha_secret_arn_is_read_with_the_check_on_only_and_never_beside_the_secret() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:captcha-AbCdEf";
        let on = [
            ("SSPR_CAPTCHA", "turnstile"),
            ("SSPR_CAPTCHA_SITE_KEY", "site-key"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = on.to_vec();
            all.extend_from_slice(extra);
            from(&all)
        };
        let c = with(&[("SSPR_CAPTCHA_SECRET_ARN", arn)]).expect("valid");
        assert_eq!(c.captcha_secret_arn.as_deref(), Some(arn));
        assert!(
            c.captcha.is_some_and(|c| c.secret.is_none()),
            "the secret itself comes from Secrets Manager at the start"
        );
        assert_eq!(
            from(&[("SSPR_CAPTCHA_SECRET_ARN", arn)])
                .map(|c| c.captcha_secret_arn)
                .ok(),
            Some(None),
            "with the check off, nothing is read"
        );
        assert!(
            matches!(
                with(&[
                    ("SSPR_CAPTCHA_SECRET_ARN", arn),
                    ("SSPR_CAPTCHA_SECRET", "plain"),
                ]),
                Err(ConfigError::Invalid("SSPR_CAPTCHA_SECRET_ARN", _))
            ),
            "one secret, from one place"
        );
    }
}
