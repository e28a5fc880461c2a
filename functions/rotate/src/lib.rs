//! Function `rotate`: the master secret's rotation function. Secrets Manager
//! calls it once for each step of a rotation, with the event
//! `{"Step", "SecretId", "ClientRequestToken"}`, and this runs that step
//! ([`sspr_core::keys::rotation`]): `createSecret` puts the next keyring as
//! the pending version (refused while the previous version still seals or
//! keys anything live, or may have signed a live token), `setSecret` does
//! nothing, `testSecret` probes the pending keyring, `finishSecret` makes it
//! current.
//!
//! A step that is refused or fails answers an error, so Secrets Manager
//! marks the rotation failed and the secret stays as it was; the one log
//! line says which step and why (never a key: the keyring is only ever in
//! the calls' bodies). Each step can be called again for the same token and
//! changes nothing the second time, as Secrets Manager's retries need.
//!
//! It is the only function that may write the secret, and the only one that
//! reads the whole table (the census is a Scan); the request functions do
//! not link the rotation.

use std::sync::Arc;

use serde_json::Value;
use sspr_core::config::{Config, ConfigError};
use sspr_core::keys::rotation::{Rotation, Step};
use sspr_core::keys::RotateError;
use sspr_core::ports::{Clock, SystemClock};
use sspr_core::store::DynamoStore;

/// What a step runs on: built once per cold start.
pub struct Rotator {
    pub secrets: aws_sdk_secretsmanager::Client,
    pub store: DynamoStore,
    /// The secret this function rotates (`SSPR_SECRET_ARN`); an event for
    /// any other is refused.
    pub secret_id: String,
    /// How long a token lives ([`sspr_core::keys::token_life`]).
    pub token_life: i64,
    pub clock: Arc<dyn Clock>,
}

/// Secrets Manager's rotation event.
#[derive(Debug, serde::Deserialize)]
struct RotationEvent {
    #[serde(rename = "Step")]
    step: String,
    #[serde(rename = "SecretId")]
    secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    token: String,
}

/// Why a step did not run, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("not a rotation event ({0})")]
    Event(#[source] serde_json::Error),
    #[error("no such rotation step: {0:?}")]
    Step(String),
    #[error("the event names another secret than this function rotates")]
    OtherSecret,
    #[error(transparent)]
    Rotate(#[from] RotateError),
}

impl Failure {
    /// `refused` when the rotation would have lost data (nothing went
    /// wrong: run `sspr-admin keys reseal`, or wait), else `failed`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Rotate(RotateError::Refused(_)) => "refused",
            _ => "failed",
        }
    }
}

/// Run the step `event` asks for; `Ok` once it is done (or was already).
pub async fn handle(rotator: &Rotator, event: Value) -> Result<(), Failure> {
    let event: RotationEvent = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            let e = Failure::Event(e);
            tracing::error!(outcome = e.outcome(), error = %e, "rotation step");
            return Err(e);
        }
    };
    let result = run(rotator, &event).await;
    // The step and the version are Secrets Manager's names, not secrets.
    match &result {
        Ok(()) => tracing::info!(
            step = %event.step,
            version = %event.token,
            outcome = "ok",
            "rotation step"
        ),
        Err(e) => tracing::error!(
            step = %event.step,
            version = %event.token,
            outcome = e.outcome(),
            error = %e,
            "rotation step"
        ),
    }
    result
}

async fn run(rotator: &Rotator, event: &RotationEvent) -> Result<(), Failure> {
    let step = Step::parse(&event.step).ok_or_else(|| Failure::Step(event.step.clone()))?;
    if event.secret_id != rotator.secret_id {
        return Err(Failure::OtherSecret);
    }
    let rotation = Rotation {
        secrets: &rotator.secrets,
        store: &rotator.store,
        secret_id: &rotator.secret_id,
        token_life: rotator.token_life,
    };
    rotation
        .step(step, &event.token, rotator.clock.now())
        .await?;
    Ok(())
}

impl Rotator {
    /// The deployed function's state, from the environment: the table
    /// (`SSPR_TABLE`) and the token lifetimes as every function reads them,
    /// the secret (`SSPR_SECRET_ARN`), and one `SdkConfig` for both clients.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let secret_id = std::env::var("SSPR_SECRET_ARN")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing("SSPR_SECRET_ARN"))?;
        let sdk = sspr_core::aws::from_env()?;
        let store = DynamoStore::new(
            sspr_core::store::client(&sdk, sspr_core::store::DYNAMO_TIMEOUTS),
            config.table.clone(),
            config.audit_retention,
        );
        Ok(Self {
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            store,
            secret_id,
            token_life: sspr_core::keys::token_life(&config),
            clock: Arc::new(SystemClock),
        })
    }
}

/// The function's `main`: the clients built once per cold start, then one
/// step an invocation, on sspr's one runtime start.
pub fn start() -> Result<(), lambda_runtime::Error> {
    sspr_core::runtime::start_handler(
        || async { Ok(Rotator::from_env()?) },
        |rotator, event| async move {
            handle(&rotator, event)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    )
}
