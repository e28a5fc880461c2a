//! The one store: DynamoDB through `aws-sdk-dynamodb`. Locally and in tests the
//! same code talks to dynoxide (see [`embedded`]).

mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use dynamo::{DynamoStore, RoundTrips};
