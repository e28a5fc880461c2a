//! The composition root: the state a function builds once per cold start and
//! every request shares. The flows get only its [`Context`]; the AWS clients,
//! the configuration and the per-client meter stay here.

use std::sync::Arc;

use secrecy::ExposeSecret as _;

use crate::config::{secrets_from_env, Config, ConfigError, MailKind, Secrets, SmsMode};
use crate::domain::{CodeKey, PasswordHasher, TotpSeal};
use crate::flows::Context;
use crate::limits::{Metered, RouteKey};
use crate::mail::courier::Courier;
use crate::mail::{MailKey, OutboxMailer, SesMailer};
use crate::metrics::{CountedOutbox, CountedStore};
use crate::ports::{
    BreachCorpus, ClientCharge, ClientMeter, Clock, Mailer, Outbox, SmsSender, Store, SystemClock,
};
use crate::store::DynamoStore;
use crate::token::Keys;

/// The optional parts of a function's state. Each is built only by the
/// functions whose routes use it, which name it in their `PARTS` (the
/// function's `main.rs` hands it to [`crate::http::start`]): a part a function
/// does not name is never built, so its code (a call to a service outside AWS,
/// with its own request and answer handling) is not in that function's
/// bootstrap. ARCHITECTURE.md lists what each function builds.
#[derive(Clone, Copy, Default)]
pub struct Parts {
    /// The online breach lookup of new passwords (`SSPR_HIBP`): the
    /// functions that take a new password (register, password).
    pub breaches: Option<MakeBreaches>,
    /// The human check (`SSPR_CAPTCHA`): the functions whose routes ask for
    /// it (register, dispatch).
    pub captcha: Option<MakeCaptcha>,
}

/// Builds the breach lookup from its settings ([`crate::hibp::corpus`]).
pub type MakeBreaches = fn(&crate::hibp::HibpConfig) -> Arc<dyn BreachCorpus>;

/// Builds the human check from its settings ([`crate::captcha::Captcha::new`]).
pub type MakeCaptcha = fn(crate::captcha::CaptchaConfig) -> crate::captcha::Captcha;

impl Parts {
    /// No optional part: what the functions that take no new password and
    /// ask for no human check build.
    pub const NONE: Parts = Parts {
        breaches: None,
        captcha: None,
    };

    /// Every part: the local host and the tests, which serve every route.
    pub const ALL: Parts = Parts {
        breaches: Some(crate::hibp::corpus),
        captcha: Some(crate::captcha::Captcha::new),
    };
}

/// A function's state: the configuration, the flows' [`Context`] (which an
/// `App` derefs to) and the per-client meter. Mail is not in it: the flows
/// queue it with their writes (the outbox), and the [`Courier`] sends it.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub ctx: Context,
    /// Counts each client's requests on a limited route.
    pub meter: Arc<dyn ClientMeter>,
    /// The human check on sign-up and code requests, when configured.
    pub captcha: Option<crate::captcha::Captcha>,
}

impl std::ops::Deref for App {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl std::fmt::Debug for App {
    /// The configuration; the clients, keys and secrets show nothing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "App {{ config: {:?}, .. }}", self.config)
    }
}

impl App {
    /// The state over `store`, which also meters the clients, with the
    /// optional `parts` the function names (those the configuration turns on).
    pub fn new<S: Store + ClientMeter + 'static>(
        config: Config,
        secrets: Secrets,
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        parts: Parts,
    ) -> Self {
        let ctx = Context {
            rules: Arc::new(config.rules()),
            // What the writes commit is counted on its way back (`metrics`).
            store: Arc::new(CountedStore(store.clone())),
            clock,
            keys: Arc::new(Keys::new(secrets.ring(), &config.issuer)),
            codes: Arc::new(CodeKey::new(secrets.ring())),
            mail_key: Arc::new(MailKey::new(secrets.ring())),
            totp: Arc::new(TotpSeal::new(secrets.ring())),
            hasher: PasswordHasher::new(config.hash),
            breaches: parts
                .breaches
                .zip(config.hibp.as_ref())
                .map(|(make, h)| make(h)),
        };
        Self {
            captcha: parts
                .captcha
                .zip(config.captcha.clone())
                .map(|(make, c)| make(c)),
            config: Arc::new(config),
            ctx,
            meter: store,
        }
    }

    /// The courier that sends what this app's writes queue: mail through
    /// `mailer`, text messages through `sms` (`None`: SMS is off, and a
    /// queued one is undeliverable).
    pub fn courier(
        &self,
        outbox: Arc<dyn Outbox>,
        mailer: Arc<dyn Mailer>,
        sms: Option<Arc<dyn SmsSender>>,
    ) -> Courier {
        Courier {
            outbox: Arc::new(CountedOutbox(outbox)),
            mailer,
            sms,
            key: self.mail_key.clone(),
            clock: self.clock.clone(),
            retry: self.config.mail_retry,
        }
    }

    /// This app for one request of `ip` on `route`: when the route has a
    /// per-client limit, its store charges the client with its first call,
    /// and the returned meter holds the verdict.
    pub fn metered(&self, route: RouteKey, ip: &str) -> (App, Option<Arc<Metered>>) {
        let Some(limit) = self.config.client_limits.0.get(&route) else {
            return (self.clone(), None);
        };
        let charge = ClientCharge {
            ip: ip.to_owned(),
            route,
            max: limit.max,
            window_secs: limit.window_secs,
            now: self.now(),
        };
        let meter = Arc::new(Metered::new(self.store.clone(), self.meter.clone(), charge));
        let mut app = self.clone();
        app.ctx.store = meter.clone();
        (app, Some(meter))
    }
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading the secret from Secrets Manager failed")]
    Secret(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl App {
    /// Build the state of a deployed function, once per cold start: the
    /// configuration and secrets from the environment, one `SdkConfig` (region,
    /// credentials and endpoints from the standard AWS variables), the store,
    /// and the optional `parts` the function names.
    pub async fn from_env(parts: Parts) -> Result<Self, StartError> {
        let (app, _, _) = Self::from_env_with_store(parts).await?;
        Ok(app)
    }

    async fn from_env_with_store(
        parts: Parts,
    ) -> Result<(Self, DynamoStore, aws_types::SdkConfig), StartError> {
        let mut config = Config::from_env()?;
        let sdk = crate::aws::from_env()?;
        let (secrets, ()) =
            tokio::try_join!(load_secrets(&sdk), load_captcha_secret(&sdk, &mut config))?;
        let store = DynamoStore::new(
            crate::store::client(&sdk, crate::store::DYNAMO_TIMEOUTS),
            config.table.clone(),
            config.audit_retention,
        );
        let app = Self::new(
            config,
            secrets,
            Arc::new(store.clone()),
            Arc::new(SystemClock),
            parts,
        );
        Ok((app, store, sdk))
    }
}

/// The courier of the deployed `mailer` function, once per cold start: the
/// state of [`App::from_env`] with no optional part, and the mailer and SMS
/// sender the configuration names.
pub async fn courier_from_env() -> Result<Courier, StartError> {
    let (app, store, sdk) = App::from_env_with_store(Parts::NONE).await?;
    let mailer = mailer_for(&app.config, Some(&sdk), true)?;
    let sms = sms_for(&app.config, Some(&sdk), true)?;
    Ok(app.courier(Arc::new(store), mailer, sms))
}

/// The SMS sender `config.sms` names: none when SMS is off, the outbox folder
/// (each message echoed to stdout too when `echo`), or SNS through `sdk`, or
/// when none is given, through the standard AWS environment
/// (`AWS_ENDPOINT_URL_SNS`, `AWS_REGION`, ...). Only a build with the `sms`
/// feature (the mailer, the local host) has a sender to give.
pub fn sms_for(
    config: &Config,
    sdk: Option<&aws_types::SdkConfig>,
    echo: bool,
) -> Result<Option<Arc<dyn SmsSender>>, ConfigError> {
    #[cfg(feature = "sms")]
    {
        Ok(match config.sms {
            SmsMode::Off => None,
            SmsMode::Outbox => Some(Arc::new(crate::sms::OutboxSmsSender::new(
                &config.outbox_dir,
                echo,
            ))),
            SmsMode::Sns => Some(Arc::new(crate::sms::SnsSender::new(&*sdk_or_env(sdk)?))),
        })
    }
    #[cfg(not(feature = "sms"))]
    {
        let _ = (sdk, echo);
        if config.sms != SmsMode::Off {
            tracing::warn!(
                "SSPR_SMS is on, but this build has no SMS sender: text messages are undeliverable"
            );
        }
        Ok(None)
    }
}

/// The `SdkConfig` given, or when none is, one from the standard AWS
/// environment (`AWS_ENDPOINT_URL_SES`, `AWS_REGION`, ...).
fn sdk_or_env(
    sdk: Option<&aws_types::SdkConfig>,
) -> Result<std::borrow::Cow<'_, aws_types::SdkConfig>, ConfigError> {
    Ok(match sdk {
        Some(sdk) => std::borrow::Cow::Borrowed(sdk),
        None => std::borrow::Cow::Owned(crate::aws::from_env()?),
    })
}

/// The mailer `config.mail` names: the outbox folder (each mail echoed to
/// stdout too when `echo`), or SES through `sdk`, or when none is given, through
/// the standard AWS environment (`AWS_ENDPOINT_URL_SES`, `AWS_REGION`, ...).
pub fn mailer_for(
    config: &Config,
    sdk: Option<&aws_types::SdkConfig>,
    echo: bool,
) -> Result<Arc<dyn Mailer>, ConfigError> {
    Ok(match config.mail {
        MailKind::Outbox => Arc::new(OutboxMailer::new(&config.outbox_dir, &config.sender, echo)),
        MailKind::Ses => Arc::new(SesMailer::new(
            &*sdk_or_env(sdk)?,
            &config.sender,
            config.ses_configuration_set.clone(),
        )),
    })
}

/// The secrets of a deployed function: from the Secrets Manager secret named by
/// `SSPR_SECRET_ARN` (read once per cold start), or, for local runtimes only, from
/// `SSPR_HMAC_SECRET` and `SSPR_SIGNING_KEY`.
pub async fn load_secrets(sdk: &aws_types::SdkConfig) -> Result<Secrets, StartError> {
    let Some(arn) = std::env::var("SSPR_SECRET_ARN")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return Ok(secrets_from_env()?);
    };
    let value = secret_string(sdk, &arn, "SSPR_SECRET_ARN").await?;
    let source = Arc::new(SecretSource {
        sdk: sdk.clone(),
        arn,
    });
    Ok(Secrets::derive(&value)?.with_source(source))
}

/// Where a deployed function reads the keyring again: the secret's current
/// value (`Ring::ensure`, when a version it does not hold turns up).
struct SecretSource {
    sdk: aws_types::SdkConfig,
    arn: String,
}

#[async_trait::async_trait]
impl sspr_domain::keyring::KeySource for SecretSource {
    async fn fetch(
        &self,
    ) -> Result<secrecy::SecretString, Box<dyn std::error::Error + Send + Sync>> {
        secret_string(&self.sdk, &self.arn, "SSPR_SECRET_ARN")
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
    }
}

/// The human check's provider secret, into `config`: read from the Secrets
/// Manager secret of `config.captcha_secret_arn` (the deployed register and
/// dispatch functions, with the check on), once per cold start. Nothing is
/// read when the check is off or no ARN is given (the other functions, which
/// never verify a token; off Lambda, `SSPR_CAPTCHA_SECRET` may have set it).
pub async fn load_captcha_secret(
    sdk: &aws_types::SdkConfig,
    config: &mut Config,
) -> Result<(), StartError> {
    let (Some(check), Some(arn)) = (
        config.captcha.as_mut(),
        config.captcha_secret_arn.as_deref(),
    ) else {
        return Ok(());
    };
    let value = secret_string(sdk, arn, "SSPR_CAPTCHA_SECRET_ARN").await?;
    if value.expose_secret().trim().is_empty() {
        return Err(
            ConfigError::Invalid("SSPR_CAPTCHA_SECRET_ARN", "the secret is empty".into()).into(),
        );
    }
    check.secret = Some(secrecy::SecretString::from(
        value.expose_secret().trim().to_owned(),
    ));
    Ok(())
}

/// The text of the Secrets Manager secret `arn` (named by the variable `var`).
async fn secret_string(
    sdk: &aws_types::SdkConfig,
    arn: &str,
    var: &'static str,
) -> Result<secrecy::SecretString, StartError> {
    // AWSCURRENT named, not left to the default: what a rotation's
    // `finishSecret` moved is what is read (moto's default stays on the
    // secret's first version).
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .map_err(|e| StartError::Secret(Box::new(e.into_service_error())))?;
    let value = out.secret_string().ok_or(ConfigError::Invalid(
        var,
        "the secret holds no string".into(),
    ))?;
    Ok(secrecy::SecretString::from(value.to_owned()))
}

/// Logs for a function, as the environment says: Lambda's JSON log format
/// when its `LoggingConfig` asks for it (or `SSPR_LOG_FORMAT=json`), else
/// text, at Lambda's level or `RUST_LOG`'s ([`crate::logs`]).
pub fn init_tracing() {
    crate::logs::init();
}
