//! The `events` Lambda function: audit events from the table's stream to
//! EventBridge ([`sspr_events::start`]).

fn main() -> Result<(), lambda_runtime::Error> {
    sspr_events::start()
}
