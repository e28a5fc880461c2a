//! The one store: DynamoDB through `aws-sdk-dynamodb`, implementing the
//! domain's ports. Locally and in tests the same code talks to dynoxide (see
//! [`embedded`]).

mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use dynamo::schema;
pub use dynamo::{
    operator_requester, Census, CountTrips, DynamoStore, Held, OperatorChange, Page, ResealKeys,
    Resealed, RoundTrips, OPERATOR_AGENT_PREFIX,
};

/// DynamoDB time limits: one attempt, and one call with its retries. A table
/// answers in single-digit milliseconds; past these it is down, and the client
/// gets a 503 well inside the function's timeout.
pub const DYNAMO_TIMEOUTS: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_millis(1500),
    std::time::Duration::from_secs(4),
);

/// The DynamoDB client over `sdk`, giving up on one attempt after `attempt`
/// and on a call, retries included, after `call`: deployed and local alike.
pub fn client(
    sdk: &aws_types::SdkConfig,
    (attempt, call): (std::time::Duration, std::time::Duration),
) -> aws_sdk_dynamodb::Client {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(attempt)
        .operation_timeout(call)
        .build();
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
