//! The one store: DynamoDB through `aws-sdk-dynamodb`. Locally and in tests the
//! same code talks to dynoxide (see [`embedded`]).

mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use dynamo::{CountTrips, DynamoStore, RoundTrips};

/// DynamoDB time limits: one attempt, and one call with its retries. A table
/// answers in single-digit milliseconds; past these it is down, and the client
/// gets a 503 well inside the function's timeout.
pub const DYNAMO_TIMEOUTS: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_millis(1500),
    std::time::Duration::from_secs(4),
);
