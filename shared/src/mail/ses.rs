//! The SES mailer: each message is sent as raw MIME (a text and an HTML part)
//! with `SendRawEmail`, from the configured sender and, when set, through a
//! configuration set. Built once per cold start from the shared `SdkConfig`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ses::error::SdkError;
use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;

use super::{to_eml, SendFailures};
use crate::metrics;
use crate::ports::{MailError, Mailer, OutgoingMail};

/// How long one send may take, retries included, before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct SesMailer {
    client: aws_sdk_ses::Client,
    from: String,
    configuration_set: Option<String>,
    failures: SendFailures,
}

impl SesMailer {
    pub fn new(
        sdk: &aws_types::SdkConfig,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self::with_timeout(sdk, from, configuration_set, SEND_TIMEOUT)
    }

    /// As [`SesMailer::new`], giving up on a send after `timeout`.
    pub fn with_timeout(
        sdk: &aws_types::SdkConfig,
        from: impl Into<String>,
        configuration_set: Option<String>,
        timeout: Duration,
    ) -> Self {
        let timeouts = aws_sdk_ses::config::timeout::TimeoutConfig::builder()
            .operation_timeout(timeout)
            .build();
        let config = aws_sdk_ses::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_ses::Client::from_conf(config),
            from: from.into(),
            configuration_set,
            failures: SendFailures::new("MailFailures"),
        }
    }

    /// Sends that failed since start.
    pub fn failures(&self) -> u64 {
        self.failures.count()
    }

    fn failed(
        &self,
        mail: &OutgoingMail,
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> MailError {
        self.failures.failed(mail.kind, what, source)
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        // An address SES could not carry is refused here, before any call.
        let refused = |e: MailError| self.failed(mail, e.what, Box::new(e));
        let (source, to) = super::envelope(&self.from, mail).map_err(refused)?;
        let domain = source
            .rsplit('@')
            .next()
            .unwrap_or("sspr")
            .trim_end_matches('>');
        let id = format!("{}@{domain}", uuid::Uuid::new_v4());
        let eml = to_eml(&self.from, mail, &date, &id).map_err(refused)?;
        let raw = RawMessage::builder()
            .data(Blob::new(eml.into_bytes()))
            .build()
            .map_err(|e| self.failed(mail, "message", Box::new(e)))?;
        let out = self
            .client
            .send_raw_email()
            .source(source)
            .destinations(to)
            .raw_message(raw)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match out {
            Ok(_) => {
                metrics::count("MailSent", &[("Kind", mail.kind)]);
                Ok(())
            }
            Err(err) => {
                let what = match &err {
                    SdkError::TimeoutError(_) => "timeout",
                    SdkError::DispatchFailure(_) => "unreachable",
                    SdkError::ServiceError(se) => {
                        let e = se.err();
                        if e.is_message_rejected() {
                            "rejected"
                        } else if e.is_mail_from_domain_not_verified_exception() {
                            "sender not verified"
                        } else if e.is_configuration_set_does_not_exist_exception() {
                            "no such configuration set"
                        } else if e.is_account_sending_paused_exception()
                            || e.is_configuration_set_sending_paused_exception()
                        {
                            "sending paused"
                        } else if se.raw().status().as_u16() == 429
                            || format!("{e:?}").contains("Throttl")
                        {
                            "throttled"
                        } else {
                            "service error"
                        }
                    }
                    _ => "error",
                };
                Err(self.failed(mail, what, Box::new(err.into_service_error())))
            }
        }
    }
}
