//! The rotate function as a test runs it: its handler over a test's table and
//! moto's Secrets Manager, every call it makes noted as the IAM action it
//! needs (the store's recorder for DynamoDB; for Secrets Manager, the
//! operation each request names on the wire), and the secret's versions
//! read back.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::json;
use sspr_core::ports::Clock;
use sspr_core::store::DynamoStore;

use crate::moto::Moto;

/// Notes `secretsmanager:<Operation>` for every request the client sends
/// (its `X-Amz-Target` is `secretsmanager.<Operation>`).
#[derive(Debug, Clone, Default)]
struct NoteCalls(Arc<Mutex<BTreeSet<String>>>);

impl aws_sdk_secretsmanager::config::Intercept for NoteCalls {
    fn name(&self) -> &'static str {
        "NoteCalls"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_secretsmanager::config::interceptors::BeforeTransmitInterceptorContextRef<
            '_,
        >,
        _components: &aws_sdk_secretsmanager::config::RuntimeComponents,
        _cfg: &mut aws_sdk_secretsmanager::config::ConfigBag,
    ) -> Result<(), aws_sdk_secretsmanager::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("");
        let op = target.strip_prefix("secretsmanager.").unwrap_or(target);
        if let Ok(mut calls) = self.0.lock() {
            calls.insert(format!("secretsmanager:{op}"));
        }
        Ok(())
    }
}

/// The rotate function of one secret.
pub struct RotateFn {
    pub rotator: sspr_rotate::Rotator,
    calls: NoteCalls,
}

impl RotateFn {
    /// The function over `store`'s table (with a recorder of its own) and the
    /// secret `arn` in `moto`, at `clock`'s time, with the default token
    /// lifetimes.
    pub async fn new(store: &DynamoStore, moto: &Moto, arn: &str, clock: Arc<dyn Clock>) -> Self {
        let calls = NoteCalls::default();
        let config = aws_sdk_secretsmanager::config::Builder::from(&moto.sdk().await)
            .interceptor(calls.clone())
            .build();
        let rotator = sspr_rotate::Rotator {
            secrets: aws_sdk_secretsmanager::Client::from_conf(config),
            store: store.with_own_recorder(),
            secret_id: arn.to_owned(),
            token_life: sspr_core::keys::token_life(&sspr_core::config::Config::default()),
            clock,
        };
        Self { rotator, calls }
    }

    /// Secrets Manager's call for `step` of the rotation `token`.
    pub async fn step(&self, step: &str, token: &str) -> Result<(), sspr_rotate::Failure> {
        let event = json!({
            "Step": step,
            "SecretId": self.rotator.secret_id,
            "ClientRequestToken": token,
        });
        sspr_rotate::handle(&self.rotator, event).await
    }

    /// The four steps of the rotation `token`, in order; the first that
    /// fails stops it.
    pub async fn rotate(&self, token: &str) -> Result<(), sspr_rotate::Failure> {
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            self.step(step, token).await?;
        }
        Ok(())
    }

    /// The IAM actions of every call so far.
    pub fn actions(&self) -> BTreeSet<String> {
        let mut a: BTreeSet<String> = self
            .rotator
            .store
            .round_trips()
            .actions()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Ok(calls) = self.calls.0.lock() {
            a.extend(calls.iter().cloned());
        }
        a
    }
}

/// The secret's versions and their labels, sorted, as Secrets Manager
/// describes them.
pub async fn stages(moto: &Moto, arn: &str) -> Vec<(String, Vec<String>)> {
    let out = aws_sdk_secretsmanager::Client::new(&moto.sdk().await)
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("described");
    let mut v: Vec<(String, Vec<String>)> = out
        .version_ids_to_stages()
        .map(|m| {
            m.iter()
                .map(|(id, labels)| {
                    let mut labels = labels.clone();
                    labels.sort();
                    (id.clone(), labels)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The text of the version `stage` labels.
pub async fn value(moto: &Moto, arn: &str, stage: &str) -> String {
    aws_sdk_secretsmanager::Client::new(&moto.sdk().await)
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no {stage} version: {e:?}"))
        .secret_string()
        .expect("a string")
        .to_owned()
}
