//! The SNS sender: each text message is one `Publish` to a phone number (never
//! to a topic: the mailer's role may publish to no topic ARN), marked
//! `Transactional` so SNS routes it for delivery rather than cost. Built once
//! per cold start from the shared `SdkConfig`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sns::error::SdkError;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::mail::SendFailures;
use crate::metrics;
use crate::ports::{MailError, OutgoingSms, SmsSender};

/// How long one send may take, retries included, before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The attribute that asks SNS for transactional (not promotional) delivery.
pub const SMS_TYPE: &str = "AWS.SNS.SMS.SMSType";

#[derive(Debug)]
pub struct SnsSender {
    client: aws_sdk_sns::Client,
    failures: SendFailures,
}

impl SnsSender {
    pub fn new(sdk: &aws_types::SdkConfig) -> Self {
        Self::with_timeout(sdk, SEND_TIMEOUT)
    }

    /// As [`SnsSender::new`], giving up on a send after `timeout`.
    pub fn with_timeout(sdk: &aws_types::SdkConfig, timeout: Duration) -> Self {
        let timeouts = aws_sdk_sns::config::timeout::TimeoutConfig::builder()
            .operation_timeout(timeout)
            .build();
        let config = aws_sdk_sns::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_sns::Client::from_conf(config),
            failures: SendFailures::new("SmsFailures"),
        }
    }

    /// Sends that failed since start.
    pub fn failures(&self) -> u64 {
        self.failures.count()
    }

    fn failed(
        &self,
        sms: &OutgoingSms,
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> MailError {
        self.failures.failed(sms.kind, what, source)
    }
}

#[async_trait]
impl SmsSender for SnsSender {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), MailError> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| self.failed(sms, "message", Box::new(e)))?;
        let out = self
            .client
            .publish()
            .phone_number(&sms.to)
            .message(&sms.text)
            .message_attributes(SMS_TYPE, transactional)
            .send()
            .await;
        match out {
            Ok(_) => {
                metrics::count("SmsSent", &[("Kind", sms.kind)]);
                Ok(())
            }
            Err(err) => {
                // The service's message can quote the number; the cause chain
                // carries only the error's kind and code (`ProvideErrorMetadata`).
                let what = match &err {
                    SdkError::TimeoutError(_) => "timeout",
                    SdkError::DispatchFailure(_) => "unreachable",
                    SdkError::ServiceError(se) => {
                        let e = se.err();
                        if se.raw().status().as_u16() == 429
                            || aws_sdk_sns::error::ProvideErrorMetadata::code(e)
                                .is_some_and(|c| c.contains("Throttl"))
                        {
                            "throttled"
                        } else if e.is_invalid_parameter_exception()
                            || e.is_invalid_parameter_value_exception()
                            || e.is_validation_exception()
                        {
                            "rejected"
                        } else if e.is_authorization_error_exception() {
                            "not authorized"
                        } else {
                            "service error"
                        }
                    }
                    _ => "error",
                };
                let code = aws_sdk_sns::error::ProvideErrorMetadata::code(&err)
                    .unwrap_or("none")
                    .to_owned();
                Err(self.failed(sms, what, Box::new(SnsRefusal { code })))
            }
        }
    }
}

/// Why SNS refused a message: its error code only. The SDK error itself is
/// not kept, since its message may repeat the phone number it was sent to.
#[derive(Debug, thiserror::Error)]
#[error("SNS error code {code}")]
struct SnsRefusal {
    code: String,
}
